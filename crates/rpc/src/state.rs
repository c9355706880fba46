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
use txnchain_executor::state::StateSource;
use txnchain_executor::{BlockContext, Overlay, SnapshotState};
use txnchain_jsonrpc::RpcError;

use crate::api::{EthApi, apply_overrides, call_input};
use crate::errors;

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
        let state = self.state_at(&snap, n)?;
        Ok(state
            .account(address)
            .map_err(errors::exec)?
            .map(|a| a.balance)
            .unwrap_or_default())
    }

    /// `eth_getTransactionCount`; `pending` adds the pool's contiguous nonces.
    pub(crate) fn nonce(&self, address: Address, block: Option<BlockId>) -> Result<u64, RpcError> {
        let snap = self.snapshot()?;
        let n = self.resolve(&snap, block)?;
        let state = self.state_at(&snap, n)?;
        let committed = state
            .account(address)
            .map_err(errors::exec)?
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
        let state = self.state_at(&snap, n)?;
        match state.account(address).map_err(errors::exec)? {
            Some(a) if a.code_hash != KECCAK256_EMPTY => Ok(state
                .code(a.code_hash)
                .map_err(errors::exec)?
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
        let state = self.state_at(&snap, n)?;
        Ok(B256::from(
            state.storage(address, slot).map_err(errors::exec)?,
        ))
    }

    /// Runs `f` with what a call at `block` sees: the block's context, its state with the
    /// overrides applied, and the per-call gas cap.
    pub(crate) fn with_call_state<T>(
        &self,
        block: Option<BlockId>,
        overrides: Option<StateOverride>,
        f: impl FnOnce(&BlockContext, &Overlay<SnapshotState<'_>>, u64) -> Result<T, RpcError>,
    ) -> Result<T, RpcError> {
        let snap = self.snapshot()?;
        let n = self.resolve(&snap, block)?;
        let header = self.header(&snap, n)?;
        let ctx = self.call_context(&header);
        let mut overlay = Overlay::new(self.state_at(&snap, n)?);
        apply_overrides(&mut overlay, overrides)?;
        f(&ctx, &overlay, self.gas_cap(n))
    }

    /// `eth_call`: reverts are code 3 with the revert data; halts are -32000.
    pub(crate) fn call(
        &self,
        req: TransactionRequest,
        block: Option<BlockId>,
        overrides: Option<StateOverride>,
        limits: &Limits,
    ) -> Result<Bytes, RpcError> {
        self.with_call_state(block, overrides, |ctx, overlay, cap| {
            let input = call_input(&req, cap)?;
            let res =
                call(self.ledger.chain(), ctx, overlay, &input, limits).map_err(errors::exec)?;
            Ok((res.result, input.gas))
        })
        .and_then(|(result, gas)| match result {
            ExecutionResult::Success { output, .. } => Ok(output.into_data()),
            ExecutionResult::Revert { output, .. } => Err(errors::reverted(&output)),
            ExecutionResult::Halt { reason, .. } => {
                Err(RpcError::server(halt_message(&reason, gas)))
            }
        })
    }

    /// `eth_estimateGas`.
    pub(crate) fn estimate(
        &self,
        req: &TransactionRequest,
        block: Option<BlockId>,
        overrides: Option<StateOverride>,
        limits: &Limits,
    ) -> Result<u64, RpcError> {
        self.with_call_state(block, overrides, |ctx, overlay, cap| {
            let input = call_input(req, cap)?;
            let cap = req.gas.map_or(cap, |g| g.min(cap));
            estimate_gas(self.ledger.chain(), ctx, overlay, &input, cap, limits).map_err(
                |e| match e {
                    EstimateError::Reverted(out) => errors::reverted(&out),
                    EstimateError::GasRequiredExceedsAllowance(cap) => {
                        RpcError::server(format!("gas required exceeds allowance ({cap})"))
                    }
                    EstimateError::Halted(r) => RpcError::server(halt_message(&r, cap)),
                    EstimateError::Exec(e) => errors::exec(e),
                },
            )
        })
    }

    /// `eth_createAccessList`.
    pub(crate) fn access_list(
        &self,
        req: TransactionRequest,
        block: Option<BlockId>,
        limits: &Limits,
    ) -> Result<AccessListResult, RpcError> {
        let (list, gas, failed, allowed) =
            self.with_call_state(block, None, |ctx, overlay, cap| {
                let input = call_input(&req, cap)?;
                let (list, gas, failed) =
                    create_access_list(self.ledger.chain(), ctx, overlay, &input, limits)
                        .map_err(errors::exec)?;
                Ok((list, gas, failed, input.gas))
            })?;
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

    /// `eth_getProof`, against the latest state only (proof nodes are stored by path for the
    /// current state).
    pub(crate) fn proof(
        &self,
        address: Address,
        keys: Vec<U256>,
        block: Option<BlockId>,
    ) -> Result<EIP1186AccountProofResponse, RpcError> {
        let snap = self.snapshot()?;
        let n = self.resolve(&snap, block)?;
        if n != self.latest(&snap)? {
            return Err(RpcError::server(
                "eth_getProof is only available for the latest block",
            ));
        }
        let (account, account_proof) = snap.account_proof(address).map_err(errors::storage)?;
        let mut storage_proof = Vec::with_capacity(keys.len());
        for key in keys {
            let (value, proof) = snap.storage_proof(address, key).map_err(errors::storage)?;
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
                    .map_err(errors::storage)?
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
