//! Confidential execution (`specs/confidential.md` §2–§4) inside the EVM.
//!
//! - The envelope of a transaction is judged here, in execution, never at admission: the
//!   top-level frame's calldata (or init code) is replaced by the plaintext, so intrinsic and
//!   floor gas are those of the envelope bytes (gas does not reveal the plaintext's zero
//!   bytes). An envelope that does not open makes the top frame revert at once: status 0,
//!   intrinsic gas only, nothing about the plaintext anywhere. The decryption itself may
//!   have been done ahead, in memory, by the node's opening thread ([`OpenedAhead`]): the
//!   outcome is the same.
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
use txnchain_crypto::envelope::{Binding, Envelope, Opened, Payload, classify};
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
    pixie: crate::pixie::Native,
}

impl ConfidentialInspector {
    /// Prepares for the next transaction.
    pub fn reset(&mut self, top: TopFrame, enveloped: bool) {
        self.top = top;
        self.enveloped = enveloped;
        self.pixie.reset();
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
        if inputs.target_address == crate::pixie::PIXIE
            || inputs.bytecode_address == crate::pixie::PIXIE
        {
            return self.pixie.call(context, inputs);
        }
        None
    }

    fn call_end(&mut self, context: &mut CTX, inputs: &CallInputs, outcome: &mut CallOutcome) {
        // Only the token transfers the exchange starts have it as their caller.
        if inputs.caller == crate::pixie::PIXIE {
            self.pixie.call_end(context, outcome);
        }
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

/// Envelopes of admitted transactions opened ahead of execution, off the block path, kept in
/// this process's memory only (plaintexts and result keys are zeroized when dropped).
///
/// Opening is a pure function of the envelope, the transaction's binding and the network's
/// keys, and the transaction hash fixes the first two, so an entry is exactly what execution
/// would compute; execution still judges the epoch against its block and opens for itself on
/// a miss. Bounded by entry count and plaintext bytes: the oldest entries go first.
pub struct OpenedAhead {
    inner: parking_lot::Mutex<AheadInner>,
    max_entries: usize,
    max_bytes: usize,
}

#[derive(Default)]
struct AheadInner {
    opened: std::collections::HashMap<B256, Opened>,
    order: std::collections::VecDeque<B256>,
    bytes: usize,
}

/// At most this many envelopes are kept opened ahead.
const AHEAD_MAX_ENTRIES: usize = 32_768;
/// At most this many plaintext bytes are kept opened ahead.
const AHEAD_MAX_BYTES: usize = 32 << 20;

impl Default for OpenedAhead {
    fn default() -> Self {
        OpenedAhead::bounded(AHEAD_MAX_ENTRIES, AHEAD_MAX_BYTES)
    }
}

impl std::fmt::Debug for OpenedAhead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedAhead")
            .field("entries", &self.len())
            .finish_non_exhaustive()
    }
}

impl OpenedAhead {
    fn bounded(max_entries: usize, max_bytes: usize) -> Self {
        OpenedAhead {
            inner: parking_lot::Mutex::new(AheadInner::default()),
            max_entries,
            max_bytes,
        }
    }

    /// Keeps the opened envelope of the transaction `hash`, evicting the oldest entries
    /// beyond the bounds.
    pub fn insert(&self, hash: B256, opened: Opened) {
        let mut inner = self.inner.lock();
        let len = opened.plaintext.len();
        if len > self.max_bytes {
            return;
        }
        if let Some(old) = inner.opened.insert(hash, opened) {
            inner.bytes -= old.plaintext.len();
        } else {
            inner.order.push_back(hash);
        }
        inner.bytes += len;
        while inner.bytes > self.max_bytes
            || inner.opened.len() > self.max_entries
            || inner.order.len() > 2 * self.max_entries
        {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if let Some(gone) = inner.opened.remove(&oldest) {
                inner.bytes -= gone.plaintext.len();
            }
        }
    }

