//! The transaction pool.
//!
//! Per sender, transactions are kept by nonce; those contiguous from the sender's committed
//! nonce are *pending* (selectable), the rest *queued* until the gap fills. A transaction with
//! the same sender and nonce replaces an existing one only with a fee bump of at least 10% on
//! both the fee cap and the tip (geth's rule). A transaction leaves the pool only when its block
//! commits ([`Mempool::remove_committed`]) or when the builder finds it can never be included.

use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Arc;

use alloy_primitives::{Address, B256, U256};
use parking_lot::Mutex;
use tokio::sync::{Notify, broadcast};
use txnchain_primitives::{ChainSpec, RecoveredTx, TxRejection};
use txnchain_storage::Snapshot;

use crate::LedgerError;
use crate::admission::Validator;

/// Pool limits.
#[derive(Debug, Clone, Copy)]
pub struct PoolLimits {
    /// Maximum transactions in the pool.
    pub max_total: usize,
    /// Maximum transactions per sender, and how far beyond its committed nonce a sender's
    /// nonces may reach ("nonce too high" beyond it).
    pub max_per_sender: u64,
    /// Minimum fee bump for a replacement, in percent.
    pub price_bump_percent: u128,
}

impl Default for PoolLimits {
    fn default() -> Self {
        PoolLimits {
            max_total: 100_000,
            max_per_sender: 4_096,
            price_bump_percent: 10,
        }
    }
}

#[derive(Default)]
struct Inner {
    by_hash: HashMap<B256, Arc<RecoveredTx>>,
    senders: HashMap<Address, BTreeMap<u64, Arc<RecoveredTx>>>,
    /// Transactions submitted by the node itself (e.g. x402 settlements): never evicted to
    /// make room (geth's "locals"), so a flood of paying strangers cannot push them out and
    /// leave a nonce gap.
    locals: std::collections::HashSet<B256>,
    /// Why recently dropped transactions left the pool without being committed.
    dropped: Dropped,
}

impl Inner {
    fn forget(&mut self, hash: &B256) {
        self.by_hash.remove(hash);
        self.locals.remove(hash);
    }
}

/// How many dropped transactions the pool remembers the reason for (the oldest are forgotten
/// first, so the memory is bounded whatever clients send).
pub const DROPPED_KEPT: usize = 16_384;

/// The reasons of the last [`DROPPED_KEPT`] transactions that left the pool without being
/// committed (`GET /v1/transactions/{hash}` answers `invalid` with the reason).
#[derive(Default)]
struct Dropped {
    why: HashMap<B256, String>,
    order: std::collections::VecDeque<B256>,
}

impl Dropped {
    fn insert(&mut self, hash: B256, why: String) {
        if self.why.insert(hash, why).is_none() {
            self.order.push_back(hash);
        }
        while self.order.len() > DROPPED_KEPT {
            if let Some(old) = self.order.pop_front() {
                self.why.remove(&old);
            }
        }
    }

    /// A transaction admitted again is no longer dropped (its slot in `order` ages out).
    fn readmitted(&mut self, hash: &B256) {
        self.why.remove(hash);
    }
}

/// The transaction pool.
pub struct Mempool {
    inner: Mutex<Inner>,
    limits: PoolLimits,
    validator: Validator,
    base_fee: u64,
    work: Notify,
    pending_tx: broadcast::Sender<B256>,
}

/// Pool size, as `txpool_status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStatus {
    /// Transactions executable now.
    pub pending: usize,
    /// Transactions waiting for a nonce gap to fill.
    pub queued: usize,
}

/// What the committed state says about a sender at admission.
#[derive(Debug, Clone, Copy)]
pub struct SenderState {
    /// Committed nonce.
    pub nonce: u64,
    /// Committed balance.
    pub balance: U256,
}

/// `gas * max fee + value`, exactly: what the sender must hold (it may not fit 256 bits, and
/// then nobody can pay it).
fn cost(tx: &RecoveredTx) -> Box<alloy_primitives::U512> {
    TxRejection::cost(
        tx.gas_limit(),
        tx.max_fee_per_gas(),
        alloy_consensus::Transaction::value(tx.envelope()),
    )
}

