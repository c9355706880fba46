//! Calls that do not commit: `eth_call`, `eth_estimateGas`, `eth_createAccessList`, and
//! geth-style traces (`debug_traceCall`, `debug_traceTransaction`).
//!
//! Every call runs under a [`Limits`]: a deadline enforced inside the interpreter (geth's
//! `--rpc.evmtimeout`, 5 s by default: an inspector looks at the clock every 1,024
//! instructions and halts every frame once it has passed), and for traces a budget on the
//! size of what the tracer records, so no call can hold a worker or grow a response without
//! bound. A call stopped by either is an error ([`ExecError::Timeout`],
//! [`ExecError::TraceTooLarge`]), never a partial result.

use std::time::{Duration, Instant};

use alloy_primitives::Bytes;
use alloy_rpc_types_eth::AccessList;
use alloy_rpc_types_trace::geth::{
    GethDebugBuiltInTracerType, GethDebugTracerType, GethDebugTracingOptions, GethTrace, NoopFrame,
};
use revm::context::result::{EVMError, ExecutionResult, HaltReason, ResultAndState};
use revm::context::{CfgEnv, TxEnv};
use revm::database_interface::WrapDatabaseRef;
use revm::inspector::Inspector;
use revm::interpreter::interpreter_types::{MemoryTr, StackTr};
use revm::interpreter::{
    CallInputs, CallOutcome, InstructionResult, Interpreter, InterpreterTypes,
};
use revm::{Context, InspectEvm, MainBuilder, MainContext};
use revm_inspectors::access_list::AccessListInspector;
use revm_inspectors::tracing::{TracingInspector, TracingInspectorConfig};
use txnchain_primitives::ChainSpec;

use crate::confidential::{ConfidentialInspector, TopFrame};
use crate::env::{BlockContext, CallInput, call_env, cfg_env};
use crate::{ExecError, Overlay, StateSource};

/// The configuration for calls: like geth's `eth_call`, nonces are not checked, the base fee
/// does not apply when no gas price is given, and calls may come from contract addresses.
pub fn call_cfg(chain: &ChainSpec, number: u64, input: &CallInput) -> CfgEnv {
    let mut cfg = cfg_env(chain, number);
    cfg.disable_nonce_check = true;
    cfg.disable_eip3607 = true;
    let priced =
        input.gas_price.is_some_and(|p| p > 0) || input.max_fee_per_gas.is_some_and(|p| p > 0);
    cfg.disable_base_fee = !priced;
    cfg
}

/// How long and how large a call may get.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Stop executing at this instant.
    pub deadline: Instant,
    /// The timeout the deadline came from (for the error message).
    pub timeout: Duration,
    /// Largest trace, in bytes of its JSON encoding (estimated while recording).
    pub max_trace_bytes: usize,
    /// Whether `deadline` is the request's own (earlier than the EVM timeout): running past
    /// it is then [`ExecError::RequestDeadline`], not the EVM timeout.
    pub request_deadline: bool,
}

impl Limits {
    /// Limits with a deadline `timeout` from now and a 25 MB trace budget.
    pub fn new(timeout: Duration) -> Self {
        Limits {
            deadline: Instant::now() + timeout,
            timeout,
            max_trace_bytes: 25_000_000,
            request_deadline: false,
        }
    }

    /// The same limits, with the deadline moved earlier to `other` when that comes first (e.g.
    /// what is left of a request's or a batch's time).
    pub fn at_most(mut self, other: Option<Instant>) -> Self {
        if let Some(o) = other
            && o < self.deadline
        {
            self.deadline = o;
            self.request_deadline = true;
        }
        self
    }
}

/// What the guard estimates a struct log costs in JSON: the fixed fields, each stack item,
/// each 32-byte memory word.
const STEP_BYTES: usize = 160;
const STACK_ITEM_BYTES: usize = 70;
const MEMORY_WORD_BYTES: usize = 68;
/// A call frame in a call trace (without its input and output).
const FRAME_BYTES: usize = 320;

