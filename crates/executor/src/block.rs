//! Executing and sealing blocks.

use alloy_consensus::{EMPTY_OMMER_ROOT_HASH, Header, ReceiptEnvelope, proofs};
use alloy_eips::eip2718::Encodable2718;
use alloy_eips::eip7685::EMPTY_REQUESTS_HASH;
use alloy_primitives::{B256, Bloom, Bytes, U256};
use revm::context::TxEnv;
use revm::context::result::{EVMError, InvalidTransaction};
use revm::{Context, InspectCommitEvm, MainBuilder, MainContext};
use txnchain_crypto::keys::NetworkKeys;

use crate::confidential::{
    ConfidentialInspector, OpenedAhead, REGISTRY, prepare_tx, registry_slot, split_logs,
};
use txnchain_primitives::{ChainSpec, RecoveredTx, SealedHeader, StoredReceipt, TxRejection};
use txnchain_storage::{PreparedState, Snapshot, StateChanges};

pub use crate::env::BlockContext;
use crate::env::{cfg_env, tx_env};
use crate::{ExecError, Overlay, StateSource};

/// A transaction the builder left out, and whether it can never become valid.
#[derive(Debug, Clone)]
pub struct Skipped {
    /// The transaction.
    pub hash: B256,
    /// Why.
    pub why: SkipReason,
}

/// Why a block being built left a transaction out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// The block has no room (count or gas) left for it: it may fit a later block.
    BlockFull,
    /// The EVM refused it.
    Rejected(TxRejection),
}

impl SkipReason {
    /// `true` when the transaction can never be included (nonce too low, unaffordable…);
    /// `false` when it may fit a later block (nonce gap, block full).
    pub fn is_permanent(&self) -> bool {
        match self {
            SkipReason::BlockFull => false,
            SkipReason::Rejected(r) => r.is_permanent(),
        }
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::BlockFull => f.write_str("block full"),
            SkipReason::Rejected(r) => r.fmt(f),
        }
    }
}

/// The result of executing a block's transactions.
#[derive(Debug, Clone, Default)]
pub struct Executed {
    /// Included transactions, in order.
    pub transactions: Vec<RecoveredTx>,
    /// One receipt per included transaction.
    pub receipts: Vec<StoredReceipt>,
    /// State written by the block.
    pub changes: StateChanges,
    /// Total gas used.
    pub gas_used: u64,
    /// Transactions left out (build mode only).
    pub skipped: Vec<Skipped>,
    /// Sealed results of the enveloped transactions, by hash.
    pub sealed_results: Vec<(B256, Bytes)>,
}

