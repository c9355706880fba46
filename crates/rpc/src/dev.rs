//! Signing with the dev accounts: `eth_accounts`, `eth_sendTransaction`, `personal_sign`,
//! `eth_sign`, `eth_signTypedData_v4`. Outside `dev` there are no dev accounts, so
//! `eth_accounts` is empty and every signing method answers "unknown account", as geth does
//! without a keystore.
//!
//! In `dev`, `eth_sendTransaction` also sends from an impersonated account
//! (`anvil_impersonateAccount`): the transaction carries a placeholder signature and the
//! sender is taken as given, as anvil does.

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy};
use alloy_dyn_abi::TypedData;
use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_rpc_types_eth::TransactionRequest;
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use txnchain_jsonrpc::RpcError;
use txnchain_primitives::RecoveredTx;

use crate::api::EthApi;
use crate::errors;

impl EthApi {
    fn signer(&self, address: Address) -> Result<&PrivateKeySigner, RpcError> {
        self.config
            .dev_signers
            .iter()
            .find(|s| s.address() == address)
            .ok_or_else(|| RpcError::server("unknown account"))
    }

    /// The dev accounts, then the impersonated ones (sorted), as anvil lists them: clients such
    /// as ethers' `getSigner(address)` look a sender up here before sending from it.
    pub(crate) fn accounts(&self) -> Vec<Address> {
        let mut accounts: Vec<Address> = self
            .config
            .dev_signers
            .iter()
            .map(alloy_signer_local::LocalSigner::address)
            .collect();
        let mut impersonated: Vec<Address> = self
            .impersonated
            .lock()
            .iter()
            .filter(|a| !accounts.contains(a))
            .copied()
            .collect();
        impersonated.sort_unstable();
        accounts.append(&mut impersonated);
        accounts
    }

    /// EIP-191 `personal_sign` / `eth_sign`.
    pub(crate) fn sign_message(&self, address: Address, data: &Bytes) -> Result<Bytes, RpcError> {
        let sig = self
            .signer(address)?
            .sign_message_sync(data)
            .map_err(|e| RpcError::internal(e.to_string()))?;
        Ok(sig.as_bytes().to_vec().into())
    }

    /// EIP-712 `eth_signTypedData_v4`.
    pub(crate) fn sign_typed_data(
        &self,
        address: Address,
        data: serde_json::Value,
    ) -> Result<Bytes, RpcError> {
        let data: TypedData = match data {
            serde_json::Value::String(s) => serde_json::from_str(&s),
            v => serde_json::from_value(v),
        }
        .map_err(|e| RpcError::invalid_params(format!("invalid typed data: {e}")))?;
        let hash = data
            .eip712_signing_hash()
            .map_err(|e| RpcError::invalid_params(format!("invalid typed data: {e}")))?;
        let sig = self
            .signer(address)?
            .sign_hash_sync(&hash)
            .map_err(|e| RpcError::internal(e.to_string()))?;
        Ok(sig.as_bytes().to_vec().into())
    }

    /// `eth_sendTransaction`: fills nonce, gas and fees like anvil, signs with the dev key,
    /// and submits.
    pub(crate) fn send_transaction(
        &self,
        req: TransactionRequest,
        limits: &txnchain_executor::call::Limits,
    ) -> Result<alloy_primitives::B256, RpcError> {
        let from = match req.from {
            Some(f) => f,
            None => self
                .config
                .dev_signers
                .first()
                .map(alloy_signer_local::LocalSigner::address)
                .ok_or_else(|| RpcError::server("unknown account"))?,
        };
        let signer = match self.signer(from) {
            Ok(signer) => Some(signer.clone()),
            Err(_) if self.impersonated.lock().contains(&from) => None,
            Err(e) => return Err(e),
        };
        // The signature of a transaction from an impersonated account: a placeholder, never
        // checked (the sender is known); r = s = 1, as anvil's.
        let placeholder = alloy_primitives::Signature::new(U256::from(1), U256::from(1), false);
        let snap = self.snapshot()?;
        let committed = snap
            .account(from)
            .map_err(errors::ledger)?
            .map_or(0, |a| a.nonce);
        let nonce = match req.nonce {
            Some(n) => n,
            None => self.ledger.pool().pending_nonce(from, committed),
        };
        let gas = match req.gas {
            Some(g) => g,
            None => self.estimate(
                &TransactionRequest {
                    from: Some(from),
                    nonce: Some(nonce),
                    ..req.clone()
                },
                None,
                None,
                limits,
            )?,
        };
        let chain_id = self.chain_id();
        let input = req.input.input().cloned().unwrap_or_default();
        let to = req.to.unwrap_or(TxKind::Create);
        let value = req.value.unwrap_or(U256::ZERO);
        let base_fee = u128::from(self.ledger.chain().base_fee);
        let envelope: TxEnvelope = if let Some(gas_price) = req.gas_price {
            let tx = TxLegacy {
                chain_id: Some(chain_id),
                nonce,
                gas_price,
                gas_limit: gas,
                to,
                value,
                input,
            };
            let sig = match &signer {
                Some(signer) => signer
                    .sign_hash_sync(&tx.signature_hash())
                    .map_err(|e| RpcError::internal(e.to_string()))?,
                None => placeholder,
            };
            tx.into_signed(sig).into()
        } else {
            let tip = req.max_priority_fee_per_gas.unwrap_or(0);
            let tx = TxEip1559 {
                chain_id,
                nonce,
                gas_limit: gas,
                max_fee_per_gas: req
                    .max_fee_per_gas
                    .unwrap_or(base_fee.saturating_mul(2).saturating_add(tip)),
                max_priority_fee_per_gas: tip,
                to,
                value,
                access_list: req.access_list.clone().unwrap_or_default(),
                input,
            };
            let sig = match &signer {
                Some(signer) => signer
                    .sign_hash_sync(&tx.signature_hash())
                    .map_err(|e| RpcError::internal(e.to_string()))?,
                None => placeholder,
            };
            tx.into_signed(sig).into()
        };
        let tx = match signer {
            Some(_) => RecoveredTx::from_envelope(envelope).map_err(errors::rejection)?,
            None => RecoveredTx::from_trusted(envelope, from),
        };
        self.ledger.submit(tx).map_err(errors::ledger)
    }
}
