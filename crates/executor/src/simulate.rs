//! `eth_simulateV1`'s execution: calls run one after another inside simulated blocks, each on
//! the state the previous ones left (ethereum/execution-apis, `eth_simulateV1`).
//!
//! The caller owns the sequence (block contexts, state overrides, the gas budget); this module
//! runs one call at a time on an [`Overlay`] that carries the simulation's state, and commits
//! what the call wrote into it. Two things differ from [`crate::call::call`]:
//!
//! - **validation**: with it, the call is checked as a transaction would be (nonce, balance for
//!   gas and value, base fee, intrinsic gas), except for the signature and the sender having
//!   code; without it, as `eth_call` (no nonce check, no base fee), but the value must still be
//!   covered by the balance, as in geth;
//! - **transfer traces** (`traceTransfers`): every movement of ether by a call, a create or a
//!   self-destruct appears among the call's logs as an ERC-20 `Transfer` emitted by
//!   `0xeeee…eeee`, in execution order with the contract's own logs, and is dropped with the
//!   frame that reverted it.
//!
//! Simulated blocks' hashes are visible to `BLOCKHASH` in later simulated blocks.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, Log, LogData, U256, address, b256};
use revm::bytecode::Bytecode;
use revm::context::TxEnv;
use revm::context::result::{ExecutionResult, ResultAndState};
use revm::database_interface::WrapDatabaseRef;
use revm::inspector::Inspector;
use revm::interpreter::{CallInputs, CallOutcome, CreateInputs, CreateOutcome, InterpreterTypes};
use revm::state::AccountInfo;
use revm::{Context, DatabaseCommit, DatabaseRef, InspectEvm, MainBuilder, MainContext};
use txnchain_primitives::ChainSpec;

use crate::call::Limits;
use crate::env::{BlockContext, CallInput, call_env, cfg_env};
use crate::{ExecError, Overlay, StateSource};

/// The address transfer logs are emitted from.
pub const TRANSFER_LOG_ADDRESS: Address = address!("0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee");

/// keccak256("Transfer(address,address,uint256)").
pub const TRANSFER_TOPIC: B256 =
    b256!("0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");

/// How a simulation runs its calls.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimOptions {
    /// Check each call as a transaction (nonce, fees, balance).
    pub validation: bool,
    /// Report ether transfers as logs.
    pub trace_transfers: bool,
}

/// One simulated call's outcome.
#[derive(Debug, Clone)]
pub struct SimulatedCall {
    /// The transaction that ran (its nonce and gas limit filled in).
    pub tx: TxEnv,
    /// Success, revert or halt, with gas used and output.
    pub result: ExecutionResult,
    /// The logs to report: the call's own logs, with transfer logs among them when traced.
    pub logs: Vec<Log>,
    /// Gas used before the refund.
    pub gas_before_refund: u64,
    /// Every account the call loaded or wrote (for the caller's confidentiality policy).
    pub touched: Vec<Address>,
}

/// The simulation's state as revm reads it: the overlay, and the hashes of the blocks
/// simulated so far.
struct SimState<'a, S> {
    overlay: &'a Overlay<S>,
    hashes: &'a BTreeMap<u64, B256>,
}

