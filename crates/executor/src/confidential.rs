//! Confidential execution (`specs/confidential.md` §2–§4) inside the EVM.
//!
//! - The envelope of a transaction is opened here, in execution, never at admission: the
//!   top-level frame's calldata (or init code) is replaced by the plaintext, so intrinsic and
//!   floor gas are those of the envelope bytes (gas does not reveal the plaintext's zero
//!   bytes). An envelope that does not open makes the top frame revert at once: status 0,
//!   intrinsic gas only, nothing about the plaintext anywhere.
//! - Confidential contracts are recorded in replicated state: slot `address` of the registry
//!   account [`REGISTRY`] holds 1. A contract created at the top level of an enveloped
//!   transaction, or created by a confidential contract, is confidential; the flag is set
//!   in the journal, so a reverted creation leaves none.
//! - Logs emitted by confidential contracts are private: [`split_logs`] takes them out of
//!   the receipt (hence out of the bloom, filters and subscriptions) into the sealed result.
//! - The public-log precompile [`PUBLIC_LOG`] (`abi.encode(bytes32[] topics, bytes data)`,
//!   at most 4 topics) emits a marker log at its own address that [`split_logs`] turns into
//!   a public log of the calling contract.

use alloy_primitives::{Address, B256, Bytes, Log, LogData, U256, address};
use alloy_sol_types::SolValue;
use revm::context::{ContextTr, JournalTr};
use revm::inspector::Inspector;
use revm::interpreter::{
    CallInput, CallInputs, CallOutcome, CreateInputs, CreateOutcome, Gas, InstructionResult,
    InterpreterResult, interpreter::EthInterpreter,
};
use txnchain_crypto::envelope::{Binding, Envelope, Payload, classify};
use txnchain_crypto::keys::NetworkKeys;
use txnchain_crypto::result::{ExecutionResult, ResultKey};
use txnchain_primitives::RecoveredTx;

/// The registry of confidential contracts: storage slot `address` = 1. Created in genesis
/// with nonce 1 so that touching it never deletes it (EIP-161).
pub const REGISTRY: Address = address!("0000000000000000000000000000000000000c00");
/// The public-log precompile.
pub const PUBLIC_LOG: Address = address!("0000000000000000000000000000000000000c01");
/// Gas of a public log: as `LOGn` (375 + 375 per topic + 8 per data byte) plus a call's
/// base of 100.
const PUBLIC_LOG_BASE_GAS: u64 = 475;

/// The registry slot of `address`.
pub fn registry_slot(address: Address) -> U256 {
    U256::from_be_slice(address.as_slice())
}

/// What to do with the top frame of one execution.
#[derive(Debug, Clone, Default)]
pub enum TopFrame {
    /// Run as sent.
    #[default]
    AsSent,
    /// Replace the calldata / init code with this plaintext (an opened envelope).
    Plaintext(Bytes),
    /// The envelope did not open: revert at once.
    Fail,
}

/// The inspector of confidential execution. One per EVM; [`ConfidentialInspector::reset`]
/// before each transaction.
#[derive(Debug, Default)]
pub struct ConfidentialInspector {
    top: TopFrame,
    enveloped: bool,
}

impl ConfidentialInspector {
    /// Prepares for the next transaction.
    pub fn reset(&mut self, top: TopFrame, enveloped: bool) {
        self.top = top;
        self.enveloped = enveloped;
    }
}

fn revert_outcome(gas_limit: u64) -> InterpreterResult {
    InterpreterResult::new(InstructionResult::Revert, Bytes::new(), Gas::new(gas_limit))
}

/// Whether `address` is flagged in the registry, read through the journal (so flags set
/// earlier in the same transaction count). The registry account is loaded first: revm reads
/// storage only of loaded accounts.
fn is_confidential<CTX: ContextTr>(context: &mut CTX, address: Address) -> Result<bool, ()> {
    let journal = context.journal_mut();
    journal.load_account(REGISTRY).map_err(|_| ())?;
    journal
        .sload(REGISTRY, registry_slot(address))
        .map(|v| !v.data.is_zero())
        .map_err(|_| ())
}

impl<CTX: ContextTr> Inspector<CTX, EthInterpreter> for ConfidentialInspector {
    fn call(&mut self, context: &mut CTX, inputs: &mut CallInputs) -> Option<CallOutcome> {
        if context.journal_mut().depth() == 0 {
            match std::mem::take(&mut self.top) {
                TopFrame::AsSent => {}
                TopFrame::Plaintext(data) => inputs.input = CallInput::Bytes(data),
                TopFrame::Fail => {
                    return Some(CallOutcome::new(
                        revert_outcome(inputs.gas_limit),
                        inputs.return_memory_offset.clone(),
                    ));
                }
            }
        }
        if inputs.bytecode_address == PUBLIC_LOG && inputs.target_address == PUBLIC_LOG {
            return Some(public_log(context, inputs));
        }
        None
    }

    fn create(&mut self, context: &mut CTX, inputs: &mut CreateInputs) -> Option<CreateOutcome> {
        if context.journal_mut().depth() == 0 {
            match std::mem::take(&mut self.top) {
                TopFrame::AsSent => {}
                TopFrame::Plaintext(code) => inputs.set_init_code(code),
                TopFrame::Fail => {
                    return Some(CreateOutcome::new(revert_outcome(inputs.gas_limit()), None));
                }
            }
        }
        None
    }

