//! At-most-once settlement: what this facilitator knows about each authorization, keyed by
//! `(chainId, asset, from, nonce)`.
//!
//! - **In flight**: one settle holds a [`Claim`]; others wait for it. A claim that is
//!   dropped without a result (the client went away, the task was cancelled) gives the key
//!   back and wakes the waiters, who then try themselves: nothing can stay claimed forever.
//! - **Pending**: a settlement transaction was submitted but its commit was not seen in time
//!   and it could not be cancelled. It is never reported as settled until the chain says so:
//!   a later settle of the same authorization looks at the chain again.
//! - **Done**: committed. Later settles report `success: false` with the original
//!   transaction.
//!
//! Pending and done records are indexed by `validBefore` and dropped once it has passed (the
//! token refuses the authorization from then on) or when over the cap, soonest to expire
//! first; a forgotten one is still refused by the token (`authorizationState`), and its
//! transaction recovered from the chain.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use alloy_primitives::{Address, B256};
use parking_lot::Mutex;
use tokio::sync::watch;

/// `(chainId, asset, from, nonce)`.
pub(crate) type SettlementKey = (u64, Address, Address, B256);

/// What is known about one authorization.
#[derive(Clone, Debug)]
pub(crate) enum Record {
    /// A settle is working on it; the receiver wakes when that ends.
    InFlight(watch::Receiver<()>),
    /// Submitted in this transaction, not yet seen committed.
    Pending(B256),
    /// Committed in this transaction.
    Done(B256),
}

#[derive(Default)]
struct Table {
    map: HashMap<SettlementKey, Record>,
    expiry: BTreeSet<(u64, SettlementKey)>,
    valid_before: HashMap<SettlementKey, u64>,
    last_sweep: u64,
}

impl Table {
    fn forget(&mut self, valid_before: u64, key: SettlementKey) {
        self.expiry.remove(&(valid_before, key));
        self.valid_before.remove(&key);
        if !matches!(self.map.get(&key), Some(Record::InFlight(_))) {
            self.map.remove(&key);
        }
    }

    /// Stores a pending or done record, then drops what has expired or is over `cap`.
    fn settle_record(
        &mut self,
        key: SettlementKey,
        record: Record,
        valid_before: u64,
        now: u64,
        cap: usize,
    ) {
        if let Some(old) = self.valid_before.insert(key, valid_before) {
            self.expiry.remove(&(old, key));
        }
        self.expiry.insert((valid_before, key));
        self.map.insert(key, record);
        if now > self.last_sweep {
            self.last_sweep = now;
            while let Some(&(vb, k)) = self.expiry.first()
                && vb <= now
            {
                self.forget(vb, k);
            }
        }
        while self.expiry.len() > cap.max(1) {
            let Some(&(vb, k)) = self.expiry.first() else {
                break;
            };
            self.forget(vb, k);
        }
    }
}

/// The records, shared by every settle.
#[derive(Clone)]
pub(crate) struct Records {
    table: Arc<Mutex<Table>>,
    cap: usize,
}

/// Exclusive right to settle one authorization; see the module docs.
pub(crate) struct Claim {
    records: Records,
    key: SettlementKey,
    /// The pending transaction this claim took over, if any: restored if the claim is
    /// dropped unresolved.
    previous: Option<(B256, u64)>,
    /// Dropped when the claim ends: wakes the waiters.
    _wake: watch::Sender<()>,
    resolved: bool,
}

impl Records {
    /// Records holding at most `cap` pending and done entries.
    pub(crate) fn new(cap: usize) -> Self {
        Records {
            table: Arc::new(Mutex::new(Table::default())),
            cap,
        }
    }

    /// What is known about `key`.
    #[cfg(test)]
    pub(crate) fn get(&self, key: &SettlementKey) -> Option<Record> {
        self.table.lock().map.get(key).cloned()
    }

    /// Claims `key` when nothing is known about it, or when it is pending (the claimer then
    /// looks at the chain again: [`Claim::previous`]); otherwise returns what is known
    /// (in flight elsewhere, or done).
    pub(crate) fn claim(&self, key: SettlementKey) -> Result<Claim, Record> {
        let mut t = self.table.lock();
        let previous = match t.map.get(&key) {
            None => None,
            Some(Record::Pending(hash)) => {
                let vb = t.valid_before.get(&key).copied().unwrap_or(u64::MAX);
                Some((*hash, vb))
            }
            Some(other) => return Err(other.clone()),
        };
        let (wake, rx) = watch::channel(());
        t.map.insert(key, Record::InFlight(rx));
        Ok(Claim {
            records: self.clone(),
            key,
            previous,
            _wake: wake,
            resolved: false,
        })
    }

    /// Entries remembered (in flight, pending and done).
    pub(crate) fn len(&self) -> usize {
        self.table.lock().map.len()
    }
}

impl Claim {
    /// The transaction an earlier settle submitted for this authorization and left pending.
    pub(crate) fn previous(&self) -> Option<B256> {
        self.previous.map(|(h, _)| h)
    }

    /// That earlier transaction is gone without committing: the authorization is unused, and
    /// dropping this claim now frees the key instead of restoring it.
    pub(crate) fn forget_previous(&mut self) {
        self.previous = None;
    }

    /// `hash` was submitted for this authorization: from now on, dropping the claim leaves it
    /// pending (the transaction may still commit), never free.
    pub(crate) fn submitted(&mut self, hash: B256, valid_before: u64) {
        self.previous = Some((hash, valid_before));
    }

