//! State reads and calls: balances, nonces, code, storage, proofs, `eth_call`,
//! `eth_estimateGas`, `eth_createAccessList`, `eth_feeHistory`.

use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, Bytes, KECCAK256_EMPTY, U256};
use alloy_rpc_types_eth::state::StateOverride;
use alloy_rpc_types_eth::{
    AccessListResult, EIP1186AccountProofResponse, EIP1186StorageProof, FeeHistory,
    TransactionRequest,
};
use revm::context::result::ExecutionResult;
use txnchain_executor::call::{
    EstimateError, Limits, call, create_access_list, estimate_gas, halt_message,
};
use txnchain_executor::{BlockContext, Overlay, SnapshotState};
use txnchain_jsonrpc::RpcError;

use crate::api::{EthApi, apply_overrides, call_input};
use crate::errors;

/// The most state keys written since a past block that `eth_getProof` rebuilds that block's
/// tries from (one rebuild costs about one block apply of that many keys).
const MAX_PROOF_HISTORY_KEYS: usize = 200_000;

fn is_pending(id: &Option<BlockId>) -> bool {
    matches!(id, Some(BlockId::Number(BlockNumberOrTag::Pending)))
}

impl EthApi {
    pub(crate) fn balance(
        &self,
        address: Address,
        block: Option<BlockId>,
    ) -> Result<U256, RpcError> {
        let snap = self.snapshot()?;
        let n = self.resolve(&snap, block)?;
        Ok(snap
            .account_at(address, n)
            .map_err(errors::ledger)?
            .map(|a| a.balance)
            .unwrap_or_default())
    }

    /// `eth_getTransactionCount`; `pending` adds the pool's contiguous nonces.
    pub(crate) fn nonce(&self, address: Address, block: Option<BlockId>) -> Result<u64, RpcError> {
        let snap = self.snapshot()?;
        let n = self.resolve(&snap, block)?;
        let committed = snap
            .account_at(address, n)
            .map_err(errors::ledger)?
            .map_or(0, |a| a.nonce);
        Ok(if is_pending(&block) {
            self.ledger.pool().pending_nonce(address, committed)
        } else {
            committed
        })
    }

    pub(crate) fn code(&self, address: Address, block: Option<BlockId>) -> Result<Bytes, RpcError> {
        let snap = self.snapshot()?;
        let n = self.resolve(&snap, block)?;
        match snap.account_at(address, n).map_err(errors::ledger)? {
            Some(a) if a.code_hash != KECCAK256_EMPTY => Ok(snap
                .code(a.code_hash)
                .map_err(errors::ledger)?
                .unwrap_or_default()),
            _ => Ok(Bytes::new()),
        }
    }

    pub(crate) fn storage_at(
        &self,
        address: Address,
        slot: U256,
        block: Option<BlockId>,
    ) -> Result<B256, RpcError> {
        let snap = self.snapshot()?;
        let n = self.resolve(&snap, block)?;
        Ok(B256::from(
            snap.storage_at(address, slot, n, "eth_getStorageAt")
                .map_err(errors::ledger)?,
        ))
    }

    /// Runs `f` with what a call at `block` sees: the block's context, its state with the
    /// overrides applied, and the per-call gas cap. The policy hook refuses overrides of a
    /// confidential contract, calls with overrides whose execution reaches one, and calls to
    /// one at a past block (`method` names the refusal).
    pub(crate) fn with_call_state<T>(
        &self,
        method: &'static str,
        to: Option<Address>,
        block: Option<BlockId>,
        overrides: Option<StateOverride>,
        f: impl FnOnce(
            &txnchain_ledger::LedgerReader,
            &BlockContext,
            &Overlay<SnapshotState<'_>>,
            u64,
        ) -> Result<T, RpcError>,
    ) -> Result<T, RpcError> {
        let snap = self.snapshot()?;
        let n = self.resolve(&snap, block)?;
        if let Some(o) = &overrides {
            self.guard_all(&snap, o.keys().copied(), method)?;
        }
        if let Some(to) = to
            && n < self.latest(&snap)?
        {
            self.guard(&snap, to, method)?;
        }
        let header = self.header(&snap, n)?;
        let ctx = self.call_context(&header);
        let mut overlay = Overlay::new(self.execution_state(&snap, n)?);
        if overrides.is_some() {
            // Overridden code could call a confidential contract as the address it sits at.
            overlay.refuse_confidential(method);
        }
        apply_overrides(&mut overlay, overrides)?;
        f(&snap, &ctx, &overlay, self.gas_cap(n))
    }

