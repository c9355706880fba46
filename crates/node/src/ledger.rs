//! REST routes of the TxnChain API for transactions and the ledger tree
//! (`specs/receipts.md` §2–§4): `POST /v1/transactions`, `GET /v1/transactions/{hash}`
//! (status, with a long-poll), `GET /v1/transactions/{hash}/receipt`,
//! `GET /v1/ledger/roots/latest`, `GET /v1/ledger/roots/{blockNumber}` and
//! `GET /v1/ledger/consistency?from=M&to=N`. Errors are JSON `{"error":{"code","message"}}`:
//! 400 for a malformed hash, number, range or body, 404 for what is not (yet) committed.

use std::sync::Arc;

use alloy_primitives::B256;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use txnchain_ledger::receipts::Signer;
use txnchain_ledger::status::TxStatus;
use txnchain_ledger::{Ledger, LedgerError};
use txnchain_rpc::EthApi;

/// Largest `POST /v1/transactions` body: a transaction of the pool's maximum size
/// (128 KiB) in hex, with room for the JSON around it.
const MAX_SUBMIT_BODY: usize = 2 * txnchain_ledger::admission::MAX_TX_SIZE + 1024;

/// Default and longest wait of a status long-poll.
const WAIT_DEFAULT: std::time::Duration = std::time::Duration::from_secs(10);
pub(crate) const WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(30);

/// Parses a transaction hash from a path: `0x` and 64 hex digits.
pub(crate) fn parse_hash(text: &str) -> Option<B256> {
    match text.strip_prefix("0x") {
        Some(hex) if hex.len() == 64 => text.parse::<B256>().ok(),
        _ => None,
    }
}

/// 400 for a path hash [`parse_hash`] refused.
pub(crate) fn bad_hash() -> Response {
    txnchain_http::json_error(
        StatusCode::BAD_REQUEST,
        "invalid_hash",
        "the transaction hash must be 0x followed by 64 hex digits",
    )
}

/// Parses a block number or tree size: decimal, or `0x` hex, at most 64 bits.
pub(crate) fn parse_u64(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    match text.strip_prefix("0x") {
        Some(hex) if !hex.is_empty() && hex.len() <= 16 => u64::from_str_radix(hex, 16).ok(),
        Some(_) => None,
        None if text.bytes().all(|b| b.is_ascii_digit()) => text.parse().ok(),
        None => None,
    }
}

#[derive(serde::Deserialize)]
struct Range {
    from: Option<String>,
    to: Option<String>,
}

#[derive(Serialize)]
struct Consistency {
    from: u64,
    to: u64,
    proof: Vec<B256>,
}

/// Runs a read on the blocking pool and answers it: `Ok(Some)` as JSON, `Ok(None)` as 404
/// with `missing`, a ledger error as the fitting status.
async fn answer<T: Serialize + Send + 'static>(
    missing: String,
    read: impl FnOnce() -> Result<Option<T>, LedgerError> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(read).await {
        Ok(Ok(Some(body))) => axum::Json(body).into_response(),
        Ok(Ok(None)) => txnchain_http::json_error(StatusCode::NOT_FOUND, "not_found", missing),
        Ok(Err(e @ LedgerError::TreeRange { .. })) => {
            txnchain_http::json_error(StatusCode::BAD_REQUEST, "invalid_range", e)
        }
        Ok(Err(e @ LedgerError::Unsigned(_))) => {
            txnchain_http::json_error(StatusCode::NOT_FOUND, "not_signed", e)
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "ledger read failed");
            txnchain_http::json_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e)
        }
        Err(e) => txnchain_http::json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e),
    }
}

#[derive(serde::Deserialize)]
struct Wait {
    wait: Option<String>,
    timeout: Option<String>,
}

/// A long-poll timeout: `5s`, `500ms` or whole seconds, at most [`WAIT_MAX`].
pub(crate) fn parse_timeout(text: &str) -> Option<std::time::Duration> {
    let (digits, unit_ms) = if let Some(d) = text.strip_suffix("ms") {
        (d, 1)
    } else if let Some(d) = text.strip_suffix('s') {
        (d, 1000)
    } else {
        (text, 1000)
    };
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ms = digits.parse::<u64>().ok()?.checked_mul(unit_ms)?;
    Some(std::time::Duration::from_millis(ms).min(WAIT_MAX))
}

