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
//!
//! `txnchain bench receipts` ([`receipts`]) measures receipts served per second.
//!
//! Modules: [`setup`] (node, accounts, funding, deployment, pre-signing), [`run`] (one timed
//! run: submission, inclusion tracking, measurements), [`report`] (medians, progress, table
//! and JSON), [`stats`] (statistics shared with `bench x402`), [`machine`] (host description
//! and peak RSS, also used by `bench x402`), [`rpc`] and [`sign`].

pub(crate) mod machine;
mod receipts;
mod report;
pub(crate) mod rpc;
mod run;
mod setup;
mod sign;
pub(crate) mod stats;

use anyhow::bail;
use serde::Serialize;

use machine::{Machine, peak_rss};
use report::{KindResult, Report};
use setup::{Bench, Spawned};

/// Benchmark arguments.
#[derive(clap::Args)]
pub(crate) struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(clap::Subcommand)]
enum BenchCommand {
    /// Native and ERC-20 transfer throughput and commit latency.
    Transfers(TransfersArgs),
    /// Paid x402 requests through the whole flow (402 → sign → paid 200).
    X402(crate::x402::bench::X402BenchArgs),
    /// Receipts served per second (`GET /v1/transactions/{hash}/receipt`).
    Receipts(receipts::ReceiptsArgs),
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Workload {
    Native,
    Erc20,
    Both,
}

impl Workload {
    /// The transfer kinds to run, in order.
    fn kinds(self) -> Vec<Kind> {
        match self {
            Workload::Native => vec![Kind::Native],
            Workload::Erc20 => vec![Kind::Erc20],
            Workload::Both => vec![Kind::Native, Kind::Erc20],
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Kind {
    Native,
    Erc20,
    /// ERC-20 transfers of a confidentially deployed token, each an enveloped transaction.
    ConfidentialErc20,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Native => "native",
            Kind::Erc20 => "erc20",
            Kind::ConfidentialErc20 => "erc20-conf",
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
    /// Also run ERC-20 transfers of a confidentially deployed token, each an enveloped
    /// transaction (after the plaintext workloads; TxnChain only).
    #[arg(long)]
    confidential: bool,
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
pub(crate) async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.command {
        BenchCommand::Transfers(a) => transfers(a).await,
        BenchCommand::X402(a) => crate::x402::bench::run(a).await,
        BenchCommand::Receipts(a) => receipts::run(a).await,
    }
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

/// The whole benchmark against a started or given node: connect, set up, run every kind
/// (`--warmup` + `--runs` times), report.
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
    let mut kinds = args.workload.kinds();
    if args.confidential {
        kinds.push(Kind::ConfidentialErc20);
    }
    let mut b = Bench::connect(args, url, ws).await?;
    let progress = !b.args.json;
    if progress {
        report::setup_started(&b);
    }
    b.prepare(&kinds).await?;

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
                report::run_finished(*kind, &label, &r);
            }
            if i < b.args.warmup {
                warmup.push(r);
            } else {
                runs.push(r);
            }
        }
        results.push(KindResult::new(*kind, warmup, runs));
    }
    Report {
        bench: &b,
        machine,
        pid,
        spawned: spawned.is_some(),
        results,
        rss: pid.and_then(peak_rss),
    }
    .print()
}
