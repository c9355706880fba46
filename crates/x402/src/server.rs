//! The facilitator over HTTP: `POST /verify`, `POST /settle`, `GET /supported` (and
//! `GET /metrics` for the facilitator's own gauges), with payee authorization, rate limits
//! and quotas. The node nests this router under `/x402`; the standalone facilitator serves it
//! at the root and under `/x402`.
//!
//! The facilitator spends its own gas, so `/settle` only settles for payees it serves: a
//! `payTo` in the allow-list, or any `payTo` for a request carrying a valid bearer token
//! (`Authorization: Bearer …`, one per resource server). [`Access::Open`] (dev) settles for
//! anyone and says so in the log.
//!
//! Limits: request bodies of at most 64 KiB, received within 10 s; verify + settle requests
//! per client ([`ClientKey`]: IPv4 address or IPv6 /64; behind [`TrustedProxies`], the
//! forwarded client), with a global ceiling; settles per payer and per payee. Over a limit:
//! HTTP 429 with `Retry-After`. Bearer tokens are kept as SHA-256 digests and compared in
//! constant time.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::Address;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use txnchain_http::{
    ClientKey, RateConfig, RateLimiter, TrustedProxies, json_error, read_limited, too_many_requests,
};
use zeroize::Zeroizing;

use crate::types::{SettleResponse, network_of};
use crate::{Chain, Facilitator, reason};

/// Largest request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Time to receive a request body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Bearer tokens, kept only as SHA-256 digests.
#[derive(Clone, Default)]
pub struct BearerTokens {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for BearerTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BearerTokens({} redacted)", self.digests.len())
    }
}

impl BearerTokens {
    /// Digests `tokens`; the plaintext is not kept.
    pub fn new<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Self {
        BearerTokens {
            digests: tokens
                .into_iter()
                .map(|t| Sha256::digest(t.as_bytes()).into())
                .collect(),
        }
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Whether `presented` is one of the tokens: its digest is compared with every stored
    /// digest in constant time, without stopping at a match.
    pub fn accepts(&self, presented: &str) -> bool {
        let d: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = subtle::Choice::from(0u8);
        for stored in &self.digests {
            found |= stored.ct_eq(&d);
        }
        found.into()
    }
}

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
        tokens: BearerTokens,
    },
}

/// HTTP-level settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Payee authorization.
    pub access: Access,
    /// verify + settle requests per second per client, with a burst of twice that.
    pub rate_limit_per_sec: u32,
    /// verify + settle requests per second over all clients (`None`: no ceiling).
    pub global_rate_limit_per_sec: Option<u32>,
    /// Settles per second per payer (`authorization.from`).
    pub payer_settles_per_sec: u32,
    /// Settles per second per payee (`payTo`).
    pub payee_settles_per_sec: u32,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
}

impl ServerConfig {
    /// `rate_limit_per_sec` per client, generous payer and payee quotas, no global ceiling.
    pub fn new(access: Access, rate_limit_per_sec: u32) -> Self {
        ServerConfig {
            access,
            rate_limit_per_sec,
            global_rate_limit_per_sec: None,
            payer_settles_per_sec: 50,
            payee_settles_per_sec: 5_000,
            trusted_proxies: TrustedProxies::none(),
        }
    }
}

struct Shared<C> {
    facilitator: Arc<Facilitator<C>>,
    config: ServerConfig,
    clients: RateLimiter,
    payers: RateLimiter<Address>,
    payees: RateLimiter<Address>,
}

/// The facilitator's routes (`/verify`, `/settle`, `/supported`, `/metrics`).
pub fn router<C: Chain>(facilitator: Arc<Facilitator<C>>, config: ServerConfig) -> Router {
    if matches!(config.access, Access::Open) {
        tracing::warn!(
            "x402 facilitator settles for ANY payee (dev); configure an allow-list or bearer tokens elsewhere"
        );
    }
    let clients = RateLimiter::new(
        RateConfig::per_client(config.rate_limit_per_sec)
            .with_global(config.global_rate_limit_per_sec),
    );
    let payers = RateLimiter::new(RateConfig::per_client(config.payer_settles_per_sec));
    let payees = RateLimiter::new(RateConfig::per_client(config.payee_settles_per_sec));
    let shared = Arc::new(Shared {
        facilitator,
        config,
        clients,
        payers,
        payees,
    });
    Router::new()
        .route("/verify", post(verify::<C>))
        .route("/settle", post(settle::<C>))
        .route("/supported", get(supported::<C>))
        .route("/metrics", get(metrics::<C>))
        .with_state(shared)
}

