//! Calls and traces stop at their deadline and within their size budget.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256, Bytes, U256, address};
use alloy_rpc_types_trace::geth::{GethDebugTracingOptions, GethDefaultTracingOptions};
use revm::context::result::ExecutionResult;
use txnchain_executor::call::{Limits, call, call_cfg, estimate_gas, trace};
use txnchain_executor::env::{BlockContext, CallInput, call_env};
use txnchain_executor::{ExecError, Overlay, StateSource};
use txnchain_primitives::ChainSpec;
use txnchain_storage::AccountRecord;

/// Nothing exists: accounts come from overrides.
struct Empty;

impl StateSource for Empty {
    fn account(&self, _: Address) -> Result<Option<AccountRecord>, ExecError> {
        Ok(None)
    }
    fn storage(&self, _: Address, _: U256) -> Result<U256, ExecError> {
        Ok(U256::ZERO)
    }
    fn code(&self, _: B256) -> Result<Option<Bytes>, ExecError> {
        Ok(None)
    }
    fn block_hash(&self, _: u64) -> Result<Option<B256>, ExecError> {
        Ok(None)
    }
}

const TARGET: Address = address!("00000000000000000000000000000000000c0de0");
const CALLER: Address = address!("00000000000000000000000000000000000ca11e");

/// `JUMPDEST PUSH1 0 JUMP`: loops until it runs out of gas.
const LOOP: &[u8] = &[0x5b, 0x60, 0x00, 0x56];
/// Touches memory at 16 KiB, then loops: every step of a memory-recording trace is 16 KiB.
const MEMORY_LOOP: &[u8] = &[0x61, 0x40, 0x00, 0x51, 0x50, 0x5b, 0x60, 0x05, 0x56];
/// `PUSH1 42 PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN`.
const RETURNS_42: &[u8] = &[0x60, 0x2a, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3];

fn setup(code: &[u8]) -> (ChainSpec, BlockContext, Overlay<Empty>) {
    let chain = ChainSpec::default();
    let ctx = BlockContext {
        number: 1,
        timestamp: 1,
        beneficiary: Address::ZERO,
        prevrandao: B256::ZERO,
        gas_limit: 2_000_000_000,
        base_fee: 0,
        parent_hash: B256::ZERO,
    };
    let mut overlay = Overlay::new(Empty);
    overlay
        .override_account(
            TARGET,
            None,
            None,
            Some(Bytes::copy_from_slice(code)),
            None,
            None,
        )
        .unwrap();
    (chain, ctx, overlay)
}

fn input(gas: u64) -> CallInput {
    CallInput {
        from: CALLER,
        to: Some(TARGET),
        gas,
        ..Default::default()
    }
}

#[test]
fn a_call_within_its_limits_returns_its_output() {
    let (chain, ctx, overlay) = setup(RETURNS_42);
    let r = call(
        &chain,
        &ctx,
        &overlay,
        &input(100_000),
        &Limits::new(Duration::from_secs(5)),
    )
    .unwrap();
    match r.result {
        ExecutionResult::Success { output, .. } => {
            assert_eq!(U256::from_be_slice(output.data()), U256::from(42));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_endless_loop_stops_at_the_deadline_with_geths_message() {
    let (chain, ctx, overlay) = setup(LOOP);
    let started = Instant::now();
    let err = call(
        &chain,
        &ctx,
        &overlay,
        &input(1_900_000_000),
        &Limits::new(Duration::from_millis(100)),
    )
    .unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, ExecError::Timeout { .. }), "{err:?}");
    assert_eq!(err.to_string(), "execution aborted (timeout = 100ms)");
    // 1.9 G gas of loop takes tens of seconds; the deadline cut it short.
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[test]
fn an_earlier_request_deadline_wins() {
    let (chain, ctx, overlay) = setup(LOOP);
    let limits = Limits::new(Duration::from_secs(60)).at_most(Some(Instant::now()));
    let started = Instant::now();
    let err = call(&chain, &ctx, &overlay, &input(1_900_000_000), &limits).unwrap_err();
    // The request's deadline, not the EVM timeout, stopped it: geth's "request timed out".
    assert!(matches!(err, ExecError::RequestDeadline), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn gas_estimation_shares_one_deadline() {
    let (chain, ctx, overlay) = setup(LOOP);
    let started = Instant::now();
    let err = estimate_gas(
        &chain,
        &ctx,
        &overlay,
        &input(1_900_000_000),
        1_900_000_000,
        &Limits::new(Duration::from_millis(100)),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            txnchain_executor::call::EstimateError::Exec(ExecError::Timeout { .. })
        ),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

fn struct_logger(memory: bool, limit: Option<u64>) -> GethDebugTracingOptions {
    GethDebugTracingOptions {
        config: GethDefaultTracingOptions {
            enable_memory: Some(memory),
            limit,
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn a_trace_that_outgrows_its_budget_is_refused() {
    let (chain, ctx, overlay) = setup(MEMORY_LOOP);
    let i = input(1_000_000);
    let env = call_env(&i, chain.chain_id, 0);
    let cfg = call_cfg(&chain, ctx.number, &i);
    let mut limits = Limits::new(Duration::from_secs(30));
    limits.max_trace_bytes = 4_000_000;
    let err = trace(
        &chain,
        &ctx,
        &overlay,
        env.clone(),
        cfg.clone(),
        &struct_logger(true, None),
        &limits,
    )
    .unwrap_err();
    assert!(
        matches!(err, ExecError::TraceTooLarge { limit: 4_000_000 }),
        "{err:?}"
    );
    // The same call with `limit` (geth's option) records only that many steps and succeeds.
    let ok = trace(
        &chain,
        &ctx,
        &overlay,
        env,
        cfg,
        &struct_logger(true, Some(50)),
        &limits,
    )
    .unwrap()
    .0;
    let json = serde_json::to_value(ok).unwrap();
    assert_eq!(json["structLogs"].as_array().map(Vec::len), Some(50));
}

#[test]
fn a_plain_transfer_to_an_account_without_code_estimates_exactly_21000() {
    let (chain, ctx, mut overlay) = setup(RETURNS_42);
    overlay
        .override_account(
            CALLER,
            Some(U256::from(10u64).pow(U256::from(18))),
            None,
            None,
            None,
            None,
        )
        .unwrap();
    let mut transfer = input(1_000_000);
    transfer.to = Some(address!("00000000000000000000000000000000000ab1e5"));
    transfer.value = U256::from(1);
    let limits = Limits::new(Duration::from_secs(5));
    assert_eq!(
        estimate_gas(&chain, &ctx, &overlay, &transfer, 30_000_000, &limits).unwrap(),
        21_000
    );
    // To a contract, the search runs (and lands within 1.5 % above what it used).
    let mut to_code = input(1_000_000);
    to_code.to = Some(TARGET);
    let est = estimate_gas(&chain, &ctx, &overlay, &to_code, 30_000_000, &limits).unwrap();
    assert!(est > 21_000, "{est}");
}
