//! The latest account records, decoded, in memory (inside the TEE): admission, execution and
//! the RPC read the same few thousand accounts every block, and each read from disk costs a
//! keyed hash of the address and an AEAD open. The cache answers for any snapshot it is
//! valid for, so a read never sees a value its snapshot could not.
//!
//! An entry `(at, record)` says: `record` is the account's value as of block `at`, and no
//! applied block after `at` wrote it. [`AccountCache::apply`] records a block's writes
//! **before** that block commits, so once a snapshot can see block `N`, every account `N`
//! wrote has an entry at `≥ N`; a snapshot with head `H` may use an entry only if `at ≤ H`.
//! Fills from reads never replace a newer entry. A failed commit clears the cache.

use std::collections::HashMap;
use std::sync::Mutex;

use alloy_primitives::Address;

use crate::records::AccountRecord;

#[derive(Clone, Copy)]
struct Entry {
    at: u64,
    record: Option<AccountRecord>,
}

/// Bounded: when full, it is emptied (the next block refills what is hot).
pub(crate) struct AccountCache {
    entries: Mutex<HashMap<Address, Entry>>,
    capacity: usize,
}

impl AccountCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Address, Entry>> {
        // A panic while holding the lock cannot leave a half-written entry (inserts are
        // single operations), so a poisoned map is still consistent.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The record of `address` for a snapshot whose last applied block is `head`, if cached.
    pub(crate) fn get(&self, address: &Address, head: u64) -> Option<Option<AccountRecord>> {
        match self.lock().get(address) {
            Some(e) if e.at <= head => Some(e.record),
            _ => None,
        }
    }

    /// Remembers what a snapshot at `head` read from disk, unless a newer entry exists.
    pub(crate) fn fill(&self, address: Address, head: u64, record: Option<AccountRecord>) {
        let mut map = self.lock();
        if map.get(&address).is_some_and(|e| e.at >= head) {
            return;
        }
        if map.len() >= self.capacity && !map.contains_key(&address) {
            map.clear();
        }
        map.insert(address, Entry { at: head, record });
    }

    /// Records the account writes of block `number`; call before the block commits.
    pub(crate) fn apply<'a>(
        &self,
        number: u64,
        writes: impl IntoIterator<Item = (&'a Address, &'a Option<AccountRecord>)>,
    ) {
        let mut map = self.lock();
        for (address, record) in writes {
            if map.len() >= self.capacity && !map.contains_key(address) {
                map.clear();
            }
            map.insert(
                *address,
                Entry {
                    at: number,
                    record: *record,
                },
            );
        }
    }

    /// Forgets everything (after a failed commit).
    pub(crate) fn clear(&self) {
        self.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{B256, U256};

    fn rec(balance: u64) -> Option<AccountRecord> {
        Some(AccountRecord {
            nonce: 0,
            balance: U256::from(balance),
            code_hash: B256::ZERO,
            storage_root: B256::ZERO,
        })
    }

    #[test]
    fn answers_only_snapshots_that_can_see_the_entry() {
        let c = AccountCache::new(10);
        let a = Address::repeat_byte(1);
        assert_eq!(c.get(&a, 5), None);
        c.fill(a, 5, rec(1));
        assert_eq!(c.get(&a, 5), Some(rec(1)));
        assert_eq!(c.get(&a, 4), None, "older snapshots read the disk");
        // Block 6 writes it (before its commit): snapshots at 5 must not see the new value.
        c.apply(6, [(&a, &rec(2))]);
        assert_eq!(c.get(&a, 5), None);
        assert_eq!(c.get(&a, 6), Some(rec(2)));
        // A slow reader at 5 fills late: it never replaces the newer entry.
        c.fill(a, 5, rec(1));
        assert_eq!(c.get(&a, 6), Some(rec(2)));
        // Deletion is cached as None.
        c.apply(7, [(&a, &None)]);
        assert_eq!(c.get(&a, 7), Some(None));
        c.clear();
        assert_eq!(c.get(&a, 7), None);
    }

    #[test]
    fn stays_bounded() {
        let c = AccountCache::new(3);
        for i in 0..10u8 {
            c.fill(Address::repeat_byte(i), 1, rec(u64::from(i)));
            assert!(c.lock().len() <= 3);
        }
        assert_eq!(c.get(&Address::repeat_byte(9), 1), Some(rec(9)));
    }
}
