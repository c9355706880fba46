//! A tower [`Layer`] that puts axum routes behind x402.
//!
//! - No payment → HTTP 402, `PAYMENT-REQUIRED` (base64 JSON, v2), body `{}`, `error`
//!   "Payment required". A v1 `X-PAYMENT` gets a 402 whose `error` explains that v1 cannot
//!   name this chain.
//! - With `PAYMENT-SIGNATURE`: verify → run the handler with its response buffered → if the
//!   status is below 400, settle (committed) → release the response with `PAYMENT-RESPONSE`.
//!   A handler error (≥ 400) is returned as is and not charged; a failed settlement is a 402
//!   with its reason and the buffered response is discarded.
//! - [`PaidRoute::settle_first`]: settle before running the handler (for handlers with side
//!   effects); the handler's response is then released whatever its status.
//! - One payment pays for exactly one request: the facilitator reports success for at most
//!   one settle per authorization, and a response is released only after that success.
//! - Paths are priced in their canonical form ([`crate::path::canonical`]): `//expensive`,
//!   `/%65xpensive` or `/x/../expensive` cost what `/expensive` costs, and the request is
//!   passed on with exactly the path that was priced. Paths that cannot be made canonical
//!   safely (an escaped `/`, `..;/`, …) are refused with 400. A route matches with or
//!   without a trailing `/`.
//! - A handler response is buffered up to [`X402Config::max_response_bytes`] (16 MiB by
//!   default); a larger one is a 502 and is not charged.
//! - [`cors`] exposes the x402 headers to browsers.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use alloy_primitives::{Address, U256};
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;
use tower::{Layer, Service};

use crate::client::HttpFacilitator;
use crate::types::*;
use crate::{X402Error, codec, reason};

/// The token a resource server charges in.
#[derive(Debug, Clone)]
pub struct PaymentAsset {
    /// CAIP-2 network (`eip155:424242`).
    pub network: String,
    /// Token address.
    pub asset: Address,
    /// EIP-712 name.
    pub name: String,
    /// EIP-712 version.
    pub version: String,
    /// Decimals.
    pub decimals: u8,
}

impl PaymentAsset {
    /// Learns the token from a facilitator's `/supported` (`kinds[].extra`).
    pub async fn from_facilitator(f: &HttpFacilitator) -> Result<Self, X402Error> {
        let s = f.supported().await?;
        let kind = s
            .kinds
            .iter()
            .find(|k| {
                k.x402_version == X402_VERSION
                    && k.scheme == SCHEME_EXACT
                    && k.extra.as_ref().is_some_and(|e| e.contains_key("asset"))
            })
            .ok_or_else(|| X402Error::Supported("lists no v2 exact kind with extra.asset"))?;
        let extra = kind.extra.clone().unwrap_or_default();
        let get = |k: &str| {
            extra
                .get(k)
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .ok_or(X402Error::Supported(
                    "kinds[].extra lacks name, version or asset",
                ))
        };
        Ok(PaymentAsset {
            network: kind.network.clone(),
            asset: get("asset")?
                .parse()
                .map_err(|_| X402Error::Supported("extra.asset is not an address"))?,
            name: get("name")?,
            version: get("version")?,
            decimals: extra
                .get("decimals")
                .and_then(serde_json::Value::as_u64)
                .and_then(|d| u8::try_from(d).ok())
                .unwrap_or(6),
        })
    }
}

/// A priced route.
#[derive(Debug, Clone)]
pub struct PaidRoute {
    /// Path; a trailing `*` matches a prefix. `None` on [`X402Config::default_route`].
    pub path: String,
    /// Method (`None`: any).
    pub method: Option<Method>,
    /// Price in atomic units.
    pub price: U256,
    /// Payee.
    pub pay_to: Address,
    /// Description.
    pub description: Option<String>,
    /// MIME type of the response.
    pub mime_type: Option<String>,
    /// Settle before running the handler.
    pub settle_first: bool,
    /// `maxTimeoutSeconds`.
    pub max_timeout_seconds: u64,
}