impl Mempool {
    /// An empty pool for `chain`: its admission rules, and its base fee to order
    /// transactions by the tip they pay.
    pub fn new(limits: PoolLimits, chain: &ChainSpec) -> Self {
        let (pending_tx, _) = broadcast::channel(4096);
        Mempool {
            inner: Mutex::new(Inner::default()),
            limits,
            validator: Validator::new(chain.clone()),
            base_fee: chain.base_fee,
            work: Notify::new(),
            pending_tx,
        }
    }

    /// Wakes when new transactions arrive.
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.work.notified()
    }

    /// Hashes of newly admitted transactions (`newPendingTransactions`).
    pub fn subscribe_pending(&self) -> broadcast::Receiver<B256> {
        self.pending_tx.subscribe()
    }

    /// The admission rules.
    pub fn validator(&self) -> &Validator {
        &self.validator
    }

    /// Admits `tx` after every check against committed state `snap`. `local`: the node's
    /// own transaction, never evicted to make room for another. Returns its hash.
    pub fn admit(
        &self,
        tx: RecoveredTx,
        snap: &Snapshot,
        local: bool,
        clock: &crate::BlockClock,
    ) -> Result<B256, LedgerError> {
        let state = self.validator.check(&tx, snap, clock)?;
        let hash = tx.hash();
        self.add(tx, state, local)?;
        Ok(hash)
    }

    /// Adds a transaction that passed the validator, given the sender's committed state.
    /// Returns the hash of a transaction it replaced, if any.
    pub fn add(
        &self,
        tx: RecoveredTx,
        state: SenderState,
        local: bool,
    ) -> Result<Option<B256>, TxRejection> {
        let nonce = tx.nonce();
        let hash = tx.hash();
        let mut inner = self.inner.lock();
        if inner.by_hash.contains_key(&hash) {
            return Err(TxRejection::AlreadyKnown);
        }
        if nonce < state.nonce {
            return Err(TxRejection::NonceTooLow {
                next: state.nonce,
                tx: nonce,
            });
        }
        if nonce >= state.nonce.saturating_add(self.limits.max_per_sender) {
            return Err(TxRejection::NonceBeyondWindow {
                next: state.nonce,
                tx: nonce,
                window: self.limits.max_per_sender,
            });
        }
        let want = cost(&tx);
        if *want > alloy_primitives::U512::from(state.balance) {
            return Err(TxRejection::InsufficientFunds {
                address: tx.sender(),
                have: state.balance,
                want,
            });
        }
        let existing = inner
            .senders
            .get(&tx.sender())
            .and_then(|q| q.get(&nonce))
            .cloned();
        if let Some(old) = &existing {
            let bump = |old: u128| old.saturating_mul(100 + self.limits.price_bump_percent) / 100;
            let old_tip = alloy_consensus::Transaction::max_priority_fee_per_gas(old.envelope())
                .unwrap_or(old.max_fee_per_gas());
            let new_tip = alloy_consensus::Transaction::max_priority_fee_per_gas(tx.envelope())
                .unwrap_or(tx.max_fee_per_gas());
            if tx.max_fee_per_gas() < bump(old.max_fee_per_gas()) || new_tip < bump(old_tip) {
                return Err(TxRejection::ReplacementUnderpriced);
            }
        } else if inner.by_hash.len() >= self.limits.max_total {
            self.evict_for(&mut inner, &tx)?;
        }
        let tx = Arc::new(tx);
        inner.by_hash.insert(hash, tx.clone());
        inner.dropped.readmitted(&hash);
        if local {
            inner.locals.insert(hash);
        }
        let queue = inner.senders.entry(tx.sender()).or_default();
        let replaced = queue.insert(nonce, tx).map(|old| old.hash());
        if let Some(old) = replaced {
            inner.forget(&old);
            inner.dropped.insert(
                old,
                format!("replaced by transaction {hash} (same sender and nonce, higher fee)"),
            );
        }
        drop(inner);
        let _ = self.pending_tx.send(hash);
        self.work.notify_one();
        Ok(replaced)
    }

    /// Makes room for `incoming` by evicting the cheapest transaction at the tail of a sender's
    /// queue, if `incoming` pays more; otherwise refuses it.
    fn evict_for(&self, inner: &mut Inner, incoming: &RecoveredTx) -> Result<(), TxRejection> {
        let victim = inner
            .senders
            .values()
            .filter_map(|q| q.values().next_back())
            .filter(|t| !inner.locals.contains(&t.hash()))
            .min_by_key(|t| t.effective_tip(self.base_fee))
            .cloned();
        match victim {
            Some(v) if v.effective_tip(self.base_fee) < incoming.effective_tip(self.base_fee) => {
                inner.forget(&v.hash());
                inner.dropped.insert(
                    v.hash(),
                    "evicted: the pool was full and a transaction paying a higher tip arrived"
                        .into(),
                );
                if let Some(q) = inner.senders.get_mut(&v.sender()) {
                    q.remove(&v.nonce());
                    if q.is_empty() {
                        inner.senders.remove(&v.sender());
                    }
                }
                Ok(())
            }
            _ => Err(TxRejection::PoolFull),
        }
    }

    /// Selects up to `max` executable transactions: per sender contiguous from its committed
    /// nonce, across senders by the tip of each sender's next transaction.
    pub fn select(&self, max: usize, committed_nonce: impl Fn(Address) -> u64) -> Vec<RecoveredTx> {
        // Look the senders' nonces up without holding the pool lock, so admission is not
        // blocked behind state reads; senders that arrive meanwhile wait for the next block.
        let senders: Vec<Address> = self.inner.lock().senders.keys().copied().collect();
        let nonces: Vec<(Address, u64)> = senders
            .into_iter()
            .map(|a| (a, committed_nonce(a)))
            .collect();
        let inner = self.inner.lock();
        struct Head {
            tip: u128,
            sender: Address,
            nonce: u64,
        }
        impl PartialEq for Head {
            fn eq(&self, o: &Self) -> bool {
                self.tip == o.tip && self.sender == o.sender
            }
        }
        impl Eq for Head {}
        impl PartialOrd for Head {
            fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(o))
            }
        }
        impl Ord for Head {
            fn cmp(&self, o: &Self) -> std::cmp::Ordering {
                self.tip
                    .cmp(&o.tip)
                    .then_with(|| o.sender.cmp(&self.sender))
            }
        }
        let mut heap = BinaryHeap::new();
        for (sender, nonce) in nonces {
            if let Some(tx) = inner.senders.get(&sender).and_then(|q| q.get(&nonce)) {
                heap.push(Head {
                    tip: tx.effective_tip(self.base_fee),
                    sender,
                    nonce,
                });
            }
        }
        let mut out = Vec::new();
        while let Some(head) = heap.pop() {
            if out.len() >= max {
                break;
            }
            let Some(queue) = inner.senders.get(&head.sender) else {
                continue;
            };
            let Some(tx) = queue.get(&head.nonce) else {
                continue;
            };
            out.push((**tx).clone());
            if let Some(following) = head.nonce.checked_add(1)
                && let Some(next) = queue.get(&following)
            {
                heap.push(Head {
                    tip: next.effective_tip(self.base_fee),
                    sender: head.sender,
                    nonce: following,
                });
            }
        }
        out
    }

    /// Removes transactions a committed block included, and every pooled transaction of the
    /// same senders whose nonce is now stale.
    pub fn remove_committed(&self, txs: &[RecoveredTx]) {
        let committed: std::collections::HashSet<B256> =
            txs.iter().map(RecoveredTx::hash).collect();
        let mut inner = self.inner.lock();
        let mut next: HashMap<Address, u64> = HashMap::new();
        for tx in txs {
            let n = next.entry(tx.sender()).or_default();
            *n = (*n).max(tx.nonce().saturating_add(1));
        }
        for (sender, next_nonce) in next {
            let Some(queue) = inner.senders.get_mut(&sender) else {
                continue;
            };
            let keep = queue.split_off(&next_nonce);
            let removed = std::mem::replace(queue, keep);
            let empty = queue.is_empty();
            if empty {
                inner.senders.remove(&sender);
            }
            for tx in removed.values() {
                inner.forget(&tx.hash());
                if !committed.contains(&tx.hash()) {
                    inner.dropped.insert(
                        tx.hash(),
                        format!(
                            "nonce {} of {} was used by another committed transaction",
                            tx.nonce(),
                            tx.sender()
                        ),
                    );
                }
            }
        }
    }

    /// Drops a transaction that can never be included.
    pub fn remove(&self, hash: &B256) {
        let mut inner = self.inner.lock();
        Self::remove_locked(&mut inner, hash);
    }

    /// Drops a transaction that can never be included, remembering why (the status API
    /// answers `invalid` with the reason).
    pub fn drop_invalid(&self, hash: &B256, why: String) {
        let mut inner = self.inner.lock();
        if inner.by_hash.contains_key(hash) {
            Self::remove_locked(&mut inner, hash);
            inner.dropped.insert(*hash, why);
        }
    }

    /// Why a transaction recently left the pool without being committed, if it did.
    pub fn dropped(&self, hash: &B256) -> Option<String> {
        self.inner.lock().dropped.why.get(hash).cloned()
    }

    fn remove_locked(inner: &mut Inner, hash: &B256) {
        inner.locals.remove(hash);
        if let Some(tx) = inner.by_hash.remove(hash)
            && let Some(q) = inner.senders.get_mut(&tx.sender())
        {
            q.remove(&tx.nonce());
            if q.is_empty() {
                inner.senders.remove(&tx.sender());
            }
        }
    }

    /// Empties the pool (the dev chain's `evm_revert`: the state they were admitted against
    /// is gone).
    pub fn clear(&self) {
        let mut inner = self.inner.lock();
        let dropped: Vec<B256> = inner.by_hash.keys().copied().collect();
        let mut kept = std::mem::take(&mut inner.dropped);
        for hash in dropped {
            kept.insert(hash, "dropped: the chain was reverted to a snapshot".into());
        }
        *inner = Inner {
            dropped: kept,
            ..Inner::default()
        };
    }

    /// A pooled transaction by hash.
    pub fn get(&self, hash: &B256) -> Option<Arc<RecoveredTx>> {
        self.inner.lock().by_hash.get(hash).cloned()
    }

    /// The next nonce for `sender` counting pooled transactions contiguous from `committed`
    /// (the `pending` block tag).
    pub fn pending_nonce(&self, sender: Address, committed: u64) -> u64 {
        let inner = self.inner.lock();
        let mut n = committed;
        if let Some(q) = inner.senders.get(&sender) {
            while q.contains_key(&n) {
                let Some(next) = n.checked_add(1) else { break };
                n = next;
            }
        }
        n
    }

    /// Pending and queued counts, given each sender's committed nonce.
    pub fn status(&self, committed_nonce: impl Fn(Address) -> u64) -> PoolStatus {
        let inner = self.inner.lock();
        let mut s = PoolStatus::default();
        for (sender, q) in &inner.senders {
            let mut n = committed_nonce(*sender);
            let mut pending = 0;
            while q.contains_key(&n) {
                pending += 1;
                let Some(next) = n.checked_add(1) else { break };
                n = next;
            }
            s.pending += pending;
            s.queued += q.len() - pending;
        }
        s
    }

    /// Every pooled transaction grouped by sender and nonce, split into pending and queued
    /// (`txpool_content`).
    #[allow(clippy::type_complexity)]
    pub fn content(
        &self,
        committed_nonce: impl Fn(Address) -> u64,
    ) -> (
        BTreeMap<Address, BTreeMap<u64, RecoveredTx>>,
        BTreeMap<Address, BTreeMap<u64, RecoveredTx>>,
    ) {
        let inner = self.inner.lock();
        let (mut pending, mut queued) = (BTreeMap::new(), BTreeMap::new());
        for (sender, q) in &inner.senders {
            let mut n = committed_nonce(*sender);
            for (nonce, tx) in q {
                let target = if *nonce == n {
                    n = n.saturating_add(1);
                    &mut pending
                } else {
                    &mut queued
                };
                target
                    .entry(*sender)
                    .or_insert_with(BTreeMap::new)
                    .insert(*nonce, (**tx).clone());
            }
        }
        (pending, queued)
    }

    /// Number of pooled transactions.
    pub fn len(&self) -> usize {
        self.inner.lock().by_hash.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
