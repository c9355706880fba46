//! The block builder: cuts a block when there is work, executes it on an overlay of the last
//! applied state, seals it and appends it to the log.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tokio::time::Instant;
use txnchain_executor::{BlockContext, SnapshotState, execute_block, seal_block};
use txnchain_primitives::{ChainSpec, SealedBlock};
use txnchain_storage::{BlockWrite, Snapshot};

use crate::{BlockLog, Ledger, LedgerError, Proposal};

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
}

/// The timestamp of a block cut now on a parent with `parent_timestamp`.
pub fn next_timestamp(parent_timestamp: u64) -> u64 {
    parent_timestamp.max(now_secs())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl<L: BlockLog> Builder<L> {
    /// A builder for `ledger` appending to `log`.
    pub fn new(ledger: Arc<Ledger>, log: Arc<L>, mode: BlockMode) -> Self {
        Builder { ledger, log, mode }
    }

    /// Runs until `shutdown` turns true. Errors other than a stopped pipeline are logged and
    /// the builder carries on with the next block.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let (interval, fixed) = match self.mode {
            BlockMode::OnDemand(d) => (d, false),
            BlockMode::Fixed(d) => (d, true),
        };
        let mut last_cut = Instant::now() - interval;
        loop {
            if *shutdown.borrow() {
                return;
            }
            if !fixed {
                let notified = self.ledger.pool().notified();
                if self.ledger.pool().is_empty() {
                    tokio::select! {
                        _ = notified => {}
                        _ = shutdown.changed() => return,
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep_until(last_cut + interval) => {}
                _ = shutdown.changed() => return,
            }
            last_cut = Instant::now();
            let ledger = self.ledger.clone();
            let built = self
                .ledger
                .on_write_lane(move || build_block(&ledger, fixed))
                .await;
            match built {
                Ok(Ok(Some(proposal))) => {
                    let number = proposal.block.number();
                    if let Err(e) = self.log.append(proposal).await {
                        tracing::error!(number, error = %e, "block was not committed");
                        if matches!(e, LedgerError::Stopped(_)) {
                            return;
                        }
                    }
                }
                Ok(Ok(None)) => {
                    if !fixed {
                        // Only gapped transactions: wait for new ones rather than spin.
                        tokio::select! {
                            _ = self.ledger.pool().notified() => {}
                            _ = shutdown.changed() => return,
                        }
                    }
                }
                Ok(Err(e)) => tracing::error!(error = %e, "building a block failed"),
                Err(e) => {
                    tracing::error!(error = %e, "builder task failed");
                    return;
                }
            }
        }
    }
}

/// The context of the block the builder would cut next on `snap`: number and parent from the
/// last applied block, timestamp = max(parent timestamp, wall clock in seconds), PREVRANDAO
/// derived from the parent hash, fees and limits from the chain spec. Anything that must judge
/// a transaction against the block it will land in (e.g. x402's `validAfter`) uses this.
pub fn next_block_context(chain: &ChainSpec, snap: &Snapshot) -> Result<BlockContext, LedgerError> {
    let last = snap.last_applied()?.unwrap_or(0);
    let parent = snap
        .header(last)?
        .ok_or_else(|| LedgerError::Stopped(format!("header {last} missing")))?;
    Ok(BlockContext {
        number: last + 1,
        timestamp: next_timestamp(parent.header.timestamp),
        beneficiary: chain.beneficiary,
        prevrandao: BlockContext::derive_prevrandao(parent.hash),
        gas_limit: chain.block_gas_limit,
        base_fee: chain.base_fee,
        parent_hash: parent.hash,
    })
}

/// Builds the next block on the last applied state, or `None` when there is nothing to
/// include (and `allow_empty` is false).
pub fn build_block(ledger: &Ledger, allow_empty: bool) -> Result<Option<Proposal>, LedgerError> {
    let started = std::time::Instant::now();
    let chain = ledger.chain();
    let snap = ledger.store().snapshot()?;
    let ctx = next_block_context(chain, &snap)?;
    let number = ctx.number;
    let txs = ledger.pool().select(chain.max_block_txs, |a| {
        snap.account(a).ok().flatten().map_or(0, |r| r.nonce)
    });
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
            ledger.pool().remove(&skipped.hash);
        }
    }
    if executed.transactions.is_empty() && !allow_empty {
        return Ok(None);
    }
    let (header, prepared) = seal_block(&ctx, &executed, &snap)?;
    let block = SealedBlock {
        header: header.clone(),
        transactions: executed.transactions.clone(),
    };
    tracing::debug!(
        number,
        txs = block.transactions.len(),
        elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "built block"
    );
    Ok(Some(Proposal {
        block,
        outcome: BlockWrite {
            header,
            transactions: executed.transactions,
            receipts: executed.receipts,
            changes: executed.changes,
            prepared,
            sealed_results: executed.sealed_results,
        },
    }))
}
