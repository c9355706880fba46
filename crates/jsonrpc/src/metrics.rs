//! Per-method counters and server gauges, rendered in the Prometheus text format.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;
use txnchain_http::prometheus::{family, label_value, summary};

/// Counters for one registered method.
#[derive(Debug, Default)]
pub(crate) struct MethodMetrics {
    calls: AtomicU64,
    errors: AtomicU64,
    /// Sum of handler latencies, in nanoseconds.
    latency_ns: AtomicU64,
}

impl MethodMetrics {
    pub(crate) fn record(&self, elapsed: Duration, is_error: bool) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if is_error {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.latency_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// (calls, errors, latency sum in seconds).
    pub(crate) fn snapshot(&self) -> (u64, u64, f64) {
        (
            self.calls.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
            self.latency_ns.load(Ordering::Relaxed) as f64 / 1e9,
        )
    }
}

/// Server-wide counters and gauges, shared by the module and the transports.
#[derive(Debug, Default)]
pub(crate) struct ServerMetrics {
    pub(crate) unknown_method: AtomicU64,
    pub(crate) invalid_request: AtomicU64,
    pub(crate) parse_error: AtomicU64,
    pub(crate) http_requests: AtomicU64,
    pub(crate) large_messages: AtomicU64,
    pub(crate) ws_connections_total: AtomicU64,
    pub(crate) ws_connections_active: AtomicI64,
    pub(crate) connections_rejected: AtomicU64,
    pub(crate) subscriptions_active: AtomicI64,
    pub(crate) subscriptions_dropped: AtomicU64,
}

impl ServerMetrics {
    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn render(
        &self,
        out: &mut String,
        methods: &mut dyn Iterator<Item = (&str, &MethodMetrics)>,
    ) {
        let mut rows: Vec<(&str, (u64, u64, f64))> =
            methods.map(|(name, m)| (name, m.snapshot())).collect();
        rows.sort_by(|a, b| a.0.cmp(b.0));

        let label = |name: &str| format!("{{method=\"{}\"}}", label_value(name));
        family(
            out,
            "txnchain_rpc_calls_total",
            "counter",
            "JSON-RPC calls served, by method.",
            rows.iter()
                .map(|(name, (calls, _, _))| (label(name), *calls)),
        );
        family(
            out,
            "txnchain_rpc_errors_total",
            "counter",
            "JSON-RPC calls that returned an error, by method.",
            rows.iter()
                .map(|(name, (_, errors, _))| (label(name), *errors)),
        );
        summary(
            out,
            "txnchain_rpc_call_duration_seconds",
            "Handler latency of JSON-RPC calls, by method.",
            rows.iter()
                .map(|(name, (calls, _, secs))| (label(name), *secs, *calls)),
        );

        let counters: [(&str, &str, &AtomicU64); 8] = [
            (
                "txnchain_rpc_unknown_method_total",
                "Calls of methods that are not registered.",
                &self.unknown_method,
            ),
            (
                "txnchain_rpc_invalid_request_total",
                "Messages rejected as invalid requests.",
                &self.invalid_request,
            ),
            (
                "txnchain_rpc_parse_error_total",
                "Requests that were not valid JSON.",
                &self.parse_error,
            ),
            (
                "txnchain_rpc_http_requests_total",
                "HTTP POST requests accepted for processing.",
                &self.http_requests,
            ),
            (
                "txnchain_rpc_large_messages_total",
                "Messages over the large-message size, processed in the large-message lane.",
                &self.large_messages,
            ),
            (
                "txnchain_rpc_ws_connections_total",
                "WebSocket connections accepted.",
                &self.ws_connections_total,
            ),
            (
                "txnchain_rpc_connections_rejected_total",
                "HTTP requests and WebSocket upgrades rejected by the connection limit.",
                &self.connections_rejected,
            ),
            (
                "txnchain_rpc_subscriptions_dropped_total",
                "Subscriptions dropped because the client did not read fast enough.",
                &self.subscriptions_dropped,
            ),
        ];
        for (name, help, c) in counters {
            family(
                out,
                name,
                "counter",
                help,
                [("", c.load(Ordering::Relaxed))],
            );
        }
        let gauges: [(&str, &str, &AtomicI64); 2] = [
            (
                "txnchain_rpc_ws_connections_active",
                "Open WebSocket connections.",
                &self.ws_connections_active,
            ),
            (
                "txnchain_rpc_subscriptions_active",
                "Active subscriptions.",
                &self.subscriptions_active,
            ),
        ];
        for (name, help, g) in gauges {
            family(out, name, "gauge", help, [("", g.load(Ordering::Relaxed))]);
        }
    }
}
