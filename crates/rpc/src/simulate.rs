//! `eth_simulateV1` (ethereum/execution-apis): calls in a sequence of simulated blocks on top
//! of a committed block, each block with optional block and state overrides, each call seeing
//! what the previous ones wrote; nothing is committed.
//!
//! - Blocks get the defaults of the spec's notes: number and timestamp from the previous block
//!   (+1, +12 s), fee recipient and `prevRandao` zero, the base block's gas limit, base fee
//!   zero without validation (the chain's base fee with it). Skipped numbers are filled with
//!   empty blocks, which are returned too. Each block has real transaction and receipt roots
//!   and a hash that later simulated blocks see through `BLOCKHASH`; its state root is
//!   computed when the simulation starts from the latest block (zero otherwise: the trie is
//!   kept for the latest state only).
//! - Calls default to the sender's next nonce and the gas left in the block; their
//!   transactions carry a zero signature.
//! - A call that could not be included (nonce, funds, fees, gas) ends the request with the
//!   spec's code (-38010 … -38025); a call that reverts or halts is a result with
//!   `status: 0x0` and an error (3 with the revert data, or -32015).
//! - Limits: at most [`MAX_SIMULATE_BLOCKS`] blocks (counting filled gaps, -38026), the RPC
//!   gas cap over the whole simulation, and the EVM timeout over the whole request.
//! - Confidential contracts: a simulation that would touch one (a call, a state override, or
//!   any account a call loads) is refused by the policy hook, like `eth_createAccessList`.

use std::collections::BTreeMap;

use alloy_consensus::{SignableTransaction, TxEip1559, TxEip2930, TxEip7702, TxEnvelope, TxLegacy};
use alloy_primitives::{Address, B256, Bytes, Signature, TxKind, U256};
use alloy_rpc_types_eth::simulate::{
    MAX_SIMULATE_BLOCKS, SimBlock, SimCallResult, SimulateError, SimulatePayload, SimulatedBlock,
};
use alloy_rpc_types_eth::{Block, BlockId, BlockOverrides, Log, TransactionRequest};
use revm::context::result::ExecutionResult;
use txnchain_executor::block::seal_header;
use txnchain_executor::call::{Limits, halt_message};
use txnchain_executor::simulate::{SimOptions, SimulatedCall, simulate_call};
use txnchain_executor::{BlockContext, ExecError, Overlay};
use txnchain_jsonrpc::RpcError;
use txnchain_primitives::{RecoveredTx, SealedHeader, StoredReceipt, TxRejection};

use crate::api::{EthApi, apply_overrides, call_input};
use crate::{convert, errors};

const METHOD: &str = "eth_simulateV1";

/// Seconds between simulated blocks whose time is not given (the spec's notes: the network's
/// block time, 12 s on Ethereum).
const BLOCK_TIME: u64 = 12;

/// The gas over a whole simulation when the node has no RPC gas cap.
const DEFAULT_SIMULATION_GAS: u64 = 50_000_000;

fn code_error(code: i64, message: impl Into<String>) -> RpcError {
    RpcError::custom(code, message, None)
}

/// The spec's code for a call that cannot be included.
fn rejection_error(r: &TxRejection) -> RpcError {
    let code = match r {
        TxRejection::NonceTooLow { .. } => -38010,
        TxRejection::NonceTooHigh { .. } => -38011,
        TxRejection::FeeCapBelowBaseFee { .. } => -38012,
        TxRejection::IntrinsicGasTooLow { .. } | TxRejection::FloorDataGas { .. } => -38013,
        TxRejection::InsufficientFunds { .. } => -38014,
        TxRejection::ExceedsBlockGasLimit | TxRejection::GasLimitAboveCap { .. } => -38015,
        TxRejection::SenderNotEoa { .. } => -38024,
        TxRejection::InitCodeTooLarge { .. } => -38025,
        _ => -32000,
    };
    code_error(code, r.to_string())
}

fn exec_error(e: ExecError) -> RpcError {
    match e {
        ExecError::InvalidTransaction(r) => rejection_error(&r),
        other => errors::exec(other),
    }
}

