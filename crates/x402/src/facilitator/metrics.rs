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

/// Settlement totals at one instant, for the periodic summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SettleTotals {
    pub(crate) success: u64,
    pub(crate) failure: u64,
    pub(crate) latency_us: u64,
}

impl SettleTotals {
    /// What happened between `earlier` and `self`: (settled, failed, mean latency in ms of
    /// the settled), or `None` when nothing did.
    pub(crate) fn since(self, earlier: SettleTotals) -> Option<(u64, u64, f64)> {
        let settled = self.success.saturating_sub(earlier.success);
        let failed = self.failure.saturating_sub(earlier.failure);
        if settled == 0 && failed == 0 {
            return None;
        }
        let latency = self.latency_us.saturating_sub(earlier.latency_us);
        let mean_ms = if settled == 0 {
            0.0
        } else {
            latency as f64 / settled as f64 / 1e3
        };
        Some((settled, failed, mean_ms))
    }
}

impl Metrics {
    /// The settlement counters now.
    pub(crate) fn settle_totals(&self) -> SettleTotals {
        SettleTotals {
            success: load(&self.settle_success),
            failure: load(&self.settle_failure),
            latency_us: load(&self.settle_latency_us_sum),
        }
    }

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

#[cfg(test)]
mod tests {
    use super::SettleTotals;

    #[test]
    fn the_summary_counts_what_happened_since_the_last_one() {
        let a = SettleTotals {
            success: 10,
            failure: 1,
            latency_us: 50_000,
        };
        assert_eq!(a.since(a), None);
        let b = SettleTotals {
            success: 14,
            failure: 2,
            latency_us: 90_000,
        };
        assert_eq!(b.since(a), Some((4, 1, 10.0)));
        let failed_only = SettleTotals { failure: 3, ..a };
        assert_eq!(failed_only.since(a), Some((0, 2, 0.0)));
    }
}
