//! Pixie DEX in execution: the exchange at [`PIXIE`] is native code (`txnchain-pixie`) run by
//! the inspector of every EVM the node builds, for transactions and for calls alike.
//!
//! - A call to [`PIXIE`] never runs EVM code: the inspector decodes it ([`abi::execute`]) with
//!   the caller the EVM sees — the opened envelope's sender, a signed query's signer, zero for
//!   an unsigned call — over the exchange account's storage **in the journal**, inside its own
//!   checkpoint, so a refusal, an out-of-gas or a revert further up undoes every write. Gas is
//!   charged per slot read and written ([`LOAD_GAS`], [`STORE_GAS`], on top of [`BASE_GAS`]).
//! - A deposit or withdrawal needs a token transfer, which only EVM code can make: the
//!   exchange's frame is turned into the token's `transferFrom(trader, exchange, amount)` or
//!   `transfer(trader, amount)` called by the exchange, and the checkpoint is kept or reverted
//!   when that frame ends, by whether it returned success (and `true`, or nothing).
//! - At the end of every block whose timestamp closes the open batch ([`batch_due`]), block
//!   execution runs the close as a system call (caller [`SYSTEM_ADDRESS`]), the pattern of EIP-4788's beacon-root
//!   call: no transaction, no receipt, the same writes on every replica.
//!
//! `DELEGATECALL` / `CALLCODE` to the exchange and calls that carry value revert.

use alloy_primitives::{Address, Bytes, U256, address};
use alloy_sol_types::SolCall;
use revm::context::{Block, Cfg, ContextTr, JournalTr};
use revm::context_interface::journaled_state::JournalCheckpoint;
use revm::handler::SYSTEM_ADDRESS;
use revm::interpreter::{
    CallInput, CallInputs, CallOutcome, CallScheme, CallValue, Gas, InstructionResult,
    InterpreterResult,
};
use txnchain_pixie::abi::{self, Failure, TokenMove};
use txnchain_pixie::{Config, Exchange, Limits, Slots, StoreError};

use crate::error::ExecError;
use crate::state::StateSource;

/// The exchange's address.
pub const PIXIE: Address = address!("0000000000000000000000000000000000000c02");
/// Gas of any call to the exchange.
pub const BASE_GAS: u64 = 2_600;
/// Gas per storage slot the exchange reads.
pub const LOAD_GAS: u64 = 800;
/// Gas per storage slot the exchange writes.
pub const STORE_GAS: u64 = 5_000;
/// Seconds a batch stays open.
pub const BATCH_INTERVAL: u64 = 1;

/// The calldata of the end-of-block system call (`endOfBlock()`'s selector).
pub fn end_of_block_calldata() -> Bytes {
    Bytes::from_static(&endOfBlockCall::SELECTOR)
}

/// The exchange's configuration on chain `chain_id`.
pub fn config(chain_id: u64) -> Config {
    Config {
        chain_id,
        exchange: PIXIE,
        batch_interval: BATCH_INTERVAL,
        limits: Limits::default(),
    }
}

alloy_sol_types::sol! {
    function endOfBlock() external;
    function transfer(address to, uint256 amount) external returns (bool);
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
}

/// The exchange's slots in the journal, counted for gas.
struct JournalSlots<'a, J> {
    journal: &'a mut J,
    loads: u64,
    stores: u64,
}

impl<J: JournalTr> Slots for JournalSlots<'_, J> {
    fn load(&mut self, slot: alloy_primitives::B256) -> Result<alloy_primitives::B256, StoreError> {
        self.loads += 1;
        self.journal
            .sload(PIXIE, U256::from_be_bytes(slot.0))
            .map(|v| alloy_primitives::B256::from(v.data.to_be_bytes()))
            .map_err(|e| StoreError(e.to_string()))
    }

    fn store(
        &mut self,
        slot: alloy_primitives::B256,
        value: alloy_primitives::B256,
    ) -> Result<(), StoreError> {
        self.stores += 1;
        self.journal
            .sstore(
                PIXIE,
                U256::from_be_bytes(slot.0),
                U256::from_be_bytes(value.0),
            )
            .map(|_| ())
            .map_err(|e| StoreError(e.to_string()))
    }
}

impl<J> JournalSlots<'_, J> {
    fn gas(&self) -> u64 {
        BASE_GAS
            .saturating_add(self.loads.saturating_mul(LOAD_GAS))
            .saturating_add(self.stores.saturating_mul(STORE_GAS))
    }
}

/// The exchange's part of the inspector: the checkpoints of the token transfers in flight.
#[derive(Debug, Default)]
pub(crate) struct Native {
    pending: Vec<JournalCheckpoint>,
}

