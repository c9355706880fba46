//! The log seam and the apply step.

use std::future::Future;
use std::sync::Arc;
use txnchain_crypto::keys::NetworkKeys;

use alloy_primitives::B256;
use parking_lot::Mutex;
use tokio::sync::{broadcast, watch};
use txnchain_executor::block::{compare_roots, context_of};
use txnchain_executor::{SnapshotState, execute_block, seal_block};
use txnchain_primitives::{ChainSpec, RecoveredTx, SealedBlock, SealedHeader, StoredReceipt};
use txnchain_storage::{BlockWrite, Store};

use crate::{BlockClock, LedgerError, Mempool};

/// A block as subscribers see it once it is committed and applied.
#[derive(Debug, Clone)]
pub struct CommittedBlock {
    /// The header.
    pub header: SealedHeader,
    /// Its transactions.
    pub transactions: Vec<RecoveredTx>,
    /// Their receipts.
    pub receipts: Vec<StoredReceipt>,
}

/// What the ledger has applied since the process started, for `/metrics`.
#[derive(Debug, Default)]
pub struct ApplyStats {
    blocks: std::sync::atomic::AtomicU64,
    transactions: std::sync::atomic::AtomicU64,
    nanos: std::sync::atomic::AtomicU64,
    gas: std::sync::atomic::AtomicU64,
    ledger_tree_nanos: std::sync::atomic::AtomicU64,
}

/// A reading of [`ApplyStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyCounts {
    /// Blocks applied.
    pub blocks: u64,
    /// Transactions in them.
    pub transactions: u64,
    /// Gas they used.
    pub gas: u64,
    /// Time spent applying them (storage write included), in nanoseconds.
    pub apply_nanos: u64,
    /// Time spent on the ledger tree (leaves, appends) and signing its roots, in
    /// nanoseconds.
    pub ledger_tree_nanos: u64,
}

impl ApplyStats {
    fn record(&self, txs: usize, gas: u64, elapsed: std::time::Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        self.blocks.fetch_add(1, Relaxed);
        self.transactions
            .fetch_add(u64::try_from(txs).unwrap_or(u64::MAX), Relaxed);
        self.gas.fetch_add(gas, Relaxed);
        self.nanos.fetch_add(
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            Relaxed,
        );
    }

    pub(crate) fn record_ledger_tree(&self, elapsed: std::time::Duration) {
        self.ledger_tree_nanos.fetch_add(
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// The counts now.
    pub fn read(&self) -> ApplyCounts {
        use std::sync::atomic::Ordering::Relaxed;
        ApplyCounts {
            blocks: self.blocks.load(Relaxed),
            transactions: self.transactions.load(Relaxed),
            gas: self.gas.load(Relaxed),
            apply_nanos: self.nanos.load(Relaxed),
            ledger_tree_nanos: self.ledger_tree_nanos.load(Relaxed),
        }
    }
}

/// A block the builder sealed, with the execution outcome that produced it, so the node that
/// built it applies it without executing it again.
#[derive(Debug)]
pub struct Proposal {
    /// The sealed block (what the log carries).
    pub block: SealedBlock,
    /// Its receipts, state changes and prepared trie updates.
    pub outcome: BlockWrite,
}

/// The ordered log of sealed blocks. Consensus implements it (append returns once the entry
/// is committed and applied); a single node without replication uses [`LocalLog`].
pub trait BlockLog: Send + Sync + 'static {
    /// Appends a proposed block and resolves when it has been committed and applied.
    fn append(&self, proposal: Proposal) -> impl Future<Output = Result<(), LedgerError>> + Send;
}

/// What apply did with a committed block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The block was written.
    Written,
    /// The block's parent is not the last applied block (a stale proposal from a former
    /// leader): a deterministic no-op.
    Stale,
}

/// The write path's own thread: building and applying blocks run here, one job at a time,
/// never on the async runtime's blocking pool, which RPC handlers share, so no amount of
/// client work queues in front of the next block.
struct WriteLane {
    jobs: std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>,
}

impl WriteLane {
    fn start() -> std::io::Result<Self> {
        let (jobs, rx) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
        std::thread::Builder::new()
            .name("txnchain-write".into())
            .spawn(move || {
                for job in rx {
                    job();
                }
            })?;
        Ok(WriteLane { jobs })
    }
}