/// The zero-signature transaction a simulated call stands for (the spec's notes: r = s = 0,
/// even parity), of the type its fields call for.
fn simulated_tx(req: &TransactionRequest, call: &SimulatedCall, chain_id: u64) -> TxEnvelope {
    let tx = &call.tx;
    let sig = Signature::new(U256::ZERO, U256::ZERO, false);
    let to = tx.kind;
    let access_list = req.access_list.clone().unwrap_or_default();
    let ty = req
        .transaction_type
        .unwrap_or(if req.authorization_list.is_some() {
            4
        } else if req.gas_price.is_some() {
            if req.access_list.is_some() { 1 } else { 0 }
        } else {
            2
        });
    match (ty, to) {
        (0, _) => TxEnvelope::from(
            TxLegacy {
                chain_id: Some(chain_id),
                nonce: tx.nonce,
                gas_price: req.gas_price.unwrap_or_default(),
                gas_limit: tx.gas_limit,
                to,
                value: tx.value,
                input: tx.data.clone(),
            }
            .into_signed(sig),
        ),
        (1, _) => TxEnvelope::from(
            TxEip2930 {
                chain_id,
                nonce: tx.nonce,
                gas_price: req.gas_price.unwrap_or_default(),
                gas_limit: tx.gas_limit,
                to,
                value: tx.value,
                access_list,
                input: tx.data.clone(),
            }
            .into_signed(sig),
        ),
        (4, TxKind::Call(to)) => TxEnvelope::from(
            TxEip7702 {
                chain_id,
                nonce: tx.nonce,
                gas_limit: tx.gas_limit,
                max_fee_per_gas: req.max_fee_per_gas.unwrap_or_default(),
                max_priority_fee_per_gas: req.max_priority_fee_per_gas.unwrap_or_default(),
                to,
                value: tx.value,
                access_list,
                authorization_list: req.authorization_list.clone().unwrap_or_default(),
                input: tx.data.clone(),
            }
            .into_signed(sig),
        ),
        _ => TxEnvelope::from(
            TxEip1559 {
                chain_id,
                nonce: tx.nonce,
                gas_limit: tx.gas_limit,
                max_fee_per_gas: req.max_fee_per_gas.unwrap_or_default(),
                max_priority_fee_per_gas: req.max_priority_fee_per_gas.unwrap_or_default(),
                to,
                value: tx.value,
                access_list,
                input: tx.data.clone(),
            }
            .into_signed(sig),
        ),
    }
}

/// One simulated block as it is being built.
struct BlockBuild {
    ctx: BlockContext,
    transactions: Vec<RecoveredTx>,
    receipts: Vec<StoredReceipt>,
    /// Per call: the logs to report (with transfer logs when traced), the call's result.
    calls: Vec<(Vec<alloy_primitives::Log>, SimCallOutcome)>,
    gas_used: u64,
    log_index: u64,
}

struct SimCallOutcome {
    status: bool,
    return_data: Bytes,
    gas_used: u64,
    max_used_gas: u64,
    error: Option<SimulateError>,
}

fn outcome_of(result: &ExecutionResult, gas_limit: u64, max_used_gas: u64) -> SimCallOutcome {
    match result {
        ExecutionResult::Success { output, .. } => SimCallOutcome {
            status: true,
            return_data: output.data().clone(),
            gas_used: result.tx_gas_used(),
            max_used_gas,
            error: None,
        },
        ExecutionResult::Revert { output, .. } => {
            let e = errors::reverted(output);
            SimCallOutcome {
                status: false,
                return_data: output.clone(),
                gas_used: result.tx_gas_used(),
                max_used_gas,
                error: Some(SimulateError {
                    code: 3,
                    message: e.message,
                    data: Some(output.clone()),
                }),
            }
        }
        ExecutionResult::Halt { reason, .. } => SimCallOutcome {
            status: false,
            return_data: Bytes::new(),
            gas_used: result.tx_gas_used(),
            max_used_gas,
            error: Some(SimulateError {
                code: -32015,
                message: format!("vm execution error: {}", halt_message(reason, gas_limit)),
                data: None,
            }),
        },
    }
}

