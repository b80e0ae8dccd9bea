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

pub async fn require_token(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let Some(token) = app.config.token.as_deref() else {
        return next.run(req).await;
    };
    let given = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .unwrap_or_default();
    // Constant time: how much of a guess matched must not show in the answer's timing.
    // (Lengths differ only when the guess is wrong anyway.)
    if bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
        return next.run(req).await;
    }
    let message = if given.is_empty() {
        "this server needs a token: send `Authorization: Bearer <token>`"
    } else {
        "the token is not this server's"
    };
    ApiError::new(ErrorCode::Unauthorized, message).into_response()
}
