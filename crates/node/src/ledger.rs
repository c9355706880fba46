//! REST routes of the TxnChain API for the ledger tree (`specs/receipts.md` §2–§4):
//! `GET /v1/transactions/{hash}/receipt`, `GET /v1/ledger/roots/latest`,
//! `GET /v1/ledger/roots/{blockNumber}` and `GET /v1/ledger/consistency?from=M&to=N`.
//! Errors are JSON `{"error":{"code","message"}}`: 400 for a malformed hash, number or
//! range, 404 for what is not (yet) committed.

use std::sync::Arc;

use alloy_primitives::B256;
use axum::Router;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use txnchain_ledger::receipts::Signer;
use txnchain_ledger::{Ledger, LedgerError};

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

pub(crate) fn router(ledger: Arc<Ledger>, signer: Signer) -> Router {
    let receipts = ledger.clone();
    let latest = ledger.clone();
    let roots = ledger.clone();
    Router::new()
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
