//! The one error shape every route answers with: `{"error": {"code", "message"}}`, the
//! status taken from the code's category.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::handoff::ErrorCode;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Seconds to wait, for a 503.
    pub retry_after: Option<u64>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct ErrorDetail {
    /// A stable kebab-case code (the manifests' `error.code` list).
    pub code: ErrorCode,
    /// What happened, in words.
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn not_found(what: &str, id: &str) -> ApiError {
        ApiError::new(ErrorCode::NotFound, format!("no {what} with id '{id}'"))
    }

    pub fn busy(message: impl Into<String>, retry_after: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(ErrorCode::ServerBusy, message)
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        tracing::error!("{e}");
        ApiError::new(e.code(), e.to_string())
    }
}

impl From<crate::review::ReviewError> for ApiError {
    fn from(e: crate::review::ReviewError) -> ApiError {
        ApiError::new(e.code(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        let mut r = (status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.code == ErrorCode::Unauthorized {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}
