//! Where a transaction is (`specs/receipts.md` §4, `GET /v1/transactions/{hash}`): committed
//! (with its block and leaf), pending in the pool, dropped as invalid (with the reason), or
//! unknown to this node.

use alloy_primitives::B256;

use crate::{Ledger, LedgerError};

/// A transaction's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxStatus {
    /// Never seen, or forgotten (dropped long ago).
    Unknown,
    /// In the pool, waiting for a block.
    Pending,
    /// Committed.
    Committed {
        /// The block holding it.
        block: u64,
        /// Its leaf index in the ledger tree.
        leaf_index: u64,
    },
    /// Dropped without being committed: it can never be included as it is.
    Invalid {
        /// Why.
        reason: String,
    },
}

impl TxStatus {
    /// The status word of the REST API.
    pub fn word(&self) -> &'static str {
        match self {
            TxStatus::Unknown => "unknown",
            TxStatus::Pending => "pending",
            TxStatus::Committed { .. } => "committed",
            TxStatus::Invalid { .. } => "invalid",
        }
    }

    /// Whether it can still change (pending or unknown may become committed or invalid).
    pub fn is_final(&self) -> bool {
        matches!(self, TxStatus::Committed { .. } | TxStatus::Invalid { .. })
    }
}

impl Ledger {
    /// The status of transaction `hash` now. Apply writes a block before it takes the
    /// block's transactions out of the pool, so one that is in neither the chain (first look)
    /// nor the pool (second) and was not dropped was either never here or committed in
    /// between: the chain is asked again.
    pub fn transaction_status(&self, hash: B256) -> Result<TxStatus, LedgerError> {
        let committed = |ledger: &Ledger| -> Result<Option<TxStatus>, LedgerError> {
            Ok(ledger
                .reader()?
                .ledger_position(hash)?
                .map(|(block, leaf_index)| TxStatus::Committed { block, leaf_index }))
        };
        if let Some(s) = committed(self)? {
            return Ok(s);
        }
        if self.pool().get(&hash).is_some() {
            return Ok(TxStatus::Pending);
        }
        if let Some(reason) = self.pool().dropped(&hash) {
            return Ok(TxStatus::Invalid { reason });
        }
        Ok(committed(self)?.unwrap_or(TxStatus::Unknown))
    }
}
