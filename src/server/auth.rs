//! Who may do what. Every route but /healthz, /readyz and the pages needs a token when one
//! is set: the server's `token` may do everything, a reviewer's token may review, confirm
//! receipts and read, a reader's token may only read. Without any token (loopback only) a
//! request must name a loopback host and, from a browser, come from this server's own
//! pages: a web page elsewhere cannot upload, decide or, by DNS rebinding, read. A refused
//! request is answered before its body is read: it touches nothing.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::app::App;
use super::error::ApiError;
use crate::handoff::ErrorCode;

/// Who a request acts as: `api` for the server's token (or no token set), a reviewer's or
/// reader's name for theirs. Decisions and receipts are recorded under it.
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
    /// The server's own token (or none set): it may record receipts under any name.
    pub operator: bool,
}

/// What a request does, as a token is allowed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Upload and delete batches.
    Upload,
    /// Decide on waiting outputs and confirm receipts.
    Review,
    /// Read batches, outputs, exports and the review queue.
    Read,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Operator,
    Reviewer,
    Reader,
}

impl Role {
    fn may(self, p: Permission) -> bool {
        match self {
            Role::Operator => true,
            Role::Reviewer => p != Permission::Upload,
            Role::Reader => p == Permission::Read,
        }
    }
}

impl Permission {
    /// What the permission allows, as the end of "may not ...".
    pub fn describe(self) -> &'static str {
        match self {
            Permission::Upload => "upload or delete batches, or see their webhook deliveries",
            Permission::Review => "decide on outputs or confirm receipts",
            Permission::Read => "read",
        }
    }

    /// The roles that hold it.
    pub fn roles(self) -> &'static str {
        match self {
            Permission::Upload => "the server's own token",
            Permission::Review => "the server's own token or a reviewer's",
            Permission::Read => "any token: the server's, a reviewer's or a reader's",
        }
    }
}

/// The permission a route needs: reading is any `GET`; the rest is named.
pub fn needed(method: &Method, route: &str) -> Permission {
    match (method.as_str(), route) {
        // Webhook URLs often carry a secret of their receiver's (a hook path, user:pass@).
        (_, "/v1/batches/{id}/deliveries") => Permission::Upload,
        ("GET" | "HEAD", _) => Permission::Read,
        ("POST", "/v1/assets/{id}/review" | "/v1/assets/{id}/receipt") => Permission::Review,
        _ => Permission::Upload,
    }
}

pub async fn require_token(State(app): State<Arc<App>>, mut req: Request, next: Next) -> Response {
    let cfg = &app.config;
    if cfg.token.is_none() && cfg.reviewers.is_empty() && cfg.readers.is_empty() {
        if let Err(refused) = from_this_machine(req.headers(), req.method()) {
            return refused.into_response();
        }
        req.extensions_mut().insert(Actor {
            name: "api".into(),
            operator: true,
        });
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .unwrap_or_default()
        .to_string();
    // Constant time: how much of a guess matched must not show in the answer's timing.
    // (Lengths differ only when the guess is wrong anyway.) Every token is compared.
    let same = |t: &str| !t.is_empty() && bool::from(given.as_bytes().ct_eq(t.as_bytes()));
    let mut actor = None;
    if cfg.token.as_deref().is_some_and(same) {
        actor = Some(("api".to_string(), Role::Operator));
    }
    for (name, t) in &cfg.reviewers {
        if same(t) {
            actor = Some((name.clone(), Role::Reviewer));
        }
    }
    for (name, t) in &cfg.readers {
        if same(t) {
            actor = Some((name.clone(), Role::Reader));
        }
    }
    let Some((name, role)) = actor else {
        let message = if given.is_empty() {
            "this server needs a token: send `Authorization: Bearer <token>`"
        } else {
            "the token is not this server's"
        };
        return ApiError::new(ErrorCode::Unauthorized, message).into_response();
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let wants = needed(req.method(), &route);
    if !role.may(wants) {
        return ApiError::new(
            ErrorCode::Forbidden,
            format!(
                "the token of {name} may not {} (ask the server's operator)",
                wants.describe()
            ),
        )
        .into_response();
    }
    req.extensions_mut().insert(Actor {
        name,
        operator: role == Role::Operator,
    });
    next.run(req).await
}

/// Without a token anyone who can reach the port is trusted, and only this machine can:
/// so a request must name this machine as its host (a page on another site that rebinds
/// its own name to 127.0.0.1 sends its own name) and, when a browser says where it comes
/// from, come from a page of this server (a form on another site cannot post here).
fn from_this_machine(headers: &HeaderMap, method: &Method) -> Result<(), ApiError> {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !is_loopback_host(host) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "without a token this server answers only requests for localhost, 127.0.0.1 or [::1]; set a token to serve other names",
        ));
    }
    let cross_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|s| s == "cross-site" || s == "same-site");
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let foreign_origin = origin.is_some_and(|o| {
        o.strip_prefix("http://")
            .is_none_or(|authority| authority != host)
    });
    // A browser that says it comes from another site is refused whatever it asks; one
    // that only sends a foreign Origin is refused anything but reading.
    let reads = *method == Method::GET || *method == Method::HEAD;
    if cross_site || (foreign_origin && !reads) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "a request from another site's page is refused: without a token only this server's own pages may call it",
        ));
    }
    Ok(())
}

/// `localhost`, `127.x.y.z` or `[::1]`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(n, _)| n),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_named_with_or_without_a_port() {
        for ok in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:9",
            "127.1.2.3",
            "[::1]:80",
            "[::1]",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example",
            "evil.example:8080",
            "127.0.0.1.evil.example",
            "10.0.0.1:80",
            "[::2]",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn each_role_has_its_permissions() {
        let (get, post, delete) = (Method::GET, Method::POST, Method::DELETE);
        assert_eq!(needed(&post, "/v1/batches"), Permission::Upload);
        assert_eq!(needed(&delete, "/v1/batches/{id}"), Permission::Upload);
        assert_eq!(needed(&post, "/v1/assets/{id}/receipt"), Permission::Review);
        assert_eq!(needed(&get, "/v1/batches/{id}/download"), Permission::Read);
        assert_eq!(
            needed(&get, "/v1/batches/{id}/deliveries"),
            Permission::Upload
        );
        assert!(!Role::Reviewer.may(Permission::Upload));
        assert!(Role::Reviewer.may(Permission::Review));
        assert!(!Role::Reader.may(Permission::Review));
        assert!(Role::Operator.may(Permission::Upload));
    }
}