    /// Takes the opened envelope of the transaction `hash` out, if it was opened ahead.
    pub fn take(&self, hash: &B256) -> Option<Opened> {
        let mut inner = self.inner.lock();
        let opened = inner.opened.remove(hash)?;
        inner.bytes -= opened.plaintext.len();
        Some(opened)
    }

    /// Whether the transaction `hash` is opened ahead.
    pub fn contains(&self, hash: &B256) -> bool {
        self.inner.lock().opened.contains_key(hash)
    }

    fn len(&self) -> usize {
        self.inner.lock().opened.len()
    }
}

/// Opens the envelope of `tx` (whatever its epoch: execution judges that against its block),
/// or `None` when it has none or it does not open.
pub fn open_envelope(keys: &NetworkKeys, tx: &RecoveredTx) -> Option<Opened> {
    use alloy_consensus::Transaction as _;
    open_parsed(keys, &Envelope::parse(tx.envelope().input()).ok()?, tx)
}

/// Opens `env`, the parsed envelope of `tx`, under `tx`'s binding.
fn open_parsed(keys: &NetworkKeys, env: &Envelope<'_>, tx: &RecoveredTx) -> Option<Opened> {
    use alloy_consensus::Transaction as _;
    let binding = Binding::Tx {
        sender: tx.sender(),
        to: tx.envelope().to(),
        nonce: tx.nonce(),
    };
    env.open(&keys.epoch_key(env.epoch), keys.chain_id(), &binding)
        .ok()
}

/// Opens `tx`'s envelope if it has one, judging the epoch against `block_epoch`; an envelope
/// in `ahead` is taken from there instead of being opened again. Never fails: an envelope
/// that does not open is [`TopFrame::Fail`] with a result key that only the network can
/// derive (the sender then cannot open the result: it did not open).
pub fn prepare_tx(
    keys: Option<&NetworkKeys>,
    tx: &RecoveredTx,
    block_epoch: u64,
    ahead: Option<&OpenedAhead>,
) -> Prepared {
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
                ahead
                    .and_then(|a| a.take(&tx.hash()))
                    .or_else(|| open_parsed(keys, &env, tx))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use txnchain_crypto::keys::{LedgerSecret, ServiceIdentity};
    use zeroize::Zeroizing;

    fn opened(keys: &NetworkKeys, len: usize) -> Opened {
        Opened {
            plaintext: Zeroizing::new(vec![7; len]),
            result_key: keys.unopened_result_key(&len.to_be_bytes()),
        }
    }

    #[test]
    fn opened_ahead_is_bounded_by_entries_and_bytes_oldest_first() {
        let keys = NetworkKeys::new(
            1,
            ServiceIdentity::from_seed(&[1; 32]),
            LedgerSecret::from_bytes(Zeroizing::new([2; 32])),
        );
        let h = |n: u8| B256::repeat_byte(n);
        let ahead = OpenedAhead::bounded(2, 100);
        ahead.insert(h(1), opened(&keys, 10));
        ahead.insert(h(2), opened(&keys, 10));
        ahead.insert(h(3), opened(&keys, 10));
        assert_eq!(ahead.len(), 2);
        assert!(!ahead.contains(&h(1)), "the oldest goes first");
        assert_eq!(ahead.take(&h(2)).unwrap().plaintext.len(), 10);
        assert!(ahead.take(&h(2)).is_none(), "taken once");

        // Bytes: 10 + 95 > 100 evicts the older entry.
        ahead.insert(h(4), opened(&keys, 95));
        assert!(!ahead.contains(&h(3)) && ahead.contains(&h(4)));
        // Larger than the whole bound: not kept, nothing evicted for it.
        ahead.insert(h(5), opened(&keys, 101));
        assert!(!ahead.contains(&h(5)) && ahead.contains(&h(4)));
        // Re-inserting a hash replaces its entry without counting it twice.
        ahead.insert(h(4), opened(&keys, 50));
        ahead.insert(h(6), opened(&keys, 50));
        assert_eq!(ahead.len(), 2);
        assert_eq!(ahead.take(&h(4)).unwrap().plaintext.len(), 50);
    }
}
