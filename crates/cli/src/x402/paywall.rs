//! `txnchain paywall`: a reverse proxy that puts an existing HTTP service behind x402.

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
pub struct PaywallArgs {
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
    /// Bearer token for the facilitator. Also TXNCHAIN_FACILITATOR_TOKEN.
    #[arg(long, env = "TXNCHAIN_FACILITATOR_TOKEN", hide_env_values = true)]
    facilitator_token: Option<String>,
    /// Description shown to payers.
    #[arg(long)]
    description: Option<String>,
}

struct Proxy {
    http: reqwest::Client,
    upstream: String,
}

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
            let mut r = Response::new(Body::from("{\"error\":\"upstream unavailable\"}"));
            *r.status_mut() = StatusCode::BAD_GATEWAY;
            r
        }
    }
}

async fn forward_inner(p: &Proxy, req: Request<Body>) -> anyhow::Result<Response<Body>> {
    let (parts, body) = req.into_parts();
    let pq = parts
        .uri
        .path_and_query()
        .map(|x| x.as_str())
        .unwrap_or("/");
    let url = format!("{}{pq}", p.upstream.trim_end_matches('/'));
    let body = axum::body::to_bytes(body, 16 * 1024 * 1024).await?;
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
    let bytes = resp.bytes().await?;
    Ok(builder.body(Body::from(bytes))?)
}

/// Runs the paywall until interrupted.
pub async fn run(a: PaywallArgs) -> anyhow::Result<()> {
    txnchain_x402::install_crypto_provider();
    let facilitator = HttpFacilitator::new(&a.facilitator, a.facilitator_token.clone())?;
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
    });
    let proxy = Arc::new(Proxy {
        http: reqwest::Client::builder().build()?,
        upstream: a.upstream.clone(),
    });
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(proxy)
        .layer(layer)
        .layer(cors());
    let listener = tokio::net::TcpListener::bind(a.listen).await?;
    println!("Listening on {}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(crate::wait_for_signal())
        .await?;
    Ok(())
}