fn outcome(result: InstructionResult, output: Bytes, gas: Gas, inputs: &CallInputs) -> CallOutcome {
    CallOutcome::new(
        InterpreterResult::new(result, output, gas),
        inputs.return_memory_offset.clone(),
    )
}

fn spent(gas_limit: u64) -> Gas {
    let mut gas = Gas::new(gas_limit);
    gas.spend_all();
    gas
}

/// The token, calldata and code of the transfer a deposit or withdrawal needs; the result to
/// end the exchange's call with when there is none to make (a permit, which needs a second
/// token call and is not run yet; a token without code, whose "transfer" would move nothing;
/// a failed account load).
type TokenCall = (
    Address,
    Vec<u8>,
    (alloy_primitives::B256, revm::bytecode::Bytecode),
);

fn token_call<J: JournalTr>(
    journal: &mut J,
    token_move: TokenMove,
) -> Result<TokenCall, InstructionResult> {
    let (token, call) = match token_move {
        TokenMove::Pull {
            token,
            from,
            amount,
            permit: None,
        } => (
            token,
            transferFromCall {
                from,
                to: PIXIE,
                amount,
            }
            .abi_encode(),
        ),
        TokenMove::Push { token, to, amount } => (token, transferCall { to, amount }.abi_encode()),
        TokenMove::Pull {
            permit: Some(_), ..
        } => return Err(InstructionResult::Revert),
    };
    let account = journal
        .load_account_with_code(token)
        .map_err(|_| InstructionResult::FatalExternalError)?;
    let info = &account.data.info;
    let code = info.code.clone().unwrap_or_default();
    if code.is_empty() {
        return Err(InstructionResult::Revert);
    }
    Ok((token, call, (info.code_hash, code)))
}

impl Native {
    pub(crate) fn reset(&mut self) {
        self.pending.clear();
    }

    /// A call whose target or code address is the exchange. `None` when the frame was turned
    /// into a token transfer for the EVM to run.
    pub(crate) fn call<CTX: ContextTr>(
        &mut self,
        context: &mut CTX,
        inputs: &mut CallInputs,
    ) -> Option<CallOutcome> {
        let gas_limit = inputs.gas_limit;
        let value = match inputs.value {
            CallValue::Transfer(v) | CallValue::Apparent(v) => v,
        };
        if inputs.target_address != PIXIE || inputs.bytecode_address != PIXIE || !value.is_zero() {
            return Some(outcome(
                InstructionResult::Revert,
                Bytes::new(),
                Gas::new(gas_limit),
                inputs,
            ));
        }
        let calldata = inputs.input.bytes(context);
        let chain_id = context.cfg().chain_id();
        let now = context.block().timestamp().saturating_to::<u64>();
        let system =
            inputs.caller == SYSTEM_ADDRESS && calldata.as_ref() == endOfBlockCall::SELECTOR;
        let journal = context.journal_mut();
        if journal.load_account(PIXIE).is_err() {
            return Some(outcome(
                InstructionResult::FatalExternalError,
                Bytes::new(),
                spent(gas_limit),
                inputs,
            ));
        }
        let checkpoint = journal.checkpoint();
        let mut ex = Exchange::new(
            config(chain_id),
            JournalSlots {
                journal,
                loads: 0,
                stores: 0,
            },
        );
        let result = if system {
            ex.end_of_block(now)
                .map(|_| abi::Executed {
                    output: Vec::new(),
                    token_move: None,
                })
                .map_err(Failure::Fault)
        } else {
            abi::execute(&mut ex, inputs.caller, &calldata, now, inputs.is_static)
        };
        let slots = ex.into_slots();
        let cost = if system { 0 } else { slots.gas() };
        let journal = slots.journal;
        let mut gas = Gas::new(gas_limit);
        if !gas.record_regular_cost(cost) {
            journal.checkpoint_revert(checkpoint);
            return Some(outcome(
                InstructionResult::OutOfGas,
                Bytes::new(),
                spent(gas_limit),
                inputs,
            ));
        }
        let done = match result {
            Ok(done) => done,
            Err(Failure::Revert(data)) => {
                journal.checkpoint_revert(checkpoint);
                return Some(outcome(InstructionResult::Revert, data.into(), gas, inputs));
            }
            Err(Failure::Fault(e)) => {
                journal.checkpoint_revert(checkpoint);
                tracing::error!(error = %e, "Pixie DEX: storage fault");
                return Some(outcome(
                    InstructionResult::FatalExternalError,
                    Bytes::new(),
                    spent(gas_limit),
                    inputs,
                ));
            }
        };
        let Some(token_move) = done.token_move else {
            journal.checkpoint_commit();
            return Some(outcome(
                InstructionResult::Return,
                done.output.into(),
                gas,
                inputs,
            ));
        };
        let transfer = match token_call(journal, token_move) {
            Ok(transfer) => transfer,
            Err(result) => {
                journal.checkpoint_revert(checkpoint);
                let gas = if result == InstructionResult::Revert {
                    gas
                } else {
                    spent(gas_limit)
                };
                return Some(outcome(result, Bytes::new(), gas, inputs));
            }
        };
        let (token, call, code) = transfer;
        self.pending.push(checkpoint);
        inputs.gas_limit = gas.remaining();
        inputs.caller = PIXIE;
        inputs.target_address = token;
        inputs.bytecode_address = token;
        inputs.known_bytecode = code;
        inputs.input = CallInput::Bytes(call.into());
        inputs.value = CallValue::Transfer(U256::ZERO);
        inputs.scheme = CallScheme::Call;
        None
    }

