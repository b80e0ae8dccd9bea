//! The OpenAPI document at /v1/openapi.json: paths from the handlers' annotations, and
//! the body schemas from the same JSON Schema derivations the manifests publish, so the
//! document and the manifests cannot disagree.

use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{app, download, error, events, review, routes, upload};

/// Every route the router serves, as (method, path), read from the router's own source:
/// the OpenAPI document must list each one, and a test holds the two together.
pub fn served_routes() -> Vec<(String, String)> {
    let src = include_str!("mod.rs");
    let mut out = Vec::new();
    for (at, _) in src.match_indices(".route(") {
        // The call's arguments, up to its closing parenthesis.
        let args = &src[at + ".route(".len()..];
        let mut depth = 1usize;
        let end = args
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map_or(args.len(), |(i, _)| i);
        let args = &args[..end];
        let Some(path) = args.split('"').nth(1) else {
            continue;
        };
        for m in ["get", "post", "delete", "put", "patch"] {
            let called = args.match_indices(&format!("{m}(")).any(|(i, _)| {
                i == 0 || !args[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
            });
            if called {
                out.push((m.to_string(), path.to_string()));
            }
        }
    }
    out
}
use crate::handoff::{BatchManifest, Handoff};

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "shelfready",
        description = "Upload product photo batches, follow them, download marketplace-ready files and their manifests."
    ),
    paths(
        upload::create_batch,
        routes::batch_list,
        routes::batch_status,
        events::batch_events,
        routes::batch_manifest,
        download::batch_download,
        routes::batch_contact_sheet,
        super::export::batch_export,
        routes::batch_delete,
        routes::asset,
        routes::asset_file,
        routes::asset_source,
        routes::batch_deliveries,
        routes::asset_thumb,
        review::queue,
        review::decide,
        review::receipt,
        routes::specs,
        routes::spec,
        routes::healthz,
        routes::readyz,
        routes::metrics,
        serve,
        super::pages::review,
        super::pages::batch,
        super::pages::file,
    ),
    modifiers(&Bearer),
    security(("bearer" = []))
)]
struct ApiDoc;

/// The list `GET /v1/specs` answers.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct SpecList(Vec<routes::SpecInfo>);

/// The list `GET /v1/batches/{id}/deliveries` answers.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct DeliveryList(Vec<crate::store::Delivery>);

/// The list `GET /v1/batches` answers.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct BatchList(Vec<routes::BatchSummary>);

/// Adds `T` and every type it uses to `schemas`.
fn add<T: JsonSchema>(
    gen: &mut schemars::SchemaGenerator,
    schemas: &mut serde_json::Map<String, serde_json::Value>,
) {
    let root = gen.root_schema_for::<T>();
    let mut v = serde_json::to_value(root).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.remove("$schema");
    }
    schemas.insert(T::schema_name().into_owned(), v);
}

#[utoipa::path(get, path = "/v1/openapi.json", responses((status = 200, description = "this document", content_type = "application/json")))]
/// The document, as served.
pub async fn serve() -> axum::Json<serde_json::Value> {
    axum::Json(document())
}

/// The OpenAPI document.
pub fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    let mut gen = settings.into_generator();
    let mut schemas = serde_json::Map::new();
    add::<upload::Created>(&mut gen, &mut schemas);
    add::<routes::BatchStatus>(&mut gen, &mut schemas);
    add::<BatchManifest>(&mut gen, &mut schemas);
    add::<Handoff>(&mut gen, &mut schemas);
    add::<routes::SpecInfo>(&mut gen, &mut schemas);
    add::<SpecList>(&mut gen, &mut schemas);
    add::<BatchList>(&mut gen, &mut schemas);
    add::<DeliveryList>(&mut gen, &mut schemas);
    add::<app::Event>(&mut gen, &mut schemas);
    add::<error::ErrorBody>(&mut gen, &mut schemas);
    add::<review::Queue>(&mut gen, &mut schemas);
    add::<review::ReviewRequest>(&mut gen, &mut schemas);
    add::<review::ReceiptRequest>(&mut gen, &mut schemas);
    for (name, schema) in gen.take_definitions(true) {
        schemas.entry(name).or_insert(schema);
    }
    forbidden(&mut doc);
    if let Some(d) = doc.as_object_mut() {
        let components = d
            .entry("components")
            .or_insert_with(|| serde_json::json!({}));
        if let Some(c) = components.as_object_mut() {
            c.insert("schemas".into(), serde_json::Value::Object(schemas));
        }
    }
    doc
}

/// Every operation behind the token may also answer 403: a token whose role lacks the
/// permission, or, on a server without tokens, a request that is not this machine's own.
fn forbidden(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for (path, ops) in paths.iter_mut() {
        let Some(ops) = ops.as_object_mut() else {
            continue;
        };
        for (method, op) in ops.iter_mut() {
            let Some(responses) = op.get_mut("responses").and_then(|r| r.as_object_mut()) else {
                continue;
            };
            if !responses.contains_key("401") || responses.contains_key("403") {
                continue;
            }
            let Ok(m) = axum::http::Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            let p = super::auth::needed(&m, path);
            responses.insert(
                "403".into(),
                serde_json::json!({
                    "description": format!(
                        "the token's role may not {} (this needs {}); on a server without tokens, the request is not this machine's own (its Host is not a loopback name, or another site's page sent it)",
                        p.describe(),
                        p.roles()
                    ),
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
                }),
            );
        }
    }
}