/// What the trace records, for the size estimate.
#[derive(Debug, Clone, Copy, Default)]
struct Recording {
    steps: bool,
    /// Steps recorded at most (geth's `limit`); later steps cost nothing.
    step_limit: Option<u64>,
    stack: bool,
    memory: bool,
}

/// Halts execution when the deadline passes or the trace outgrows its budget.
pub(crate) struct Guard {
    limits: Limits,
    recording: Option<Recording>,
    steps: u64,
    bytes: usize,
    stopped: Option<Stop>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Deadline,
    TraceSize,
}

impl Guard {
    fn new(limits: Limits, recording: Option<Recording>) -> Self {
        Guard {
            limits,
            recording,
            steps: 0,
            bytes: 0,
            stopped: None,
        }
    }

    pub(crate) fn outcome(&self) -> Result<(), ExecError> {
        match self.stopped {
            None => Ok(()),
            Some(Stop::Deadline) if self.limits.request_deadline => Err(ExecError::RequestDeadline),
            Some(Stop::Deadline) => Err(ExecError::Timeout {
                timeout: self.limits.timeout,
            }),
            Some(Stop::TraceSize) => Err(ExecError::TraceTooLarge {
                limit: self.limits.max_trace_bytes,
            }),
        }
    }

    fn charge(&mut self, bytes: usize) {
        self.bytes = self.bytes.saturating_add(bytes);
        if self.bytes > self.limits.max_trace_bytes {
            self.stopped = Some(Stop::TraceSize);
        }
    }
}

impl<CTX, INTR: InterpreterTypes> Inspector<CTX, INTR> for Guard {
    fn step(&mut self, interp: &mut Interpreter<INTR>, _context: &mut CTX) {
        self.steps += 1;
        if self.stopped.is_none()
            && self.steps.is_multiple_of(1024)
            && Instant::now() >= self.limits.deadline
        {
            self.stopped = Some(Stop::Deadline);
        }
        if self.stopped.is_none()
            && let Some(r) = self
                .recording
                .filter(|r| r.steps && r.step_limit.is_none_or(|l| self.steps <= l))
        {
            let mut bytes = STEP_BYTES;
            if r.stack {
                bytes += interp.stack.len() * STACK_ITEM_BYTES;
            }
            if r.memory {
                bytes += interp.memory.size().div_ceil(32) * MEMORY_WORD_BYTES;
            }
            self.charge(bytes);
        }
        if self.stopped.is_some() {
            // Every frame halts at its next instruction, down to the outermost.
            interp.halt(InstructionResult::OutOfGas);
        }
    }

    fn call(&mut self, _context: &mut CTX, inputs: &mut CallInputs) -> Option<CallOutcome> {
        if self.recording.is_some() {
            self.charge(FRAME_BYTES + 2 * inputs.input.len());
        }
        None
    }
}

/// A guard that only enforces the deadline of `limits` (no trace is recorded).
pub(crate) fn deadline_guard(limits: Limits) -> Guard {
    Guard::new(limits, None)
}

/// A call's revm error as an [`ExecError`]: validation failures become the transaction's
/// [`txnchain_primitives::TxRejection`] (geth's messages).
pub(crate) fn map_call_error(
    e: EVMError<ExecError>,
    tx: &TxEnv,
    ctx: &BlockContext,
    chain: &ChainSpec,
) -> ExecError {
    map_err(e, tx, ctx, chain)
}

fn map_err(e: EVMError<ExecError>, tx: &TxEnv, ctx: &BlockContext, chain: &ChainSpec) -> ExecError {
    match e {
        EVMError::Transaction(t) => ExecError::InvalidTransaction(crate::block::rejection(
            &t,
            tx,
            ctx.base_fee,
            chain.chain_id,
        )),
        EVMError::Database(d) => d,
        EVMError::Header(h) => ExecError::InvalidBlock(h.to_string()),
        other => ExecError::Evm(other.to_string()),
    }
}