/// The [`TxRejection`] (geth's message) of a transaction `tx` that revm's validation refused
/// in a block with `base_fee` on chain `chain_id`.
pub fn rejection(e: &InvalidTransaction, tx: &TxEnv, base_fee: u64, chain_id: u64) -> TxRejection {
    use InvalidTransaction as I;
    let max_fee = tx.gas_price;
    match e {
        I::NonceTooLow { tx: n, state } => TxRejection::NonceTooLow {
            next: *state,
            tx: *n,
        },
        I::NonceTooHigh { tx: n, state } => TxRejection::NonceTooHigh {
            next: *state,
            tx: *n,
        },
        I::LackOfFundForMaxFee { fee, balance } => TxRejection::InsufficientFunds {
            address: tx.caller,
            have: **balance,
            want: Box::new(alloy_primitives::U512::from(**fee)),
        },
        I::OverflowPaymentInTransaction => TxRejection::InsufficientFunds {
            address: tx.caller,
            have: U256::ZERO,
            want: TxRejection::cost(tx.gas_limit, max_fee, tx.value),
        },
        I::CallGasCostMoreThanGasLimit {
            initial_gas,
            gas_limit,
        } => TxRejection::IntrinsicGasTooLow {
            gas: *gas_limit,
            needed: *initial_gas,
        },
        I::GasFloorMoreThanGasLimit {
            gas_floor,
            gas_limit,
        } => TxRejection::FloorDataGas {
            gas: *gas_limit,
            needed: *gas_floor,
        },
        I::CallerGasLimitMoreThanBlock => TxRejection::ExceedsBlockGasLimit,
        I::TxGasLimitGreaterThanCap { gas_limit, cap } => TxRejection::GasLimitAboveCap {
            cap: *cap,
            gas: *gas_limit,
        },
        I::GasPriceLessThanBasefee => TxRejection::FeeCapBelowBaseFee {
            address: tx.caller,
            max_fee,
            base_fee,
        },
        I::PriorityFeeGreaterThanMaxFee => TxRejection::TipAboveFeeCap {
            address: tx.caller,
            tip: tx.gas_priority_fee.unwrap_or_default(),
            max_fee,
        },
        I::RejectCallerWithCode => TxRejection::SenderNotEoa { address: tx.caller },
        I::InvalidChainId | I::MissingChainId => TxRejection::ChainIdMismatch {
            have: tx.chain_id.unwrap_or_default(),
            want: chain_id,
        },
        I::CreateInitCodeSizeLimit => TxRejection::InitCodeTooLarge {
            size: tx.data.len(),
            limit: 49_152,
        },
        I::EmptyAuthorizationList => TxRejection::EmptyAuthorizationList,
        other => TxRejection::Evm {
            reason: other.to_string(),
        },
    }
}