    /// `eth_call`: reverts are code 3 with the revert data; halts are -32000. An enveloped
    /// call answers its sealed result, whatever the outcome.
    pub(crate) fn call(
        &self,
        req: TransactionRequest,
        block: Option<BlockId>,
        overrides: Option<StateOverride>,
        limits: &Limits,
    ) -> Result<Bytes, RpcError> {
        let to = req.to.and_then(|k| k.to().copied());
        let outcome = self.with_call_state(
            "eth_call",
            to,
            block,
            overrides,
            |snap, ctx, overlay, cap| {
                let mut input = call_input(&req, cap)?;
                let seal = self.prepare_call(snap, &req, &mut input)?;
                let res = call(self.ledger.chain(), ctx, overlay, &input, limits)
                    .map_err(errors::exec)?;
                match seal {
                    Some(seal) => Ok(Err(self.seal_call(snap, &seal, &res)?)),
                    None => Ok(Ok((res.result, input.gas))),
                }
            },
        )?;
        match outcome {
            Err(sealed) => Ok(sealed),
            Ok((result, gas)) => Self::call_outcome(result, gas),
        }
    }

    fn call_outcome(result: ExecutionResult, gas: u64) -> Result<Bytes, RpcError> {
        match result {
            ExecutionResult::Success { output, .. } => Ok(output.into_data()),
            ExecutionResult::Revert { output, .. } => Err(errors::reverted(&output)),
            ExecutionResult::Halt { reason, .. } => {
                Err(RpcError::server(halt_message(&reason, gas)))
            }
        }
    }

    /// `eth_estimateGas`.
    pub(crate) fn estimate(
        &self,
        req: &TransactionRequest,
        block: Option<BlockId>,
        overrides: Option<StateOverride>,
        limits: &Limits,
    ) -> Result<u64, RpcError> {
        let to = req.to.and_then(|k| k.to().copied());
        self.with_call_state(
            "eth_estimateGas",
            to,
            block,
            overrides,
            |snap, ctx, overlay, cap| {
                let mut input = call_input(req, cap)?;
                let seal = self.prepare_call(snap, req, &mut input)?;
                let cap = req.gas.map_or(cap, |g| g.min(cap));
                let estimated =
                    estimate_gas(self.ledger.chain(), ctx, overlay, &input, cap, limits);
                match (estimated, seal) {
                    (Ok(gas), _) => Ok(gas),
                    // An enveloped call that fails: code 3 with the sealed result as data.
                    (Err(EstimateError::Reverted(_) | EstimateError::Halted(_)), Some(seal)) => {
                        let res = call(self.ledger.chain(), ctx, overlay, &input, limits)
                            .map_err(errors::exec)?;
                        let sealed = self.seal_call(snap, &seal, &res)?;
                        Err(RpcError::custom(
                            3,
                            "execution reverted",
                            Some(serde_json::Value::String(sealed.to_string())),
                        ))
                    }
                    (Err(e), _) => Err(match e {
                        EstimateError::Reverted(out) => errors::reverted(&out),
                        EstimateError::GasRequiredExceedsAllowance(cap) => {
                            RpcError::server(format!("gas required exceeds allowance ({cap})"))
                        }
                        EstimateError::Halted(r) => RpcError::server(halt_message(&r, cap)),
                        EstimateError::Exec(e) => errors::exec(e),
                    }),
                }
            },
        )
    }

    /// `eth_createAccessList`.
    pub(crate) fn access_list(
        &self,
        req: TransactionRequest,
        block: Option<BlockId>,
        limits: &Limits,
    ) -> Result<AccessListResult, RpcError> {
        let to = req.to.and_then(|k| k.to().copied());
        let (list, gas, failed, allowed) = self.with_call_state(
            "eth_createAccessList",
            to,
            block,
            None,
            |snap, ctx, overlay, cap| {
                let mut input = call_input(&req, cap)?;
                if self.prepare_call(snap, &req, &mut input)?.is_some() {
                    return Err(crate::policy::refused(
                        to.unwrap_or_default(),
                        "eth_createAccessList",
                    ));
                }
                let (list, gas, failed) =
                    create_access_list(self.ledger.chain(), ctx, overlay, &input, limits)
                        .map_err(errors::exec)?;
                // The list names every account the call touched: refuse if any is confidential.
                self.guard_all(
                    snap,
                    to.into_iter().chain(list.0.iter().map(|i| i.address)),
                    "eth_createAccessList",
                )?;
                Ok((list, gas, failed, input.gas))
            },
        )?;
        let error = failed.map(|r| match r {
            ExecutionResult::Revert { output, .. } => errors::reverted(&output).message,
            ExecutionResult::Halt { reason, .. } => halt_message(&reason, allowed),
            ExecutionResult::Success { .. } => String::new(),
        });
        Ok(AccessListResult {
            access_list: list,
            gas_used: U256::from(gas),
            error,
        })
    }

