//! The facilitator's counters and their Prometheus text.

use std::sync::atomic::{AtomicU64, Ordering};

use alloy_primitives::{Address, U256};
use txnchain_http::prometheus::family;

/// Counters for `/metrics`.
#[derive(Default)]
pub(crate) struct Metrics {
    pub(crate) verify_valid: AtomicU64,
    pub(crate) verify_invalid: AtomicU64,
    pub(crate) settle_success: AtomicU64,
    pub(crate) settle_failure: AtomicU64,
    pub(crate) settle_latency_us_sum: AtomicU64,
    pub(crate) settlements_cancelled: AtomicU64,
    pub(crate) settlements_resubmitted: AtomicU64,
}

fn load(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

impl Metrics {
    pub(crate) fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Prometheus text: the counters, and each settlement key's balance and low-balance flag.
    pub(crate) fn render(&self, keys: &[(Address, U256)], low_balance_wei: U256) -> String {
        let mut out = String::new();
        family(
            &mut out,
            "txnchain_x402_verify_total",
            "counter",
            "x402 verify calls by outcome.",
            [
                ("{valid=\"true\"}", load(&self.verify_valid)),
                ("{valid=\"false\"}", load(&self.verify_invalid)),
            ],
        );
        family(
            &mut out,
            "txnchain_x402_settle_total",
            "counter",
            "x402 settle calls by outcome.",
            [
                ("{success=\"true\"}", load(&self.settle_success)),
                ("{success=\"false\"}", load(&self.settle_failure)),
            ],
        );
        family(
            &mut out,
            "txnchain_x402_settle_latency_seconds_sum",
            "counter",
            "Total time of successful settlements (submit to commit).",
            [("", load(&self.settle_latency_us_sum) as f64 / 1e6)],
        );
        family(
            &mut out,
            "txnchain_x402_settlements_cancelled_total",
            "counter",
            "Settlement transactions replaced by a no-op because they did not commit in time.",
            [("", load(&self.settlements_cancelled))],
        );
        family(
            &mut out,
            "txnchain_x402_settlements_resubmitted_total",
            "counter",
            "Settlement transactions submitted again after they left the pool uncommitted.",
            [("", load(&self.settlements_resubmitted))],
        );
        family(
            &mut out,
            "txnchain_x402_settlement_key_balance_wei",
            "gauge",
            "ETH balance of each settlement key.",
            keys.iter()
                .filter(|(_, b)| *b != U256::MAX)
                .map(|(a, b)| (format!("{{key=\"{a}\"}}"), b.to_string())),
        );
        family(
            &mut out,
            "txnchain_x402_settlement_key_low_balance",
            "gauge",
            "1 when a settlement key is below the warning threshold.",
            keys.iter()
                .map(|(a, b)| (format!("{{key=\"{a}\"}}"), u8::from(*b < low_balance_wei))),
        );
        out
    }
}
