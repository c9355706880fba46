//! `txnchain bench transfers`: a rerunnable throughput and latency benchmark for any EVM
//! JSON-RPC node (TxnChain, anvil, …).
//!
//! 1. Target: `--rpc http://…` (with `--pid` for the node's peak RSS), or `--spawn`, which
//!    starts `txnchain dev` from this executable on a temporary data directory.
//! 2. Setup (not timed): deploys TestToken, derives `--senders` keys deterministically and
//!    funds them with ETH and tokens from the funder (dev account #0 by default) in a few
//!    batched requests.
//! 3. Per run: pre-signs `--txs` transfers (native, or ERC-20 `transfer`) spread over the
//!    senders, pre-encodes the batch bodies, then submits them with `eth_sendRawTransaction`
//!    batches from `--connections` concurrent HTTP connections, each sending its next batch as
//!    soon as the previous one is answered. Inclusion is learnt from a WebSocket `newHeads`
//!    subscription plus one `eth_getBlockReceipts` per block.
//! 4. Reported per run: sustained tx/s (first submit → arrival of the `newHeads` of the block
//!    holding the last transaction), commit latency p50/p99 (submit of a transaction's batch →
//!    arrival of its block's `newHeads`); medians over the measured runs after the warm-up;
//!    the node's peak RSS (VmHWM).

mod machine;
mod rpc;
mod sign;

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::time::{Duration, Instant};

use alloy_consensus::TxEip1559;
use alloy_primitives::{Address, B256, Bytes, TxKind, U64, U256};
use alloy_sol_types::{SolCall, SolValue, sol};
use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use machine::{Machine, peak_rss};
use rpc::{MiniReceipt, Rpc, Tracker};
use sign::{Key, recipient, sign_all};

sol! {
    function transfer(address to, uint256 value) returns (bool);
    function mint(address to, uint256 value);
}

const TEST_TOKEN_ARTIFACT: &str = include_str!("../../../../contracts/artifacts/TestToken.json");

/// Benchmark arguments.
#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(clap::Subcommand)]
enum BenchCommand {
    /// Native and ERC-20 transfer throughput and commit latency.
    Transfers(TransfersArgs),
    /// Paid x402 requests through the whole flow (402 → sign → paid 200).
    X402(crate::x402::bench::X402BenchArgs),
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Workload {
    Native,
    Erc20,
    Both,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Native,
    Erc20,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Native => "native",
            Kind::Erc20 => "erc20",
        }
    }
}

#[derive(clap::Args)]
struct TransfersArgs {
    /// JSON-RPC URL of a running node (http://…); its WebSocket is the same URL with ws://.
    #[arg(long, conflicts_with = "spawn", required_unless_present = "spawn")]
    rpc: Option<String>,
    /// WebSocket URL, when it differs from the --rpc URL with ws://.
    #[arg(long, requires = "rpc")]
    ws: Option<String>,
    /// Process id of the node behind --rpc, to report its peak RSS (VmHWM).
    #[arg(long, requires = "rpc")]
    pid: Option<u32>,
    /// Start `txnchain dev` from this executable on a temporary data directory.
    #[arg(long)]
    spawn: bool,
    /// Extra argument for the spawned node (repeatable), e.g. --node-arg=--block-interval=20ms.
    #[arg(long = "node-arg", requires = "spawn", allow_hyphen_values = true)]
    node_args: Vec<String>,
    /// Transactions per run and workload.
    #[arg(short = 'n', long, default_value_t = 20_000)]
    txs: usize,
    /// Sending accounts (derived deterministically and funded before timing).
    #[arg(long, default_value_t = 1_000)]
    senders: usize,
    /// Concurrent HTTP connections submitting.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Transactions per JSON-RPC batch.
    #[arg(long, default_value_t = 200)]
    batch: usize,
    /// Warm-up runs per workload (not counted).
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Measured runs per workload (medians are reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Which transfers to run.
    #[arg(long, value_enum, default_value = "both")]
    workload: Workload,
    /// Private key paying for setup (default: dev account #0 of the test mnemonic, funded by
    /// `txnchain dev` and anvil alike).
    #[arg(long, env = "TXNCHAIN_BENCH_FUNDER_KEY", hide_env_values = true)]
    funder_key: Option<String>,
    /// Give up on a run after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs a benchmark.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.command {
        BenchCommand::Transfers(a) => transfers(a).await,
        BenchCommand::X402(a) => crate::x402::bench::run(a).await,
    }
}

