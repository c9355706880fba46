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
                    (
                        "txnchain_ledger_tree_seconds_total",
                        "counter",
                        "Time spent on the ledger tree: leaf hashes, appends and root signatures.",
                        format!("{:.9}", applied.ledger_tree_nanos as f64 / 1e9),
                    ),
                ] {
                    family(&mut out, name, kind, help, [("", value)]);
                }
                for (name, help, value) in process_cpu() {
                    family(&mut out, name, "counter", help, [("", value)]);
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

/// The process's CPU time and that of its write thread (Linux `/proc`; nothing elsewhere), in
/// seconds: `utime + stime` ticks of 1/100 s (`USER_HZ`, fixed at 100 by the Linux ABI on
/// x86-64 and arm64).
fn process_cpu() -> Vec<(&'static str, &'static str, String)> {
    let mut out = Vec::new();
    if let Some(t) = cpu_ticks("/proc/self/stat") {
        out.push((
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
            format!("{:.2}", t as f64 / 100.0),
        ));
    }
    let write = std::fs::read_dir("/proc/self/task").ok().and_then(|tasks| {
        tasks.flatten().find_map(|task| {
            let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
            (comm.trim_end() == "txnchain-write")
                .then(|| cpu_ticks(&task.path().join("stat").to_string_lossy()))
                .flatten()
        })
    });
    if let Some(t) = write {
        out.push((
            "txnchain_write_thread_cpu_seconds_total",
            "CPU time of the thread that builds and applies blocks, in seconds.",
            format!("{:.2}", t as f64 / 100.0),
        ));
    }
    out
}

/// `utime + stime` of a `/proc/…/stat` file (fields 14 and 15, after the parenthesised name).
fn cpu_ticks(path: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(path).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}
