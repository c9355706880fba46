//! Block execution and sealing on a real store: what is included, what is skipped and why,
//! strict replay, the roots of the sealed header, and calls and every tracer on the result.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_primitives::{Address, Bytes, TxKind, U256, address};
use alloy_rpc_types_trace::geth::{
    GethDebugBuiltInTracerType, GethDebugTracerType, GethDebugTracingOptions, GethTrace,
};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use revm::context::result::{ExecutionResult, HaltReason};
use txnchain_executor::block::{SkipReason, context_of};
use txnchain_executor::call::{Limits, call, call_cfg, halt_message, trace};
use txnchain_executor::env::{BlockContext, CallInput, call_env};
use txnchain_executor::{ExecError, Overlay, SnapshotState, execute_block, seal_block};
use txnchain_primitives::{ChainSpec, GenesisAccount, GenesisConfig, RecoveredTx, TxRejection};
use txnchain_storage::{Store, StoreOptions};

/// `PUSH1 0x2a PUSH1 0 SSTORE PUSH1 1 PUSH1 0 LOG0 STOP`: stores 42 at slot 0 and logs.
const STORE_AND_LOG: &[u8] = &[
    0x60, 0x2a, 0x60, 0x00, 0x55, 0x60, 0x01, 0x60, 0x00, 0xa0, 0x00,
];
/// `PUSH1 0 PUSH1 0 REVERT`.
const REVERTS: &[u8] = &[0x60, 0x00, 0x60, 0x00, 0xfd];
/// `INVALID`.
const INVALID: &[u8] = &[0xfe];
const CONTRACT: Address = address!("00000000000000000000000000000000000c0de0");
const REVERTER: Address = address!("00000000000000000000000000000000000c0de1");
const BROKEN: Address = address!("00000000000000000000000000000000000c0de2");

struct Chain {
    _dir: tempfile::TempDir,
    store: Store,
    spec: ChainSpec,
    key: PrivateKeySigner,
}

fn chain() -> Chain {
    let key = PrivateKeySigner::random();
    let mut alloc = BTreeMap::new();
    alloc.insert(
        key.address(),
        GenesisAccount {
            balance: U256::from(10u64).pow(U256::from(20)),
            ..Default::default()
        },
    );
    for (a, code) in [
        (CONTRACT, STORE_AND_LOG),
        (REVERTER, REVERTS),
        (BROKEN, INVALID),
    ] {
        alloc.insert(
            a,
            GenesisAccount {
                code: Bytes::from_static(code),
                ..Default::default()
            },
        );
    }
    let genesis = GenesisConfig {
        spec: ChainSpec::default(),
        timestamp: 0,
        extra_data: Bytes::new(),
        alloc,
    };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &dir.path().join("chain.redb"),
        StoreOptions::default(),
        txnchain_storage::fresh_at_rest_codec().unwrap(),
    )
    .unwrap();
    txnchain_ledger::genesis::init_genesis(&store, &genesis).unwrap();
    Chain {
        _dir: dir,
        store,
        spec: genesis.spec,
        key,
    }
}

fn tx(key: &PrivateKeySigner, nonce: u64, to: Address, value: u64) -> RecoveredTx {
    let t = TxEip1559 {
        chain_id: 424242,
        nonce,
        gas_limit: 100_000,
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: 1,
        to: TxKind::Call(to),
        value: U256::from(value),
        access_list: Default::default(),
        input: Bytes::new(),
    };
    let sig = key.sign_hash_sync(&t.signature_hash()).unwrap();
    let env: TxEnvelope = t.into_signed(sig).into();
    RecoveredTx::from_envelope(env).unwrap()
}

fn next_context(c: &Chain) -> BlockContext {
    let snap = c.store.snapshot().unwrap();
    let parent = snap.header(0).unwrap().unwrap();
    BlockContext {
        number: 1,
        timestamp: 12,
        beneficiary: c.spec.beneficiary,
        prevrandao: BlockContext::derive_prevrandao(parent.hash),
        gas_limit: c.spec.block_gas_limit,
        base_fee: c.spec.base_fee,
        parent_hash: parent.hash,
    }
}

