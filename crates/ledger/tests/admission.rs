//! Every admission rule, as the typed rejection it is (with geth's message where a client
//! depends on it), and that a refused transaction changes nothing.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy_primitives::{Address, Bytes, TxKind, U256, U512};
use common::*;
use txnchain_ledger::{LedgerError, PoolLimits};
use txnchain_primitives::TxRejection;

fn rejected(r: Result<alloy_primitives::B256, LedgerError>) -> TxRejection {
    match r {
        Err(LedgerError::Rejected(r)) => r,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn accepts_a_valid_transaction_and_refuses_it_twice() {
    let f = fixture();
    let tx = eip1559(&f.keys[0], 0, |_| {});
    assert_eq!(f.ledger.submit(tx.clone()).unwrap(), tx.hash());
    let r = rejected(f.ledger.submit(tx));
    assert_eq!(r, TxRejection::AlreadyKnown);
    assert_eq!(r.to_string(), "already known");
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
    assert_eq!(low, TxRejection::NonceTooLow { next: 1, tx: 0 });
    assert_eq!(low.to_string(), "nonce too low: next nonce 1, tx nonce 0");
    let high = rejected(f.ledger.submit(eip1559(&f.keys[0], 17, |_| {})));
    assert_eq!(
        high,
        TxRejection::NonceBeyondWindow {
            next: 1,
            tx: 17,
            window: 16
        }
    );
    assert!(
        high.to_string()
            .starts_with("nonce too high: next nonce 1, tx nonce 17")
    );
    // Inside the window a gapped transaction is queued, not refused.
    f.ledger.submit(eip1559(&f.keys[0], 16, |_| {})).unwrap();
}

#[test]
fn insufficient_funds() {
    let f = fixture();
    let poor = alloy_signer_local::PrivateKeySigner::random();
    let r = rejected(f.ledger.submit(eip1559(&poor, 0, |_| {})));
    assert!(
        matches!(r, TxRejection::InsufficientFunds { address, have, .. } if address == poor.address() && have.is_zero()),
        "{r:?}"
    );
    assert!(
        r.to_string()
            .starts_with("insufficient funds for gas * price + value: address"),
        "{r}"
    );
    let r = rejected(f.ledger.submit(eip1559(&f.keys[0], 0, |t| {
        t.value = U256::from(10u64).pow(U256::from(22));
    })));
    assert!(
        matches!(r, TxRejection::InsufficientFunds { address, .. } if address == f.keys[0].address()),
        "{r:?}"
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
    let r = rejected(f.ledger.submit(eip1559(&poor, 0, |t| {
        t.gas_limit = gas;
        t.max_fee_per_gas = fee;
        t.value = wrap;
    })));
    // The real cost, 2^256 exactly, is named.
    assert_eq!(
        r,
        TxRejection::InsufficientFunds {
            address: poor.address(),
            have: U256::ZERO,
            want: Box::new(U512::from(1u8) << 256),
        }
    );
    assert!(
        r.to_string()
            .starts_with("insufficient funds for gas * price + value: address"),
        "{r}"
    );
    assert!(f.ledger.pool().is_empty());
    // Same with a funded sender: nobody holds 2^256 wei.
    let r = rejected(f.ledger.submit(eip1559(&f.keys[0], 0, |t| {
        t.gas_limit = gas;
        t.max_fee_per_gas = fee;
        t.value = wrap;
    })));
    assert!(
        matches!(r, TxRejection::InsufficientFunds { want, .. } if *want == U512::from(1u8) << 256)
    );
}

#[test]
fn intrinsic_and_floor_gas() {
    let f = fixture();
    let m = rejected(
        f.ledger
            .submit(eip1559(&f.keys[0], 0, |t| t.gas_limit = 20_000)),
    );
    assert_eq!(
        m,
        TxRejection::IntrinsicGasTooLow {
            gas: 20_000,
            needed: 21_000
        }
    );
    assert_eq!(
        m.to_string(),
        "intrinsic gas too low: gas 20000, minimum needed 21000"
    );
    // 1,000 non-zero bytes: intrinsic 21,000 + 16,000, but the EIP-7623 floor is 21,000 + 40,000.
    let m = rejected(f.ledger.submit(eip1559(&f.keys[0], 0, |t| {
        t.input = Bytes::from(vec![1u8; 1000]);
        t.gas_limit = 50_000;
    })));
    assert_eq!(
        m,
        TxRejection::FloorDataGas {
            gas: 50_000,
            needed: 61_000
        }
    );
    assert_eq!(
        m.to_string(),
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
    assert_eq!(m, TxRejection::ExceedsBlockGasLimit);
    assert_eq!(m.to_string(), "exceeds block gas limit");
}

#[test]
fn chain_id_replay_protection_and_types() {
    let f = fixture();
    let m = rejected(f.ledger.submit(eip1559(&f.keys[0], 0, |t| t.chain_id = 1)));
    assert_eq!(
        m,
        TxRejection::ChainIdMismatch {
            have: 1,
            want: 424242
        }
    );
    assert_eq!(
        m.to_string(),
        "invalid sender: invalid chain id for signer: have 1 want 424242"
    );
    let m = rejected(f.ledger.submit(legacy(&f.keys[0], 0, None)));
    assert_eq!(m, TxRejection::Unprotected);
    assert_eq!(
        m.to_string(),
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
    assert_eq!(
        m,
        TxRejection::FeeCapBelowBaseFee {
            address: f.keys[0].address(),
            max_fee: GWEI / 2,
            base_fee: u64::try_from(GWEI).unwrap()
        }
    );
    assert!(
        m.to_string()
            .starts_with("max fee per gas less than block base fee")
    );
    let m = rejected(f.ledger.submit(eip1559(&f.keys[0], 0, |t| {
        t.max_priority_fee_per_gas = 3 * GWEI;
    })));
    assert!(
        matches!(m, TxRejection::TipAboveFeeCap { tip, .. } if tip == 3 * GWEI),
        "{m:?}"
    );
    assert!(
        m.to_string()
            .starts_with("max priority fee per gas higher than max fee per gas")
    );
}

#[test]
fn oversized_data_and_initcode() {
    let f = fixture();
    let m = rejected(f.ledger.submit(eip1559(&f.keys[0], 0, |t| {
        t.input = Bytes::from(vec![0u8; 129 * 1024]);
        t.gas_limit = 30_000_000;
    })));
    assert!(
        matches!(m, TxRejection::Oversized { limit: 131_072, .. }),
        "{m:?}"
    );
    let m = rejected(f.ledger.submit(eip1559(&f.keys[0], 0, |t| {
        t.to = TxKind::Create;
        t.input = Bytes::from(vec![0u8; 49_153]);
        t.gas_limit = 30_000_000;
    })));
    assert_eq!(
        m,
        TxRejection::InitCodeTooLarge {
            size: 49_153,
            limit: 49_152
        }
    );
    assert_eq!(
        m.to_string(),
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
    assert_eq!(m, TxRejection::ReplacementUnderpriced);
    let better = eip1559(&f.keys[0], 0, |t| {
        t.max_fee_per_gas = 3 * GWEI;
        t.max_priority_fee_per_gas = GWEI / 5;
    });
    f.ledger.submit(better.clone()).unwrap();
    assert!(f.ledger.pool().get(&original.hash()).is_none());
    assert!(f.ledger.pool().get(&better.hash()).is_some());
    assert_eq!(f.ledger.pool().len(), 1);
    let block = commit_block(&f.ledger).unwrap();
    assert_eq!(block.transactions[0].hash(), better.hash());
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
