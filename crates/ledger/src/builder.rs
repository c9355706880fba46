//! The block builder: cuts a block when there is work, executes it on an overlay of the last
//! applied state, seals it and appends it to the log.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use txnchain_executor::{BlockContext, Executed, SnapshotState, execute_block, seal_block};
use txnchain_primitives::{ChainSpec, SealedBlock};
use txnchain_storage::{BlockWrite, Snapshot};

use alloy_primitives::{KECCAK256_EMPTY, U256, keccak256};

use crate::mining::{MineRequest, MineRequests, MiningMode, StatePatch};
use crate::{BlockClock, BlockLog, Ledger, LedgerError, Proposal};

/// When blocks are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockMode {
    /// Cut a block as soon as there is work, at most once per interval; nothing while idle.
    OnDemand(Duration),
    /// Cut a block every interval, empty or not.
    Fixed(Duration),
}

impl BlockMode {
    /// Intervals of one second or more give fixed-interval blocks; shorter ones give blocks on
    /// demand with that minimum spacing.
    pub fn from_interval(interval: Duration) -> Self {
        if interval >= Duration::from_secs(1) {
            BlockMode::Fixed(interval)
        } else {
            BlockMode::OnDemand(interval)
        }
    }
}

/// Builds blocks and hands them to the log.
pub struct Builder<L> {
    ledger: Arc<Ledger>,
    log: Arc<L>,
    mode: BlockMode,
    mining: Option<MineRequests>,
}

/// Why the builder woke up.
enum Wake {
    /// There may be work (or the fixed interval is up).
    Work,
    /// Blocks were asked for.
    Mine(MineRequest),
    /// The mining mode changed.
    Mode,
}

impl<L: BlockLog> Builder<L> {
    /// A builder for `ledger` appending to `log`.
    pub fn new(ledger: Arc<Ledger>, log: Arc<L>, mode: BlockMode) -> Self {
        Builder {
            ledger,
            log,
            mode,
            mining: None,
        }
    }

    /// Follows a `dev` [`MiningControl`](crate::MiningControl): its mode (manual mining cuts
    /// no block on its own) and its requests to mine.
    pub fn with_mining(mut self, requests: MineRequests) -> Self {
        self.mining = Some(requests);
        self
    }