/// The state machine: applies committed blocks and notifies.
pub struct Ledger {
    chain: ChainSpec,
    store: Arc<Store>,
    pool: Arc<Mempool>,
    apply_lock: Mutex<()>,
    events: broadcast::Sender<Arc<CommittedBlock>>,
    head: watch::Sender<u64>,
    durable_apply: bool,
    lane: WriteLane,
    keys: Option<Arc<NetworkKeys>>,
    opener: Option<crate::opener::Opener>,
    clock: Arc<BlockClock>,
    receipts: Arc<crate::receipts::ReceiptCache>,
    savepoints: Mutex<crate::savepoints::Savepoints>,
    stats: ApplyStats,
}

impl Ledger {
    /// Wraps an initialised store. With `durable_apply` every apply is fsynced (the single-node
    /// durable write); under consensus the log append is the durable write instead.
    pub fn new(
        chain: ChainSpec,
        store: Arc<Store>,
        pool: Arc<Mempool>,
        durable_apply: bool,
    ) -> Result<Self, LedgerError> {
        let head = store.snapshot()?.last_applied()?.unwrap_or(0);
        let (events, _) = broadcast::channel(1024);
        let (head, _) = watch::channel(head);
        Ok(Ledger {
            chain,
            store,
            pool,
            apply_lock: Mutex::new(()),
            events,
            head,
            durable_apply,
            lane: WriteLane::start()
                .map_err(|e| LedgerError::Stopped(format!("cannot start the write thread: {e}")))?,
            keys: None,
            opener: None,
            clock: Arc::new(BlockClock::new()),
            receipts: Arc::new(crate::receipts::ReceiptCache::default()),
            savepoints: Mutex::new(crate::savepoints::Savepoints::default()),
            stats: ApplyStats::default(),
        })
    }

    /// Executes confidential transactions with the network's keys (without them, every
    /// envelope fails to open), opening admitted envelopes ahead of the block path on a
    /// thread of their own ([`crate::opener`]).
    pub fn with_network_keys(mut self, keys: Arc<NetworkKeys>) -> Result<Self, LedgerError> {
        let opener =
            crate::opener::Opener::start(keys.clone(), self.pool.clone()).map_err(|e| {
                LedgerError::Stopped(format!("cannot start the envelope opening thread: {e}"))
            })?;
        self.keys = Some(keys);
        self.opener = Some(opener);
        Ok(self)
    }

    /// The envelopes of admitted transactions opened so far, for the builder's execution.
    pub fn opened_ahead(&self) -> Option<&txnchain_executor::confidential::OpenedAhead> {
        self.opener.as_ref().map(crate::opener::Opener::ahead)
    }

    /// The network's keys, when this node has them.
    pub fn network_keys(&self) -> Option<&Arc<NetworkKeys>> {
        self.keys.as_ref()
    }

