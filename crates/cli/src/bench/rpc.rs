//! A small JSON-RPC client for the benchmarks and `ledger audit`: HTTP calls and batches (one TCP connection per
//! [`Rpc`]), and a [`Tracker`] that learns about inclusions from `newHeads` over WebSocket plus
//! one `eth_getBlockReceipts` per new block (never per-receipt polling).

use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256};
use anyhow::{Context, bail};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// A JSON-RPC error object.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RpcErr {
    pub code: i64,
    pub message: String,
}

impl std::fmt::Display for RpcErr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

#[derive(Deserialize)]
struct Response<T> {
    id: Option<u64>,
    result: Option<T>,
    error: Option<RpcErr>,
}

/// One HTTP connection to a node.
#[derive(Clone)]
pub(crate) struct Rpc {
    url: String,
    client: reqwest::Client,
}

impl Rpc {
    /// A client keeping one idle connection to `url`.
    pub(crate) fn new(url: &str) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(120))
            .build()?;
        Ok(Rpc {
            url: url.to_string(),
            client,
        })
    }

    /// POSTs a prepared body and returns the response bytes.
    pub(crate) async fn post(&self, body: Vec<u8>) -> anyhow::Result<Vec<u8>> {
        let resp = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .with_context(|| format!("POST {}", self.url))?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        if !status.is_success() {
            bail!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
            );
        }
        Ok(bytes.to_vec())
    }

    /// One call.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
    ) -> anyhow::Result<T> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let raw = self.post(serde_json::to_vec(&body)?).await?;
        let resp: Response<T> = serde_json::from_slice(&raw)
            .with_context(|| format!("{method}: malformed response"))?;
        if let Some(e) = resp.error {
            bail!("{method}: {e}");
        }
        resp.result
            .with_context(|| format!("{method}: response without a result"))
    }

    /// A batch of calls; results in request order.
    pub(crate) async fn batch<T: DeserializeOwned>(
        &self,
        calls: &[(&str, Value)],
    ) -> anyhow::Result<Vec<Result<T, RpcErr>>> {
        if calls.is_empty() {
            return Ok(vec![]);
        }
        let body: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(i, (m, p))| json!({"jsonrpc": "2.0", "id": i, "method": m, "params": p}))
            .collect();
        let raw = self.post(serde_json::to_vec(&body)?).await?;
        parse_batch(&raw, calls.len())
    }
}

/// Parses a batch response of `n` entries with ids `0..n`, in id order.
pub(crate) fn parse_batch<T: DeserializeOwned>(
    raw: &[u8],
    n: usize,
) -> anyhow::Result<Vec<Result<T, RpcErr>>> {
    let items: Vec<Response<T>> = match serde_json::from_slice(raw) {
        Ok(v) => v,
        Err(e) => {
            // A single error object answers a whole refused batch.
            if let Ok(single) = serde_json::from_slice::<Response<Value>>(raw)
                && let Some(err) = single.error
            {
                bail!("batch refused: {err}");
            }
            bail!(
                "malformed batch response ({e}): {}",
                String::from_utf8_lossy(&raw[..raw.len().min(300)])
            );
        }
    };
    let mut out: Vec<Option<Result<T, RpcErr>>> = (0..n).map(|_| None).collect();
    for item in items {
        let Some(slot) = item
            .id
            .and_then(|id| out.get_mut(usize::try_from(id).ok()?))
        else {
            bail!("batch response with an unknown id");
        };
        *slot = Some(match (item.result, item.error) {
            (_, Some(e)) => Err(e),
            (Some(r), None) => Ok(r),
            (None, None) => Err(RpcErr {
                code: 0,
                message: "neither result nor error".into(),
            }),
        });
    }
    out.into_iter()
        .enumerate()
        .map(|(i, r)| r.with_context(|| format!("batch response misses id {i}")))
        .collect()
}

/// A receipt as the benchmark needs it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MiniReceipt {
    pub transaction_hash: B256,
    #[serde(default)]
    pub status: Option<alloy_primitives::U64>,
    #[serde(default)]
    pub contract_address: Option<Address>,
}

impl MiniReceipt {
    pub(super) fn success(&self) -> bool {
        self.status.is_some_and(|s| s.to::<u64>() == 1)
    }
}

/// A block seen by the tracker.
#[derive(Debug)]
pub(super) struct BlockSeen {
    pub number: u64,
    /// When its `newHeads` notification arrived (for blocks only found by filling a gap, the
    /// arrival of the next notification).
    pub head_at: Instant,
    pub receipts: Vec<MiniReceipt>,
}