/// A node this benchmark started.
struct Spawned {
    child: tokio::process::Child,
    pid: u32,
    url: String,
    dir: tempfile::TempDir,
}

impl Spawned {
    async fn start(extra: &[String], accounts: usize) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("locating the txnchain executable")?;
        let dir = tempfile::Builder::new()
            .prefix("txnchain-bench-")
            .tempdir()?;
        let log = std::fs::File::create(dir.path().join("node.log"))?;
        let mut cmd = tokio::process::Command::new(exe);
        cmd.arg("dev")
            .args(["--port", "0", "--accounts", &accounts.to_string()])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(extra)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true);
        let mut child = cmd.spawn().context("starting txnchain dev")?;
        let pid = child.id().context("spawned node has no pid")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(addr) = line.strip_prefix("Listening on ") {
                    return Ok(addr.trim().to_string());
                }
            }
            bail!(
                "txnchain dev exited before listening; see {}",
                dir.path().join("node.log").display()
            )
        })
        .await
        .context("txnchain dev did not start listening within 60 s")??;
        // Keep draining stdout so the node never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Spawned {
            child,
            pid,
            url: format!("http://{addr}"),
            dir,
        })
    }

    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        drop(self.dir);
    }
}

/// Results of one run.
#[derive(Debug, Clone, Serialize)]
struct RunResult {
    tps: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// First submit → last inclusion.
    duration_s: f64,
    /// First submit → last batch answered.
    submit_s: f64,
    blocks: usize,
    txs_per_block: f64,
}

#[derive(Debug, Clone, Serialize)]
struct Median {
    tps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
struct KindResult {
    kind: Kind,
    warmup: Vec<RunResult>,
    runs: Vec<RunResult>,
    median: Median,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Everything a phase needs.
struct Bench {
    args: TransfersArgs,
    url: String,
    rpc: Rpc,
    tracker: Tracker,
    chain_id: u64,
    max_fee: u128,
    funder: Key,
    funder_nonce: u64,
    senders: Vec<Key>,
    nonces: Vec<u64>,
    token: Option<Address>,
    erc20_gas: u64,
}

const FUND_BATCH: usize = 500;
/// Gas assumed per ERC-20 transfer when computing how much ETH each sender needs.
const ERC20_GAS_BOUND: u64 = 150_000;

impl Bench {
    fn deadline(&self) -> Instant {
        Instant::now() + Duration::from_secs(self.args.timeout)
    }

    /// Sends signed transactions in batches on one connection, in order, and waits until all
    /// are included; returns their receipts.
    async fn send_and_wait(
        &mut self,
        signed: Vec<(B256, Vec<u8>)>,
        what: &str,
    ) -> anyhow::Result<HashMap<B256, MiniReceipt>> {
        let mut expected: HashSet<B256> = signed.iter().map(|(h, _)| *h).collect();
        for chunk in signed.chunks(FUND_BATCH) {
            let calls: Vec<(&str, Value)> = chunk
                .iter()
                .map(|(_, raw)| {
                    (
                        "eth_sendRawTransaction",
                        json!([format!("0x{}", hex::encode(raw))]),
                    )
                })
                .collect();
            let results: Vec<Result<B256, rpc::RpcErr>> = self.rpc.batch(&calls).await?;
            for r in results {
                r.map_err(|e| anyhow::anyhow!("{what}: eth_sendRawTransaction: {e}"))?;
            }
        }
        let deadline = self.deadline();
        let mut receipts = HashMap::new();
        while !expected.is_empty() {
            let Some(block) = self.tracker.next(deadline).await? else {
                bail!(
                    "{what}: {} transactions not included within {} s",
                    expected.len(),
                    self.args.timeout
                );
            };
            for r in block.receipts {
                if expected.remove(&r.transaction_hash) {
                    receipts.insert(r.transaction_hash, r);
                }
            }
        }
        if let Some(failed) = receipts.values().find(|r| !r.success()) {
            bail!("{what}: transaction {} failed", failed.transaction_hash);
        }
        Ok(receipts)
    }

