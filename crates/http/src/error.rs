//! JSON error bodies: `{"error":{"code":"<machine word>","message":"<text>"}}` with a fitting
//! HTTP status (the format of the REST API, `specs/receipts.md` §4), and library errors.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An HTTP error response with a JSON body.
pub fn json_error(status: StatusCode, code: &str, message: impl std::fmt::Display) -> Response {
    let body = serde_json::json!({"error": {"code": code, "message": message.to_string()}});
    (status, axum::Json(body)).into_response()
}

/// `429 Too Many Requests` with `Retry-After` (whole seconds).
pub fn too_many_requests(retry_after_secs: u64, message: impl std::fmt::Display) -> Response {
    let mut r = json_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
    if let Ok(v) = HeaderValue::from_str(&retry_after_secs.max(1).to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// Errors of this crate's serving functions.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The listener failed.
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
}
