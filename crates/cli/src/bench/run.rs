//! The timed part of one `bench transfers` run: submission of the pre-signed batches from
//! `--connections` concurrent connections, inclusion tracking through the head [`Tracker`]
//! (`newHeads` plus `eth_getBlockReceipts`), and the run's measurements.
//!
//! [`Tracker`]: super::rpc::Tracker

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use alloy_primitives::B256;
use anyhow::{Context, bail};
use serde::Serialize;
use tokio::task::{JoinError, JoinHandle};

use super::Kind;
use super::rpc::{self, Rpc};
use super::setup::Bench;
use super::stats;

/// Results of one run.
#[derive(Debug, Clone, Serialize)]
pub(super) struct RunResult {
    pub(super) tps: f64,
    pub(super) p50_ms: f64,
    pub(super) p99_ms: f64,
    /// First submit → last inclusion.
    pub(super) duration_s: f64,
    /// First submit → last batch answered.
    pub(super) submit_s: f64,
    pub(super) blocks: usize,
    pub(super) txs_per_block: f64,
    /// The node's own CPU accounting over the run, from its `/metrics` (TxnChain only).
    pub(super) node: Option<NodeCpu>,
}

/// CPU seconds the node reports spending during a run (deltas of its `/metrics` counters).
#[derive(Debug, Clone, Copy, Serialize)]
pub(super) struct NodeCpu {
    /// The whole process (`process_cpu_seconds_total`).
    pub(super) process_s: f64,
    /// The thread that builds and applies blocks (`txnchain_write_thread_cpu_seconds_total`).
    pub(super) write_thread_s: f64,
    /// The ledger tree and root signatures (`txnchain_ledger_tree_seconds_total`).
    pub(super) ledger_tree_s: f64,
}

impl NodeCpu {
    /// The ledger tree's share of the process's CPU time, in percent.
    pub(super) fn ledger_tree_percent(&self) -> f64 {
        100.0 * self.ledger_tree_s / self.process_s.max(1e-9)
    }
}

/// One reading of the node's CPU counters.
async fn node_counters(rpc_url: &str) -> Option<[f64; 3]> {
    let url = format!("{}/metrics", rpc_url.trim_end_matches('/'));
    let text = reqwest::get(&url).await.ok()?.text().await.ok()?;
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    Some([
        value("process_cpu_seconds_total")?,
        value("txnchain_write_thread_cpu_seconds_total")?,
        value("txnchain_ledger_tree_seconds_total")?,
    ])
}

/// One answered batch: the indices of its transactions, when it was sent, when answered.
type Sent = (Vec<usize>, Instant, Instant);

/// What one submitter yields: its answered batches and the refusals it got.
type Submitted = anyhow::Result<(Vec<Sent>, Vec<String>)>;

/// Per transaction index: arrival of the `newHeads` of its block, and the block number.
type Included = Vec<Option<(Instant, u64)>>;

impl Bench {
    /// One run of `kind`: pre-signs (not timed), then submits, tracks inclusion and measures.
    pub(super) async fn run_once(
        &mut self,
        kind: Kind,
        run_index: usize,
    ) -> anyhow::Result<RunResult> {
        let n = self.args.txs;
        let plan = self.presign(kind, run_index)?;

        // Timed part.
        let before = node_counters(&self.url).await;
        let start = Instant::now();
        let submit = self.spawn_submitters(plan.per_conn, &plan.hashes)?;
        let (submitted, included) = self.track(kind, n, submit, &plan.expected).await?;
        let mut result = measure(n, start, &submitted, &included);
        if let (Some(b), Some(a)) = (before, node_counters(&self.url).await) {
            result.node = Some(NodeCpu {
                process_s: a[0] - b[0],
                write_thread_s: a[1] - b[1],
                ledger_tree_s: a[2] - b[2],
            });
        }
        Ok(result)
    }

    /// Starts one task per connection that sends its batches in order, each as soon as the
    /// previous one is answered, and checks the hash the node answers for each transaction.
    fn spawn_submitters(
        &self,
        per_conn: Vec<Vec<(Vec<u8>, Vec<usize>)>>,
        hashes: &[B256],
    ) -> anyhow::Result<JoinHandle<Vec<Result<Submitted, JoinError>>>> {
        let mut submit_tasks = Vec::with_capacity(per_conn.len());
        for batches in per_conn {
            let rpc = Rpc::new(&self.url)?;
            let hashes = hashes.to_vec();
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
                                errors.push(format!("node answered hash {h} for {}", hashes[j]));
                            }
                            Err(e) => errors.push(e.to_string()),
                        }
                    }
                    sent.push((idxs, at, answered));
                }
                anyhow::Ok((sent, errors))
            }));
        }
        Ok(tokio::spawn(futures::future::join_all(submit_tasks)))
    }

    /// Waits until the submitters are done and all `n` transactions are included, recording
    /// when each one's block arrived; fails if any was refused, not included by the
    /// `--timeout`, or failed.
    async fn track(
        &mut self,
        kind: Kind,
        n: usize,
        mut submit: JoinHandle<Vec<Result<Submitted, JoinError>>>,
        expected: &HashMap<B256, usize>,
    ) -> anyhow::Result<(Vec<Sent>, Included)> {
        let mut submitted: Option<Vec<Sent>> = None;
        let mut included: Included = vec![None; n];
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
        Ok((submitted.unwrap_or_default(), included))
    }
}

/// One run's measurements from when each batch was sent and answered and when each
/// transaction's block arrived (`start`: the start of the timed part).
fn measure(
    n: usize,
    start: Instant,
    submitted: &[Sent],
    included: &[Option<(Instant, u64)>],
) -> RunResult {
    let mut sent_at: Vec<Option<Instant>> = vec![None; n];
    let mut first = None::<Instant>;
    let mut last_answer = start;
    for (idxs, at, answered) in submitted {
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
            latencies.push(stats::ms(at.saturating_duration_since(*s)));
            last_incl = last_incl.max(*at);
            blocks.insert(*number);
        }
    }
    stats::sort(&mut latencies);
    let duration = last_incl.duration_since(first).as_secs_f64();
    RunResult {
        tps: n as f64 / duration.max(1e-9),
        p50_ms: stats::percentile(&latencies, 50.0).unwrap_or(f64::NAN),
        p99_ms: stats::percentile(&latencies, 99.0).unwrap_or(f64::NAN),
        duration_s: duration,
        submit_s: last_answer.duration_since(first).as_secs_f64(),
        blocks: blocks.len(),
        txs_per_block: n as f64 / blocks.len().max(1) as f64,
        node: None,
    }
}