    fn funder_tx(&mut self, to: TxKind, value: U256, input: Bytes, gas: u64) -> TxEip1559 {
        let tx = TxEip1559 {
            chain_id: self.chain_id,
            nonce: self.funder_nonce,
            gas_limit: gas,
            max_fee_per_gas: self.max_fee,
            max_priority_fee_per_gas: 0,
            to,
            value,
            input,
            ..Default::default()
        };
        self.funder_nonce += 1;
        tx
    }

    async fn deploy_token(&mut self) -> anyhow::Result<Address> {
        let artifact: Value = serde_json::from_str(TEST_TOKEN_ARTIFACT)?;
        let code = artifact["bytecode"]
            .as_str()
            .context("TestToken artifact without bytecode")?;
        let mut init = hex::decode(code.trim_start_matches("0x"))?;
        init.extend(("TxnChain Bench", "BENCH", U256::ZERO).abi_encode_params());
        let init = Bytes::from(init);
        let est: U64 = self
            .rpc
            .call(
                "eth_estimateGas",
                json!([{"from": self.funder.address, "input": init}]),
            )
            .await
            .context("estimating the TestToken deployment")?;
        let gas = est.to::<u64>() * 3 / 2;
        let tx = self.funder_tx(TxKind::Create, U256::ZERO, init, gas);
        let signed = vec![self.funder.sign(tx)];
        let hash = signed[0].0;
        let receipts = self.send_and_wait(signed, "deploying TestToken").await?;
        receipts
            .get(&hash)
            .and_then(|r| r.contract_address)
            .context("TestToken deployment receipt without contractAddress")
    }

    /// Sender nonces as the node reports them (`pending`).
    async fn load_nonces(&mut self) -> anyhow::Result<()> {
        let mut nonces = Vec::with_capacity(self.senders.len());
        for chunk in self.senders.chunks(FUND_BATCH) {
            let calls: Vec<(&str, Value)> = chunk
                .iter()
                .map(|k| ("eth_getTransactionCount", json!([k.address, "pending"])))
                .collect();
            for r in self.rpc.batch::<U64>(&calls).await? {
                nonces.push(
                    r.map_err(|e| anyhow::anyhow!("eth_getTransactionCount: {e}"))?
                        .to(),
                );
            }
        }
        self.nonces = nonces;
        Ok(())
    }