    /// Runs `f` on the write path's thread (see [`Ledger`]'s builder and apply) and returns
    /// its result.
    pub async fn on_write_lane<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, LedgerError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job = Box::new(move || {
            if let Ok(v) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                let _ = tx.send(v);
            }
        });
        self.lane
            .jobs
            .send(job)
            .map_err(|_| LedgerError::Stopped("the write thread is gone".into()))?;
        rx.await
            .map_err(|_| LedgerError::Stopped("a write-path job panicked".into()))
    }

    /// What this ledger applied since the process started.
    pub fn stats(&self) -> &ApplyStats {
        &self.stats
    }

    /// The clock the next blocks are stamped with (shifted by time travel in `dev`).
    pub fn clock(&self) -> &Arc<BlockClock> {
        &self.clock
    }

    /// The chain specification.
    pub fn chain(&self) -> &ChainSpec {
        &self.chain
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The read side for clients outside execution (RPC, REST, the x402 adapter): one
    /// consistent snapshot with the confidentiality policy hook applied to every state read.
    pub fn reader(&self) -> Result<crate::LedgerReader, LedgerError> {
        Ok(crate::LedgerReader::new(
            self.store.snapshot()?,
            self.clock.clone(),
            self.receipts.clone(),
        ))
    }

    /// The pool.
    pub fn pool(&self) -> &Arc<Mempool> {
        &self.pool
    }

    /// Admits a decoded transaction into the pool after every check ([`Validator`]
    /// (crate::admission::Validator)) against the last committed state. Returns its hash.
    pub fn submit(&self, tx: RecoveredTx) -> Result<B256, LedgerError> {
        self.admit(tx, false)
    }

    fn admit(&self, tx: RecoveredTx, local: bool) -> Result<B256, LedgerError> {
        let offer = self
            .opener
            .as_ref()
            .filter(|_| crate::opener::is_envelope(&tx))
            .map(|opener| (opener, tx.clone()));
        let hash = self
            .pool
            .admit(tx, &self.store.snapshot()?, local, &self.clock)?;
        if let Some((opener, tx)) = offer {
            opener.offer(tx);
        }
        Ok(hash)
    }

    /// Decodes raw EIP-2718 bytes (recovering the sender) and submits them: the one path
    /// from bytes off the network to the pool (`eth_sendRawTransaction`, the in-process x402
    /// chain). `local`: see [`submit_local`](Self::submit_local).
    pub fn submit_raw(&self, raw: &[u8], local: bool) -> Result<B256, LedgerError> {
        self.admit(RecoveredTx::decode(raw)?, local)
    }

    /// [`submit`](Self::submit) for a transaction the node signs itself (x402 settlements):
    /// the pool never evicts it to make room for another.
    pub fn submit_local(&self, tx: RecoveredTx) -> Result<B256, LedgerError> {
        self.admit(tx, true)
    }

    /// Committed blocks, in order, as they are applied.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<CommittedBlock>> {
        self.events.subscribe()
    }

    /// The number of the last applied block.
    pub fn head(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }

    /// Takes a snapshot of the chain as last applied (`evm_snapshot`): see
    /// [`crate::savepoints`]. Returns its id.
    pub fn take_savepoint(&self) -> Result<u64, LedgerError> {
        let _guard = self.apply_lock.lock();
        let mut savepoints = self.savepoints.lock();
        if savepoints.is_full() {
            return Err(LedgerError::TooManySavepoints(
                crate::savepoints::MAX_SAVEPOINTS,
            ));
        }
        let held = crate::savepoints::Held {
            store: self.store.savepoint()?,
            clock: self.clock.state(),
        };
        Ok(savepoints.insert(held))
    }

    /// Brings the chain back to snapshot `id` (`evm_revert`): the blocks applied since are
    /// gone from the store, the pool is emptied, the clock's shift is put back. Returns the
    /// head it went back to, or `None` when `id` is unknown or already spent (nothing
    /// changes). Run it on the write lane, so no block is being built on the state it drops.
    pub fn revert_to_savepoint(&self, id: u64) -> Result<Option<u64>, LedgerError> {
        let _guard = self.apply_lock.lock();
        let Some(held) = self.savepoints.lock().take(id) else {
            return Ok(None);
        };
        self.store.restore(&held.store)?;
        self.pool.clear();
        self.clock.restore(held.clock);
        let head = held.store.last_applied().unwrap_or(0);
        self.head.send_replace(head);
        tracing::info!(snapshot = id, head, "reverted to snapshot");
        Ok(Some(head))
    }

    /// Applies a committed block this node did not build: re-executes it on the parent state
    /// and compares every root with the header, refusing (and writing nothing) on divergence;
    /// then ONE write transaction, then notifications.
    pub fn apply_committed(&self, block: &SealedBlock) -> Result<Applied, LedgerError> {
        self.apply(block, None)
    }

    /// Applies a committed block this node built, reusing the builder's outcome (it was
    /// computed on the same parent state; a proposal that went stale is a no-op).
    pub fn apply_proposal(&self, proposal: Proposal) -> Result<Applied, LedgerError> {
        let Proposal { block, outcome } = proposal;
        if outcome.header.hash != block.hash() {
            return self.apply(&block, None);
        }
        self.apply(&block, Some(outcome))
    }

    fn apply(
        &self,
        block: &SealedBlock,
        outcome: Option<BlockWrite>,
    ) -> Result<Applied, LedgerError> {
        let _guard = self.apply_lock.lock();
        let started = std::time::Instant::now();
        let snap = self.store.snapshot()?;
        let last = snap.last_applied()?.unwrap_or(0);
        let parent = snap.header(last)?;
        if block.number() != last + 1
            || parent.map(|p| p.hash) != Some(block.header.header.parent_hash)
        {
            tracing::warn!(number = block.number(), last, "ignoring stale block");
            return Ok(Applied::Stale);
        }
        let reused = outcome.is_some();
        let mut write = match outcome {
            Some(w) => w,
            None => self.reexecute(block, &snap)?,
        };
        drop(snap);
        if let Some(keys) = &self.keys {
            let signing = std::time::Instant::now();
            write.prepared.ledger_tree.signature = Some(sign_root(keys, &write)?);
            self.stats.record_ledger_tree(signing.elapsed());
        }
        self.store.apply_block(&write, self.durable_apply)?;
        self.pool.remove_committed(&write.transactions);
        self.clock.block_committed(write.header.header.timestamp);
        if let Some(opener) = &self.opener {
            // Opened ahead but executed before the builder took them (a race with the
            // opening thread): no longer needed.
            for tx in &write.transactions {
                opener.ahead().take(&tx.hash());
            }
        }
        let number = write.header.header.number;
        self.stats.record(
            write.transactions.len(),
            write.header.header.gas_used,
            started.elapsed(),
        );
        let _ = self.events.send(Arc::new(CommittedBlock {
            header: write.header,
            transactions: write.transactions,
            receipts: write.receipts,
        }));
        self.head.send_replace(number);
        tracing::debug!(
            number,
            txs = block.transactions.len(),
            reused,
            elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "applied block"
        );
        Ok(Applied::Written)
    }

    fn reexecute(
        &self,
        block: &SealedBlock,
        snap: &txnchain_storage::Snapshot,
    ) -> Result<BlockWrite, LedgerError> {
        let ctx = context_of(&block.header.header);
        let executed = execute_block(
            &self.chain,
            &ctx,
            SnapshotState::latest(snap),
            block.transactions.iter().cloned(),
            true,
            self.keys.as_deref(),
            None,
        )?;
        let txnchain_executor::Sealed {
            header,
            prepared,
            ledger_tree_time,
        } = seal_block(&ctx, &executed, snap)?;
        self.stats.record_ledger_tree(ledger_tree_time);
        compare_roots(&block.header.header, &header.header)?;
        if header.hash != block.hash() {
            return Err(txnchain_executor::ExecError::Divergence {
                number: block.number(),
                what: "blockHash",
                expected: block.hash().to_string(),
                computed: header.hash.to_string(),
            }
            .into());
        }
        Ok(BlockWrite {
            header: block.header.clone(),
            transactions: executed.transactions,
            receipts: executed.receipts,
            changes: executed.changes,
            prepared,
            sealed_results: executed.sealed_results,
        })
    }
}