#[test]
fn a_block_includes_what_is_valid_and_says_why_it_skipped_the_rest() {
    let c = chain();
    let snap = c.store.snapshot().unwrap();
    let ctx = next_context(&c);
    let stranger = PrivateKeySigner::random();
    let txs = vec![
        tx(&c.key, 0, Address::repeat_byte(0xaa), 5),
        tx(&c.key, 1, CONTRACT, 0),
        tx(&c.key, 1, Address::repeat_byte(0xbb), 1), // nonce used by the previous one
        tx(&c.key, 7, Address::repeat_byte(0xcc), 1), // a gap
        tx(&stranger, 0, Address::repeat_byte(0xdd), 1), // no funds
    ];
    let executed = execute_block(
        &c.spec,
        &ctx,
        SnapshotState::latest(&snap),
        txs.clone(),
        false,
        None,
        None,
    )
    .unwrap();
    assert_eq!(executed.transactions.len(), 2);
    assert_eq!(executed.receipts.len(), 2);
    assert!(executed.receipts.iter().all(|r| r.success));
    assert_eq!(executed.receipts[1].logs.len(), 1);
    let skipped: Vec<_> = executed
        .skipped
        .iter()
        .map(|s| (s.hash, s.why.clone()))
        .collect();
    assert_eq!(
        skipped[0],
        (
            txs[2].hash(),
            SkipReason::Rejected(TxRejection::NonceTooLow { next: 2, tx: 1 })
        )
    );
    assert_eq!(
        skipped[1],
        (
            txs[3].hash(),
            SkipReason::Rejected(TxRejection::NonceTooHigh { next: 2, tx: 7 })
        )
    );
    assert!(!skipped[1].1.is_permanent(), "a gap may fill");
    assert!(
        matches!(&skipped[2].1, SkipReason::Rejected(TxRejection::InsufficientFunds { address, .. }) if *address == stranger.address()),
        "{:?}",
        skipped[2]
    );
    assert!(skipped[2].1.is_permanent());
    assert_eq!(
        executed.changes.storage[&CONTRACT][&U256::ZERO],
        U256::from(42)
    );

    // Sealed: the roots are the transactions', receipts' and state's.
    let txnchain_executor::Sealed {
        header, prepared, ..
    } = seal_block(&ctx, &executed, &snap).unwrap();
    let h = &header.header;
    assert_eq!(h.number, 1);
    assert_eq!(h.gas_used, executed.gas_used);
    assert_eq!(h.state_root, prepared.state_root);
    let envelopes: Vec<TxEnvelope> = executed
        .transactions
        .iter()
        .map(|t| t.envelope().clone())
        .collect();
    assert_eq!(
        h.transactions_root,
        alloy_consensus::proofs::calculate_transaction_root(&envelopes)
    );
    assert_ne!(h.receipts_root, alloy_consensus::constants::EMPTY_ROOT_HASH);
    assert_ne!(
        h.state_root,
        snap.header(0).unwrap().unwrap().header.state_root
    );
    assert_eq!(context_of(h), ctx);
    assert!(
        h.logs_bloom
            .contains_input(alloy_primitives::BloomInput::Raw(CONTRACT.as_slice()))
    );

    // Replayed strictly (a sealed block from elsewhere), an invalid transaction is an error
    // naming it, not a skip.
    let replay = execute_block(
        &c.spec,
        &ctx,
        SnapshotState::latest(&snap),
        txs[..3].to_vec(),
        true,
        None,
        None,
    );
    match replay {
        Err(ExecError::InvalidInBlock { hash, rejection }) => {
            assert_eq!(hash, txs[2].hash());
            assert_eq!(rejection, TxRejection::NonceTooLow { next: 2, tx: 1 });
        }
        other => panic!("{other:?}"),
    }
}