    /// Gives every sender enough ETH for all runs, and tokens.
    async fn fund(&mut self, kinds: &[Kind]) -> anyhow::Result<()> {
        let per_sender = self.args.txs.div_ceil(self.senders.len()) as u64
            * (self.args.warmup + self.args.runs) as u64;
        let mut gas_per_sender = 0u64;
        for k in kinds {
            gas_per_sender += per_sender
                * match k {
                    Kind::Native => 21_000,
                    Kind::Erc20 => ERC20_GAS_BOUND,
                };
        }
        // Twice the worst case plus the native transfers' values (1 wei each).
        let eth_each = U256::from(gas_per_sender) * U256::from(self.max_fee) * U256::from(2)
            + U256::from(per_sender);
        let total = eth_each * U256::from(self.senders.len());
        let balance: U256 = self
            .rpc
            .call("eth_getBalance", json!([self.funder.address, "latest"]))
            .await?;
        if balance < total {
            bail!(
                "the funder {} holds {balance} wei; the senders need {total} wei",
                self.funder.address
            );
        }
        let mut txs = Vec::new();
        let senders: Vec<Address> = self.senders.iter().map(|k| k.address).collect();
        for a in &senders {
            let tx = self.funder_tx(TxKind::Call(*a), eth_each, Bytes::new(), 21_000);
            txs.push(tx);
        }
        if let Some(token) = self.token {
            let amount = U256::from(10u64).pow(U256::from(30u64));
            let mint_gas = {
                let data = Bytes::from(
                    mintCall {
                        to: senders[0],
                        value: amount,
                    }
                    .abi_encode(),
                );
                let est: U64 = self
                    .rpc
                    .call(
                        "eth_estimateGas",
                        json!([{"from": self.funder.address, "to": token, "input": data}]),
                    )
                    .await
                    .context("estimating mint")?;
                est.to::<u64>() * 3 / 2
            };
            for a in &senders {
                let data = Bytes::from(
                    mintCall {
                        to: *a,
                        value: amount,
                    }
                    .abi_encode(),
                );
                let tx = self.funder_tx(TxKind::Call(token), U256::ZERO, data, mint_gas);
                txs.push(tx);
            }
        }
        let funder = self.funder.clone();
        let jobs = txs.into_iter().map(|t| (0usize, t)).collect();
        let signed = sign_all(std::slice::from_ref(&funder), jobs);
        self.send_and_wait(signed, "funding senders").await?;
        if let Some(token) = self.token {
            let data = Bytes::from(
                transferCall {
                    to: recipient(0),
                    value: U256::from(1),
                }
                .abi_encode(),
            );
            let est: U64 = self
                .rpc
                .call(
                    "eth_estimateGas",
                    json!([{"from": senders[0], "to": token, "input": data}]),
                )
                .await
                .context("estimating an ERC-20 transfer")?;
            // Recipients are fresh addresses: the estimate covers a new balance slot.
            self.erc20_gas = (est.to::<u64>() * 5 / 4).min(ERC20_GAS_BOUND);
        }
        Ok(())
    }