    fn create_end(
        &mut self,
        context: &mut CTX,
        inputs: &CreateInputs,
        outcome: &mut CreateOutcome,
    ) {
        let Some(created) = outcome.address else {
            return;
        };
        if !outcome.result.result.is_ok() {
            return;
        }
        let top = context.journal_mut().depth() == 0;
        let inherit = if top && self.enveloped {
            Ok(true)
        } else {
            is_confidential(context, inputs.caller())
        };
        let Ok(inherit) = inherit else {
            outcome.result.result = InstructionResult::FatalExternalError;
            return;
        };
        if inherit {
            let journal = context.journal_mut();
            if journal.load_account(REGISTRY).is_err()
                || journal
                    .sstore(REGISTRY, registry_slot(created), U256::from(1))
                    .is_err()
            {
                outcome.result.result = InstructionResult::FatalExternalError;
            }
        }
    }
}

fn public_log<CTX: ContextTr>(context: &mut CTX, inputs: &CallInputs) -> CallOutcome {
    let offset = inputs.return_memory_offset.clone();
    let fail = |gas_limit| CallOutcome::new(revert_outcome(gas_limit), offset.clone());
    if inputs.is_static {
        return fail(inputs.gas_limit);
    }
    let data = inputs.input.bytes(context);
    let Ok((topics, body)) = <(Vec<B256>, Bytes)>::abi_decode_params(&data) else {
        return fail(inputs.gas_limit);
    };
    if topics.len() > 4 {
        return fail(inputs.gas_limit);
    }
    let cost = (topics.len() as u64)
        .saturating_mul(375)
        .saturating_add((body.len() as u64).saturating_mul(8))
        .saturating_add(PUBLIC_LOG_BASE_GAS);
    let mut gas = Gas::new(inputs.gas_limit);
    if !gas.record_regular_cost(cost) {
        return CallOutcome::new(
            InterpreterResult::new(
                InstructionResult::OutOfGas,
                Bytes::new(),
                Gas::new(inputs.gas_limit),
            ),
            offset,
        );
    }
    let mut marked = Vec::with_capacity(20 + body.len());
    marked.extend_from_slice(inputs.caller.as_slice());
    marked.extend_from_slice(&body);
    context.journal_mut().log(Log {
        address: PUBLIC_LOG,
        data: LogData::new_unchecked(topics, marked.into()),
    });
    CallOutcome::new(
        InterpreterResult::new(InstructionResult::Stop, Bytes::new(), gas),
        offset,
    )
}

/// Splits a transaction's logs into public logs (kept in the receipt) and private logs (for
/// the sealed result). Precompile markers become public logs of their caller.
pub fn split_logs(
    logs: Vec<Log>,
    mut confidential: impl FnMut(Address) -> bool,
) -> (Vec<Log>, Vec<Log>) {
    let mut public = Vec::with_capacity(logs.len());
    let mut private = Vec::new();
    for log in logs {
        if log.address == PUBLIC_LOG {
            let data = &log.data.data;
            if data.len() >= 20 {
                public.push(Log {
                    address: Address::from_slice(&data[..20]),
                    data: LogData::new_unchecked(
                        log.data.topics().to_vec(),
                        Bytes::copy_from_slice(&data[20..]),
                    ),
                });
            }
        } else if confidential(log.address) {
            private.push(log);
        } else {
            public.push(log);
        }
    }
    (public, private)
}

/// How a transaction's calldata is to be run, decided before execution.
pub struct Prepared {
    /// The top frame.
    pub top: TopFrame,
    /// The key its result is sealed with (`None` for plaintext transactions).
    pub result_key: Option<ResultKey>,
}

/// Opens `tx`'s envelope if it has one, judging the epoch against `block_epoch`. Never
/// fails: an envelope that does not open is [`TopFrame::Fail`] with a result key that only
/// the network can derive (the sender then cannot open the result: it did not open).
pub fn prepare_tx(keys: Option<&NetworkKeys>, tx: &RecoveredTx, block_epoch: u64) -> Prepared {
    use alloy_consensus::Transaction as _;
    let data = tx.envelope().input();
    match classify(data) {
        Payload::Plain => Prepared {
            top: TopFrame::AsSent,
            result_key: None,
        },
        Payload::SignedQuery | Payload::Envelope => {
            let opened = keys.and_then(|keys| {
                let env = Envelope::parse(data).ok()?;
                env.check_epoch(block_epoch).ok()?;
                let binding = Binding::Tx {
                    sender: tx.sender(),
                    to: tx.envelope().to(),
                    nonce: tx.nonce(),
                };
                env.open(&keys.epoch_key(env.epoch), keys.chain_id(), &binding)
                    .ok()
            });
            match opened {
                Some(o) => Prepared {
                    top: TopFrame::Plaintext(Bytes::copy_from_slice(&o.plaintext)),
                    result_key: Some(o.result_key),
                },
                None => Prepared {
                    top: TopFrame::Fail,
                    result_key: keys.map(|k| k.unopened_result_key(tx.hash().as_slice())),
                },
            }
        }
    }
}

/// The sealed result of an enveloped transaction.
pub fn seal(key: &ResultKey, success: bool, output: Bytes, private_logs: Vec<Log>) -> Bytes {
    let result = ExecutionResult {
        status: u8::from(success),
        output,
        logs: private_logs,
    };
    txnchain_crypto::result::seal_result(key, &result)
        .map(Bytes::from)
        .unwrap_or_default()
}