/// Follows the chain head: a WebSocket `newHeads` subscription, and one `eth_getBlockReceipts`
/// call per new block on its own HTTP connection.
pub(super) struct Tracker {
    blocks: mpsc::UnboundedReceiver<anyhow::Result<BlockSeen>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Tracker {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn parse_quantity(v: &Value) -> Option<u64> {
    let s = v.as_str()?.strip_prefix("0x")?;
    u64::from_str_radix(s, 16).ok()
}

impl Tracker {
    /// Subscribes and starts following from the current head.
    pub(super) async fn start(ws_url: &str, rpc: Rpc) -> anyhow::Result<Self> {
        let (mut ws, _) = tokio::time::timeout(
            Duration::from_secs(10),
            tokio_tungstenite::connect_async(ws_url),
        )
        .await
        .context("WebSocket connect timed out")?
        .with_context(|| format!("WebSocket connect to {ws_url}"))?;
        ws.send(Message::text(
            json!({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]})
                .to_string(),
        ))
        .await?;
        // Wait for the subscription id before reading the head, so no block is missed.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = tokio::time::timeout(left, ws.next())
                .await
                .context("no answer to eth_subscribe")?
                .context("WebSocket closed")??;
            if let Message::Text(t) = msg {
                let v: Value = serde_json::from_str(&t)?;
                if v.get("id").is_some() {
                    if let Some(e) = v.get("error") {
                        bail!("eth_subscribe newHeads: {e}");
                    }
                    break;
                }
            }
        }
        let start: alloy_primitives::U64 = rpc.call("eth_blockNumber", json!([])).await?;
        let start = start.to::<u64>();

        let (heads_tx, mut heads_rx) = mpsc::unbounded_channel::<(u64, Instant)>();
        let (blocks_tx, blocks) = mpsc::unbounded_channel();
        let err_tx = blocks_tx.clone();
        let reader = tokio::spawn(async move {
            let (mut sink, mut stream) = ws.split();
            while let Some(msg) = stream.next().await {
                let at = Instant::now();
                let text = match msg {
                    Ok(Message::Text(t)) => t,
                    Ok(Message::Ping(p)) => {
                        let _ = sink.send(Message::Pong(p)).await;
                        continue;
                    }
                    Ok(Message::Close(c)) => {
                        let _ = err_tx.send(Err(anyhow::anyhow!("WebSocket closed: {c:?}")));
                        return;
                    }
                    Ok(_) => continue,
                    Err(e) => {
                        let _ = err_tx.send(Err(anyhow::anyhow!("WebSocket: {e}")));
                        return;
                    }
                };
                let Ok(v) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                if let Some(n) = parse_quantity(&v["params"]["result"]["number"])
                    && heads_tx.send((n, at)).is_err()
                {
                    return;
                }
            }
            let _ = err_tx.send(Err(anyhow::anyhow!("WebSocket ended")));
        });
        let fetcher = tokio::spawn(async move {
            let mut last = start;
            while let Some((number, at)) = heads_rx.recv().await {
                if number <= last {
                    continue;
                }
                for n in last + 1..=number {
                    let seen = fetch_receipts(&rpc, n).await.map(|receipts| BlockSeen {
                        number: n,
                        head_at: at,
                        receipts,
                    });
                    let failed = seen.is_err();
                    if blocks_tx.send(seen).is_err() || failed {
                        return;
                    }
                }
                last = number;
            }
        });
        Ok(Tracker {
            blocks,
            tasks: vec![reader, fetcher],
        })
    }

    /// The next block, or `None` at `deadline`.
    pub(super) async fn next(&mut self, deadline: Instant) -> anyhow::Result<Option<BlockSeen>> {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, self.blocks.recv()).await {
            Err(_) => Ok(None),
            Ok(None) => bail!("block tracker stopped"),
            Ok(Some(r)) => r.map(Some),
        }
    }
}

async fn fetch_receipts(rpc: &Rpc, number: u64) -> anyhow::Result<Vec<MiniReceipt>> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let r: anyhow::Result<Option<Vec<MiniReceipt>>> = rpc
            .call_nullable("eth_getBlockReceipts", json!([format!("{number:#x}")]))
            .await;
        match r {
            Ok(Some(v)) => return Ok(v),
            Ok(None) if attempt < 20 => {}
            Ok(None) => bail!("eth_getBlockReceipts({number}) stayed null"),
            Err(e) if attempt < 5 => tracing::debug!(error = %e, "retrying"),
            Err(e) => return Err(e),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Rpc {
    /// One call whose result may be `null`.
    pub(super) async fn call_nullable<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
    ) -> anyhow::Result<Option<T>> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let raw = self.post(serde_json::to_vec(&body)?).await?;
        let resp: Response<T> = serde_json::from_slice(&raw)
            .with_context(|| format!("{method}: malformed response"))?;
        if let Some(e) = resp.error {
            bail!("{method}: {e}");
        }
        Ok(resp.result)
    }
}

/// The WebSocket URL serving the same node as an `http://` URL.
pub(super) fn ws_url_for(http: &str) -> anyhow::Result<String> {
    if let Some(rest) = http.strip_prefix("http://") {
        Ok(format!("ws://{rest}"))
    } else if let Some(rest) = http.strip_prefix("https://") {
        Ok(format!("wss://{rest}"))
    } else {
        bail!("--rpc must be an http:// URL (got {http})")
    }
}