/// The service identity's signature of a block's signed root (`specs/receipts.md` §2). Ed25519
/// is deterministic: every replica that applies the block signs the same bytes.
fn sign_root(keys: &NetworkKeys, write: &BlockWrite) -> Result<[u8; 64], LedgerError> {
    let header = &write.header;
    let root = <[u8; 32]>::try_from(header.header.extra_data.as_ref()).map_err(|_| {
        txnchain_executor::ExecError::Divergence {
            number: header.header.number,
            what: "extraData (ledger tree root)",
            expected: "32 bytes".into(),
            computed: format!("{} bytes", header.header.extra_data.len()),
        }
    })?;
    let message = txnchain_ledger_tree::receipt::signed_root_message(
        keys.chain_id(),
        header.header.number,
        &header.hash.0,
        write.prepared.ledger_tree.size,
        &root,
    );
    Ok(keys.service().sign(&message))
}

/// The log of a single node without replication: appending applies at once.
pub struct LocalLog {
    ledger: Arc<Ledger>,
}

impl LocalLog {
    /// A log that applies to `ledger`.
    pub fn new(ledger: Arc<Ledger>) -> Self {
        LocalLog { ledger }
    }
}

impl BlockLog for LocalLog {
    async fn append(&self, proposal: Proposal) -> Result<(), LedgerError> {
        let ledger = self.ledger.clone();
        self.ledger
            .on_write_lane(move || ledger.apply_proposal(proposal))
            .await??;
        Ok(())
    }
}