    /// Runs until `shutdown` turns true. Errors other than a stopped pipeline are logged and
    /// the builder carries on with the next block.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let (interval, fixed) = match self.mode {
            BlockMode::OnDemand(d) => (d, false),
            BlockMode::Fixed(d) => (d, true),
        };
        let mut last_cut = Instant::now() - interval;
        // Set when the pool holds only transactions that cannot go in yet (nonce gaps): wait
        // for a new one rather than spin.
        let mut stalled = false;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let manual = self
                .mining
                .as_ref()
                .is_some_and(|m| *m.mode.borrow() == MiningMode::Manual);
            let pool = self.ledger.pool().clone();
            let notified = pool.notified();
            let has_work = !stalled && !pool.is_empty();
            // On demand, an open Pixie DEX batch is work too, once the clock reaches its close.
            let batch_wait = if manual || fixed {
                None
            } else {
                self.batch_wait()
            };
            let work = async {
                if manual {
                    std::future::pending::<()>().await;
                } else if fixed {
                    tokio::time::sleep_until(last_cut + interval).await;
                } else if !has_work {
                    match batch_wait {
                        Some(wait) => tokio::select! {
                            () = notified => {}
                            () = tokio::time::sleep(wait) => {}
                        },
                        None => notified.await,
                    }
                }
            };
            let wake = match self.mining.as_mut() {
                Some(m) => tokio::select! {
                    biased;
                    _ = shutdown.changed() => return,
                    r = m.rx.recv() => match r {
                        Some(r) => Wake::Mine(r),
                        None => return,
                    },
                    _ = m.mode.changed() => Wake::Mode,
                    () = work => Wake::Work,
                },
                None => tokio::select! {
                    _ = shutdown.changed() => return,
                    () = work => Wake::Work,
                },
            };
            match wake {
                Wake::Mode => continue,
                Wake::Mine(request) => {
                    let answer = self.mine(&request).await;
                    let stop = matches!(answer, Err(LedgerError::Stopped(_)));
                    let _ = request.done.send(answer);
                    if stop {
                        return;
                    }
                    last_cut = Instant::now();
                    stalled = false;
                    continue;
                }
                Wake::Work => {}
            }
            if !fixed {
                tokio::select! {
                    _ = tokio::time::sleep_until(last_cut + interval) => {}
                    _ = shutdown.changed() => return,
                }
            }
            last_cut = Instant::now();
            match self.cut(fixed, None).await {
                Ok(Some(_)) => stalled = false,
                Ok(None) => stalled = !fixed,
                Err(LedgerError::Stopped(e)) => {
                    tracing::error!(error = %e, "block builder stopped");
                    return;
                }
                Err(e) => tracing::error!(error = %e, "building a block failed"),
            }
        }
    }

    /// How long until the block clock reaches the close of the open Pixie DEX batch (at least
    /// 50 ms, so a clock that has not quite got there is not polled in a loop); `None` when no
    /// batch is open.
    fn batch_wait(&self) -> Option<Duration> {
        let snap = self.ledger.store().snapshot().ok()?;
        let at = txnchain_executor::pixie::batch_closes_at(
            &SnapshotState::latest(&snap),
            self.ledger.chain().chain_id,
        )
        .ok()??;
        let seconds = at.saturating_sub(self.ledger.clock().now());
        Some(Duration::from_secs(seconds).max(Duration::from_millis(50)))
    }

    /// Builds the next block (`allow_empty`: even with no transaction; `timestamp`: exactly
    /// that timestamp) and appends it; returns its number and timestamp, or `None` when there
    /// was nothing to include.
    async fn cut(
        &self,
        allow_empty: bool,
        timestamp: Option<u64>,
    ) -> Result<Option<(u64, u64)>, LedgerError> {
        if let Some(t) = timestamp {
            self.ledger.clock().pin_next(t);
        }
        let ledger = self.ledger.clone();
        let built = self
            .ledger
            .on_write_lane(move || build_block(&ledger, allow_empty))
            .await??;
        let Some(proposal) = built else {
            return Ok(None);
        };
        let number = proposal.block.number();
        let stamped = proposal.block.header.header.timestamp;
        self.log.append(proposal).await.inspect_err(|e| {
            tracing::error!(number, error = %e, "block was not committed");
        })?;
        Ok(Some((number, stamped)))
    }

    /// Serves a request to mine: `blocks` blocks, pending transactions included, the first at
    /// the requested timestamp and the next ones `interval` seconds apart when asked.
    async fn mine(&self, request: &MineRequest) -> Result<u64, LedgerError> {
        if let Some(patch) = request.patch.clone() {
            let ledger = self.ledger.clone();
            let proposal = self
                .ledger
                .on_write_lane(move || build_patch_block(&ledger, &patch))
                .await??;
            let number = proposal.block.number();
            self.log.append(proposal).await?;
            return Ok(number);
        }
        let mut last: Option<(u64, u64)> = None;
        for i in 0..request.blocks.max(1) {
            let timestamp = match (i, last, request.timestamp, request.interval) {
                (0, _, Some(t), _) => Some(t),
                (_, Some((_, prev)), _, Some(step)) => Some(prev.saturating_add(step)),
                _ => None,
            };
            let cut = self.cut(true, timestamp).await?;
            last = cut.or(last);
        }
        match last {
            Some((n, _)) => Ok(n),
            // Every cut above may build an empty block, so this is not reached; should it be,
            // the request fails without stopping the builder.
            None => Err(LedgerError::Mining("no block was mined".into())),
        }
    }
}

/// The context of the block the builder would cut next on `snap`: number and parent from the
/// last applied block, timestamp from the ledger's [`BlockClock`] (never before the parent), PREVRANDAO
/// derived from the parent hash, fees and limits from the chain spec. Anything that must judge
/// a transaction against the block it will land in (e.g. x402's `validAfter`) uses this.
pub fn next_block_context(
    chain: &ChainSpec,
    snap: &Snapshot,
    clock: &BlockClock,
) -> Result<BlockContext, LedgerError> {
    let last = snap.last_applied()?.unwrap_or(0);
    let parent = snap
        .header(last)?
        .ok_or_else(|| LedgerError::Stopped(format!("header {last} missing")))?;
    Ok(BlockContext {
        number: last + 1,
        timestamp: clock.next_timestamp(parent.header.timestamp),
        beneficiary: chain.beneficiary,
        prevrandao: BlockContext::derive_prevrandao(parent.hash),
        gas_limit: chain.block_gas_limit,
        base_fee: chain.base_fee,
        parent_hash: parent.hash,
    })
}