fn status_body(hash: B256, status: &TxStatus) -> serde_json::Value {
    let mut body = serde_json::json!({"transactionHash": hash, "status": status.word()});
    match status {
        TxStatus::Committed { block, leaf_index } => {
            body["blockNumber"] = (*block).into();
            body["leafIndex"] = (*leaf_index).into();
        }
        TxStatus::Invalid { reason } => body["reason"] = reason.clone().into(),
        TxStatus::Unknown => {
            body["error"] = serde_json::json!({
                "code": "not_found",
                "message": format!("transaction {hash} is unknown to this node"),
            });
        }
        TxStatus::Pending => {}
    }
    body
}

/// `GET /v1/transactions/{hash}`: the status now, or with `wait=committed` the first final
/// status (committed or invalid) within the timeout, else the status then.
async fn status(
    ledger: Arc<Ledger>,
    hash: B256,
    wait: Wait,
    max_wait: std::time::Duration,
) -> Response {
    let deadline = match (wait.wait.as_deref(), wait.timeout.as_deref()) {
        (None, None) => None,
        (Some("committed"), t) => match t.map(parse_timeout) {
            None => Some(WAIT_DEFAULT),
            Some(Some(t)) => Some(t),
            Some(None) => {
                return txnchain_http::json_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_timeout",
                    "timeout must be like 5s, 500ms or a number of seconds (at most 30 s)",
                );
            }
        },
        (None, Some(_)) | (Some(_), _) => {
            return txnchain_http::json_error(
                StatusCode::BAD_REQUEST,
                "invalid_wait",
                "wait must be `committed` (with an optional timeout)",
            );
        }
    }
    .map(|d| tokio::time::Instant::now() + d.min(max_wait));
    // Subscribed before the first look, so a block committed in between wakes the wait.
    let mut blocks = ledger.subscribe();
    loop {
        let l = ledger.clone();
        let now = match tokio::task::spawn_blocking(move || l.transaction_status(hash)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                return txnchain_http::json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    e,
                );
            }
            Err(e) => {
                return txnchain_http::json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e);
            }
        };
        let done = match deadline {
            None => true,
            Some(d) => now.is_final() || tokio::time::Instant::now() >= d,
        };
        if done {
            let code = if now == TxStatus::Unknown {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::OK
            };
            return (code, axum::Json(status_body(hash, &now))).into_response();
        }
        // A block, or a short tick (a transaction found invalid while a block is built
        // leaves no block behind), or the deadline.
        let tick = tokio::time::Instant::now() + std::time::Duration::from_millis(50);
        let until = deadline.map_or(tick, |d| d.min(tick));
        tokio::select! {
            _ = blocks.recv() => {}
            () = tokio::time::sleep_until(until) => {}
        }
    }
}

/// `POST /v1/transactions` with `{"raw":"0x…"}`: 202 with the hash once admitted.
async fn submit(api: Arc<EthApi>, body: Body) -> Response {
    let Ok(bytes) = axum::body::to_bytes(body, MAX_SUBMIT_BODY).await else {
        return txnchain_http::json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body must be at most {MAX_SUBMIT_BODY} bytes"),
        );
    };
    #[derive(serde::Deserialize)]
    struct Submit {
        raw: alloy_primitives::Bytes,
    }
    let raw = match serde_json::from_slice::<Submit>(&bytes) {
        Ok(s) => s.raw,
        Err(e) => {
            return txnchain_http::json_error(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                format!("expected {{\"raw\":\"0x…\"}} (a signed EIP-2718 transaction): {e}"),
            );
        }
    };
    match tokio::task::spawn_blocking(move || api.send_raw(&raw)).await {
        Ok(Ok(hash)) => (
            StatusCode::ACCEPTED,
            axum::Json(serde_json::json!({"transactionHash": hash})),
        )
            .into_response(),
        Ok(Err(e)) => {
            txnchain_http::json_error(StatusCode::BAD_REQUEST, "transaction_rejected", e.message)
        }
        Err(e) => txnchain_http::json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e),
    }
}