impl EthApi {
    /// `eth_simulateV1`.
    pub(crate) fn simulate(
        &self,
        payload: SimulatePayload,
        block: Option<BlockId>,
        limits: &Limits,
    ) -> Result<Vec<SimulatedBlock<Block>>, RpcError> {
        if payload.block_state_calls.len() as u64 > MAX_SIMULATE_BLOCKS {
            return Err(code_error(
                -38026,
                format!("too many blocks: at most {MAX_SIMULATE_BLOCKS} may be simulated"),
            ));
        }
        let snap = self.snapshot()?;
        let base_number = self.resolve(&snap, block)?;
        let base = self.header(&snap, base_number)?;
        let from_latest = base_number == self.latest(&snap)?;
        let chain = self.ledger.chain();
        let opts = SimOptions {
            validation: payload.validation,
            trace_transfers: payload.trace_transfers,
        };
        // Refuse up front what names a confidential contract; what calls reach is checked
        // after each call.
        for b in &payload.block_state_calls {
            if let Some(o) = &b.state_overrides {
                self.guard_all(&snap, o.keys().copied(), METHOD)?;
                if o.values().any(|a| a.move_precompile_to.is_some()) {
                    return Err(RpcError::invalid_params(
                        "movePrecompileToAddress is not supported",
                    ));
                }
            }
            self.guard_all(
                &snap,
                b.calls
                    .iter()
                    .filter_map(|c| c.to.and_then(|k| k.to().copied())),
                METHOD,
            )?;
        }
        let mut budget = match self.config.gas_cap {
            0 => DEFAULT_SIMULATION_GAS,
            cap => cap,
        };
        let per_call_cap = self.gas_cap(base_number);
        let mut overlay = Overlay::new(self.execution_state(&snap, base_number)?);
        // Refused before any of a confidential contract's code runs (overridden code could
        // call it as the address it sits at); the guard on touched accounts below stays.
        overlay.refuse_confidential(METHOD);
        let mut hashes: BTreeMap<u64, B256> = BTreeMap::new();
        let mut parent = base.clone();
        let mut out = Vec::with_capacity(payload.block_state_calls.len());

        for SimBlock {
            block_overrides,
            state_overrides,
            calls,
        } in payload.block_state_calls
        {
            let overrides = block_overrides.unwrap_or_default();
            let number = match overrides.number {
                Some(n) => u64::try_from(n)
                    .map_err(|_| RpcError::invalid_params("block number override out of range"))?,
                None => parent.header.number + 1,
            };
            if number <= parent.header.number {
                return Err(code_error(
                    -38020,
                    format!(
                        "block numbers must be in order: {number} <= {}",
                        parent.header.number
                    ),
                ));
            }
            if number - base_number > MAX_SIMULATE_BLOCKS {
                return Err(code_error(
                    -38026,
                    format!(
                        "too many blocks: at most {MAX_SIMULATE_BLOCKS} may be simulated, gaps included"
                    ),
                ));
            }
            // Skipped numbers become empty blocks (with the state root of the block before).
            while parent.header.number + 1 < number {
                limits_check(limits)?;
                let ctx = self.sim_context(&base, &parent, &BlockOverrides::default(), opts)?;
                let build = BlockBuild::new(ctx);
                let root = Some(parent.header.state_root).filter(|_| from_latest);
                let (header, rendered) =
                    self.finish_block(&snap, &overlay, build, from_latest, root, false)?;
                hashes.insert(header.header.number, header.hash);
                out.push(rendered);
                parent = header;
            }
            let mut ctx = self.sim_context(&base, &parent, &overrides, opts)?;
            ctx.number = number;
            if let Some(o) = state_overrides {
                apply_overrides(&mut overlay, Some(o))?;
            }
            let mut build = BlockBuild::new(ctx);
            for req in calls {
                limits_check(limits)?;
                let left_in_block = build.ctx.gas_limit.saturating_sub(build.gas_used);
                if let Some(g) = req.gas
                    && g > left_in_block
                {
                    return Err(code_error(
                        -38015,
                        format!("block gas limit reached: {g} > {left_in_block}"),
                    ));
                }
                if let Some(g) = req.gas
                    && g > budget
                {
                    return Err(code_error(
                        -38026,
                        format!(
                            "gas {g} is over what is left of the simulation's gas cap ({budget})"
                        ),
                    ));
                }
                let default_gas = left_in_block.min(per_call_cap).min(budget);
                let mut input = call_input(&req, default_gas)?;
                if let Some(g) = req.gas {
                    input.gas = g.min(per_call_cap);
                }
                let call = simulate_call(
                    chain,
                    &build.ctx,
                    &mut overlay,
                    &hashes,
                    &input,
                    opts,
                    limits,
                )
                .map_err(exec_error)?;
                self.guard_all(&snap, call.touched.iter().copied(), METHOD)?;
                budget = budget.saturating_sub(call.result.tx_gas_used());
                build.push(&req, call, chain.chain_id);
            }
            limits_check(limits)?;
            let (header, rendered) = self.finish_block(
                &snap,
                &overlay,
                build,
                from_latest,
                None,
                payload.return_full_transactions,
            )?;
            hashes.insert(header.header.number, header.hash);
            out.push(rendered);
            parent = header;
        }
        Ok(out)
    }

