//! REST routes of the TxnChain API for confidential execution: `GET /v1/encryption-key
//! [?epoch=N]` (the same body as `txnchain_getEncryptionKey`). Errors are the REST API's one
//! format, `{"error":{"code","message"}}`, with 400 for a refused epoch.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use txnchain_rpc::EthApi;

#[derive(serde::Deserialize)]
struct EpochQuery {
    epoch: Option<String>,
}

fn parse_epoch(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

pub(crate) fn router(api: Arc<EthApi>) -> Router {
    let results = api.clone();
    Router::new()
        .route(
            "/v1/transactions/{hash}/result",
            get(move |Path(hash): Path<String>| {
                let api = results.clone();
                async move {
                    let Some(hash) = crate::ledger::parse_hash(&hash) else {
                        return crate::ledger::bad_hash();
                    };
                    match tokio::task::spawn_blocking(move || api.transaction_result(hash)).await {
                        Ok(Ok(None)) => txnchain_http::json_error(
                            StatusCode::NOT_FOUND,
                            "not_found",
                            format!("no committed confidential transaction {hash}"),
                        ),
                        other => respond(other.map(|r| r.map(Option::unwrap_or_default))),
                    }
                }
            }),
        )
        .route(
            "/v1/encryption-key",
            get(move |Query(q): Query<EpochQuery>| {
                let api = api.clone();
                async move {
                    let epoch = match q.epoch.as_deref().map(parse_epoch) {
                        None => None,
                        Some(Some(e)) => Some(e),
                        Some(None) => {
                            return txnchain_http::json_error(
                                StatusCode::BAD_REQUEST,
                                "invalid_epoch",
                                "epoch must be a decimal or 0x-hex 64-bit number",
                            );
                        }
                    };
                    let result =
                        tokio::task::spawn_blocking(move || api.encryption_key(epoch)).await;
                    match result {
                        Ok(Err(e)) if e.code == txnchain_jsonrpc::INVALID_PARAMS => {
                            txnchain_http::json_error(
                                StatusCode::BAD_REQUEST,
                                "epoch_not_accepted",
                                e.message,
                            )
                        }
                        other => respond(other),
                    }
                }
            }),
        )
}

/// A handler's outcome as HTTP: the JSON body, 503 for an RPC error, 500 if the blocking task
/// died.
fn respond(
    result: Result<Result<serde_json::Value, txnchain_jsonrpc::RpcError>, tokio::task::JoinError>,
) -> axum::response::Response {
    match result {
        Ok(Ok(body)) => axum::Json(body).into_response(),
        Ok(Err(e)) => {
            txnchain_http::json_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.message)
        }
        Err(e) => txnchain_http::json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e),
    }
}