/// Executes `txs` on top of `base` in block context `ctx`.
///
/// With `strict`, any transaction that fails validation is an error (replaying a sealed
/// block); otherwise it is skipped and reported (building a block). Enveloped transactions
/// are opened with `keys` (see [`crate::confidential`]), or taken from `ahead` when they were
/// opened there already; without keys none opens.
pub fn execute_block<S: StateSource>(
    chain: &ChainSpec,
    ctx: &BlockContext,
    base: S,
    txs: impl IntoIterator<Item = RecoveredTx>,
    strict: bool,
    keys: Option<&NetworkKeys>,
    ahead: Option<&OpenedAhead>,
) -> Result<Executed, ExecError> {
    let overlay = Overlay::new(base);
    let mut evm = Context::mainnet()
        .with_db(overlay)
        .with_cfg(cfg_env(chain, ctx.number))
        .with_block(ctx.block_env())
        .build_mainnet_with_inspector(ConfidentialInspector::default());
    let epoch = chain.epoch_at(ctx.timestamp);
    let mut flags = std::collections::HashMap::<alloy_primitives::Address, bool>::new();
    let mut out = Executed::default();
    let mut log_index = 0u64;
    for tx in txs {
        if out.transactions.len() >= chain.max_block_txs {
            if strict {
                return Err(ExecError::InvalidBlock("too many transactions".into()));
            }
            out.skipped.push(Skipped {
                hash: tx.hash(),
                why: SkipReason::BlockFull,
            });
            continue;
        }
        if out.gas_used.saturating_add(tx.gas_limit()) > ctx.gas_limit {
            if strict {
                return Err(ExecError::InvalidBlock("block gas limit exceeded".into()));
            }
            out.skipped.push(Skipped {
                hash: tx.hash(),
                why: SkipReason::BlockFull,
            });
            continue;
        }
        let env = tx_env(&tx);
        // Opened here, after the block-space checks: a transaction the block has no room
        // for is not decrypted.
        let prepared = prepare_tx(keys, &tx, epoch, ahead);
        let enveloped = prepared.result_key.is_some();
        evm.inspector.reset(prepared.top, enveloped);
        let result = match evm.inspect_tx_commit(env.clone()) {
            Ok(r) => r,
            Err(EVMError::Transaction(e)) => {
                let rejection = rejection(&e, &env, ctx.base_fee, chain.chain_id);
                if strict {
                    return Err(ExecError::InvalidInBlock {
                        hash: tx.hash(),
                        rejection,
                    });
                }
                out.skipped.push(Skipped {
                    hash: tx.hash(),
                    why: SkipReason::Rejected(rejection),
                });
                continue;
            }
            Err(EVMError::Database(e)) => return Err(e),
            Err(e) => return Err(ExecError::Evm(e.to_string())),
        };
        let gas_used = result.tx_gas_used();
        out.gas_used += gas_used;
        let db = &mut evm.ctx.journaled_state.database;
        let mut lookup_error = None;
        let (logs, private) = split_logs(result.logs().to_vec(), |a| {
            *flags.entry(a).or_insert_with(|| {
                match revm::Database::storage(db, REGISTRY, registry_slot(a)) {
                    Ok(v) => !v.is_zero(),
                    Err(e) => {
                        lookup_error = Some(e);
                        true
                    }
                }
            })
        });
        if let Some(e) = lookup_error {
            return Err(e);
        }
        if let Some(key) = &prepared.result_key {
            let output = result.output().cloned().unwrap_or_default();
            out.sealed_results.push((
                tx.hash(),
                crate::confidential::seal(key, result.is_success(), output, private),
            ));
        }
        let n_logs = logs.len() as u64;
        out.receipts.push(StoredReceipt {
            tx_type: tx.envelope().tx_type() as u8,
            success: result.is_success(),
            cumulative_gas_used: out.gas_used,
            gas_used,
            effective_gas_price: tx.effective_gas_price(ctx.base_fee),
            from: tx.sender(),
            to: match alloy_consensus::Transaction::to(tx.envelope()) {
                Some(a) => Bytes::copy_from_slice(a.as_slice()),
                None => Bytes::new(),
            },
            contract_address: result
                .created_address()
                .map(|a| Bytes::copy_from_slice(a.as_slice()))
                .unwrap_or_default(),
            logs,
            first_log_index: log_index,
        });
        log_index += n_logs;
        out.transactions.push(tx);
    }
    // Pixie DEX: the batch close, as a system call after the last transaction.
    if crate::pixie::batch_due(
        &mut evm.ctx.journaled_state.database,
        chain.chain_id,
        ctx.timestamp,
    )? {
        use revm::{DatabaseCommit, InspectSystemCallEvm};
        evm.inspector
            .reset(crate::confidential::TopFrame::AsSent, false);
        let done = evm
            .inspect_system_call_with_caller(
                revm::handler::SYSTEM_ADDRESS,
                crate::pixie::PIXIE,
                crate::pixie::end_of_block_calldata(),
            )
            .map_err(|e| ExecError::Evm(format!("Pixie DEX batch close: {e}")))?;
        if !done.result.is_success() {
            return Err(ExecError::Evm("Pixie DEX batch close failed".into()));
        }
        let mut state = done.state;
        // The system caller is no account of the chain (as for EIP-4788's call).
        state.remove(&revm::handler::SYSTEM_ADDRESS);
        evm.ctx.journaled_state.database.commit(state);
    }
    let mut overlay = evm.ctx.journaled_state.database;
    // All fees go to the beneficiary: revm pays it the priority fee; the base fee, which
    // Ethereum burns, is credited here.
    if out.gas_used > 0 {
        let burned = U256::from(ctx.base_fee) * U256::from(out.gas_used);
        overlay.add_balance(ctx.beneficiary, burned)?;
    }
    out.changes = overlay.into_changes();
    Ok(out)
}

/// A sealed block's header and what to write with it.
#[derive(Debug)]
pub struct Sealed {
    /// The sealed header.
    pub header: SealedHeader,
    /// The state's and the ledger tree's updates, against the parent.
    pub prepared: PreparedState,
    /// Time spent on the ledger tree (leaf hashes and append), for `/metrics`.
    pub ledger_tree_time: std::time::Duration,
}