    /// `eth_getProof` at any block of the retained history: the latest tries, or a past
    /// block's tries rebuilt in memory from history (`txnchain_storage::PastTries`).
    pub(crate) fn proof(
        &self,
        address: Address,
        keys: Vec<U256>,
        block: Option<BlockId>,
    ) -> Result<EIP1186AccountProofResponse, RpcError> {
        let snap = self.snapshot()?;
        let n = self.resolve(&snap, block)?;
        let past = if n == self.latest(&snap)? {
            None
        } else {
            match snap
                .past_tries(n, MAX_PROOF_HISTORY_KEYS)
                .map_err(errors::ledger)?
            {
                Some(t) => Some(t),
                None => {
                    return Err(RpcError::server(format!(
                        "eth_getProof at block {n} is not available: this data directory kept no list of the keys written after it"
                    )));
                }
            }
        };
        let (account, account_proof) = match &past {
            None => snap.account_proof(address),
            Some(t) => snap.account_proof_in(t, address),
        }
        .map_err(errors::ledger)?;
        let mut storage_proof = Vec::with_capacity(keys.len());
        for key in keys {
            let (value, proof) = match &past {
                None => snap.storage_proof(address, key, "eth_getProof"),
                Some(t) => snap.storage_proof_in(t, address, key, "eth_getProof"),
            }
            .map_err(errors::ledger)?;
            storage_proof.push(EIP1186StorageProof {
                key: B256::from(key).into(),
                value,
                proof,
            });
        }
        Ok(EIP1186AccountProofResponse {
            address,
            balance: account.map(|a| a.balance).unwrap_or_default(),
            code_hash: account.map_or(KECCAK256_EMPTY, |a| a.code_hash),
            nonce: account.map(|a| a.nonce).unwrap_or_default(),
            storage_hash: account.map_or(alloy_consensus::constants::EMPTY_ROOT_HASH, |a| {
                a.storage_root
            }),
            account_proof,
            storage_proof,
        })
    }

    /// `eth_feeHistory`: the base fee is fixed; rewards are the tips paid, at the requested
    /// percentiles weighted by gas used (geth's method).
    pub(crate) fn fee_history(
        &self,
        count: u64,
        newest: BlockNumberOrTag,
        percentiles: Option<Vec<f64>>,
    ) -> Result<FeeHistory, RpcError> {
        if let Some(p) = &percentiles
            && (p.iter().any(|x| !(0.0..=100.0).contains(x)) || p.windows(2).any(|w| w[0] > w[1]))
        {
            return Err(RpcError::invalid_params("invalid reward percentile"));
        }
        let snap = self.snapshot()?;
        let newest = self.resolve(&snap, Some(BlockId::Number(newest)))?;
        let count = count.clamp(0, 1024).min(newest + 1);
        let oldest = newest + 1 - count;
        let mut base_fee_per_gas = Vec::new();
        let mut gas_used_ratio = Vec::new();
        let mut reward = percentiles.as_ref().map(|_| Vec::new());
        for n in oldest..=newest {
            let h = self.header(&snap, n)?;
            base_fee_per_gas.push(u128::from(h.header.base_fee_per_gas.unwrap_or_default()));
            gas_used_ratio.push(h.header.gas_used as f64 / h.header.gas_limit.max(1) as f64);
            if let (Some(ps), Some(out)) = (&percentiles, reward.as_mut()) {
                let base = u128::from(h.header.base_fee_per_gas.unwrap_or_default());
                let receipts = snap
                    .block_receipts(n)
                    .map_err(errors::ledger)?
                    .unwrap_or_default();
                let mut tips: Vec<(u128, u64)> = receipts
                    .iter()
                    .map(|r| (r.effective_gas_price.saturating_sub(base), r.gas_used))
                    .collect();
                tips.sort();
                let total: u64 = tips.iter().map(|t| t.1).sum();
                let row = ps
                    .iter()
                    .map(|p| {
                        if tips.is_empty() {
                            return 0;
                        }
                        // geth's rounding: `p` is within 0..=100 and the float-to-integer
                        // cast saturates.
                        #[expect(
                            clippy::cast_possible_truncation,
                            clippy::cast_sign_loss,
                            reason = "geth computes the threshold the same way"
                        )]
                        let threshold = (total as f64 * p / 100.0) as u64;
                        let mut acc = 0u64;
                        for (tip, gas) in &tips {
                            acc += gas;
                            if acc >= threshold {
                                return *tip;
                            }
                        }
                        tips.last().map_or(0, |t| t.0)
                    })
                    .collect();
                out.push(row);
            }
        }
        if count > 0 {
            base_fee_per_gas.push(u128::from(self.ledger.chain().base_fee));
        }
        Ok(FeeHistory {
            base_fee_per_gas,
            gas_used_ratio,
            base_fee_per_blob_gas: vec![0; count as usize + usize::from(count > 0)],
            blob_gas_used_ratio: vec![0.0; count as usize],
            oldest_block: oldest,
            reward,
        })
    }
}