fn tx_for<S: StateSource>(
    chain: &ChainSpec,
    overlay: &Overlay<S>,
    input: &CallInput,
) -> Result<TxEnv, ExecError> {
    let nonce = match input.nonce {
        Some(n) => n,
        None => revm::DatabaseRef::basic_ref(overlay, input.from)?.map_or(0, |a| a.nonce),
    };
    Ok(call_env(input, chain.chain_id, nonce))
}

/// The confidential-execution inspector of a call: the envelope's plaintext for the top
/// frame, the public-log precompile and flag inheritance exactly as in blocks.
fn confidential_for(input: &CallInput) -> ConfidentialInspector {
    let mut conf = ConfidentialInspector::default();
    match &input.plaintext {
        Some(p) => conf.reset(TopFrame::Plaintext(p.clone()), true),
        None => conf.reset(TopFrame::AsSent, false),
    }
    conf
}

/// Runs a call on `overlay` without committing, within `limits`.
pub fn call<S: StateSource>(
    chain: &ChainSpec,
    ctx: &BlockContext,
    overlay: &Overlay<S>,
    input: &CallInput,
    limits: &Limits,
) -> Result<ResultAndState, ExecError> {
    let tx = tx_for(chain, overlay, input)?;
    let mut guard = Guard::new(*limits, None);
    let mut conf = confidential_for(input);
    let result = {
        let mut evm = Context::mainnet()
            .with_db(WrapDatabaseRef(overlay))
            .with_cfg(call_cfg(chain, ctx.number, input))
            .with_block(ctx.block_env())
            .build_mainnet_with_inspector((&mut conf, &mut guard));
        evm.inspect_tx(tx.clone())
            .map(|r| ResultAndState::new(r.result, r.state))
            .map_err(|e| map_err(e, &tx, ctx, chain))
    };
    guard.outcome()?;
    result
}

/// geth's message for a call that halted with `reason` after being given `gas`.
pub fn halt_message(reason: &HaltReason, gas: u64) -> String {
    use HaltReason as H;
    match reason {
        H::OutOfGas(_) => format!("out of gas: gas required exceeds allowance ({gas})"),
        H::OpcodeNotFound | H::InvalidFEOpcode | H::NotActivated => "invalid opcode".into(),
        H::StackOverflow => "stack limit reached 1024 (1023)".into(),
        H::StackUnderflow => "stack underflow".into(),
        H::InvalidJump => "invalid jump destination".into(),
        H::OutOfOffset => "return data out of bounds".into(),
        H::CreateCollision => "contract address collision".into(),
        H::PrecompileError | H::PrecompileErrorWithContext(_) => {
            "precompiled contract failed".into()
        }
        H::NonceOverflow => "nonce uint64 overflow".into(),
        H::CreateContractSizeLimit => "max code size exceeded".into(),
        H::CreateContractStartingWithEF => "invalid code: must not begin with 0xef".into(),
        H::CreateInitCodeSizeLimit => "max initcode size exceeded".into(),
        H::OverflowPayment | H::OutOfFunds => "insufficient balance for transfer".into(),
        H::StateChangeDuringStaticCall | H::CallNotAllowedInsideStatic => "write protection".into(),
        H::CallTooDeep => "max call depth exceeded".into(),
    }
}

/// Why gas estimation failed.
#[derive(Debug)]
pub enum EstimateError {
    /// The call reverts at the highest allowed gas: `execution reverted` with its data.
    Reverted(Bytes),
    /// The call fails even with all the gas allowed.
    GasRequiredExceedsAllowance(u64),
    /// The call halts for another reason.
    Halted(HaltReason),
    /// Validation or state error.
    Exec(ExecError),
}

impl From<ExecError> for EstimateError {
    fn from(e: ExecError) -> Self {
        EstimateError::Exec(e)
    }
}

