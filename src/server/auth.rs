//! Bearer-token check: every route but /healthz and /readyz, when a token is set. A
//! refused request is answered before its body is read: it touches nothing.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::app::App;
use super::error::ApiError;
use crate::handoff::ErrorCode;

/// Who a request acts as: `api` for the server's token (or no token set), a reviewer's
/// name for their token. Decisions are recorded under it.
#[derive(Debug, Clone)]
pub struct Actor(pub String);

pub async fn require_token(State(app): State<Arc<App>>, mut req: Request, next: Next) -> Response {
    let cfg = &app.config;
    if cfg.token.is_none() && cfg.reviewers.is_empty() {
        req.extensions_mut().insert(Actor("api".into()));
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
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
    let same = |t: &str| bool::from(given.as_bytes().ct_eq(t.as_bytes()));
    let mut actor = None;
    if cfg.token.as_deref().is_some_and(same) {
        actor = Some("api".to_string());
    }
    for (name, t) in &cfg.reviewers {
        if same(t) && !t.is_empty() {
            actor = Some(name.clone());
        }
    }
    if let Some(a) = actor {
        req.extensions_mut().insert(Actor(a));
        return next.run(req).await;
    }
    let message = if given.is_empty() {
        "this server needs a token: send `Authorization: Bearer <token>`"
    } else {
        "the token is not this server's"
    };
    ApiError::new(ErrorCode::Unauthorized, message).into_response()
}