/// Computes the block's roots and seals its header. `parent` is the snapshot the block was
/// executed on.
pub fn seal_block(
    ctx: &BlockContext,
    executed: &Executed,
    parent: &Snapshot,
) -> Result<Sealed, ExecError> {
    let mut prepared = parent.prepare_state(&executed.changes)?;
    // Built and encoded once: for the receipts root and bloom, and for the ledger tree's leaves.
    let receipts = BlockReceipts::of(&executed.receipts);
    let tree_started = std::time::Instant::now();
    let (ledger_root, ledger_tree) =
        parent.ledger_tree_append(ledger_leaves(executed, &receipts.encoded))?;
    let ledger_tree_time = tree_started.elapsed();
    prepared.ledger_tree = ledger_tree;
    let header = seal_header_with(
        ctx,
        &executed.transactions,
        &receipts,
        executed.gas_used,
        prepared.state_root,
        Bytes::copy_from_slice(ledger_root.as_slice()),
    );
    Ok(Sealed {
        header,
        prepared,
        ledger_tree_time,
    })
}

/// A block's receipts as the header needs them: envelopes (for the bloom) and their EIP-2718
/// encodings (for the receipts root and the ledger leaves), each built once.
struct BlockReceipts {
    envelopes: Vec<ReceiptEnvelope>,
    encoded: Vec<Vec<u8>>,
}

impl BlockReceipts {
    fn of(receipts: &[StoredReceipt]) -> Self {
        let envelopes: Vec<ReceiptEnvelope> =
            receipts.iter().map(StoredReceipt::envelope).collect();
        let encoded = envelopes.iter().map(Encodable2718::encoded_2718).collect();
        BlockReceipts { envelopes, encoded }
    }
}

/// The ledger tree leaf hashes of a block's transactions (`specs/receipts.md` §1), in order.
fn ledger_leaves(executed: &Executed, receipts_encoded: &[Vec<u8>]) -> Vec<[u8; 32]> {
    let sealed: std::collections::HashMap<B256, &[u8]> = executed
        .sealed_results
        .iter()
        .map(|(hash, result)| (*hash, result.as_ref()))
        .collect();
    executed
        .transactions
        .iter()
        .zip(receipts_encoded)
        .map(|(tx, receipt)| {
            let receipt_hash = alloy_primitives::keccak256(receipt);
            let digest = txnchain_ledger_tree::result_digest(sealed.get(&tx.hash()).copied());
            txnchain_ledger_tree::ledger_leaf_hash(&tx.hash().0, &receipt_hash.0, &digest)
        })
        .collect()
}

/// The sealed header of a block in context `ctx` with these transactions and receipts,
/// `state_root` and `extra_data` (the ledger tree's root for a block of the chain; empty for
/// `eth_simulateV1`'s simulated blocks, which are not in the ledger).
pub fn seal_header(
    ctx: &BlockContext,
    transactions: &[RecoveredTx],
    receipts: &[StoredReceipt],
    gas_used: u64,
    state_root: B256,
    extra_data: Bytes,
) -> SealedHeader {
    seal_header_with(
        ctx,
        transactions,
        &BlockReceipts::of(receipts),
        gas_used,
        state_root,
        extra_data,
    )
}

fn seal_header_with(
    ctx: &BlockContext,
    transactions: &[RecoveredTx],
    receipts: &BlockReceipts,
    gas_used: u64,
    state_root: B256,
    extra_data: Bytes,
) -> SealedHeader {
    let mut bloom = Bloom::ZERO;
    for r in &receipts.envelopes {
        bloom.accrue_bloom(r.logs_bloom());
    }
    let header = Header {
        parent_hash: ctx.parent_hash,
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        beneficiary: ctx.beneficiary,
        state_root,
        // The transactions' own EIP-2718 bytes, as received: no re-encoding.
        transactions_root: proofs::ordered_trie_root_encoded(
            &transactions
                .iter()
                .map(RecoveredTx::encoded)
                .collect::<Vec<_>>(),
        ),
        receipts_root: proofs::ordered_trie_root_encoded(&receipts.encoded),
        logs_bloom: bloom,
        difficulty: U256::ZERO,
        number: ctx.number,
        gas_limit: ctx.gas_limit,
        gas_used,
        timestamp: ctx.timestamp,
        extra_data,
        mix_hash: ctx.prevrandao,
        nonce: Default::default(),
        base_fee_per_gas: Some(ctx.base_fee),
        withdrawals_root: Some(alloy_trie_empty_root()),
        blob_gas_used: Some(0),
        excess_blob_gas: Some(0),
        parent_beacon_block_root: Some(B256::ZERO),
        requests_hash: Some(EMPTY_REQUESTS_HASH),
        ..Default::default()
    };
    SealedHeader::seal(header)
}