/// Builds a block with no transactions whose state also carries `patch` (see
/// [`StatePatch`]), on the last applied state.
pub fn build_patch_block(ledger: &Ledger, patch: &StatePatch) -> Result<Proposal, LedgerError> {
    let chain = ledger.chain();
    let snap = ledger.store().snapshot()?;
    let ctx = next_block_context(chain, &snap, ledger.clock())?;
    let mut executed = execute_block(
        chain,
        &ctx,
        SnapshotState::latest(&snap),
        Vec::new(),
        false,
        ledger.network_keys().map(|k| &**k),
        None,
    )?;
    let address = patch.address();
    let changes = &mut executed.changes;
    let (nonce, balance, code_hash) = match changes.accounts.get(&address) {
        Some(Some(info)) => *info,
        _ => snap
            .account(address)?
            .map_or((0, U256::ZERO, KECCAK256_EMPTY), |a| {
                (a.nonce, a.balance, a.code_hash)
            }),
    };
    let info = match patch {
        StatePatch::Balance(_, b) => (nonce, *b, code_hash),
        StatePatch::Nonce(_, n) => (*n, balance, code_hash),
        StatePatch::Code(_, code) => {
            let hash = if code.is_empty() {
                KECCAK256_EMPTY
            } else {
                keccak256(code)
            };
            if !code.is_empty() {
                changes.code.insert(hash, code.clone());
            }
            (nonce, balance, hash)
        }
        StatePatch::Storage(_, slot, value) => {
            changes
                .storage
                .entry(address)
                .or_default()
                .insert(*slot, *value);
            (nonce, balance, code_hash)
        }
    };
    changes.accounts.insert(address, Some(info));
    tracing::info!(number = ctx.number, ?patch, "state patched");
    sealed_proposal(ledger, &ctx, executed, &snap)
}

/// Builds the next block on the last applied state, or `None` when there is nothing to
/// include (and `allow_empty` is false).
pub fn build_block(ledger: &Ledger, allow_empty: bool) -> Result<Option<Proposal>, LedgerError> {
    let started = std::time::Instant::now();
    let chain = ledger.chain();
    let snap = ledger.store().snapshot()?;
    let ctx = next_block_context(chain, &snap, ledger.clock())?;
    let number = ctx.number;
    let txs = ledger.pool().select(chain.max_block_txs, |a| {
        snap.account(a).ok().flatten().map_or(0, |r| r.nonce)
    });
    // A Pixie DEX batch due to close makes a block worth cutting, empty or not.
    let allow_empty = allow_empty
        || txnchain_executor::pixie::batch_closes_at(
            &SnapshotState::latest(&snap),
            chain.chain_id,
        )?
        .is_some_and(|at| ctx.timestamp >= at);
    if txs.is_empty() && !allow_empty {
        return Ok(None);
    }
    let executed = execute_block(
        chain,
        &ctx,
        SnapshotState::latest(&snap),
        txs,
        false,
        ledger.network_keys().map(|k| &**k),
        ledger.opened_ahead(),
    )?;
    for skipped in &executed.skipped {
        if skipped.why.is_permanent() {
            tracing::debug!(tx = %skipped.hash, reason = %skipped.why, "dropping transaction");
            ledger
                .pool()
                .drop_invalid(&skipped.hash, skipped.why.to_string());
        }
    }
    if executed.transactions.is_empty() && !allow_empty {
        return Ok(None);
    }
    let proposal = sealed_proposal(ledger, &ctx, executed, &snap)?;
    tracing::debug!(
        number,
        txs = proposal.block.transactions.len(),
        elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "built block"
    );
    Ok(Some(proposal))
}

/// Seals an executed block on its parent `snap` into the proposal the log takes.
fn sealed_proposal(
    ledger: &Ledger,
    ctx: &BlockContext,
    executed: Executed,
    snap: &Snapshot,
) -> Result<Proposal, LedgerError> {
    let txnchain_executor::Sealed {
        header,
        prepared,
        ledger_tree_time,
    } = seal_block(ctx, &executed, snap)?;
    ledger.stats().record_ledger_tree(ledger_tree_time);
    Ok(Proposal {
        block: SealedBlock {
            header: header.clone(),
            transactions: executed.transactions.clone(),
        },
        outcome: BlockWrite {
            header,
            transactions: executed.transactions,
            receipts: executed.receipts,
            changes: executed.changes,
            prepared,
            sealed_results: executed.sealed_results,
        },
    })
}