/// The routes. `max_wait` caps a status long-poll ([`WAIT_MAX`] in a node).
pub(crate) fn router(
    ledger: Arc<Ledger>,
    api: Arc<EthApi>,
    signer: Signer,
    max_wait: std::time::Duration,
) -> Router {
    let statuses = ledger.clone();
    let receipts = ledger.clone();
    let latest = ledger.clone();
    let roots = ledger.clone();
    Router::new()
        .route(
            "/v1/transactions",
            axum::routing::post(move |body: Body| submit(api.clone(), body)),
        )
        .route(
            "/v1/transactions/{hash}",
            get(move |Path(hash): Path<String>, Query(wait): Query<Wait>| {
                let ledger = statuses.clone();
                async move {
                    let Some(hash) = parse_hash(&hash) else {
                        return bad_hash();
                    };
                    status(ledger, hash, wait, max_wait).await
                }
            }),
        )
        .route(
            "/v1/transactions/{hash}/receipt",
            get(move |Path(hash): Path<String>| {
                let ledger = receipts.clone();
                async move {
                    let Some(hash) = parse_hash(&hash) else {
                        return bad_hash();
                    };
                    answer(format!("no committed transaction {hash}"), move || {
                        ledger.reader()?.ledger_receipt(signer, hash)
                    })
                    .await
                }
            }),
        )
        .route(
            "/v1/ledger/roots/latest",
            get(move || {
                let ledger = latest.clone();
                async move {
                    answer("no block after genesis yet".into(), move || {
                        let reader = ledger.reader()?;
                        let head = reader.latest()?;
                        reader.signed_root(signer, head)
                    })
                    .await
                }
            }),
        )
        .route(
            "/v1/ledger/roots/{number}",
            get(move |Path(number): Path<String>| {
                let ledger = roots.clone();
                async move {
                    let Some(number) = parse_u64(&number) else {
                        return txnchain_http::json_error(
                            StatusCode::BAD_REQUEST,
                            "invalid_block_number",
                            "the block number must be a decimal or 0x-hex 64-bit number",
                        );
                    };
                    answer(format!("no signed root for block {number}"), move || {
                        ledger.reader()?.signed_root(signer, number)
                    })
                    .await
                }
            }),
        )
        .route(
            "/v1/ledger/consistency",
            get(move |Query(q): Query<Range>| {
                let ledger = ledger.clone();
                async move {
                    let (Some(from), Some(to)) = (
                        q.from.as_deref().and_then(parse_u64),
                        q.to.as_deref().and_then(parse_u64),
                    ) else {
                        return txnchain_http::json_error(
                            StatusCode::BAD_REQUEST,
                            "invalid_range",
                            "from and to must be tree sizes (decimal or 0x-hex 64-bit numbers)",
                        );
                    };
                    answer(String::new(), move || {
                        let proof = ledger.reader()?.ledger_consistency(from, to)?;
                        Ok(Some(Consistency { from, to, proof }))
                    })
                    .await
                }
            }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_strictly() {
        assert_eq!(parse_u64("0"), Some(0));
        assert_eq!(parse_u64("12"), Some(12));
        assert_eq!(parse_u64("0x1f"), Some(31));
        assert_eq!(parse_u64("18446744073709551615"), Some(u64::MAX));
        for bad in [
            "",
            "0x",
            "-1",
            "+1",
            "1e3",
            " 1",
            "18446744073709551616",
            "0x1ffffffffffffffff",
            "ab",
        ] {
            assert_eq!(parse_u64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn timeouts_parse_and_are_capped() {
        use std::time::Duration;
        assert_eq!(parse_timeout("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_timeout("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_timeout("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_timeout("3600s"), Some(WAIT_MAX));
        for bad in ["", "s", "ms", "-1s", "1.5s", "1m", "9999999999s", " 1s"] {
            assert_eq!(parse_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn hashes_must_be_32_bytes_of_hex() {
        let good = format!("0x{}", "ab".repeat(32));
        assert!(parse_hash(&good).is_some());
        for bad in [
            String::new(),
            "ab".repeat(32),
            format!("0x{}", "ab".repeat(31)),
            format!("0x{}", "ab".repeat(33)),
            format!("0x{}g", "a".repeat(63)),
        ] {
            assert!(parse_hash(&bad).is_none(), "{bad:?}");
        }
    }
}
