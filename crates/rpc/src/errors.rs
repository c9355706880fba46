//! Mapping internal errors to geth's JSON-RPC errors.

use alloy_primitives::Bytes;
use txnchain_executor::ExecError;
use txnchain_jsonrpc::RpcError;
use txnchain_ledger::LedgerError;
use txnchain_primitives::TxRejection;
use txnchain_storage::StorageError;

/// geth's `execution reverted` error: code 3, the decoded reason after ": ", the revert data in
/// `data`.
pub(crate) fn reverted(output: &Bytes) -> RpcError {
    use alloy_sol_types::SolError;
    let reason = if let Ok(r) = alloy_sol_types::Revert::abi_decode(output) {
        Some(r.reason)
    } else if let Ok(p) = alloy_sol_types::Panic::abi_decode(output) {
        // geth renders panics as e.g. "assert(false)"; alloy names the panic kind.
        Some(match p.kind() {
            Some(kind) => kind.to_string(),
            None => format!("panic code {:#x}", p.code),
        })
    } else {
        None
    };
    let message = match reason {
        Some(reason) if !reason.is_empty() => format!("execution reverted: {reason}"),
        _ => "execution reverted".to_string(),
    };
    RpcError::custom(
        3,
        message,
        Some(serde_json::Value::String(output.to_string())),
    )
}

pub(crate) fn storage(e: StorageError) -> RpcError {
    match e {
        StorageError::Pruned { .. } | StorageError::HistoryTooLarge { .. } => {
            RpcError::server(e.to_string())
        }
        other => {
            tracing::error!(error = %other, "storage error");
            RpcError::internal(other.to_string())
        }
    }
}

/// The one mapping of a refused transaction to JSON-RPC: geth answers every kind with
/// `-32000` and its message (decoding, admission, pool, EVM validation alike).
pub(crate) fn rejection(r: TxRejection) -> RpcError {
    RpcError::server(r.to_string())
}

pub(crate) fn exec(e: ExecError) -> RpcError {
    match e {
        ExecError::Storage(s) => storage(s),
        ExecError::RequestDeadline => RpcError::timeout(),
        ExecError::InvalidTransaction(r) => rejection(r),
        other => RpcError::server(other.to_string()),
    }
}

pub(crate) fn ledger(e: LedgerError) -> RpcError {
    match e {
        LedgerError::Rejected(r) => rejection(r),
        LedgerError::Storage(s) => storage(s),
        LedgerError::Exec(x) => exec(x),
        e @ (LedgerError::Confidential { .. }
        | LedgerError::StatePruned { .. }
        | LedgerError::TooManySavepoints(_)) => RpcError::server(e.to_string()),
        other => RpcError::internal(other.to_string()),
    }
}
