//! The one RPC policy hook of confidential execution (`specs/confidential.md` §3).
//!
//! Every method the node serves is classified in [`METHODS`]: **harmless** (it reveals only
//! what is public by design: headers, balances, nonces, code, ciphertexts, public logs) or
//! **guarded** (it can reveal a contract's storage or execution, so it calls
//! [`EthApi::guard`] for every confidential contract it would expose, and is refused with
//! `-32000 confidential contract 0x…: <method> is not available`). A test checks that the
//! table and the served methods are the same set, so a new method cannot skip the
//! classification.

use alloy_primitives::Address;
use txnchain_jsonrpc::RpcError;
use txnchain_ledger::LedgerReader;

use crate::{EthApi, errors};

/// How a method relates to confidential state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// Reveals nothing a confidential contract keeps private.
    Harmless,
    /// Goes through [`EthApi::guard`].
    Guarded,
}

use Exposure::{Guarded, Harmless};

/// Every served method and its exposure.
pub const METHODS: &[(&str, Exposure)] = &[
    ("debug_traceCall", Guarded),
    ("debug_traceTransaction", Guarded),
    ("eth_accounts", Harmless),
    ("eth_blobBaseFee", Harmless),
    ("eth_blockNumber", Harmless),
    ("eth_call", Guarded),
    ("eth_chainId", Harmless),
    ("eth_coinbase", Harmless),
    ("eth_createAccessList", Guarded),
    ("eth_estimateGas", Guarded),
    ("eth_feeHistory", Harmless),
    ("eth_gasPrice", Harmless),
    ("eth_getBalance", Harmless),
    ("eth_getBlockByHash", Harmless),
    ("eth_getBlockByNumber", Harmless),
    // Receipts and logs hold public logs only: private logs never reach them.
    ("eth_getBlockReceipts", Harmless),
    ("eth_getBlockTransactionCountByHash", Harmless),
    ("eth_getBlockTransactionCountByNumber", Harmless),
    ("eth_getCode", Harmless),
    ("eth_getFilterChanges", Harmless),
    ("eth_getFilterLogs", Harmless),
    ("eth_getLogs", Harmless),
    ("eth_getProof", Guarded),
    // Transactions carry envelopes (ciphertext) as their input.
    ("eth_getRawTransactionByBlockHashAndIndex", Harmless),
    ("eth_getRawTransactionByBlockNumberAndIndex", Harmless),
    ("eth_getRawTransactionByHash", Harmless),
    ("eth_getStorageAt", Guarded),
    ("eth_getTransactionByBlockHashAndIndex", Harmless),
    ("eth_getTransactionByBlockNumberAndIndex", Harmless),
    ("eth_getTransactionByHash", Harmless),
    ("eth_getTransactionCount", Harmless),
    ("eth_getTransactionReceipt", Harmless),
    ("eth_getUncleCountByBlockHash", Harmless),
    ("eth_getUncleCountByBlockNumber", Harmless),
    ("eth_hashrate", Harmless),
    ("eth_maxPriorityFeePerGas", Harmless),
    ("eth_mining", Harmless),
    ("eth_newBlockFilter", Harmless),
    ("eth_newFilter", Harmless),
    ("eth_newPendingTransactionFilter", Harmless),
    ("eth_sendRawTransaction", Harmless),
    ("eth_sendRawTransactionSync", Harmless),
    ("eth_sendTransaction", Harmless),
    ("eth_sign", Harmless),
    ("eth_signTypedData_v4", Harmless),
    // Refused when a call, an override or any account a call loads is a confidential contract.
    ("eth_simulateV1", Guarded),
    ("eth_subscribe", Harmless),
    ("eth_syncing", Harmless),
    ("eth_uninstallFilter", Harmless),
    ("eth_unsubscribe", Harmless),
    ("net_listening", Harmless),
    ("net_peerCount", Harmless),
    ("net_version", Harmless),
    ("personal_sign", Harmless),
    ("txnchain_getEncryptionKey", Harmless),
    // Sealed results: ciphertext for the sender.
    ("txnchain_getTransactionResult", Harmless),
    ("txpool_content", Harmless),
    ("txpool_status", Harmless),
    ("web3_clientVersion", Harmless),
    ("web3_sha3", Harmless),
];