fn call_input(to: Address) -> CallInput {
    CallInput {
        from: Address::repeat_byte(0x11),
        to: Some(to),
        gas: 1_000_000,
        ..Default::default()
    }
}

#[test]
fn calls_succeed_revert_and_halt_with_geths_messages() {
    let c = chain();
    let snap = c.store.snapshot().unwrap();
    let ctx = next_context(&c);
    let overlay = Overlay::new(SnapshotState::latest(&snap));
    let limits = Limits::new(std::time::Duration::from_secs(5));
    let ok = call(&c.spec, &ctx, &overlay, &call_input(CONTRACT), &limits).unwrap();
    assert!(ok.result.is_success());
    let reverted = call(&c.spec, &ctx, &overlay, &call_input(REVERTER), &limits).unwrap();
    assert!(matches!(reverted.result, ExecutionResult::Revert { .. }));
    let halted = call(&c.spec, &ctx, &overlay, &call_input(BROKEN), &limits).unwrap();
    match halted.result {
        ExecutionResult::Halt { reason, .. } => {
            assert_eq!(reason, HaltReason::InvalidFEOpcode);
            assert_eq!(halt_message(&reason, 1_000_000), "invalid opcode");
        }
        other => panic!("{other:?}"),
    }
    let oog = call(
        &c.spec,
        &ctx,
        &overlay,
        &CallInput {
            gas: 21_100,
            ..call_input(CONTRACT)
        },
        &limits,
    )
    .unwrap();
    match oog.result {
        ExecutionResult::Halt { reason, .. } => assert_eq!(
            halt_message(&reason, 21_100),
            "out of gas: gas required exceeds allowance (21100)"
        ),
        other => panic!("{other:?}"),
    }
}

fn traced(c: &Chain, tracer: Option<GethDebugBuiltInTracerType>) -> Result<GethTrace, ExecError> {
    let snap = c.store.snapshot().unwrap();
    let ctx = next_context(c);
    let overlay = Overlay::new(SnapshotState::latest(&snap));
    let input = call_input(CONTRACT);
    let opts = GethDebugTracingOptions {
        tracer: tracer.map(GethDebugTracerType::BuiltInTracer),
        ..Default::default()
    };
    trace(
        &c.spec,
        &ctx,
        &overlay,
        call_env(&input, c.spec.chain_id, 0),
        call_cfg(&c.spec, ctx.number, &input),
        &opts,
        &Limits::new(std::time::Duration::from_secs(5)),
    )
    .map(|(trace, _touched)| trace)
}

#[test]
fn every_tracer_describes_the_call() {
    let c = chain();
    let v = |t: GethTrace| serde_json::to_value(t).unwrap();
    let logs = v(traced(&c, None).unwrap());
    let ops: Vec<&str> = logs["structLogs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["op"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops,
        ["PUSH1", "PUSH1", "SSTORE", "PUSH1", "PUSH1", "LOG0", "STOP"]
    );
    assert_eq!(logs["failed"], false);
    let calls = v(traced(&c, Some(GethDebugBuiltInTracerType::CallTracer)).unwrap());
    assert_eq!(calls["type"], "CALL");
    assert_eq!(
        calls["to"].as_str().unwrap().to_lowercase(),
        format!("{CONTRACT:#x}")
    );
    let pre = v(traced(&c, Some(GethDebugBuiltInTracerType::PreStateTracer)).unwrap());
    let has = |a: Address| {
        pre.as_object()
            .unwrap()
            .keys()
            .any(|k| k.eq_ignore_ascii_case(&format!("{a:#x}")))
    };
    assert!(has(CONTRACT), "{pre}");
    let noop = v(traced(&c, Some(GethDebugBuiltInTracerType::NoopTracer)).unwrap());
    assert_eq!(noop, serde_json::json!({}));
    let other = traced(&c, Some(GethDebugBuiltInTracerType::FourByteTracer));
    assert!(
        matches!(&other, Err(ExecError::Evm(m)) if m.contains("is not supported")),
        "{other:?}"
    );
}
