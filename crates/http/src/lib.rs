//! The HTTP plumbing every TxnChain listener shares, so that no listener is softer than the
//! others: the JSON-RPC port, the admin port, the paywall and the standalone facilitator.
//!
//! - [`serve`]: the accept loop — global and per-client connection caps, header and idle
//!   deadlines, write-stall deadlines, bounded headers, graceful shutdown;
//! - [`ClientKey`]: who a request counts as (IPv4 address or IPv6 /64), and
//!   [`TrustedProxies`] for `X-Forwarded-For` behind a known proxy;
//! - [`Quota`]: counted resources (connections, requests in flight, filters) with a global
//!   and a per-client limit, released by RAII guards;
//! - [`RateLimiter`]: token buckets per client, bounded in memory, with an optional global
//!   bucket;
//! - [`read_limited`]: a body read with a size limit and a deadline;
//! - [`json_error`] / [`too_many_requests`]: JSON error bodies with a fitting status;
//! - [`prometheus`]: the one writer of Prometheus text.

#![warn(missing_docs)]

mod body;
mod client;
mod error;
pub mod prometheus;
mod quota;
mod rate;
mod serve;

pub use body::{BodyError, read_limited};
pub use client::{ClientKey, InvalidProxy, TrustedProxies, client_of, peer_of};
pub use error::{HttpError, json_error, too_many_requests};
pub use quota::{Quota, QuotaError, QuotaGuard};
pub use rate::{RateConfig, RateLimited, RateLimiter};
pub use serve::{ServeLimits, ServeMetrics, Served, serve, serve_with};
