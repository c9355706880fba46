//! `GET /node/attestation[?nonce=<hex>]`: this node's evidence, binding its identity key to its
//! platform and measurement. With a nonce, a fresh report is requested from the secure processor
//! (rate-limited, since every request reaches the hardware).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use txnchain_tee::{NodeAttestation, TeeError};

#[derive(serde::Deserialize)]
struct Params {
    nonce: Option<String>,
}

pub(crate) fn router(att: Arc<NodeAttestation>) -> Router {
    Router::new().route(
        "/node/attestation",
        get(move |Query(p): Query<Params>| {
            let att = att.clone();
            async move {
                let result =
                    tokio::task::spawn_blocking(move || att.respond(p.nonce.as_deref())).await;
                match result {
                    Ok(Ok(resp)) => Json(resp).into_response(),
                    Ok(Err(e)) => error_response(&e),
                    Err(e) => (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        Json(json!({"error": "internal", "message": e.to_string()})),
                    )
                        .into_response(),
                }
            }
        }),
    )
}

fn error_response(e: &TeeError) -> Response {
    let (status, kind) = match e {
        TeeError::Nonce(_) => (StatusCode::BAD_REQUEST, "invalid_nonce"),
        TeeError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "attestation_unavailable"),
    };
    (
        status,
        Json(json!({"error": kind, "message": e.to_string()})),
    )
        .into_response()
}