    /// The authorization was settled in `hash` (committed).
    pub(crate) fn done(mut self, hash: B256, valid_before: u64) {
        self.resolve(Record::Done(hash), valid_before);
    }

    /// `hash` was submitted but is not known to be committed.
    pub(crate) fn pending(mut self, hash: B256, valid_before: u64) {
        self.resolve(Record::Pending(hash), valid_before);
    }

    fn resolve(&mut self, record: Record, valid_before: u64) {
        let cap = self.records.cap;
        self.records.table.lock().settle_record(
            self.key,
            record,
            valid_before,
            crate::now_secs(),
            cap,
        );
        self.resolved = true;
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.resolved {
            let cap = self.records.cap;
            let mut t = self.records.table.lock();
            if matches!(t.map.get(&self.key), Some(Record::InFlight(_))) {
                match self.previous {
                    Some((hash, vb)) => {
                        t.settle_record(
                            self.key,
                            Record::Pending(hash),
                            vb,
                            crate::now_secs(),
                            cap,
                        );
                    }
                    None => {
                        t.map.remove(&self.key);
                    }
                }
            }
        }
        // `_wake` drops after this: waiters wake and find the key free or resolved.
    }
}

/// Waits until the claim behind `rx` ends (resolved, released or dropped).
pub(crate) async fn claim_ended(mut rx: watch::Receiver<()>) {
    while rx.changed().await.is_ok() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u8) -> SettlementKey {
        (
            1,
            Address::ZERO,
            Address::repeat_byte(i),
            B256::repeat_byte(i),
        )
    }

    #[test]
    fn claims_are_exclusive_and_a_dropped_claim_frees_the_key() {
        let r = Records::new(10);
        let c = r.claim(key(1)).ok().unwrap();
        assert!(matches!(r.claim(key(1)), Err(Record::InFlight(_))));
        drop(c);
        assert!(r.get(&key(1)).is_none());
        let c = r.claim(key(1)).ok().unwrap();
        c.done(B256::repeat_byte(9), u64::MAX);
        assert!(matches!(r.claim(key(1)), Err(Record::Done(h)) if h == B256::repeat_byte(9)));
    }

    #[tokio::test]
    async fn waiters_wake_when_a_claim_is_dropped() {
        let r = Records::new(10);
        let c = r.claim(key(1)).ok().unwrap();
        let Err(Record::InFlight(rx)) = r.claim(key(1)) else {
            panic!("expected in flight")
        };
        let waiter = tokio::spawn(claim_ended(rx));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        drop(c);
        tokio::time::timeout(std::time::Duration::from_secs(1), waiter)
            .await
            .unwrap()
            .unwrap();
        assert!(r.claim(key(1)).is_ok());
    }

    #[test]
    fn a_pending_record_is_taken_over_and_restored_unless_resolved() {
        let r = Records::new(10);
        let pending = B256::repeat_byte(7);
        r.claim(key(1)).ok().unwrap().pending(pending, u64::MAX);
        assert!(matches!(r.get(&key(1)), Some(Record::Pending(h)) if h == pending));
        // A later settle takes it over to look at the chain again...
        let c = r.claim(key(1)).ok().unwrap();
        assert_eq!(c.previous(), Some(pending));
        assert!(matches!(r.claim(key(1)), Err(Record::InFlight(_))));
        // ...and dropping that claim puts the pending record back, never "done".
        drop(c);
        assert!(matches!(r.get(&key(1)), Some(Record::Pending(h)) if h == pending));
        // Resolved as committed: done.
        r.claim(key(1)).ok().unwrap().done(pending, u64::MAX);
        assert!(matches!(r.get(&key(1)), Some(Record::Done(h)) if h == pending));
        // A claim dropped after submitting leaves the authorization pending.
        let mut c = r.claim(key(3)).ok().unwrap();
        c.submitted(B256::repeat_byte(5), u64::MAX);
        drop(c);
        assert!(matches!(r.get(&key(3)), Some(Record::Pending(h)) if h == B256::repeat_byte(5)));
        // Gone from the chain: forgotten, the key is free.
        r.claim(key(2)).ok().unwrap().pending(pending, u64::MAX);
        let mut c = r.claim(key(2)).ok().unwrap();
        c.forget_previous();
        drop(c);
        assert!(r.get(&key(2)).is_none());
    }

    #[test]
    fn records_expire_with_valid_before_and_stay_under_the_cap() {
        let r = Records::new(3);
        let now = crate::now_secs();
        // Already expired: swept at the next write.
        r.claim(key(1)).ok().unwrap().done(B256::ZERO, now - 1);
        for i in 2..10u8 {
            r.claim(key(i))
                .ok()
                .unwrap()
                .done(B256::ZERO, now + 1000 + u64::from(i));
        }
        assert!(r.get(&key(1)).is_none());
        assert_eq!(r.len(), 3);
        // The latest-expiring are kept.
        assert!(r.get(&key(9)).is_some());
        assert!(r.get(&key(2)).is_none());
        // An in-flight claim is never evicted by the cap.
        let c = r.claim(key(20)).ok().unwrap();
        for i in 30..40u8 {
            r.claim(key(i)).ok().unwrap().done(B256::ZERO, now + 5000);
        }
        assert!(matches!(r.get(&key(20)), Some(Record::InFlight(_))));
        drop(c);
    }
}
