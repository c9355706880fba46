//! The facilitator over HTTP: `POST /verify`, `POST /settle`, `GET /supported` (and
//! `GET /metrics` for the facilitator's own gauges), with payee authorization and rate
//! limits. The node nests this router under `/x402`; the standalone facilitator serves it at
//! the root and under `/x402`.
//!
//! The facilitator spends its own gas, so `/settle` only settles for payees it serves: a
//! `payTo` in the allow-list, or any `payTo` for a request carrying a valid bearer token
//! (`Authorization: Bearer …`, one per resource server). [`Access::Open`] (dev) settles for
//! anyone and says so in the log.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use alloy_primitives::Address;
use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use parking_lot::Mutex;
use serde_json::Value;

use crate::types::{SettleResponse, VerifyResponse, network_of};
use crate::{Chain, Facilitator, reason};

/// Who `/settle` settles for.
#[derive(Debug, Clone)]
pub enum Access {
    /// Everyone (dev only).
    Open,
    /// Only these payees, or requests with one of these bearer tokens.
    Restricted {
        /// Allowed `payTo` addresses.
        pay_to: HashSet<Address>,
        /// Accepted bearer tokens.
        tokens: HashSet<String>,
    },
}

/// HTTP-level settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Payee authorization.
    pub access: Access,
    /// Requests per second per client IP (verify + settle), with a burst of twice that.
    pub rate_limit_per_sec: u32,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

struct RateLimiter {
    per_sec: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    fn allow(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut map = self.buckets.lock();
        if map.len() > 100_000 {
            map.retain(|_, b| now.duration_since(b.at).as_secs() < 60);
        }
        let b = map.entry(ip).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        b.tokens =
            (b.tokens + now.duration_since(b.at).as_secs_f64() * self.per_sec).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct Shared<C> {
    facilitator: Arc<Facilitator<C>>,
    config: ServerConfig,
    limiter: RateLimiter,
}

/// The facilitator's routes (`/verify`, `/settle`, `/supported`, `/metrics`).
pub fn router<C: Chain>(facilitator: Arc<Facilitator<C>>, config: ServerConfig) -> Router {
    if matches!(config.access, Access::Open) {
        tracing::warn!(
            "x402 facilitator settles for ANY payee (dev); configure an allow-list or bearer tokens elsewhere"
        );
    }
    let per_sec = f64::from(config.rate_limit_per_sec.max(1));
    let shared = Arc::new(Shared {
        facilitator,
        config,
        limiter: RateLimiter {
            per_sec,
            burst: per_sec * 2.0,
            buckets: Mutex::new(HashMap::new()),
        },
    });
    Router::new()
        .route("/verify", post(verify::<C>))
        .route("/settle", post(settle::<C>))
        .route("/supported", get(supported::<C>))
        .route("/metrics", get(metrics::<C>))
        .with_state(shared)
}

fn client_ip(info: Option<&axum::Extension<ConnectInfo<SocketAddr>>>) -> IpAddr {
    info.map(|c| c.0.0.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

#[allow(clippy::result_large_err)]
fn malformed(body: &[u8]) -> Result<Value, Response> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| {
            (
                StatusCode::BAD_REQUEST,
                axum::Json(serde_json::json!({"error": "body must be a JSON object {x402Version, paymentPayload, paymentRequirements}"})),
            )
                .into_response()
        })
}

fn too_many() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        axum::Json(serde_json::json!({"error": "rate limit exceeded"})),
    )
        .into_response()
}

/// Rate-limits the caller and parses the JSON body; the error is the response to send.
#[allow(clippy::result_large_err)]
fn admit<C: Chain>(
    s: &Shared<C>,
    info: Option<&axum::Extension<ConnectInfo<SocketAddr>>>,
    body: &[u8],
) -> Result<Value, Response> {
    if !s.limiter.allow(client_ip(info)) {
        return Err(too_many());
    }
    malformed(body)
}

async fn verify<C: Chain>(
    State(s): State<Arc<Shared<C>>>,
    info: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    body: axum::body::Bytes,
) -> Response {
    let v = match admit(&s, info.as_ref(), &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let r: VerifyResponse = s.facilitator.verify(&v).await;
    axum::Json(r).into_response()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

async fn settle<C: Chain>(
    State(s): State<Arc<Shared<C>>>,
    info: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let v = match admit(&s, info.as_ref(), &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Access::Restricted { pay_to, tokens } = &s.config.access {
        let payee = v
            .pointer("/paymentRequirements/payTo")
            .and_then(Value::as_str)
            .and_then(|a| Address::from_str(a).ok());
        let served = payee.is_some_and(|p| pay_to.contains(&p))
            || bearer(&headers).is_some_and(|t| tokens.contains(t));
        if !served {
            tracing::info!(payee = ?payee, "x402 settle refused: payee not served by this facilitator");
            let r = SettleResponse::failure(
                reason::PAYEE_NOT_SERVED,
                "this facilitator does not settle for this payTo (not allow-listed and no valid bearer token)",
                None,
                network_of(s.facilitator.chain().chain_id()),
                String::new(),
            );
            return (StatusCode::FORBIDDEN, axum::Json(r)).into_response();
        }
    }
    let r = s.facilitator.settle(&v).await;
    axum::Json(r).into_response()
}

async fn supported<C: Chain>(State(s): State<Arc<Shared<C>>>) -> Response {
    axum::Json(s.facilitator.supported()).into_response()
}

async fn metrics<C: Chain>(State(s): State<Arc<Shared<C>>>) -> Response {
    (
        [("content-type", "text/plain; version=0.0.4")],
        s.facilitator.render_prometheus(),
    )
        .into_response()
}