    /// The context of the simulated block after `parent`, with `o` applied (its number is
    /// set by the caller).
    fn sim_context(
        &self,
        base: &SealedHeader,
        parent: &SealedHeader,
        o: &BlockOverrides,
        opts: SimOptions,
    ) -> Result<BlockContext, RpcError> {
        let timestamp = o
            .time
            .unwrap_or_else(|| parent.header.timestamp.saturating_add(BLOCK_TIME));
        if timestamp <= parent.header.timestamp {
            return Err(code_error(
                -38021,
                format!(
                    "block timestamps must be in order: {timestamp} <= {}",
                    parent.header.timestamp
                ),
            ));
        }
        let base_fee = match o.base_fee {
            Some(f) => u64::try_from(f)
                .map_err(|_| RpcError::invalid_params("baseFeePerGas override out of range"))?,
            None if opts.validation => self.ledger.chain().base_fee,
            None => 0,
        };
        Ok(BlockContext {
            number: parent.header.number + 1,
            timestamp,
            beneficiary: o.coinbase.unwrap_or(Address::ZERO),
            prevrandao: o.random.unwrap_or(B256::ZERO),
            gas_limit: o.gas_limit.unwrap_or(base.header.gas_limit),
            base_fee,
            parent_hash: parent.hash,
        })
    }

    /// Seals a simulated block and renders it with its calls' results.
    fn finish_block(
        &self,
        snap: &txnchain_ledger::LedgerReader,
        overlay: &Overlay<txnchain_executor::SnapshotState<'_>>,
        build: BlockBuild,
        from_latest: bool,
        known_root: Option<B256>,
        full: bool,
    ) -> Result<(SealedHeader, SimulatedBlock<Block>), RpcError> {
        let state_root = match known_root {
            Some(root) => root,
            None if from_latest => snap
                .state_root_with(&overlay.changes())
                .map_err(errors::ledger)?,
            None => B256::ZERO,
        };
        let header = seal_header(
            &build.ctx,
            &build.transactions,
            &build.receipts,
            build.gas_used,
            state_root,
            // Simulated blocks are not in the ledger tree.
            alloy_primitives::Bytes::new(),
        );
        let mut log_index = 0u64;
        let calls = build
            .calls
            .into_iter()
            .enumerate()
            .map(|(i, (logs, o))| {
                let pos = convert::Position::of(&header, i as u64);
                let tx_hash = build.transactions[i].hash();
                let logs = logs
                    .into_iter()
                    .map(|l| {
                        let log = Log {
                            inner: l,
                            block_hash: Some(pos.block_hash),
                            block_number: Some(pos.block_number),
                            block_timestamp: Some(pos.timestamp),
                            transaction_hash: Some(tx_hash),
                            transaction_index: Some(pos.index),
                            log_index: Some(log_index),
                            removed: false,
                        };
                        log_index += 1;
                        log
                    })
                    .collect();
                SimCallResult {
                    return_data: o.return_data,
                    logs,
                    gas_used: o.gas_used,
                    max_used_gas: Some(o.max_used_gas),
                    status: o.status,
                    error: o.error,
                }
            })
            .collect();
        let inner = convert::block(&header, &build.transactions, full);
        Ok((header, SimulatedBlock { inner, calls }))
    }
}

fn limits_check(limits: &Limits) -> Result<(), RpcError> {
    if std::time::Instant::now() >= limits.deadline {
        let e = if limits.request_deadline {
            ExecError::RequestDeadline
        } else {
            ExecError::Timeout {
                timeout: limits.timeout,
            }
        };
        return Err(errors::exec(e));
    }
    Ok(())
}

impl BlockBuild {
    fn new(ctx: BlockContext) -> Self {
        BlockBuild {
            ctx,
            transactions: Vec::new(),
            receipts: Vec::new(),
            calls: Vec::new(),
            gas_used: 0,
            log_index: 0,
        }
    }

    fn push(&mut self, req: &TransactionRequest, call: SimulatedCall, chain_id: u64) {
        let envelope = simulated_tx(req, &call, chain_id);
        let tx = RecoveredTx::simulated(envelope, call.tx.caller);
        let gas_used = call.result.tx_gas_used();
        self.gas_used += gas_used;
        // The receipt holds the contract's own logs only: transfer logs are not part of the
        // bloom or the receipts root (the spec's notes).
        let own_logs = call.result.logs().to_vec();
        let receipt = StoredReceipt {
            tx_type: tx.envelope().tx_type() as u8,
            success: call.result.is_success(),
            cumulative_gas_used: self.gas_used,
            gas_used,
            effective_gas_price: tx.effective_gas_price(self.ctx.base_fee),
            from: tx.sender(),
            to: match call.tx.kind {
                TxKind::Call(a) => Bytes::copy_from_slice(a.as_slice()),
                TxKind::Create => Bytes::new(),
            },
            contract_address: call
                .result
                .created_address()
                .map(|a| Bytes::copy_from_slice(a.as_slice()))
                .unwrap_or_default(),
            first_log_index: self.log_index,
            logs: own_logs,
        };
        self.log_index += receipt.logs.len() as u64;
        let outcome = outcome_of(&call.result, call.tx.gas_limit, call.gas_before_refund);
        self.calls.push((call.logs, outcome));
        self.transactions.push(tx);
        self.receipts.push(receipt);
    }
}
