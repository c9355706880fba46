//! Ledger errors.

use txnchain_executor::ExecError;
use txnchain_primitives::TxRejection;
use txnchain_storage::StorageError;

/// An error of the ledger: its write path and its read side.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Execution failed.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// A transaction was refused at admission; the message is geth's.
    #[error(transparent)]
    Rejected(#[from] TxRejection),
    /// The policy hook refused to expose a confidential contract's state.
    #[error("confidential contract {address}: {method} is not available")]
    Confidential {
        /// The contract (EIP-55 in the message).
        address: alloy_primitives::Address,
        /// The JSON-RPC method (or REST route) refused.
        method: String,
    },
    /// State of a block older than the retained history was asked for.
    #[error(
        "historical state not available: block {number} is older than the oldest retained state (block {oldest}); run with --archive to keep all history"
    )]
    StatePruned {
        /// The block asked for.
        number: u64,
        /// The oldest block with state.
        oldest: u64,
    },
    /// `evm_snapshot` with [`MAX_SAVEPOINTS`](crate::savepoints::MAX_SAVEPOINTS) snapshots
    /// already held.
    #[error("too many snapshots held ({0}): revert to an earlier one to release the later ones")]
    TooManySavepoints(usize),
    /// A `dev` mining request could not be served.
    #[error("mining: {0}")]
    Mining(String),
    /// The node is shutting down or the pipeline stopped.
    #[error("pipeline stopped: {0}")]
    Stopped(String),
    /// The block has no signed root stored (applied by a node without the network's keys).
    #[error("block {0} has no signed ledger root")]
    Unsigned(u64),
    /// A pair of ledger tree sizes that is inverted or beyond the tree.
    #[error("tree sizes from={from} to={to} are not 0 ≤ from ≤ to ≤ {size} (the current size)")]
    TreeRange {
        /// The first size asked for.
        from: u64,
        /// The second.
        to: u64,
        /// The tree's size now.
        size: u64,
    },
}
