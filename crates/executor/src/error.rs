//! Execution errors.

use alloy_primitives::{Address, B256};
use txnchain_primitives::TxRejection;
use txnchain_storage::StorageError;

/// An error while executing transactions or calls.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// Reading state failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A call that carries state overrides reached a confidential contract (see
    /// [`crate::Overlay::refuse_confidential`]); nothing of its execution is answered.
    #[error("confidential contract {address}: {method} is not available")]
    ConfidentialReached {
        /// The confidential contract.
        address: Address,
        /// The JSON-RPC method refused.
        method: &'static str,
    },
    /// A call or transaction failed validation inside the EVM (nonce, funds, gas…).
    #[error(transparent)]
    InvalidTransaction(TxRejection),
    /// A transaction of a block being replayed failed validation (the block is invalid).
    #[error("{hash}: {rejection}")]
    InvalidInBlock {
        /// The transaction.
        hash: B256,
        /// Why the EVM refused it.
        rejection: TxRejection,
    },
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
    /// A call ran past its deadline (geth's message for `--rpc.evmtimeout`).
    #[error("execution aborted (timeout = {})", go_duration(*timeout))]
    Timeout {
        /// The timeout that applied.
        timeout: std::time::Duration,
    },
    /// A call ran past its request's own deadline (its batch's budget, or the request
    /// timeout), which came before the EVM timeout.
    #[error("request timed out")]
    RequestDeadline,
    /// A trace grew past its size budget.
    #[error(
        "trace too large: more than {limit} bytes; set a smaller \"limit\", or disable stack and memory capture"
    )]
    TraceTooLarge {
        /// The budget in bytes.
        limit: usize,
    },
    /// Internal EVM error.
    #[error("evm: {0}")]
    Evm(String),
}

impl revm::database_interface::DBErrorMarker for ExecError {}

/// A duration as Go prints it for whole seconds and milliseconds (`5s`, `1.5s`, `250ms`).
fn go_duration(d: std::time::Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{}s", d.as_secs())
    } else if d.as_secs() > 0 {
        format!("{}s", d.as_secs_f64())
    } else {
        format!("{}ms", d.as_millis())
    }
}
