//! `txnchain bench receipts`: how many receipts (`GET /v1/transactions/{hash}/receipt`) a
//! node serves per second. Collects the hashes of the latest committed transactions (at most
//! `--hashes`, from `eth_getBlockByNumber`), then fetches their receipts round-robin from
//! `--connections` concurrent keep-alive connections for `--seconds`, after a one-second
//! warm-up; reports receipts/s, latency p50/p99 and the node's CPU per receipt (from its
//! `/metrics`). With `--verify`, every receipt is also verified offline against the service
//! identity the first one names (outside the timing: after the run).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;
use txnchain_ledger_tree::receipt::Receipt;

use super::stats;

/// `txnchain bench receipts` arguments.
#[derive(clap::Args)]
pub(super) struct ReceiptsArgs {
    /// The node's URL (JSON-RPC and REST on one port), with committed transactions.
    #[arg(long, default_value = "http://127.0.0.1:8545")]
    rpc: String,
    /// Transactions whose receipts are fetched (the latest ones).
    #[arg(long, default_value_t = 20_000)]
    hashes: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Verify every receipt fetched in the measured part (after it).
    #[arg(long)]
    verify: bool,
}

async fn rpc(
    client: &reqwest::Client,
    url: &str,
    method: &str,
    params: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let v: serde_json::Value = client.post(url).json(&body).send().await?.json().await?;
    if let Some(e) = v.get("error") {
        bail!("{method}: {e}");
    }
    Ok(v["result"].clone())
}

async fn cpu_seconds(client: &reqwest::Client, url: &str) -> Option<f64> {
    let text = client
        .get(format!("{url}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("process_cpu_seconds_total "))
        .and_then(|v| v.trim().parse().ok())
}

pub(super) async fn run(a: ReceiptsArgs) -> anyhow::Result<()> {
    if a.connections == 0 || a.hashes == 0 || a.seconds == 0 {
        bail!("--connections, --hashes and --seconds must be positive");
    }
    let url = a.rpc.trim_end_matches('/').to_string();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        .build()?;
    let head = rpc(&client, &url, "eth_blockNumber", json!([])).await?;
    let mut number =
        u64::from_str_radix(head.as_str().unwrap_or("0x0").trim_start_matches("0x"), 16)?;
    let mut hashes: Vec<String> = Vec::new();
    while number > 0 && hashes.len() < a.hashes {
        let block = rpc(
            &client,
            &url,
            "eth_getBlockByNumber",
            json!([format!("0x{number:x}"), false]),
        )
        .await?;
        for h in block["transactions"].as_array().into_iter().flatten() {
            if let Some(h) = h.as_str() {
                hashes.push(h.to_string());
            }
        }
        number -= 1;
    }
    hashes.truncate(a.hashes);
    if hashes.is_empty() {
        bail!(
            "{url} has no committed transactions: run `txnchain bench transfers` against it first"
        );
    }
    eprintln!(
        "bench receipts: {} transactions from block {} down to {}, {} connections, {} s",
        hashes.len(),
        head.as_str().unwrap_or("?"),
        number + 1,
        a.connections,
        a.seconds
    );
    let hashes = Arc::new(hashes);
    let fetch = |client: reqwest::Client,
                 hashes: Arc<Vec<String>>,
                 url: String,
                 start: usize,
                 until: Instant,
                 keep: bool| async move {
        let mut latencies = Vec::new();
        let mut kept = Vec::new();
        let mut i = start;
        while Instant::now() < until {
            let at = Instant::now();
            let r = client
                .get(format!(
                    "{url}/v1/transactions/{}/receipt",
                    hashes[i % hashes.len()]
                ))
                .send()
                .await?;
            let status = r.status();
            let body = r.bytes().await?;
            if !status.is_success() {
                bail!(
                    "receipt of {}: HTTP {status}: {}",
                    hashes[i % hashes.len()],
                    String::from_utf8_lossy(&body)
                );
            }
            latencies.push(stats::ms(at.elapsed()));
            if keep {
                kept.push(body);
            }
            i += 1;
        }
        anyhow::Ok((latencies, kept))
    };
    let per = hashes.len() / a.connections;
    // Warm-up: one second, not counted.
    let warm_until = Instant::now() + Duration::from_secs(1);
    let warm: Vec<_> = (0..a.connections)
        .map(|c| {
            tokio::spawn(fetch(
                client.clone(),
                hashes.clone(),
                url.clone(),
                c * per,
                warm_until,
                false,
            ))
        })
        .collect();
    for t in warm {
        t.await??;
    }
    let cpu_before = cpu_seconds(&client, &url).await;
    let start = Instant::now();
    let until = start + Duration::from_secs(a.seconds);
    let tasks: Vec<_> = (0..a.connections)
        .map(|c| {
            tokio::spawn(fetch(
                client.clone(),
                hashes.clone(),
                url.clone(),
                c * per + per / 2,
                until,
                a.verify,
            ))
        })
        .collect();
    let mut latencies = Vec::new();
    let mut bodies = Vec::new();
    for t in tasks {
        let (l, b) = t.await??;
        latencies.extend(l);
        bodies.extend(b);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = match (cpu_before, cpu_seconds(&client, &url).await) {
        (Some(b), Some(a)) => Some(a - b),
        _ => None,
    };
    let n = latencies.len();
    stats::sort(&mut latencies);
    println!("txnchain bench receipts");
    println!("  target    {url}");
    println!("  machine   {}", super::machine::Machine::describe().line());
    println!(
        "  receipts  {n} in {elapsed:.1} s: {:.0} receipts/s, p50 {:.2} ms, p99 {:.2} ms",
        n as f64 / elapsed,
        stats::percentile(&latencies, 50.0).unwrap_or(f64::NAN),
        stats::percentile(&latencies, 99.0).unwrap_or(f64::NAN)
    );
    if let Some(cpu) = cpu {
        println!(
            "  node CPU  {cpu:.2} s: {:.0} µs per receipt (the client shares the machine)",
            cpu * 1e6 / n.max(1) as f64
        );
    }
    if a.verify {
        let first: Receipt = serde_json::from_slice(bodies.first().context("no receipt fetched")?)?;
        let identity = first.service_identity.0;
        for body in &bodies {
            let r: Receipt = serde_json::from_slice(body)?;
            r.verify(&identity).with_context(|| {
                format!("receipt of block {} leaf {}", r.block_number, r.leaf_index)
            })?;
        }
        println!(
            "  verified  all {} against service identity 0x{}",
            bodies.len(),
            hex::encode(identity)
        );
    }
    Ok(())
}
