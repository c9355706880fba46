//! `txnchain bench x402`: N concurrent clients buying from a paywalled local endpoint through
//! the whole x402 flow — unpaid request → 402 → sign an EIP-3009 authorization → paid
//! request → verify, handler, settle (committed) → 200 with `PAYMENT-RESPONSE` — against the
//! in-process facilitator of a `txnchain dev` node (started in this process unless `--node`
//! names a running one).
//!
//! Each run: a warm-up (not measured), then a fixed number of paid requests spread over the
//! clients. Printed per run and as medians over the runs: paid requests/s, p50/p99 of the
//! paid round trip (402 → sign → paid 200, as a client sees it), and settlement latency
//! (submit → commit, from the facilitator's `/x402/metrics`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use alloy_primitives::Address;
use anyhow::Context;
use txnchain_x402::client::{HttpFacilitator, PayingClient};
use txnchain_x402::middleware::{PaidRoute, PaymentAsset, X402Config, X402Layer};
use txnchain_x402::policy::{SpendLimits, SpendPolicy};

use crate::bench::machine;
use crate::bench::stats::{median, ms, percentile};

/// Arguments of `txnchain bench x402`.
#[derive(clap::Args, Debug)]
pub(crate) struct X402BenchArgs {
    /// Concurrent clients (each its own payer key).
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// Paid requests per measured run.
    #[arg(long, default_value_t = 3000)]
    pub requests: usize,
    /// Paid requests before the first run (not measured).
    #[arg(long, default_value_t = 300)]
    pub warmup: usize,
    /// Measured runs (medians are reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// A running `txnchain dev` node (its facilitator at /x402 and dev accounts pay);
    /// default: start one in this process on 127.0.0.1.
    #[arg(long)]
    pub node: Option<String>,
    /// Block cadence of the in-process node.
    #[arg(long, default_value = "10ms", value_parser = crate::duration::parse)]
    pub block_interval: Duration,
    /// Price per request, in token units.
    #[arg(long, default_value = "0.001")]
    pub price: String,
}

struct RunResult {
    paid: usize,
    failed: usize,
    elapsed: Duration,
    round_trips: Vec<Duration>,
    settle_mean: Option<Duration>,
}

/// (settle count, settle latency sum in seconds) from the facilitator's metrics.
async fn settle_metrics(http: &reqwest::Client, base: &str) -> Option<(f64, f64)> {
    let text = http
        .get(format!("{base}/x402/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let value = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    Some((
        value("txnchain_x402_settle_total{success=\"true\"}")?,
        value("txnchain_x402_settle_latency_seconds_sum")?,
    ))
}

async fn one_run(
    clients: &[PayingClient],
    url: &str,
    total: usize,
    metrics_http: &reqwest::Client,
    node: &str,
) -> anyhow::Result<RunResult> {
    let before = settle_metrics(metrics_http, node).await;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(clients.len());
    for c in clients {
        let c = c.clone();
        let next = next.clone();
        let url = url.to_string();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut failed = 0usize;
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let t = Instant::now();
                match c.get(&url).await {
                    Ok(r)
                        if r.status.is_success()
                            && r.settlement.as_ref().is_some_and(|s| s.success) =>
                    {
                        lat.push(t.elapsed());
                    }
                    Ok(r) => {
                        failed += 1;
                        if failed <= 3 {
                            let why = r.payment_required.and_then(|p| p.error).unwrap_or_default();
                            eprintln!("bench x402: HTTP {} {why}", r.status);
                        }
                    }
                    Err(e) => {
                        failed += 1;
                        if failed <= 3 {
                            eprintln!("bench x402: {e}");
                        }
                    }
                }
            }
            (lat, failed)
        }));
    }
    let mut round_trips = Vec::with_capacity(total);
    let mut failed = 0;
    for t in tasks {
        let (lat, f) = t.await?;
        round_trips.extend(lat);
        failed += f;
    }
    let elapsed = started.elapsed();
    round_trips.sort();
    let after = settle_metrics(metrics_http, node).await;
    let settle_mean = match (before, after) {
        (Some((n0, s0)), Some((n1, s1))) if n1 > n0 => {
            Some(Duration::from_secs_f64((s1 - s0) / (n1 - n0)))
        }
        _ => None,
    };
    Ok(RunResult {
        paid: round_trips.len(),
        failed,
        elapsed,
        round_trips,
        settle_mean,
    })
}

