//! The ledger tree's stored nodes (`specs/receipts.md` §1): the perfect-subtree nodes of
//! `txnchain-ledger-tree`, read through a [`Snapshot`] and written with the block whose
//! leaves they are, in the same write transaction.

use alloy_primitives::B256;
use txnchain_ledger_tree::{Hash, NodeStore, TreeError};

use crate::error::corrupt;
use crate::records::LedgerTreeWrite;
use crate::tables;
use crate::{Snapshot, StorageError};

/// The stored key of node `(level, index)`.
pub(crate) fn node_key(level: u32, index: u64) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..4].copy_from_slice(&level.to_be_bytes());
    k[4..].copy_from_slice(&index.to_be_bytes());
    k
}

impl NodeStore for Snapshot {
    type Error = StorageError;

    fn node(&self, level: u32, index: u64) -> Result<Option<Hash>, StorageError> {
        self.get(tables::LEDGER_TREE, &[&node_key(level, index)])?
            .map(|v| {
                <[u8; 32]>::try_from(v.as_slice())
                    .map_err(|_| corrupt("ledger_tree", "node of wrong length"))
            })
            .transpose()
    }
}

fn tree_err(e: TreeError<StorageError>) -> StorageError {
    match e {
        TreeError::Store(e) => e,
        other => corrupt("ledger_tree", other),
    }
}

impl Snapshot {
    /// Number of ledger tree leaves after block `number` (`None`: no such block).
    pub fn ledger_tree_size_at(&self, number: u64) -> Result<Option<u64>, StorageError> {
        crate::snapshot::meta_u64(
            self.get(tables::LEDGER_TREE_SIZES, &[&number.to_be_bytes()])?
                .as_deref(),
        )
    }

    /// Number of ledger tree leaves after the latest block (0 before genesis).
    pub fn ledger_tree_size(&self) -> Result<u64, StorageError> {
        match self.last_applied()? {
            None => Ok(0),
            Some(n) => self
                .ledger_tree_size_at(n)?
                .ok_or_else(|| corrupt("ledger_tree_sizes", format!("no size for block {n}"))),
        }
    }

    /// The ledger tree's root at `size` leaves (any size up to the current one).
    pub fn ledger_tree_root(&self, size: u64) -> Result<B256, StorageError> {
        let current = self.ledger_tree_size()?;
        if size > current {
            return Err(corrupt(
                "ledger_tree",
                format!("size {size} is beyond the tree ({current} leaves)"),
            ));
        }
        txnchain_ledger_tree::root(self, size)
            .map(B256::from)
            .map_err(tree_err)
    }

    /// The service identity's signature of block `number`'s signed root, if stored.
    pub fn ledger_root_signature(&self, number: u64) -> Result<Option<[u8; 64]>, StorageError> {
        self.get(tables::LEDGER_ROOT_SIGNATURES, &[&number.to_be_bytes()])?
            .map(|v| {
                <[u8; 64]>::try_from(v.as_slice())
                    .map_err(|_| corrupt("ledger_root_signatures", "signature of wrong length"))
            })
            .transpose()
    }

    /// The RFC 9162 inclusion proof of leaf `index` in the tree of `size` leaves.
    pub fn ledger_inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<B256>, StorageError> {
        let current = self.ledger_tree_size()?;
        txnchain_ledger_tree::inclusion_proof(self, current, index, size)
            .map(|p| p.into_iter().map(B256::from).collect())
            .map_err(tree_err)
    }

    /// The RFC 9162 consistency proof between tree sizes `first` ≤ `second`.
    pub fn ledger_consistency_proof(
        &self,
        first: u64,
        second: u64,
    ) -> Result<Vec<B256>, StorageError> {
        let current = self.ledger_tree_size()?;
        txnchain_ledger_tree::consistency_proof(self, current, first, second)
            .map(|p| p.into_iter().map(B256::from).collect())
            .map_err(tree_err)
    }

    /// Appends the leaves of the block after this snapshot's latest one: its root, and what
    /// to write with the block.
    pub fn ledger_tree_append(
        &self,
        leaf_hashes: impl IntoIterator<Item = Hash>,
    ) -> Result<(B256, LedgerTreeWrite), StorageError> {
        let size = self.ledger_tree_size()?;
        let appended = txnchain_ledger_tree::append(self, size, leaf_hashes).map_err(tree_err)?;
        Ok((
            B256::from(appended.root),
            LedgerTreeWrite {
                size: appended.size,
                nodes: appended.nodes,
                signature: None,
            },
        ))
    }
}
