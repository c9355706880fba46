//! Reporting of `bench transfers`: progress lines on stderr, the medians over the measured
//! runs, and the final table or JSON document on stdout.

use serde::Serialize;
use serde_json::json;

use super::Kind;
use super::machine::Machine;
use super::run::RunResult;
use super::setup::Bench;
use super::stats;

/// Medians over the measured runs of one kind.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Median {
    tps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// All runs of one kind.
#[derive(Debug, Clone, Serialize)]
pub(super) struct KindResult {
    kind: Kind,
    warmup: Vec<RunResult>,
    runs: Vec<RunResult>,
    median: Median,
}

impl KindResult {
    /// The runs of `kind` and their medians (over `runs`, not the warm-up).
    pub(super) fn new(kind: Kind, warmup: Vec<RunResult>, runs: Vec<RunResult>) -> Self {
        let med = |f: fn(&RunResult) -> f64| {
            stats::median(runs.iter().map(f).collect()).unwrap_or(f64::NAN)
        };
        let median = Median {
            tps: med(|r| r.tps),
            p50_ms: med(|r| r.p50_ms),
            p99_ms: med(|r| r.p99_ms),
        };
        KindResult {
            kind,
            warmup,
            runs,
            median,
        }
    }
}

/// Progress: the target and the start of the setup.
pub(super) fn setup_started(b: &Bench) {
    eprintln!("target  {} at {}, chain id {}", b.client, b.url, b.chain_id);
    eprintln!(
        "setup   deploying TestToken and funding {} senders…",
        b.senders.len()
    );
}

/// Progress: one finished run.
pub(super) fn run_finished(kind: Kind, label: &str, r: &RunResult) {
    eprintln!(
        "{:<10} {label:<8} {:>9.0} tx/s  p50 {:>7.1} ms  p99 {:>7.1} ms  {} blocks",
        kind.name(),
        r.tps,
        r.p50_ms,
        r.p99_ms,
        r.blocks
    );
}

/// Everything the final report shows.
pub(super) struct Report<'a> {
    pub(super) bench: &'a Bench,
    pub(super) machine: &'a Machine,
    /// Process id of the node, if known.
    pub(super) pid: Option<u32>,
    /// Whether this benchmark started the node.
    pub(super) spawned: bool,
    pub(super) results: Vec<KindResult>,
    /// The node's peak RSS, bytes.
    pub(super) rss: Option<u64>,
}

impl Report<'_> {
    /// Prints the report: JSON with `--json`, else a table.
    pub(super) fn print(&self) -> anyhow::Result<()> {
        if self.bench.args.json {
            self.print_json()
        } else {
            self.print_table();
            Ok(())
        }
    }

    fn print_json(&self) -> anyhow::Result<()> {
        let b = self.bench;
        let a = &b.args;
        let out = json!({
            "benchmark": "transfers",
            "target": {
                "client_version": b.client,
                "rpc": b.url,
                "chain_id": b.chain_id,
                "pid": self.pid,
                "spawned": self.spawned,
            },
            "machine": self.machine,
            "params": {
                "txs": a.txs,
                "senders": a.senders,
                "connections": a.connections,
                "batch": a.batch,
                "warmup": a.warmup,
                "runs": a.runs,
                "erc20_gas_limit": b.erc20_gas,
            },
            "results": self.results,
            "peak_rss_bytes": self.rss,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        Ok(())
    }

    fn print_table(&self) {
        let b = self.bench;
        let a = &b.args;
        println!();
        println!("txnchain bench transfers");
        println!(
            "  target    {} ({}, chain id {}{})",
            b.client,
            b.url,
            b.chain_id,
            match (self.spawned, self.pid) {
                (true, Some(p)) => format!(", spawned, pid {p}"),
                (false, Some(p)) => format!(", pid {p}"),
                _ => String::new(),
            }
        );
        println!("  machine   {}", self.machine.line());
        println!(
            "  workload  {} txs per run from {} senders, {} connections, batches of {}, {} warm-up + {} measured runs",
            a.txs, a.senders, a.connections, a.batch, a.warmup, a.runs
        );
        println!();
        println!(
            "  {:<10} {:<8} {:>10} {:>10} {:>10} {:>8} {:>9} {:>9} {:>10} {:>9} {:>7}",
            "kind",
            "run",
            "tx/s",
            "p50 ms",
            "p99 ms",
            "blocks",
            "tx/block",
            "submit s",
            "node cpu s",
            "write s",
            "tree %"
        );
        for k in &self.results {
            let rows = k.warmup.iter().map(|r| ("warm-up".to_string(), r)).chain(
                k.runs
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (format!("{}", i + 1), r)),
            );
            for (label, r) in rows {
                let (cpu, write, tree) = r.node.map_or_else(
                    || ("-".to_string(), "-".to_string(), "-".to_string()),
                    |c| {
                        (
                            format!("{:.2}", c.process_s),
                            format!("{:.2}", c.write_thread_s),
                            format!("{:.2}", c.ledger_tree_percent()),
                        )
                    },
                );
                println!(
                    "  {:<10} {:<8} {:>10.0} {:>10.1} {:>10.1} {:>8} {:>9.0} {:>9.2} {cpu:>10} {write:>9} {tree:>7}",
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
                "  {:<10} {:<8} {:>10.0} {:>10.1} {:>10.1}",
                k.kind.name(),
                "median",
                k.median.tps,
                k.median.p50_ms,
                k.median.p99_ms
            );
        }
        println!();
        println!(
            "  node cpu s / write s: the node's process and write-thread CPU over the run; tree %: \
             the ledger tree and root signatures as a share of the process (from its /metrics)"
        );
        match self.rss {
            Some(r) => println!("  node peak RSS (VmHWM): {}", mib(r)),
            None => println!("  node peak RSS: unknown (give --pid, or use --spawn)"),
        }
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}