fn alloy_trie_empty_root() -> B256 {
    alloy_consensus::constants::EMPTY_WITHDRAWALS
}

/// The block context a sealed header fixes.
pub fn context_of(header: &Header) -> BlockContext {
    BlockContext {
        number: header.number,
        timestamp: header.timestamp,
        beneficiary: header.beneficiary,
        prevrandao: header.mix_hash,
        gas_limit: header.gas_limit,
        base_fee: header.base_fee_per_gas.unwrap_or_default(),
        parent_hash: header.parent_hash,
    }
}

/// Checks a re-executed block against its sealed header.
pub fn compare_roots(expected: &Header, computed: &Header) -> Result<(), ExecError> {
    let checks: [(&'static str, String, String); 6] = [
        (
            "extraData (ledger tree root)",
            expected.extra_data.to_string(),
            computed.extra_data.to_string(),
        ),
        (
            "stateRoot",
            expected.state_root.to_string(),
            computed.state_root.to_string(),
        ),
        (
            "receiptsRoot",
            expected.receipts_root.to_string(),
            computed.receipts_root.to_string(),
        ),
        (
            "transactionsRoot",
            expected.transactions_root.to_string(),
            computed.transactions_root.to_string(),
        ),
        (
            "gasUsed",
            expected.gas_used.to_string(),
            computed.gas_used.to_string(),
        ),
        (
            "logsBloom",
            expected.logs_bloom.to_string(),
            computed.logs_bloom.to_string(),
        ),
    ];
    for (what, e, c) in checks {
        if e != c {
            return Err(ExecError::Divergence {
                number: expected.number,
                what,
                expected: e,
                computed: c,
            });
        }
    }
    Ok(())
}

/// Executes `txs` in order on top of `base` and returns the overlay holding their writes:
/// the state just before the next transaction of the block (used to trace it). Envelopes are
/// opened as in [`execute_block`], so the state is the block's.
pub fn execute_prefix<S: StateSource>(
    chain: &ChainSpec,
    ctx: &BlockContext,
    base: S,
    txs: &[RecoveredTx],
    keys: Option<&NetworkKeys>,
) -> Result<Overlay<S>, ExecError> {
    let mut evm = Context::mainnet()
        .with_db(Overlay::new(base))
        .with_cfg(cfg_env(chain, ctx.number))
        .with_block(ctx.block_env())
        .build_mainnet_with_inspector(ConfidentialInspector::default());
    let epoch = chain.epoch_at(ctx.timestamp);
    for tx in txs {
        let env = tx_env(tx);
        let prepared = prepare_tx(keys, tx, epoch, None);
        let enveloped = prepared.result_key.is_some();
        evm.inspector.reset(prepared.top, enveloped);
        match evm.inspect_tx_commit(env.clone()) {
            Ok(_) => {}
            Err(EVMError::Transaction(e)) => {
                return Err(ExecError::InvalidInBlock {
                    hash: tx.hash(),
                    rejection: rejection(&e, &env, ctx.base_fee, chain.chain_id),
                });
            }
            Err(EVMError::Database(e)) => return Err(e),
            Err(e) => return Err(ExecError::Evm(e.to_string())),
        }
    }
    Ok(evm.ctx.journaled_state.database)
}
