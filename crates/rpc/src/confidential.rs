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
        self.epoch_after(&self.snapshot()?)
    }

    /// The epoch of the block that would follow `snap`.
    fn epoch_after(&self, snap: &txnchain_ledger::LedgerReader) -> Result<u64, RpcError> {
        let ctx = snap
            .next_block_context(self.ledger.chain())
            .map_err(errors::ledger)?;
        Ok(self.ledger.chain().epoch_at(ctx.timestamp))
    }

    /// `{transactionHash, blockNumber, result}` of a committed enveloped transaction, `None`
    /// before it is committed (or when it carried no envelope).
    pub fn transaction_result(&self, hash: B256) -> Result<Option<Value>, RpcError> {
        let snap = self.snapshot()?;
        let Some((loc, _)) = snap.transaction(hash).map_err(errors::ledger)? else {
            return Ok(None);
        };
        let Some(sealed) = snap.sealed_result(hash).map_err(errors::ledger)? else {
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

/// What an enveloped call needs after execution: the key its result is sealed with.
pub(crate) struct CallSeal {
    pub(crate) key: txnchain_crypto::result::ResultKey,
}

fn invalid_envelope(e: impl std::fmt::Display) -> RpcError {
    RpcError::server(format!("invalid confidential envelope: {e}"))
}

fn invalid_query(e: impl std::fmt::Display) -> RpcError {
    RpcError::server(format!("invalid signed query: {e}"))
}

/// Why an envelope of a call was refused: not enabled here (a plain server error), or the
/// envelope itself (its reason, worded by the caller for a plain or signed call).
enum OpenError {
    Rpc(RpcError),
    Envelope(txnchain_crypto::EnvelopeError),
}

impl EthApi {
    /// Prepares a call for confidential execution, before it runs:
    /// - an envelope in `data` (call form `"call" ‖ from ‖ to`, else tx form with the
    ///   call's `nonce` or the sender's pending nonce) is opened and its plaintext set for
    ///   the top frame; its header and epoch are judged against the next block;
    /// - a signed query (§5) is checked — block window and hash against this node's chain,
    ///   its envelope opened, the EIP-712 signature over the plaintext recovered to `from` —
    ///   and runs with the real `from`;
    /// - any other call to a confidential contract runs with `from` = zero.
    pub(crate) fn prepare_call(
        &self,
        snap: &txnchain_ledger::LedgerReader,
        req: &alloy_rpc_types_eth::TransactionRequest,
        input: &mut txnchain_executor::env::CallInput,
    ) -> Result<Option<CallSeal>, RpcError> {
        use txnchain_crypto::envelope::{Payload, classify};
        use txnchain_crypto::signed_query::{
            QueriedCall, SignedQueryEnvelope, SignedQueryError, signing_hash, verify_signer,
        };
        let (seal, signed) = match classify(&input.data) {
            Payload::Plain => (None, false),
            Payload::Envelope => {
                let opened = match self.open_call_envelope(snap, &input.data, req.from, input) {
                    Ok(o) => o,
                    Err(OpenError::Rpc(e)) => return Err(e),
                    Err(OpenError::Envelope(e)) => return Err(invalid_envelope(e)),
                };
                input.plaintext = Some(alloy_primitives::Bytes::copy_from_slice(&opened.plaintext));
                (
                    Some(CallSeal {
                        key: opened.result_key,
                    }),
                    false,
                )
            }
            Payload::SignedQuery => {
                let query = SignedQueryEnvelope::parse(&input.data).map_err(invalid_query)?;
                let from = req
                    .from
                    .ok_or_else(|| invalid_query(SignedQueryError::NoFrom))?;
                query
                    .check_window(self.latest(snap)?)
                    .map_err(invalid_query)?;
                if self.header(snap, query.block_number)?.hash != query.block_hash {
                    return Err(invalid_query(SignedQueryError::WrongBlockHash {
                        hash: query.block_hash,
                        number: query.block_number,
                    }));
                }
                let opened = match self.open_call_envelope(snap, &query.envelope, Some(from), input)
                {
                    Ok(o) => o,
                    Err(OpenError::Rpc(e)) => return Err(e),
                    Err(OpenError::Envelope(e)) => return Err(invalid_query(e)),
                };
                let call = QueriedCall {
                    from,
                    to: input.to.unwrap_or_default(),
                    value: input.value,
                    gas: req.gas.unwrap_or(0),
                    data: &opened.plaintext,
                };
                let hash = signing_hash(
                    self.ledger.chain().chain_id,
                    &call,
                    query.block_number,
                    query.block_hash,
                    query.block_range,
                );
                verify_signer(hash, &query.signature, from).map_err(invalid_query)?;
                input.plaintext = Some(alloy_primitives::Bytes::copy_from_slice(&opened.plaintext));
                (
                    Some(CallSeal {
                        key: opened.result_key,
                    }),
                    true,
                )
            }
        };
        if !signed {
            input.from = snap
                .unsigned_sender(input.to, input.from)
                .map_err(errors::ledger)?;
        }
        Ok(seal)
    }

    /// Opens the envelope of a call: the call form bound to `from` and `to` first, else the
    /// tx form with the call's `nonce` or the sender's pending nonce.
    fn open_call_envelope(
        &self,
        snap: &txnchain_ledger::LedgerReader,
        data: &[u8],
        from: Option<alloy_primitives::Address>,
        input: &txnchain_executor::env::CallInput,
    ) -> Result<txnchain_crypto::envelope::Opened, OpenError> {
        use txnchain_crypto::envelope::{Binding, Envelope};
        let env = Envelope::parse(data).map_err(OpenError::Envelope)?;
        env.check_epoch(self.epoch_after(snap).map_err(OpenError::Rpc)?)
            .map_err(OpenError::Envelope)?;
        let keys = self.ledger.network_keys().ok_or_else(|| {
            OpenError::Rpc(RpcError::server(
                "confidential execution is not enabled on this node",
            ))
        })?;
        let pair = keys.epoch_key(env.epoch);
        let chain = keys.chain_id();
        if let Some(to) = input.to
            && let Ok(o) = env.open(&pair, chain, &Binding::Call { from, to })
        {
            return Ok(o);
        }
        let Some(sender) = from else {
            return Err(OpenError::Envelope(
                txnchain_crypto::EnvelopeError::DoesNotOpen,
            ));
        };
        let nonce = match input.nonce {
            Some(n) => n,
            None => self
                .nonce(
                    sender,
                    Some(alloy_eips::BlockId::Number(
                        alloy_eips::BlockNumberOrTag::Pending,
                    )),
                )
                .map_err(OpenError::Rpc)?,
        };
        let binding = Binding::Tx {
            sender,
            to: input.to,
            nonce,
        };
        env.open(&pair, chain, &binding)
            .map_err(OpenError::Envelope)
    }

    /// The sealed result of an enveloped call: status, output, and the private logs (those
    /// of contracts confidential in `snap` or flagged by the call itself).
    pub(crate) fn seal_call(
        &self,
        snap: &txnchain_ledger::LedgerReader,
        seal: &CallSeal,
        result: &revm::context::result::ResultAndState,
    ) -> Result<alloy_primitives::Bytes, RpcError> {
        use txnchain_executor::confidential::{REGISTRY, registry_slot, split_logs};
        let flagged_now = |a: alloy_primitives::Address| {
            result.state.get(&REGISTRY).is_some_and(|acc| {
                acc.storage
                    .get(&registry_slot(a))
                    .is_some_and(|s| !s.present_value.is_zero())
            })
        };
        let mut lookup_error = None;
        let (_, private) = split_logs(result.result.logs().to_vec(), |a| {
            flagged_now(a)
                || self.is_confidential(snap, a).unwrap_or_else(|e| {
                    lookup_error = Some(e);
                    true
                })
        });
        if let Some(e) = lookup_error {
            return Err(e);
        }
        let output = result.result.output().cloned().unwrap_or_default();
        Ok(txnchain_executor::confidential::seal(
            &seal.key,
            result.result.is_success(),
            output,
            private,
        ))
    }
}
