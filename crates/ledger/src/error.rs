//! Ledger errors.

use txnchain_executor::ExecError;
use txnchain_primitives::TxRejection;
use txnchain_storage::StorageError;

/// An error on the write path.
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
    /// The node is shutting down or the pipeline stopped.
    #[error("pipeline stopped: {0}")]
    Stopped(String),
}
