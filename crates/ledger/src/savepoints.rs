//! The dev chain's snapshots (`evm_snapshot` / `evm_revert`, as anvil and hardhat have them):
//! a snapshot marks the database ([`txnchain_storage::StoreSavepoint`]) and the block clock;
//! reverting to it brings both back, empties the pool and makes every later snapshot invalid,
//! and the snapshot itself is spent (hardhat's `loadFixture` takes a new one after each
//! revert).
//!
//! Snapshots live in memory only: a restart forgets them. While one is held the database file
//! keeps the pages written since, so at most [`MAX_SAVEPOINTS`] are held at once.

use std::collections::BTreeMap;

use txnchain_storage::StoreSavepoint;

use crate::clock::ClockState;

/// The most snapshots held at once; taking one more is refused until a revert releases some.
pub const MAX_SAVEPOINTS: usize = 1_024;

/// One snapshot.
#[derive(Debug)]
pub(crate) struct Held {
    pub(crate) store: StoreSavepoint,
    pub(crate) clock: ClockState,
}

/// The snapshots a ledger holds, by id (ids count up from 0 and are never reused).
#[derive(Debug, Default)]
pub(crate) struct Savepoints {
    next: u64,
    held: BTreeMap<u64, Held>,
}

impl Savepoints {
    pub(crate) fn is_full(&self) -> bool {
        self.held.len() >= MAX_SAVEPOINTS
    }

    pub(crate) fn insert(&mut self, held: Held) -> u64 {
        let id = self.next;
        self.next = self.next.saturating_add(1);
        self.held.insert(id, held);
        id
    }

    /// Takes snapshot `id` out, and drops every snapshot taken after it (reverting to `id`
    /// makes them invalid); `None` for an unknown or spent id.
    pub(crate) fn take(&mut self, id: u64) -> Option<Held> {
        let held = self.held.remove(&id)?;
        let _later = self.held.split_off(&id);
        Some(held)
    }
}