fn bad_request(message: &str) -> Response {
    json_error(StatusCode::BAD_REQUEST, "invalid_request", message)
}

/// Rate-limits the caller and reads and parses the JSON body; the error is the response to
/// send.
async fn admit<C: Chain>(s: &Shared<C>, req: Request) -> Result<(Value, HeaderMap), Response> {
    let (parts, body) = req.into_parts();
    let client: ClientKey = txnchain_http::client_of(&parts, &s.config.trusted_proxies);
    if let Err(limited) = s.clients.check(client) {
        return Err(too_many_requests(
            limited.retry_after_secs(),
            "rate limit exceeded",
        ));
    }
    let body = match read_limited(body, MAX_BODY_BYTES, BODY_TIMEOUT).await {
        Ok(b) => b,
        Err(txnchain_http::BodyError::TooLarge { limit }) => {
            return Err(json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("request body over {limit} bytes"),
            ));
        }
        Err(txnchain_http::BodyError::Timeout(_)) => {
            return Err(json_error(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                "request body not received in time",
            ));
        }
        Err(e) => return Err(bad_request(&e.to_string())),
    };
    let value = serde_json::from_slice::<Value>(&body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| {
            bad_request(
                "body must be a JSON object {x402Version, paymentPayload, paymentRequirements}",
            )
        })?;
    Ok((value, parts.headers))
}

async fn verify<C: Chain>(State(s): State<Arc<Shared<C>>>, req: Request) -> Response {
    let (v, _) = match admit(&s, req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    axum::Json(s.facilitator.verify(&v).await).into_response()
}

fn bearer(headers: &HeaderMap) -> Option<Zeroizing<String>> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    value
        .strip_prefix("Bearer ")
        .map(|t| Zeroizing::new(t.to_string()))
}

fn address_at(v: &Value, pointer: &str) -> Option<Address> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .and_then(|a| Address::from_str(a).ok())
}

async fn settle<C: Chain>(State(s): State<Arc<Shared<C>>>, req: Request) -> Response {
    let (v, headers) = match admit(&s, req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let payee = address_at(&v, "/paymentRequirements/payTo");
    if let Access::Restricted { pay_to, tokens } = &s.config.access {
        let served = payee.is_some_and(|p| pay_to.contains(&p))
            || bearer(&headers).is_some_and(|t| tokens.accepts(&t));
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
    // Quotas: one payer (or one payee) cannot make the facilitator spend gas without bound.
    let payer = address_at(&v, "/paymentPayload/payload/authorization/from");
    for (limiter, who, what) in [(&s.payers, payer, "payer"), (&s.payees, payee, "payee")] {
        if let Some(a) = who
            && let Err(limited) = limiter.check(a)
        {
            return too_many_requests(
                limited.retry_after_secs(),
                format!("too many settlements for this {what}"),
            );
        }
    }
    axum::Json(s.facilitator.settle(&v).await).into_response()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_digested_and_matched_exactly() {
        let t = BearerTokens::new(["alpha-token", "beta-token"]);
        assert!(t.accepts("alpha-token"));
        assert!(t.accepts("beta-token"));
        assert!(!t.accepts("alpha-toke"));
        assert!(!t.accepts("alpha-token "));
        assert!(!t.accepts(""));
        let shown = format!(
            "{t:?} {:?}",
            Access::Restricted {
                pay_to: HashSet::new(),
                tokens: t.clone()
            }
        );
        assert!(!shown.contains("alpha"), "{shown}");
        assert!(shown.contains("2 redacted"), "{shown}");
    }
}
