//! The TxnChain API methods of confidential execution (`specs/confidential.md`): the signed
//! epoch encryption key. Served as JSON-RPC (`txnchain_getEncryptionKey`) and as REST by the
//! node (`GET /v1/encryption-key`), from the same function.

use alloy_primitives::{B256, U64};
use serde_json::{Value, json};
use txnchain_crypto::envelope::check_epoch;
use txnchain_jsonrpc::RpcError;

use crate::EthApi;
use crate::errors;

impl EthApi {
    /// The key epoch a transaction sent now would be judged in: the epoch of the next block
    /// (its timestamp is max(parent timestamp, wall clock)).
    pub fn current_epoch(&self) -> Result<u64, RpcError> {
        let snap = self.snapshot()?;
        let ctx = txnchain_ledger::builder::next_block_context(self.ledger.chain(), &snap)
            .map_err(errors::ledger)?;
        Ok(self.ledger.chain().epoch_at(ctx.timestamp))
    }

    /// `{transactionHash, blockNumber, result}` of a committed enveloped transaction, `None`
    /// before it is committed (or when it carried no envelope).
    pub fn transaction_result(&self, hash: B256) -> Result<Option<Value>, RpcError> {
        let snap = self.snapshot()?;
        let Some((loc, _)) = snap.transaction(hash).map_err(errors::storage)? else {
            return Ok(None);
        };
        let Some(sealed) = snap.sealed_result(hash).map_err(errors::storage)? else {
            return Ok(None);
        };
        Ok(Some(json!({
            "transactionHash": hash,
            "blockNumber": U64::from(loc.block),
            "result": sealed,
        })))
    }

    /// `{chainId, epoch, publicKey, serviceIdentity, signature}` of `epoch` (default: the
    /// current one). An epoch outside `current − 2 ..= current` is `-32602 epoch N is not
    /// accepted (current epoch C, oldest accepted C-2)`.
    pub fn encryption_key(&self, epoch: Option<u64>) -> Result<Value, RpcError> {
        let keys = self.ledger.network_keys().ok_or_else(|| {
            RpcError::server("confidential execution is not enabled on this node")
        })?;
        let current = self.current_epoch()?;
        let epoch = epoch.unwrap_or(current);
        check_epoch(epoch, current).map_err(|e| RpcError::invalid_params(e.to_string()))?;
        let k = keys.encryption_key(epoch);
        Ok(json!({
            "chainId": U64::from(k.chain_id),
            "epoch": U64::from(k.epoch),
            "publicKey": format!("0x{}", hex::encode(k.public_key)),
            "serviceIdentity": format!("0x{}", hex::encode(k.service_identity)),
            "signature": format!("0x{}", hex::encode(k.signature)),
        }))
    }
}