/// Estimates the gas a call needs, by binary search like geth (within 1.5%).
pub fn estimate_gas<S: StateSource>(
    chain: &ChainSpec,
    ctx: &BlockContext,
    overlay: &Overlay<S>,
    input: &CallInput,
    cap: u64,
    limits: &Limits,
) -> Result<u64, EstimateError> {
    // geth's shortcut: a plain value transfer to an account without code costs exactly
    // 21,000 if it succeeds with that (tools compare against it).
    const TX_GAS: u64 = 21_000;
    if input.data.is_empty()
        && let Some(to) = input.to
        && cap >= TX_GAS
        && revm::DatabaseRef::basic_ref(overlay, to)?
            .is_none_or(|a| a.code_hash == revm::primitives::KECCAK_EMPTY)
    {
        let mut plain = input.clone();
        plain.gas = TX_GAS;
        if let Ok(r) = call(chain, ctx, overlay, &plain, limits)
            && r.result.is_success()
        {
            return Ok(TX_GAS);
        }
    }
    let mut probe = input.clone();
    probe.gas = cap;
    let first = call(chain, ctx, overlay, &probe, limits)?;
    let used = match first.result {
        ExecutionResult::Success { .. } => first.result.tx_gas_used(),
        ExecutionResult::Revert { output, .. } => return Err(EstimateError::Reverted(output)),
        ExecutionResult::Halt {
            reason: HaltReason::OutOfGas(_),
            ..
        } => return Err(EstimateError::GasRequiredExceedsAllowance(cap)),
        ExecutionResult::Halt { reason, .. } => return Err(EstimateError::Halted(reason)),
    };
    let succeeds = |gas: u64| -> Result<bool, EstimateError> {
        let mut p = input.clone();
        p.gas = gas;
        match call(chain, ctx, overlay, &p, limits) {
            Ok(r) => Ok(r.result.is_success()),
            Err(ExecError::InvalidTransaction(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    };
    let mut lo = used.saturating_sub(1);
    let mut hi = cap;
    // Most calls need only what they used plus the 1/64 held back by CALL (EIP-150).
    let optimistic = (used + 2_300) * 64 / 63;
    if optimistic < hi {
        if succeeds(optimistic)? {
            hi = optimistic;
        } else {
            lo = optimistic;
        }
    }
    while lo + 1 < hi {
        if (hi - lo) * 1000 / hi < 15 {
            break;
        }
        let mid = lo + (hi - lo) / 2;
        if succeeds(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}

/// Builds the access list a call touches (`eth_createAccessList`), returning it with the gas
/// the call uses with that list and the error, if the call fails.
pub fn create_access_list<S: StateSource>(
    chain: &ChainSpec,
    ctx: &BlockContext,
    overlay: &Overlay<S>,
    input: &CallInput,
    limits: &Limits,
) -> Result<(AccessList, u64, Option<ExecutionResult>), ExecError> {
    let mut input = input.clone();
    let tx = tx_for(chain, overlay, &input)?;
    let mut inspector = AccessListInspector::new(input.access_list.clone());
    let mut guard = Guard::new(*limits, None);
    let mut conf = confidential_for(&input);
    {
        let mut evm = Context::mainnet()
            .with_db(WrapDatabaseRef(overlay))
            .with_cfg(call_cfg(chain, ctx.number, &input))
            .with_block(ctx.block_env())
            .build_mainnet_with_inspector((&mut conf, (&mut inspector, &mut guard)));
        let r = evm
            .inspect_tx(tx.clone())
            .map_err(|e| map_err(e, &tx, ctx, chain));
        guard.outcome()?;
        r?;
    }
    let list = inspector.into_access_list();
    input.access_list = list.clone();
    let result = call(chain, ctx, overlay, &input, limits)?;
    let gas = result.result.tx_gas_used();
    let failed = (!result.result.is_success()).then_some(result.result);
    Ok((list, gas, failed))
}

/// Traces a transaction with a geth tracer on top of `overlay` (which holds the state just
/// before it). Supported: the default struct logger, `callTracer`, `prestateTracer`,
/// `noopTracer`. Returns the trace and every account the execution touched, so the caller
/// can refuse traces that touch a confidential contract.
pub fn trace<S: StateSource>(
    chain: &ChainSpec,
    ctx: &BlockContext,
    overlay: &Overlay<S>,
    tx: TxEnv,
    cfg: CfgEnv,
    opts: &GethDebugTracingOptions,
    limits: &Limits,
) -> Result<(GethTrace, Vec<alloy_primitives::Address>), ExecError> {
    let _ = chain;
    let mut touched = Vec::new();
    let run =
        |config: TracingInspectorConfig| -> Result<(TracingInspector, ResultAndState), ExecError> {
            let recording = Recording {
                steps: config.record_steps,
                step_limit: config.step_limit.map(u64::from),
                stack: config.record_stack_snapshots.is_all()
                    || config.record_stack_snapshots.is_pushes(),
                memory: config.record_memory_snapshots,
            };
            let mut inspector = TracingInspector::new(config);
            let mut guard = Guard::new(*limits, Some(recording));
            let mut conf = ConfidentialInspector::default();
            let res = {
                let mut evm = Context::mainnet()
                    .with_db(WrapDatabaseRef(overlay))
                    .with_cfg(cfg.clone())
                    .with_block(ctx.block_env())
                    .build_mainnet_with_inspector((&mut conf, (&mut inspector, &mut guard)));
                evm.inspect_tx(tx.clone())
                    .map_err(|e| map_err(e, &tx, ctx, chain))
            };
            guard.outcome()?;
            let res = res?;
            Ok((inspector, ResultAndState::new(res.result, res.state)))
        };
    let trace: Result<GethTrace, ExecError> = match &opts.tracer {
        None => {
            let config = TracingInspectorConfig::from_geth_config(&opts.config);
            let (insp, res) = run(config)?;
            touched.extend(res.state.keys().copied());
            let gas = res.result.tx_gas_used();
            let output = res.result.output().cloned().unwrap_or_default();
            Ok(insp
                .into_geth_builder()
                .geth_traces(gas, output, opts.config)
                .into())
        }
        Some(GethDebugTracerType::BuiltInTracer(GethDebugBuiltInTracerType::CallTracer)) => {
            let call_config = opts
                .tracer_config
                .clone()
                .into_call_config()
                .map_err(|e| ExecError::Evm(format!("invalid tracer config: {e}")))?;
            let (insp, res) = run(TracingInspectorConfig::from_geth_call_config(&call_config))?;
            touched.extend(res.state.keys().copied());
            let gas = res.result.tx_gas_used();
            Ok(insp
                .into_geth_builder()
                .geth_call_traces(call_config, gas)
                .into())
        }
        Some(GethDebugTracerType::BuiltInTracer(GethDebugBuiltInTracerType::PreStateTracer)) => {
            let pre_config = opts
                .tracer_config
                .clone()
                .into_pre_state_config()
                .map_err(|e| ExecError::Evm(format!("invalid tracer config: {e}")))?;
            let (insp, res) = run(TracingInspectorConfig::from_geth_prestate_config(
                &pre_config,
            ))?;
            touched.extend(res.state.keys().copied());
            let frame =
                insp.into_geth_builder()
                    .geth_prestate_traces(&res, &pre_config, overlay)?;
            Ok(frame.into())
        }
        Some(GethDebugTracerType::BuiltInTracer(GethDebugBuiltInTracerType::NoopTracer)) => {
            Ok(NoopFrame::default().into())
        }
        Some(other) => Err(ExecError::Evm(format!("tracer {other:?} is not supported"))),
    };
    trace.map(|t| (t, touched))
}
