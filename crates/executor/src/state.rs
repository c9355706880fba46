//! Read access to committed state.

use alloy_primitives::{Address, B256, Bytes, U256};
use txnchain_storage::{AccountRecord, Snapshot};

use crate::ExecError;

/// Committed state as execution sees it.
pub trait StateSource {
    /// The account at `address`, `None` if it does not exist.
    fn account(&self, address: Address) -> Result<Option<AccountRecord>, ExecError>;
    /// A storage slot (zero when unset).
    fn storage(&self, address: Address, slot: U256) -> Result<U256, ExecError>;
    /// Code by hash.
    fn code(&self, hash: B256) -> Result<Option<Bytes>, ExecError>;
    /// Hash of block `number`, for the BLOCKHASH opcode.
    fn block_hash(&self, number: u64) -> Result<Option<B256>, ExecError>;
}

/// State read from a [`Snapshot`], either the latest or as of a past block.
pub struct SnapshotState<'a> {
    snap: &'a Snapshot,
    at: Option<u64>,
}

impl<'a> SnapshotState<'a> {
    /// The latest committed state.
    pub fn latest(snap: &'a Snapshot) -> Self {
        SnapshotState { snap, at: None }
    }

    /// The state after block `number`.
    pub fn at(snap: &'a Snapshot, number: u64) -> Self {
        SnapshotState {
            snap,
            at: Some(number),
        }
    }
}

impl StateSource for SnapshotState<'_> {
    fn account(&self, address: Address) -> Result<Option<AccountRecord>, ExecError> {
        Ok(match self.at {
            None => self.snap.account(address)?,
            Some(n) => self.snap.account_at(address, n)?,
        })
    }

    fn storage(&self, address: Address, slot: U256) -> Result<U256, ExecError> {
        Ok(match self.at {
            None => self.snap.storage(address, slot)?,
            Some(n) => self.snap.storage_at(address, slot, n)?,
        })
    }

    fn code(&self, hash: B256) -> Result<Option<Bytes>, ExecError> {
        Ok(self.snap.code(hash)?)
    }

    fn block_hash(&self, number: u64) -> Result<Option<B256>, ExecError> {
        Ok(self.snap.header(number)?.map(|h| h.hash))
    }
}
