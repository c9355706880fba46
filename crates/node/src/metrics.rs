//! `/metrics` in the Prometheus text format.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use txnchain_http::prometheus::family;
use txnchain_jsonrpc::RpcModule;
use txnchain_ledger::Ledger;
use txnchain_rpc::EthApi;

pub(crate) fn router(
    ledger: Arc<Ledger>,
    module: Arc<RpcModule<EthApi>>,
    facilitator: Option<Arc<txnchain_x402::Facilitator<crate::x402::LocalChain>>>,
    served: txnchain_http::Served,
) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let ledger = ledger.clone();
            let module = module.clone();
            let facilitator = facilitator.clone();
            let served = served.clone();
            async move {
                let mut out = String::new();
                let head = *ledger.head().borrow();
                let applied = ledger.stats().read();
                let timestamp = ledger
                    .store()
                    .snapshot()
                    .and_then(|s| s.header(head))
                    .ok()
                    .flatten()
                    .map_or(0, |h| h.header.timestamp);
                for (name, kind, help, value) in [
                    (
                        "txnchain_block_height",
                        "gauge",
                        "Number of the last applied block.",
                        head.to_string(),
                    ),
                    (
                        "txnchain_block_timestamp_seconds",
                        "gauge",
                        "Header timestamp of the last applied block.",
                        timestamp.to_string(),
                    ),
                    (
                        "txnchain_txpool_transactions",
                        "gauge",
                        "Transactions in the pool.",
                        ledger.pool().len().to_string(),
                    ),
                    (
                        "txnchain_blocks_applied_total",
                        "counter",
                        "Blocks applied since the process started.",
                        applied.blocks.to_string(),
                    ),
                    (
                        "txnchain_transactions_committed_total",
                        "counter",
                        "Transactions in the blocks applied since the process started.",
                        applied.transactions.to_string(),
                    ),
                    (
                        "txnchain_gas_used_total",
                        "counter",
                        "Gas used by the blocks applied since the process started.",
                        applied.gas.to_string(),
                    ),
                    (
                        "txnchain_block_apply_seconds_total",
                        "counter",
                        "Time spent applying blocks (storage write included).",
                        format!("{:.9}", applied.apply_nanos as f64 / 1e9),
                    ),
                ] {
                    family(&mut out, name, kind, help, [("", value)]);
                }
                out.push_str(&module.render_prometheus());
                served
                    .metrics
                    .render(&mut out, "public", served.connections.in_use());
                if let Some(f) = &facilitator {
                    out.push_str(&f.render_prometheus());
                }
                ([("content-type", "text/plain; version=0.0.4")], out)
            }
        }),
    )
}
