//! Every admission rule, with geth's messages, and that a refused transaction changes nothing.

mod common;

use alloy_primitives::{Address, Bytes, TxKind, U256};
use common::*;
use txnchain_ledger::{LedgerError, PoolLimits};

fn rejected(r: Result<alloy_primitives::B256, LedgerError>) -> String {
    match r {
        Err(LedgerError::Rejected(m)) => m,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn accepts_a_valid_transaction_and_refuses_it_twice() {
    let f = fixture();
    let tx = eip1559(&f.keys[0], 0, |_| {});
    assert_eq!(f.ledger.submit(tx.clone()).unwrap(), tx.hash);
    assert_eq!(rejected(f.ledger.submit(tx)), "already known");
    assert_eq!(f.ledger.pool().len(), 1);
}

#[test]
fn nonce_too_low_and_too_high() {
    let f = fixture_with(PoolLimits {
        max_per_sender: 16,
        ..Default::default()
    });
    f.ledger.submit(eip1559(&f.keys[0], 0, |_| {})).unwrap();
    commit_block(&f.ledger).unwrap();
    let low = rejected(
        f.ledger
            .submit(eip1559(&f.keys[0], 0, |t| t.value = U256::from(2))),
    );
    assert_eq!(low, "nonce too low: next nonce 1, tx nonce 0");
    let high = rejected(f.ledger.submit(eip1559(&f.keys[0], 17, |_| {})));
    assert!(
        high.starts_with("nonce too high: next nonce 1, tx nonce 17"),
        "{high}"
    );
    // Inside the window a gapped transaction is queued, not refused.
    f.ledger.submit(eip1559(&f.keys[0], 16, |_| {})).unwrap();
}

#[test]
fn insufficient_funds() {
    let f = fixture();
    let poor = alloy_signer_local::PrivateKeySigner::random();
    let m = rejected(f.ledger.submit(eip1559(&poor, 0, |_| {})));
    assert!(
        m.starts_with("insufficient funds for gas * price + value: address"),
        "{m}"
    );
    let m = rejected(f.ledger.submit(eip1559(&f.keys[0], 0, |t| {
        t.value = U256::from(10u64).pow(U256::from(22))
    })));
    assert!(
        m.starts_with("insufficient funds for gas * price + value"),
        "{m}"
    );
}

#[test]
fn a_cost_that_overflows_256_bits_is_insufficient_funds_not_free() {
    let f = fixture();
    // gas * fee + value wraps to exactly zero in 256-bit arithmetic.
    let gas = 21_000u64;
    let fee = 2_000_000_000u128;
    let wrap = U256::ZERO.wrapping_sub(U256::from(gas) * U256::from(fee));
    let poor = alloy_signer_local::PrivateKeySigner::random();
    let m = rejected(f.ledger.submit(eip1559(&poor, 0, |t| {
        t.gas_limit = gas;
        t.max_fee_per_gas = fee;
        t.value = wrap;
    })));
    assert!(
        m.starts_with("insufficient funds for gas * price + value: address"),
        "{m}"
    );
    // The real cost, 2^256 exactly, is named.
    assert!(
        m.ends_with(&format!(
            "have 0 want {}",
            alloy_primitives::U512::from(1u8) << 256
        )),
        "{m}"
    );
    assert!(f.ledger.pool().is_empty());
    // Same with a funded sender: nobody holds 2^256 wei.
    let m = rejected(f.ledger.submit(eip1559(&f.keys[0], 0, |t| {
        t.gas_limit = gas;
        t.max_fee_per_gas = fee;
        t.value = wrap;
    })));
    assert!(m.starts_with("insufficient funds"), "{m}");
}

#[test]
fn intrinsic_and_floor_gas() {
    let f = fixture();
    let m = rejected(
        f.ledger
            .submit(eip1559(&f.keys[0], 0, |t| t.gas_limit = 20_000)),
    );
    assert_eq!(m, "intrinsic gas too low: gas 20000, minimum needed 21000");
    // 1,000 non-zero bytes: intrinsic 21,000 + 16,000, but the EIP-7623 floor is 21,000 + 40,000.
    let m = rejected(f.ledger.submit(eip1559(&f.keys[0], 0, |t| {
        t.input = Bytes::from(vec![1u8; 1000]);
        t.gas_limit = 50_000;
    })));
    assert_eq!(
        m,
        "insufficient gas for floor data gas cost: gas 50000, minimum needed 61000"
    );
}

#[test]
fn gas_limits() {
    let f = fixture();
    let m = rejected(
        f.ledger
            .submit(eip1559(&f.keys[0], 0, |t| t.gas_limit = 60_000_001)),
    );
    assert_eq!(m, "exceeds block gas limit");
}

#[test]
fn chain_id_replay_protection_and_types() {
    let f = fixture();
    let m = rejected(f.ledger.submit(eip1559(&f.keys[0], 0, |t| t.chain_id = 1)));
    assert_eq!(
        m,
        "invalid sender: invalid chain id for signer: have 1 want 424242"
    );
    let m = rejected(f.ledger.submit(legacy(&f.keys[0], 0, None)));
    assert_eq!(
        m,
        "only replay-protected (EIP-155) transactions allowed over RPC"
    );
    f.ledger
        .submit(legacy(&f.keys[0], 0, Some(424242)))
        .unwrap();
}

#[test]
fn fees_below_base_fee_and_tip_above_cap() {
    let f = fixture();
    let m = rejected(
        f.ledger
            .submit(eip1559(&f.keys[0], 0, |t| t.max_fee_per_gas = GWEI / 2)),
    );
    assert!(
        m.starts_with("max fee per gas less than block base fee"),
        "{m}"
    );
    let m = rejected(f.ledger.submit(eip1559(&f.keys[0], 0, |t| {
        t.max_priority_fee_per_gas = 3 * GWEI
    })));
    assert!(
        m.starts_with("max priority fee per gas higher than max fee per gas"),
        "{m}"
    );
}

#[test]
fn oversized_data_and_initcode() {
    let f = fixture();
    let m = rejected(f.ledger.submit(eip1559(&f.keys[0], 0, |t| {
        t.input = Bytes::from(vec![0u8; 129 * 1024]);
        t.gas_limit = 30_000_000;
    })));
    assert!(m.starts_with("oversized data: transaction size"), "{m}");
    let m = rejected(f.ledger.submit(eip1559(&f.keys[0], 0, |t| {
        t.to = TxKind::Create;
        t.input = Bytes::from(vec![0u8; 49_153]);
        t.gas_limit = 30_000_000;
    })));
    assert_eq!(
        m,
        "max initcode size exceeded: code size 49153, limit 49152"
    );
}

#[test]
fn replacement_needs_a_ten_percent_bump() {
    let f = fixture();
    let original = eip1559(&f.keys[0], 0, |t| t.max_priority_fee_per_gas = GWEI / 10);
    f.ledger.submit(original.clone()).unwrap();
    let m = rejected(f.ledger.submit(eip1559(&f.keys[0], 0, |t| {
        t.max_fee_per_gas = 2 * GWEI + GWEI / 20;
        t.max_priority_fee_per_gas = GWEI / 10 + 1;
    })));
    assert_eq!(m, "replacement transaction underpriced");
    let better = eip1559(&f.keys[0], 0, |t| {
        t.max_fee_per_gas = 3 * GWEI;
        t.max_priority_fee_per_gas = GWEI / 5;
    });
    f.ledger.submit(better.clone()).unwrap();
    assert!(f.ledger.pool().get(&original.hash).is_none());
    assert!(f.ledger.pool().get(&better.hash).is_some());
    assert_eq!(f.ledger.pool().len(), 1);
    let block = commit_block(&f.ledger).unwrap();
    assert_eq!(block.transactions[0].hash, better.hash);
}

#[test]
fn a_rejected_transaction_changes_nothing() {
    let f = fixture();
    let before = f
        .ledger
        .store()
        .snapshot()
        .unwrap()
        .account(f.keys[0].address())
        .unwrap();
    let _ = f.ledger.submit(eip1559(&f.keys[0], 0, |t| t.gas_limit = 1));
    let _ = f.ledger.submit(eip1559(&f.keys[0], 5_000, |_| {}));
    assert!(f.ledger.pool().is_empty());
    assert!(
        txnchain_ledger::builder::build_block(&f.ledger, false)
            .unwrap()
            .is_none()
    );
    let snap = f.ledger.store().snapshot().unwrap();
    assert_eq!(snap.last_applied().unwrap(), Some(0));
    assert_eq!(snap.account(f.keys[0].address()).unwrap(), before);
    assert_eq!(snap.account(Address::repeat_byte(0x42)).unwrap(), None);
}
