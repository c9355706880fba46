//! `txnchain paywall`: a reverse proxy that puts an existing HTTP service behind x402.
//!
//! Prices apply to canonical paths, and the upstream receives exactly the path that was
//! priced ([`txnchain_x402::path`]). Request bodies (16 MiB, 30 s) and upstream responses
//! (`--max-response-bytes`, 16 MiB by default) are bounded; the facilitator token comes from
//! `--facilitator-token-file` or `TXNCHAIN_FACILITATOR_TOKEN`, never the command line.

use std::net::SocketAddr;
use std::sync::Arc;

use alloy_primitives::Address;
use anyhow::Context;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, Response, StatusCode};
use txnchain_x402::client::HttpFacilitator;
use txnchain_x402::middleware::{PaidRoute, PaymentAsset, X402Config, X402Layer, cors};
use txnchain_x402::parse_units;

/// Arguments.
#[derive(clap::Args)]
pub(crate) struct PaywallArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8402")]
    listen: SocketAddr,
    /// The service to protect.
    #[arg(long)]
    upstream: String,
    /// Price of every path, in token units (0.01 = 10000 atomic units of a 6-decimal token).
    #[arg(long)]
    price: String,
    /// Payee.
    #[arg(long)]
    pay_to: Address,
    /// Per-path price, `/path=0.05` (a trailing `*` matches a prefix); repeat.
    #[arg(long = "route")]
    routes: Vec<String>,
    /// Paths that settle before the upstream is called (side effects); repeat.
    #[arg(long = "settle-first")]
    settle_first: Vec<String>,
    /// Facilitator base URL (the node serves one at /x402).
    #[arg(long, default_value = "http://127.0.0.1:8545/x402")]
    facilitator: String,
    /// File holding the bearer token for the facilitator. Without it, the
    /// TXNCHAIN_FACILITATOR_TOKEN environment variable (if set).
    #[arg(long)]
    facilitator_token_file: Option<std::path::PathBuf>,
    /// Largest upstream response passed on (bytes); a larger one is a 502, not charged.
    #[arg(long, default_value_t = txnchain_x402::middleware::DEFAULT_MAX_RESPONSE_BYTES)]
    max_response_bytes: usize,
    /// Description shown to payers.
    #[arg(long)]
    description: Option<String>,
}

struct Proxy {
    http: reqwest::Client,
    upstream: String,
    max_response_bytes: usize,
}

/// Largest request body passed to the upstream, and the time to receive it.
const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;
const REQUEST_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

const HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "payment-signature",
];

async fn forward(State(p): State<Arc<Proxy>>, req: Request<Body>) -> Response<Body> {
    match forward_inner(&p, req).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "paywall: upstream failed");
            let too_large = matches!(
                e.downcast_ref::<txnchain_x402::X402Error>(),
                Some(txnchain_x402::X402Error::BodyTooLarge { .. })
            );
            let (code, message) = if too_large {
                ("upstream_response_too_large", e.to_string())
            } else {
                ("upstream_unavailable", "upstream unavailable".to_string())
            };
            txnchain_http::json_error(StatusCode::BAD_GATEWAY, code, message)
        }
    }
}

async fn forward_inner(p: &Proxy, req: Request<Body>) -> anyhow::Result<Response<Body>> {
    let (parts, body) = req.into_parts();
    let pq = parts
        .uri
        .path_and_query()
        .map_or("/", axum::http::uri::PathAndQuery::as_str);
    let url = format!("{}{pq}", p.upstream.trim_end_matches('/'));
    let body = txnchain_http::read_limited(body, MAX_REQUEST_BYTES, REQUEST_BODY_TIMEOUT).await?;
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes())?;
    let mut out = p.http.request(method, url).body(body);
    for (k, v) in &parts.headers {
        if !HOP.contains(&k.as_str()) {
            out = out.header(k.as_str(), v.as_bytes());
        }
    }
    let resp = out.send().await?;
    let mut builder = Response::builder().status(resp.status().as_u16());
    for (k, v) in resp.headers() {
        if !HOP.contains(&k.as_str()) {
            builder = builder.header(k.as_str(), v.as_bytes());
        }
    }
    let bytes = txnchain_x402::client::read_body(resp, p.max_response_bytes).await?;
    Ok(builder.body(Body::from(bytes))?)
}

/// Runs the paywall until interrupted.
pub(crate) async fn run(a: PaywallArgs) -> anyhow::Result<()> {
    txnchain_x402::install_crypto_provider();
    let token = crate::secrets::from_file_or_env(
        a.facilitator_token_file.as_deref(),
        "TXNCHAIN_FACILITATOR_TOKEN",
    )?
    .map(|t| t.trim().to_string());
    let facilitator = HttpFacilitator::new(&a.facilitator, token)?;
    let asset = PaymentAsset::from_facilitator(&facilitator)
        .await
        .with_context(|| format!("learning the token from {}/supported", a.facilitator))?;
    let price = |s: &str| parse_units(s, asset.decimals).map_err(anyhow::Error::from);
    let mut default = PaidRoute::new("*", price(&a.price)?, a.pay_to);
    default.description = a.description.clone();
    default.settle_first = a.settle_first.iter().any(|p| p == "*");
    let mut routes = vec![];
    for r in &a.routes {
        let (path, p) = r
            .split_once('=')
            .with_context(|| format!("--route {r:?}: expected /path=price"))?;
        let mut route = PaidRoute::new(path, price(p)?, a.pay_to);
        route.description = a.description.clone();
        route.settle_first = a.settle_first.iter().any(|s| s == path);
        routes.push(route);
    }
    for s in &a.settle_first {
        if s != "*"
            && !a
                .routes
                .iter()
                .any(|r| r.split_once('=').is_some_and(|(p, _)| p == s))
        {
            let mut route = default.clone();
            route.path = s.clone();
            route.settle_first = true;
            routes.push(route);
        }
    }
    println!(
        "paywall: {} → {} ; {} {} per request to {} on {} (token {} {}, facilitator {})",
        a.listen,
        a.upstream,
        a.price,
        asset.name,
        a.pay_to,
        asset.network,
        asset.asset,
        asset.version,
        a.facilitator
    );
    let layer = X402Layer::new(X402Config {
        asset,
        facilitator,
        routes,
        default_route: Some(default),
        max_response_bytes: a.max_response_bytes,
    });
    let proxy = Arc::new(Proxy {
        http: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(120))
            .build()?,
        upstream: a.upstream.clone(),
        max_response_bytes: a.max_response_bytes,
    });
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(proxy)
        .layer(layer)
        .layer(cors());
    let listener = tokio::net::TcpListener::bind(a.listen).await?;
    println!("Listening on {}", listener.local_addr()?);
    txnchain_http::serve(
        listener,
        app,
        txnchain_http::ServeLimits::default(),
        crate::wait_for_signal(),
    )
    .await?;
    Ok(())
}