impl<S: StateSource> DatabaseRef for SimState<'_, S> {
    type Error = ExecError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, ExecError> {
        self.overlay.basic_ref(address)
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, ExecError> {
        self.overlay.code_by_hash_ref(code_hash)
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, ExecError> {
        self.overlay.storage_ref(address, index)
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, ExecError> {
        match self.hashes.get(&number) {
            Some(h) => Ok(*h),
            None => self.overlay.block_hash_ref(number),
        }
    }
}

/// Collects a call's logs with its ether transfers among them, frame by frame, so that a
/// frame that fails takes its logs and transfers with it.
#[derive(Default)]
struct TransferTracer {
    logs: Vec<Log>,
    /// Per open frame: where its logs start.
    frames: Vec<usize>,
}

fn transfer_log(from: Address, to: Address, value: U256) -> Log {
    Log {
        address: TRANSFER_LOG_ADDRESS,
        data: LogData::new_unchecked(
            vec![TRANSFER_TOPIC, from.into_word(), to.into_word()],
            Bytes::copy_from_slice(&value.to_be_bytes::<32>()),
        ),
    }
}

impl TransferTracer {
    fn open(&mut self) {
        self.frames.push(self.logs.len());
    }

    fn close(&mut self, ok: bool) -> usize {
        let start = self.frames.pop().unwrap_or(0);
        if !ok {
            self.logs.truncate(start);
        }
        start
    }
}

impl<CTX, INTR: InterpreterTypes> Inspector<CTX, INTR> for TransferTracer {
    fn log(&mut self, _context: &mut CTX, log: Log) {
        self.logs.push(log);
    }

    fn call(&mut self, _context: &mut CTX, inputs: &mut CallInputs) -> Option<CallOutcome> {
        self.open();
        if let Some(value) = inputs.transfer_value().filter(|v| !v.is_zero()) {
            self.logs
                .push(transfer_log(inputs.caller, inputs.target_address, value));
        }
        None
    }

    fn call_end(&mut self, _context: &mut CTX, _inputs: &CallInputs, outcome: &mut CallOutcome) {
        self.close(outcome.result.is_ok());
    }

    fn create(&mut self, _context: &mut CTX, _inputs: &mut CreateInputs) -> Option<CreateOutcome> {
        self.open();
        None
    }

    fn create_end(
        &mut self,
        _context: &mut CTX,
        inputs: &CreateInputs,
        outcome: &mut CreateOutcome,
    ) {
        let ok = outcome.result.is_ok();
        let start = self.close(ok);
        // The created address is known only now: the transfer goes before the constructor's
        // logs, where it happened.
        if ok
            && !inputs.value().is_zero()
            && let Some(created) = outcome.address
        {
            self.logs.insert(
                start.min(self.logs.len()),
                transfer_log(inputs.caller(), created, inputs.value()),
            );
        }
    }

    fn selfdestruct(&mut self, contract: Address, target: Address, value: U256) {
        if !value.is_zero() {
            self.logs.push(transfer_log(contract, target, value));
        }
    }
}

/// The configuration a simulated call runs with.
fn sim_cfg(chain: &ChainSpec, number: u64, opts: SimOptions) -> revm::context::CfgEnv {
    let mut cfg = cfg_env(chain, number);
    // Calls come from any address, contracts included (there is no signature to check).
    cfg.disable_eip3607 = true;
    if !opts.validation {
        cfg.disable_nonce_check = true;
        cfg.disable_base_fee = true;
    }
    cfg
}

/// Runs `input` in block `ctx` on `overlay` and commits what it wrote (a reverted or halted
/// call still spends its nonce and gas). `hashes` are the simulated blocks' hashes by number.
/// A call that cannot be included is an error ([`ExecError::InvalidTransaction`]) and
/// changes nothing.
pub fn simulate_call<S: StateSource>(
    chain: &ChainSpec,
    ctx: &BlockContext,
    overlay: &mut Overlay<S>,
    hashes: &BTreeMap<u64, B256>,
    input: &CallInput,
    opts: SimOptions,
    limits: &Limits,
) -> Result<SimulatedCall, ExecError> {
    let nonce = match input.nonce {
        Some(n) => n,
        None => overlay.basic_ref(input.from)?.map_or(0, |a| a.nonce),
    };
    let tx = call_env(input, chain.chain_id, nonce);
    let mut guard = crate::call::deadline_guard(*limits);
    let mut tracer = TransferTracer::default();
    let state = SimState {
        overlay: &*overlay,
        hashes,
    };
    let outcome = {
        let mut evm = Context::mainnet()
            .with_db(WrapDatabaseRef(&state))
            .with_cfg(sim_cfg(chain, ctx.number, opts))
            .with_block(ctx.block_env())
            .build_mainnet_with_inspector((&mut guard, &mut tracer));
        evm.inspect_tx(tx.clone())
            .map(|r| ResultAndState::new(r.result, r.state))
            .map_err(|e| crate::call::map_call_error(e, &tx, ctx, chain))
    };
    guard.outcome()?;
    let ResultAndState { result, state } = outcome?;
    let touched = state.keys().copied().collect();
    overlay.commit(state);
    let logs = if opts.trace_transfers {
        if result.is_success() {
            tracer.logs
        } else {
            Vec::new()
        }
    } else {
        result.logs().to_vec()
    };
    let gas_before_refund = result.gas().total_gas_spent();
    Ok(SimulatedCall {
        tx,
        result,
        logs,
        gas_before_refund,
        touched,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_logs_follow_the_erc20_shape() {
        let from = address!("0xc000000000000000000000000000000000000000");
        let to = address!("0xc100000000000000000000000000000000000000");
        let log = transfer_log(from, to, U256::from(1000));
        assert_eq!(log.address, TRANSFER_LOG_ADDRESS);
        assert_eq!(
            log.topics()[0],
            alloy_primitives::keccak256("Transfer(address,address,uint256)")
        );
        assert_eq!(log.topics()[1], from.into_word());
        assert_eq!(log.topics()[2], to.into_word());
        assert_eq!(U256::from_be_slice(&log.data.data), U256::from(1000));
    }

    #[test]
    fn a_failed_frame_drops_its_logs_and_transfers() {
        let mut t = TransferTracer::default();
        let a = Address::repeat_byte(1);
        t.open();
        t.logs.push(transfer_log(a, a, U256::from(1)));
        t.open();
        t.logs.push(transfer_log(a, a, U256::from(2)));
        t.close(false);
        assert_eq!(t.logs.len(), 1);
        t.close(true);
        assert_eq!(t.logs.len(), 1);
    }
}