impl PaidRoute {
    /// A route at `path` costing `price` atomic units paid to `pay_to`.
    pub fn new(path: &str, price: U256, pay_to: Address) -> Self {
        PaidRoute {
            path: path.into(),
            method: None,
            price,
            pay_to,
            description: None,
            mime_type: None,
            settle_first: false,
            max_timeout_seconds: 60,
        }
    }

    /// Whether this route prices `path` (canonical) for `method`.
    pub fn matches(&self, method: &Method, path: &str) -> bool {
        if self.method.as_ref().is_some_and(|m| m != method) {
            return false;
        }
        let trimmed = |p: &str| -> String {
            let t = p.trim_end_matches('/');
            if t.is_empty() {
                "/".into()
            } else {
                t.to_string()
            }
        };
        match self.path.strip_suffix('*') {
            // `/premium/*` covers `/premium/…` and the directory `/premium` itself.
            Some(prefix) => {
                path.starts_with(prefix) || (prefix.ends_with('/') && trimmed(prefix) == path)
            }
            None => trimmed(&self.path) == trimmed(path),
        }
    }
}

/// Middleware settings.
#[derive(Clone)]
pub struct X402Config {
    /// The token.
    pub asset: PaymentAsset,
    /// The facilitator.
    pub facilitator: HttpFacilitator,
    /// Priced routes (first match wins).
    pub routes: Vec<PaidRoute>,
    /// Price of every other path (`path` ignored); `None`: other paths are free.
    pub default_route: Option<PaidRoute>,
    /// Largest handler response buffered before settling (handler-first routes).
    pub max_response_bytes: usize,
}

/// Default of [`X402Config::max_response_bytes`].
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// The layer.
#[derive(Clone)]
pub struct X402Layer {
    config: Arc<X402Config>,
}

impl X402Layer {
    /// A layer with `config`.
    pub fn new(config: X402Config) -> Self {
        X402Layer {
            config: Arc::new(config),
        }
    }
}