/// Runs the benchmark.
pub(crate) async fn run(a: X402BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        a.clients > 0 && a.requests > 0 && a.runs > 0,
        "--clients, --requests and --runs must be positive"
    );
    txnchain_x402::install_crypto_provider();
    let accounts = u32::try_from(a.clients.max(10)).context("--clients")?;
    let (genesis, keys) = txnchain_node::dev::dev_genesis(&txnchain_node::dev::DevOptions {
        accounts,
        ..Default::default()
    })?;
    // The node: in process (a fresh dev chain) or a running dev node.
    let mut running = None;
    let node_url = match &a.node {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => {
            let node = txnchain_node::start(txnchain_node::NodeConfig {
                data_dir: None,
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                genesis,
                dev_signers: vec![],
                block_interval: a.block_interval,
                mining: None,
                client_version: None,
                archive: false,
                cors_origins: None,
                tee: txnchain_tee::TeeChoice::Virtual,
                platform: Default::default(),
                x402: Some(txnchain_node::x402::X402Config::dev()?),
                admin_listen: None,
                admin_methods_public: true,
                limits: Default::default(),
            })
            .await?;
            let url = format!("http://{}", node.addr);
            running = Some(node);
            url
        }
    };
    // The paywalled endpoint.
    let facilitator = HttpFacilitator::new(&format!("{node_url}/x402"), None)?;
    let asset = PaymentAsset::from_facilitator(&facilitator)
        .await
        .with_context(|| format!("reading {node_url}/x402/supported"))?;
    let price = txnchain_x402::parse_units(&a.price, asset.decimals)?;
    let pay_to = Address::repeat_byte(0x42);
    let layer = X402Layer::new(X402Config {
        max_response_bytes: txnchain_x402::middleware::DEFAULT_MAX_RESPONSE_BYTES,
        asset,
        facilitator,
        routes: vec![PaidRoute::new("/data", price, pay_to)],
        default_route: None,
    });
    let app = axum::Router::new()
        .route(
            "/data",
            axum::routing::get(|| async { axum::Json(serde_json::json!({"data": 42})) }),
        )
        .layer(layer);
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let url = format!("http://{}/data", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    // The clients: one payer key each.
    let clients = keys
        .iter()
        .cycle()
        .take(a.clients)
        .map(|k| {
            let policy = SpendPolicy::new(
                SpendLimits {
                    max_per_request: Some(price),
                    ..Default::default()
                },
                None,
            )?;
            Ok(PayingClient::new(k.clone(), policy)?)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let metrics_http = reqwest::Client::new();

    println!("txnchain bench x402");
    println!("machine: {}", machine::summary());
    println!(
        "node: {} (block interval {:?}); endpoint {url}; price {} atomic units",
        if a.node.is_some() {
            node_url.as_str()
        } else {
            "in-process dev node"
        },
        a.block_interval,
        price
    );
    println!(
        "clients {}, warm-up {} paid requests, {} runs × {} paid requests",
        a.clients, a.warmup, a.runs, a.requests
    );
    if a.warmup > 0 {
        let w = one_run(&clients, &url, a.warmup, &metrics_http, &node_url).await?;
        println!("warm-up: {} paid, {} failed", w.paid, w.failed);
    }
    let (mut rps, mut p50, mut p99, mut settle) = (vec![], vec![], vec![], vec![]);
    let mut failures = 0;
    for i in 1..=a.runs {
        let r = one_run(&clients, &url, a.requests, &metrics_http, &node_url).await?;
        let rate = r.paid as f64 / r.elapsed.as_secs_f64();
        let (q50, q99) = (
            percentile(&r.round_trips, 50.0).unwrap_or(Duration::ZERO),
            percentile(&r.round_trips, 99.0).unwrap_or(Duration::ZERO),
        );
        println!(
            "run {i}: {} paid in {:.2} s = {rate:.0} paid req/s; paid round trip p50 {:.1} ms, p99 {:.1} ms; settle (submit→commit) mean {}; failed {}",
            r.paid,
            r.elapsed.as_secs_f64(),
            ms(q50),
            ms(q99),
            r.settle_mean
                .map_or_else(|| "n/a".into(), |d| format!("{:.1} ms", ms(d))),
            r.failed
        );
        failures += r.failed;
        rps.push(rate);
        p50.push(ms(q50));
        p99.push(ms(q99));
        if let Some(s) = r.settle_mean {
            settle.push(ms(s));
        }
    }
    println!(
        "median of {} runs: {:.0} paid req/s; paid round trip p50 {:.1} ms, p99 {:.1} ms; settle mean {:.1} ms; failures {failures}",
        a.runs,
        median(rps).unwrap_or(0.0),
        median(p50).unwrap_or(0.0),
        median(p99).unwrap_or(0.0),
        median(settle).unwrap_or(0.0)
    );
    server.abort();
    if let Some(node) = running {
        node.stop().await;
    }
    Ok(())
}
