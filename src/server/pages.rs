//! The pages people use: plain HTML, CSS and JS from assets/web/, embedded in the binary
//! (nothing to build or install to run them). They hold no data; they call the JSON API
//! with the token the person gives, so they are served without one.

use axum::extract::Path;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

const FILES: &[(&str, &str, &str)] = &[
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/web/api.js"),
    ),
    (
        "review.html",
        "text/html; charset=utf-8",
        include_str!("../../assets/web/review.html"),
    ),
    (
        "review.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/web/review.js"),
    ),
    (
        "shelfready.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/web/shelfready.css"),
    ),
    (
        "batch.html",
        "text/html; charset=utf-8",
        include_str!("../../assets/web/batch.html"),
    ),
    (
        "batch.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/web/batch.js"),
    ),
];

fn page(name: &str) -> Response {
    let Some((_, kind, body)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return ApiError::not_found("page file", name).into_response();
    };
    let mut r = (*body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Only this server's own script and styles; images come from its API as blobs.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    r
}

#[utoipa::path(get, path = "/review", security(()), responses((status = 200, description = "the review page (HTML): the queue, one key per decision; it calls the API with the token given in #token=", content_type = "text/html")))]
/// `/review`: the review queue, one key per decision.
pub async fn review() -> Response {
    page("review.html")
}

#[utoipa::path(get, path = "/batches/{id}", security(()), params(("id" = String, Path, description = "the batch id")), responses((status = 200, description = "the batch page (HTML): every output's preview with its state", content_type = "text/html")))]
/// `/batches/{id}`: a batch at a glance, a contact sheet of every output with its state.
pub async fn batch() -> Response {
    page("batch.html")
}

#[utoipa::path(get, path = "/web/{file}", security(()), params(("file" = String, Path, description = "a script or style of the pages (review.js, batch.js, api.js, shelfready.css)")), responses((status = 200, description = "the file", content_type = "text/javascript"), (status = 404, description = "no such file", body = ref("#/components/schemas/ErrorBody"))))]
/// `/web/{file}`: the pages' scripts and styles.
pub async fn file(Path(name): Path<String>) -> Response {
    if name.ends_with(".html") {
        return ApiError::not_found("page file", &name).into_response();
    }
    page(&name)
}