    /// One timed run of `kind`.
    async fn run_once(&mut self, kind: Kind, run_index: usize) -> anyhow::Result<RunResult> {
        let n = self.args.txs;
        let senders = self.senders.len();
        let recipients = 10_000u32;
        // Pre-sign (not timed).
        let mut jobs = Vec::with_capacity(n);
        for j in 0..n {
            let s = j % senders;
            let nonce = self.nonces[s];
            self.nonces[s] += 1;
            let to = recipient(((run_index * n + j) as u32) % recipients);
            let (kind_to, value, input, gas) = match kind {
                Kind::Native => (TxKind::Call(to), U256::from(1), Bytes::new(), 21_000),
                Kind::Erc20 => (
                    TxKind::Call(self.token.context("no token")?),
                    U256::ZERO,
                    Bytes::from(
                        transferCall {
                            to,
                            value: U256::from(1),
                        }
                        .abi_encode(),
                    ),
                    self.erc20_gas,
                ),
            };
            jobs.push((
                s,
                TxEip1559 {
                    chain_id: self.chain_id,
                    nonce,
                    gas_limit: gas,
                    max_fee_per_gas: self.max_fee,
                    max_priority_fee_per_gas: 0,
                    to: kind_to,
                    value,
                    input,
                    ..Default::default()
                },
            ));
        }
        let signed = sign_all(&self.senders, jobs);
        let hashes: Vec<B256> = signed.iter().map(|(h, _)| *h).collect();
        // Each sender's transactions go through one connection, in nonce order.
        let conns = self.args.connections.max(1);
        let mut per_conn: Vec<Vec<usize>> = vec![Vec::new(); conns];
        for j in 0..n {
            per_conn[(j % senders) % conns].push(j);
        }
        let mut plans = Vec::with_capacity(conns);
        for idxs in per_conn {
            let mut batches = Vec::new();
            for chunk in idxs.chunks(self.args.batch.max(1)) {
                let mut body = String::with_capacity(chunk.len() * 320);
                body.push('[');
                for (k, &j) in chunk.iter().enumerate() {
                    if k > 0 {
                        body.push(',');
                    }
                    body.push_str(&format!(
                        r#"{{"jsonrpc":"2.0","id":{k},"method":"eth_sendRawTransaction","params":["0x{}"]}}"#,
                        hex::encode(&signed[j].1)
                    ));
                }
                body.push(']');
                batches.push((body.into_bytes(), chunk.to_vec()));
            }
            plans.push(batches);
        }
        drop(signed);
        let expected: HashMap<B256, usize> =
            hashes.iter().enumerate().map(|(i, h)| (*h, i)).collect();

        // Timed part.
        let start = Instant::now();
        let mut submit_tasks = Vec::with_capacity(conns);
        for batches in plans {
            let rpc = Rpc::new(&self.url)?;
            let hashes = hashes.clone();
            submit_tasks.push(tokio::spawn(async move {
                let mut sent = Vec::with_capacity(batches.len());
                let mut errors: Vec<String> = Vec::new();
                for (body, idxs) in batches {
                    let at = Instant::now();
                    let raw = rpc.post(body).await?;
                    let answered = Instant::now();
                    let results = rpc::parse_batch::<B256>(&raw, idxs.len())?;
                    for (r, &j) in results.into_iter().zip(&idxs) {
                        match r {
                            Ok(h) if h == hashes[j] => {}
                            Ok(h) => {
                                errors.push(format!("node answered hash {h} for {}", hashes[j]))
                            }
                            Err(e) => errors.push(e.to_string()),
                        }
                    }
                    sent.push((idxs, at, answered));
                }
                anyhow::Ok((sent, errors))
            }));
        }
        let mut submit = tokio::spawn(futures::future::join_all(submit_tasks));
        let mut submitted: Option<Vec<(Vec<usize>, Instant, Instant)>> = None;
        let mut included: Vec<Option<(Instant, u64)>> = vec![None; n];
        let mut seen = 0usize;
        let mut failed = 0usize;
        let deadline = self.deadline();
        while seen < n || submitted.is_none() {
            tokio::select! {
                res = &mut submit, if submitted.is_none() => {
                    let mut all = Vec::new();
                    let mut errors = Vec::new();
                    for r in res.context("submitters")? {
                        let (sent, errs) = r.context("submitter")??;
                        all.extend(sent);
                        errors.extend(errs);
                    }
                    if !errors.is_empty() {
                        bail!(
                            "{} of {n} transactions were refused; first: {}",
                            errors.len(),
                            errors[0]
                        );
                    }
                    submitted = Some(all);
                }
                block = self.tracker.next(deadline), if seen < n => {
                    let Some(block) = block? else {
                        bail!("{seen} of {n} transactions included within {} s", self.args.timeout);
                    };
                    for r in &block.receipts {
                        if let Some(&j) = expected.get(&r.transaction_hash)
                            && included[j].is_none()
                        {
                            included[j] = Some((block.head_at, block.number));
                            seen += 1;
                            if !r.success() {
                                failed += 1;
                            }
                        }
                    }
                }
            }
        }
        if failed > 0 {
            bail!("{failed} of {n} {} transfers failed", kind.name());
        }
        let submitted = submitted.unwrap_or_default();
        let mut sent_at: Vec<Option<Instant>> = vec![None; n];
        let mut first = None::<Instant>;
        let mut last_answer = start;
        for (idxs, at, answered) in &submitted {
            first = Some(first.map_or(*at, |f| f.min(*at)));
            last_answer = last_answer.max(*answered);
            for &j in idxs {
                sent_at[j] = Some(*at);
            }
        }
        let first = first.unwrap_or(start);
        let mut latencies = Vec::with_capacity(n);
        let mut last_incl = first;
        let mut blocks = HashSet::new();
        for (inc, sent) in included.iter().zip(&sent_at) {
            if let (Some((at, number)), Some(s)) = (inc, sent) {
                latencies.push(at.saturating_duration_since(*s).as_secs_f64() * 1e3);
                last_incl = last_incl.max(*at);
                blocks.insert(*number);
            }
        }
        latencies.sort_by(|a, b| a.total_cmp(b));
        let duration = last_incl.duration_since(first).as_secs_f64();
        Ok(RunResult {
            tps: n as f64 / duration.max(1e-9),
            p50_ms: percentile(&latencies, 50.0),
            p99_ms: percentile(&latencies, 99.0),
            duration_s: duration,
            submit_s: last_answer.duration_since(first).as_secs_f64(),
            blocks: blocks.len(),
            txs_per_block: n as f64 / blocks.len().max(1) as f64,
        })
    }
}

async fn wait_ready(rpc: &Rpc) -> anyhow::Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match rpc.call::<U64>("eth_chainId", json!([])).await {
            Ok(id) => return Ok(id.to()),
            Err(e) if Instant::now() > deadline => return Err(e.context("node not answering")),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}

async fn transfers(args: TransfersArgs) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    if args.txs == 0 || args.senders == 0 || args.runs == 0 {
        bail!("--txs, --senders and --runs must be positive");
    }
    if args.batch > 1000 {
        bail!("--batch above 1000 exceeds the usual batch limit of JSON-RPC servers");
    }
    let machine = Machine::describe();
    let spawned = if args.spawn {
        Some(Spawned::start(&args.node_args, 10).await?)
    } else {
        None
    };
    let result = bench(args, &machine, spawned.as_ref()).await;
    if let Some(s) = spawned {
        s.stop().await;
    }
    result
}

async fn bench(
    args: TransfersArgs,
    machine: &Machine,
    spawned: Option<&Spawned>,
) -> anyhow::Result<()> {
    let (url, pid) = match (spawned, &args.rpc) {
        (Some(s), _) => (s.url.clone(), Some(s.pid)),
        (None, Some(u)) => (u.clone(), args.pid),
        (None, None) => bail!("give --rpc URL or --spawn"),
    };
    let ws = match &args.ws {
        Some(w) => w.clone(),
        None => rpc::ws_url_for(&url)?,
    };
    let rpc = Rpc::new(&url)?;
    let chain_id = wait_ready(&rpc).await?;
    let client: String = rpc
        .call("web3_clientVersion", json!([]))
        .await
        .unwrap_or_else(|_| "unknown".into());
    let gas_price: U256 = rpc.call("eth_gasPrice", json!([])).await?;
    let max_fee = u128::try_from(gas_price)
        .context("gas price out of range")?
        .saturating_mul(2)
        .max(1);
    let funder = match &args.funder_key {
        Some(k) => Key::from_hex(k)?,
        None => Key::from_bytes(
            txnchain_primitives::dev::derive_key(txnchain_primitives::dev::DEV_MNEMONIC, 0)?
                .to_bytes()
                .0,
        )?,
    };
    let funder_nonce: U64 = rpc
        .call(
            "eth_getTransactionCount",
            json!([funder.address, "pending"]),
        )
        .await?;
    let kinds: Vec<Kind> = match args.workload {
        Workload::Native => vec![Kind::Native],
        Workload::Erc20 => vec![Kind::Erc20],
        Workload::Both => vec![Kind::Native, Kind::Erc20],
    };
    let tracker = Tracker::start(&ws, Rpc::new(&url)?).await?;
    let senders: Vec<Key> = (0..args.senders as u32).map(Key::derived).collect();
    let mut b = Bench {
        url: url.clone(),
        rpc,
        tracker,
        chain_id,
        max_fee,
        funder,
        funder_nonce: funder_nonce.to(),
        senders,
        nonces: vec![],
        token: None,
        erc20_gas: 0,
        args,
    };
    let progress = !b.args.json;
    if progress {
        eprintln!("target  {client} at {url}, chain id {chain_id}");
        eprintln!(
            "setup   deploying TestToken and funding {} senders…",
            b.senders.len()
        );
    }
    if kinds.contains(&Kind::Erc20) {
        b.token = Some(b.deploy_token().await?);
    }
    b.fund(&kinds).await?;
    b.load_nonces().await?;

    let mut results = Vec::new();
    for kind in &kinds {
        let mut warmup = Vec::new();
        let mut runs = Vec::new();
        let total = b.args.warmup + b.args.runs;
        for i in 0..total {
            let r = b.run_once(*kind, i).await?;
            let label = if i < b.args.warmup {
                "warm-up".to_string()
            } else {
                format!("run {}", i - b.args.warmup + 1)
            };
            if progress {
                eprintln!(
                    "{:<7} {label:<8} {:>9.0} tx/s  p50 {:>7.1} ms  p99 {:>7.1} ms  {} blocks",
                    kind.name(),
                    r.tps,
                    r.p50_ms,
                    r.p99_ms,
                    r.blocks
                );
            }
            if i < b.args.warmup {
                warmup.push(r);
            } else {
                runs.push(r);
            }
        }
        let med = Median {
            tps: median(runs.iter().map(|r| r.tps).collect()),
            p50_ms: median(runs.iter().map(|r| r.p50_ms).collect()),
            p99_ms: median(runs.iter().map(|r| r.p99_ms).collect()),
        };
        results.push(KindResult {
            kind: *kind,
            warmup,
            runs,
            median: med,
        });
    }
    let rss = pid.and_then(peak_rss);
    let a = &b.args;
    if a.json {
        let out = json!({
            "benchmark": "transfers",
            "target": {
                "client_version": client,
                "rpc": url,
                "chain_id": chain_id,
                "pid": pid,
                "spawned": spawned.is_some(),
            },
            "machine": machine,
            "params": {
                "txs": a.txs,
                "senders": a.senders,
                "connections": a.connections,
                "batch": a.batch,
                "warmup": a.warmup,
                "runs": a.runs,
                "erc20_gas_limit": b.erc20_gas,
            },
            "results": results,
            "peak_rss_bytes": rss,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!();
    println!("txnchain bench transfers");
    println!(
        "  target    {client} ({url}, chain id {chain_id}{})",
        match (spawned, pid) {
            (Some(_), Some(p)) => format!(", spawned, pid {p}"),
            (None, Some(p)) => format!(", pid {p}"),
            _ => String::new(),
        }
    );
    println!("  machine   {}", machine.line());
    println!(
        "  workload  {} txs per run from {} senders, {} connections, batches of {}, {} warm-up + {} measured runs",
        a.txs, a.senders, a.connections, a.batch, a.warmup, a.runs
    );
    println!();
    println!(
        "  {:<7} {:<8} {:>10} {:>10} {:>10} {:>8} {:>9} {:>9}",
        "kind", "run", "tx/s", "p50 ms", "p99 ms", "blocks", "tx/block", "submit s"
    );
    for k in &results {
        let rows = k.warmup.iter().map(|r| ("warm-up".to_string(), r)).chain(
            k.runs
                .iter()
                .enumerate()
                .map(|(i, r)| (format!("{}", i + 1), r)),
        );
        for (label, r) in rows {
            println!(
                "  {:<7} {:<8} {:>10.0} {:>10.1} {:>10.1} {:>8} {:>9.0} {:>9.2}",
                k.kind.name(),
                label,
                r.tps,
                r.p50_ms,
                r.p99_ms,
                r.blocks,
                r.txs_per_block,
                r.submit_s
            );
        }
        println!(
            "  {:<7} {:<8} {:>10.0} {:>10.1} {:>10.1}",
            k.kind.name(),
            "median",
            k.median.tps,
            k.median.p50_ms,
            k.median.p99_ms
        );
    }
    println!();
    match rss {
        Some(r) => println!("  node peak RSS (VmHWM): {}", mib(r)),
        None => println!("  node peak RSS: unknown (give --pid, or use --spawn)"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
    }
}