/// The `dev` node's test-suite methods ([`crate::dev_module`]), classified the same way. None of
/// them reads state; the two that write a contract's code or storage are refused for a
/// confidential contract, so new code cannot be put in to read its state out.
pub const DEV_METHODS: &[(&str, Exposure)] = &[
    ("anvil_getAutomine", Harmless),
    ("anvil_impersonateAccount", Harmless),
    ("anvil_increaseTime", Harmless),
    ("anvil_mine", Harmless),
    ("anvil_setBalance", Harmless),
    ("anvil_setCode", Guarded),
    ("anvil_setNextBlockTimestamp", Harmless),
    ("anvil_setNonce", Harmless),
    ("anvil_setStorageAt", Guarded),
    ("anvil_stopImpersonatingAccount", Harmless),
    ("evm_increaseTime", Harmless),
    ("evm_mine", Harmless),
    ("evm_revert", Harmless),
    ("evm_setAutomine", Harmless),
    ("evm_setNextBlockTimestamp", Harmless),
    ("evm_snapshot", Harmless),
    ("hardhat_getAutomine", Harmless),
    ("hardhat_impersonateAccount", Harmless),
    ("hardhat_mine", Harmless),
    ("hardhat_setBalance", Harmless),
    ("hardhat_setCode", Guarded),
    ("hardhat_setNonce", Harmless),
    ("hardhat_setStorageAt", Guarded),
    ("hardhat_stopImpersonatingAccount", Harmless),
];

/// The spec's refusal, `<method>` being the JSON-RPC method name exactly (worded once, by
/// [`txnchain_ledger::LedgerError::Confidential`]).
pub(crate) fn refused(address: Address, method: &str) -> RpcError {
    errors::ledger(txnchain_ledger::LedgerError::Confidential {
        address,
        method: method.to_string(),
    })
}

impl EthApi {
    /// Whether `address` is a confidential contract (the read side's answer).
    pub(crate) fn is_confidential(
        &self,
        snap: &LedgerReader,
        address: Address,
    ) -> Result<bool, RpcError> {
        snap.is_confidential(address).map_err(errors::ledger)
    }

    /// The policy hook of the read side ([`LedgerReader::guard`]), as a JSON-RPC error.
    pub(crate) fn guard(
        &self,
        snap: &LedgerReader,
        address: Address,
        method: &str,
    ) -> Result<(), RpcError> {
        snap.guard(address, method).map_err(errors::ledger)
    }

    /// [`EthApi::guard`] for each of `addresses`.
    pub(crate) fn guard_all(
        &self,
        snap: &LedgerReader,
        addresses: impl IntoIterator<Item = Address>,
        method: &str,
    ) -> Result<(), RpcError> {
        snap.guard_all(addresses, method).map_err(errors::ledger)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_method_is_classified_and_nothing_else() {
        let module = crate::module().unwrap();
        let served: std::collections::BTreeSet<&str> = module.method_names().into_iter().collect();
        let table: std::collections::BTreeSet<&str> = METHODS.iter().map(|(m, _)| *m).collect();
        let unclassified: Vec<_> = served.difference(&table).collect();
        assert!(
            unclassified.is_empty(),
            "classify these in rpc::policy::METHODS: {unclassified:?}"
        );
        let stale: Vec<_> = table.difference(&served).collect();
        assert!(stale.is_empty(), "no longer served: {stale:?}");
        assert_eq!(METHODS.len(), table.len(), "a method listed twice");
    }

    #[test]
    fn every_dev_method_is_classified_and_nothing_else() {
        let module = crate::dev_module().unwrap();
        let served: std::collections::BTreeSet<&str> = module.method_names().into_iter().collect();
        let table: std::collections::BTreeSet<&str> = DEV_METHODS.iter().map(|(m, _)| *m).collect();
        assert_eq!(
            served, table,
            "rpc::policy::DEV_METHODS and dev_module() differ"
        );
        assert_eq!(DEV_METHODS.len(), table.len(), "a method listed twice");
    }
}