    /// The end of a token transfer frame the exchange started (its caller is the exchange):
    /// keeps the deposit's or withdrawal's writes if the transfer succeeded, reverts them (and
    /// the call) otherwise.
    pub(crate) fn call_end<CTX: ContextTr>(
        &mut self,
        context: &mut CTX,
        outcome: &mut CallOutcome,
    ) {
        let Some(checkpoint) = self.pending.pop() else {
            return;
        };
        let output = &outcome.result.output;
        let returned_true = output.is_empty()
            || (output.len() == 32 && U256::from_be_slice(output) == U256::from(1));
        let journal = context.journal_mut();
        if outcome.result.result.is_ok() && returned_true {
            journal.checkpoint_commit();
            outcome.result.result = InstructionResult::Return;
            outcome.result.output = Bytes::new();
        } else {
            journal.checkpoint_revert(checkpoint);
            if outcome.result.result.is_ok() {
                // `false` from a token that does not revert.
                outcome.result.result = InstructionResult::Revert;
                outcome.result.output = Bytes::new();
            }
            // A revert keeps the token's reason; a halt (out of gas above all) stays a halt,
            // so that gas estimation knows to try more gas.
        }
    }
}

/// The exchange's slots read through `read` (committed state, or a block's database outside
/// the journal); writes are refused. Keeps the first read error to hand back as is.
struct ReadOnly<F> {
    read: F,
    error: Option<ExecError>,
}

impl<F: FnMut(U256) -> Result<U256, ExecError>> Slots for ReadOnly<F> {
    fn load(&mut self, slot: alloy_primitives::B256) -> Result<alloy_primitives::B256, StoreError> {
        match (self.read)(U256::from_be_bytes(slot.0)) {
            Ok(v) => Ok(alloy_primitives::B256::from(v.to_be_bytes())),
            Err(e) => {
                let message = e.to_string();
                self.error = Some(e);
                Err(StoreError(message))
            }
        }
    }

    fn store(
        &mut self,
        _: alloy_primitives::B256,
        _: alloy_primitives::B256,
    ) -> Result<(), StoreError> {
        Err(StoreError("read only".into()))
    }
}

/// Runs `f` on the exchange read through `read`, turning its errors back into the state's.
fn read_exchange<F, T>(
    chain_id: u64,
    read: F,
    f: impl FnOnce(&mut Exchange<ReadOnly<F>>) -> Result<T, txnchain_pixie::PixieError>,
) -> Result<T, ExecError>
where
    F: FnMut(U256) -> Result<U256, ExecError>,
{
    let mut ex = Exchange::new(config(chain_id), ReadOnly { read, error: None });
    match f(&mut ex) {
        Ok(v) => Ok(v),
        Err(e) => Err(ex
            .into_slots()
            .error
            .unwrap_or_else(|| ExecError::Evm(e.to_string()))),
    }
}

/// The earliest block timestamp that closes the exchange's open batch, read from committed
/// state; `None` while no batch holds an order (or the chain has no exchange). A block builder
/// that cuts blocks only on demand cuts one then, empty if need be.
#[expect(
    clippy::redundant_closure_for_method_calls,
    reason = "the method path is not general enough over the closure's lifetime"
)]
pub fn batch_closes_at(state: &impl StateSource, chain_id: u64) -> Result<Option<u64>, ExecError> {
    read_exchange(
        chain_id,
        |slot| state.storage(PIXIE, slot),
        |ex| ex.batch_closes_at(),
    )
}

/// Whether the exchange's open batch closes at the end of a block at `timestamp` (read from
/// committed-plus-block state, without the journal).
pub fn batch_due(
    state: &mut impl revm::Database<Error = ExecError>,
    chain_id: u64,
    timestamp: u64,
) -> Result<bool, ExecError> {
    read_exchange(
        chain_id,
        |slot| state.storage(PIXIE, slot),
        |ex| ex.batch_due(timestamp),
    )
}