impl<S> Layer<S> for X402Layer {
    type Service = X402Service<S>;
    fn layer(&self, inner: S) -> Self::Service {
        X402Service {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service the layer produces.
#[derive(Clone)]
pub struct X402Service<S> {
    inner: S,
    config: Arc<X402Config>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> Service<Request<Body>> for X402Service<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let config = self.config.clone();
        Box::pin(async move { Ok(handle(config, inner, req).await) })
    }
}

fn expose(resp: &mut Response<Body>) {
    resp.headers_mut().insert(
        "access-control-expose-headers",
        HeaderValue::from_static("PAYMENT-REQUIRED, PAYMENT-RESPONSE"),
    );
}

fn payment_required(
    required: &PaymentRequired,
    settlement: Option<&SettleResponse>,
) -> Response<Body> {
    let mut resp = Response::builder()
        .status(StatusCode::PAYMENT_REQUIRED)
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .unwrap_or_default();
    if let Ok(h) = codec::encode(required)
        .and_then(|s| HeaderValue::from_str(&s).map_err(|_| X402Error::HeaderValue))
    {
        resp.headers_mut().insert(PAYMENT_REQUIRED, h);
    }
    if let Some(s) = settlement
        && let Ok(h) = codec::encode(s)
            .and_then(|s| HeaderValue::from_str(&s).map_err(|_| X402Error::HeaderValue))
    {
        resp.headers_mut().insert(PAYMENT_RESPONSE, h);
    }
    *resp.status_mut() = StatusCode::PAYMENT_REQUIRED;
    expose(&mut resp);
    resp
}

fn error_response(status: StatusCode, msg: &str) -> Response<Body> {
    let mut r = Response::new(Body::from(json!({"error": msg}).to_string()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    expose(&mut r);
    r
}

fn requirements(config: &X402Config, route: &PaidRoute) -> PaymentRequirements {
    let mut extra = serde_json::Map::new();
    extra.insert("name".into(), json!(config.asset.name));
    extra.insert("version".into(), json!(config.asset.version));
    PaymentRequirements {
        scheme: SCHEME_EXACT.into(),
        network: config.asset.network.clone(),
        amount: route.price.to_string(),
        asset: config.asset.asset.to_checksum(None),
        pay_to: route.pay_to.to_checksum(None),
        max_timeout_seconds: route.max_timeout_seconds,
        extra,
    }
}

fn resource_url(req: &Request<Body>) -> String {
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let pq = req
        .uri()
        .path_and_query()
        .map_or("/", axum::http::uri::PathAndQuery::as_str);
    format!("http://{host}{pq}")
}

/// Rewrites `req` to its canonical path (query kept), or the 400 refusing it.
#[allow(clippy::result_large_err)]
fn canonicalize(req: &mut Request<Body>) -> Result<String, Response<Body>> {
    let path = crate::path::canonical(req.uri().path()).map_err(|e| {
        error_response(
            StatusCode::BAD_REQUEST,
            &format!("request path refused: {e}"),
        )
    })?;
    if path != req.uri().path() {
        let pq = match req.uri().query() {
            Some(q) => format!("{path}?{q}"),
            None => path.clone(),
        };
        let mut parts = req.uri().clone().into_parts();
        parts.path_and_query = Some(
            pq.parse()
                .map_err(|_| error_response(StatusCode::BAD_REQUEST, "request path refused"))?,
        );
        *req.uri_mut() = axum::http::Uri::from_parts(parts)
            .map_err(|_| error_response(StatusCode::BAD_REQUEST, "request path refused"))?;
    }
    Ok(path)
}

async fn handle<S>(config: Arc<X402Config>, mut inner: S, mut req: Request<Body>) -> Response<Body>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Send,
    S::Future: Send,
{
    let path = match canonicalize(&mut req) {
        Ok(p) => p,
        Err(refused) => return refused,
    };
    let route = config
        .routes
        .iter()
        .find(|r| r.matches(req.method(), &path))
        .or(config.default_route.as_ref())
        .cloned();
    let Some(route) = route.filter(|_| req.method() != Method::OPTIONS) else {
        return match inner.call(req).await {
            Ok(r) => r,
            Err(e) => match e {},
        };
    };
    let accepted_req = requirements(&config, &route);
    let mut required = PaymentRequired {
        x402_version: X402_VERSION,
        error: Some("Payment required".into()),
        resource: ResourceInfo {
            url: resource_url(&req),
            description: route.description.clone(),
            mime_type: route.mime_type.clone(),
        },
        accepts: vec![accepted_req.clone()],
        extensions: Default::default(),
    };
    let refuse =
        |required: &mut PaymentRequired, reason: &str, settlement: Option<&SettleResponse>| {
            required.error = Some(reason.to_string());
            payment_required(required, settlement)
        };
    // A failed settlement is a 402 carrying its reason; the buffered response is discarded.
    let refuse_settlement = |required: &mut PaymentRequired, s: &SettleResponse| {
        let r = s
            .error_reason
            .clone()
            .unwrap_or_else(|| reason::UNEXPECTED_SETTLE_ERROR.into());
        refuse(required, &r, Some(s))
    };
    let chain_id = parse_network(&config.asset.network).unwrap_or(0);
    // v1 payloads cannot name this chain: answer with the version error and why.
    let refuse_v1 = |required: &mut PaymentRequired, network: &str| {
        let reason = format!(
            "{}: {}",
            reason::INVALID_X402_VERSION,
            v1_message(network, chain_id)
        );
        refuse(required, &reason, None)
    };
    let header = req
        .headers()
        .get(PAYMENT_SIGNATURE)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    let Some(header) = header else {
        if req.headers().contains_key(X_PAYMENT) {
            let network = req
                .headers()
                .get(X_PAYMENT)
                .and_then(|h| h.to_str().ok())
                .and_then(|h| codec::decode_value(h).ok())
                .and_then(|v| {
                    v.get("network")
                        .and_then(|n| n.as_str())
                        .map(str::to_string)
                })
                .unwrap_or_default();
            tracing::debug!("x402: v1 X-PAYMENT refused");
            return refuse_v1(&mut required, &network);
        }
        return payment_required(&required, None);
    };
    let payload = match codec::decode_value(&header).and_then(|v| parse_payload(&v)) {
        Ok(AnyPayload::V2(p)) => *p,
        Ok(AnyPayload::V1 { network }) => return refuse_v1(&mut required, &network),
        Err(X402Error::Version(found)) => {
            return refuse(
                &mut required,
                &format!(
                    "{}: x402Version {found} is not supported; TxnChain speaks x402Version 2",
                    reason::INVALID_X402_VERSION
                ),
                None,
            );
        }
        Err(e) => {
            return refuse(
                &mut required,
                &format!("{}: {e}", reason::INVALID_PAYLOAD),
                None,
            );
        }
    };
    if !payload.accepted.same_payment(&accepted_req) {
        let why = if payload.accepted.network != accepted_req.network {
            reason::NETWORK_MISMATCH
        } else if payload.accepted.scheme != accepted_req.scheme {
            reason::UNSUPPORTED_SCHEME
        } else {
            reason::INVALID_PAYMENT_REQUIREMENTS
        };
        return refuse(&mut required, why, None);
    }
    let verified = match config.facilitator.verify(&payload, &accepted_req).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "x402: facilitator verify failed");
            return error_response(StatusCode::BAD_GATEWAY, "facilitator unavailable");
        }
    };
    if !verified.is_valid {
        let r = verified
            .invalid_reason
            .unwrap_or_else(|| reason::UNEXPECTED_VERIFY_ERROR.into());
        return refuse(&mut required, &r, None);
    }
    let settle = || async {
        match config.facilitator.settle(&payload, &accepted_req).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "x402: facilitator settle failed");
                SettleResponse::failure(
                    reason::UNEXPECTED_SETTLE_ERROR,
                    e.to_string(),
                    verified.payer.clone(),
                    config.asset.network.clone(),
                    String::new(),
                )
            }
        }
    };
    let attach = |resp: &mut Response<Body>, s: &SettleResponse| {
        if let Ok(h) = codec::encode(s)
            .and_then(|s| HeaderValue::from_str(&s).map_err(|_| X402Error::HeaderValue))
        {
            resp.headers_mut().insert(PAYMENT_RESPONSE, h);
        }
        expose(resp);
    };
    if route.settle_first {
        let s = settle().await;
        if !s.success {
            return refuse_settlement(&mut required, &s);
        }
        let mut resp = match inner.call(req).await {
            Ok(r) => r,
            Err(e) => match e {},
        };
        attach(&mut resp, &s);
        return resp;
    }
    let resp = match inner.call(req).await {
        Ok(r) => r,
        Err(e) => match e {},
    };
    if resp.status().as_u16() >= 400 {
        // Not charged.
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let body = match http_body_util::Limited::new(body, config.max_response_bytes)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            let too_large = e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            tracing::warn!(error = %e, too_large, "x402: handler body failed; not charged");
            return if too_large {
                error_response(StatusCode::BAD_GATEWAY, "response too large; not charged")
            } else {
                error_response(StatusCode::INTERNAL_SERVER_ERROR, "handler failed")
            };
        }
    };
    let s = settle().await;
    if !s.success {
        return refuse_settlement(&mut required, &s);
    }
    let mut resp = Response::from_parts(parts, Body::from(body));
    attach(&mut resp, &s);
    resp
}

/// A CORS layer for paid routes: any origin, `PAYMENT-SIGNATURE` allowed in requests,
/// `PAYMENT-REQUIRED` and `PAYMENT-RESPONSE` exposed.
pub fn cors() -> tower_http::cors::CorsLayer {
    use axum::http::HeaderName;
    tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods(tower_http::cors::Any)
        .allow_headers([
            HeaderName::from_static("payment-signature"),
            HeaderName::from_static("content-type"),
            HeaderName::from_static("authorization"),
            HeaderName::from_static("x-payment"),
        ])
        .expose_headers([
            HeaderName::from_static("payment-required"),
            HeaderName::from_static("payment-response"),
        ])
}
