//! Execution errors.

use txnchain_storage::StorageError;

/// An error while executing transactions or calls.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// Reading state failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A transaction failed validation inside the EVM (nonce, funds, gas…); geth's message.
    #[error("{0}")]
    InvalidTransaction(String),
    /// The block environment was rejected.
    #[error("invalid block: {0}")]
    InvalidBlock(String),
    /// A replayed block did not reproduce the expected result.
    #[error("block {number} diverged: {what} (expected {expected}, computed {computed})")]
    Divergence {
        /// Block number.
        number: u64,
        /// Which commitment differed.
        what: &'static str,
        /// The value in the block.
        expected: String,
        /// The value this node computed.
        computed: String,
    },
    /// Internal EVM error.
    #[error("evm: {0}")]
    Evm(String),
}

impl revm::database_interface::DBErrorMarker for ExecError {}
