//! State history retention: recent blocks are readable, older ones give a clear error, and a
//! value written long ago is still the value at every retained block.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy_primitives::{Address, U256};
use common::*;
use txnchain_ledger::PoolLimits;
use txnchain_storage::{StorageError, StoreOptions};

#[test]
fn old_state_is_pruned_but_retained_blocks_stay_exact() {
    let keys =
        txnchain_primitives::dev::dev_keys(txnchain_primitives::dev::DEV_MNEMONIC, 2).unwrap();
    let genesis = genesis(&keys);
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        archive: false,
        retain_blocks: 3,
        retain_seconds: 0,
        ..StoreOptions::default()
    };
    let ledger = open_with(dir.path(), &genesis, PoolLimits::default(), options);
    // Block 1 writes `once` a single time; every block pays `often`.
    let once = Address::repeat_byte(0x11);
    let often = Address::repeat_byte(0x22);
    ledger
        .submit(eip1559(&keys[1], 0, |t| {
            t.to = alloy_primitives::TxKind::Call(once);
        }))
        .unwrap();
    commit_block(&ledger).unwrap();
    for i in 0..9u64 {
        ledger
            .submit(eip1559(&keys[0], i, |t| {
                t.to = alloy_primitives::TxKind::Call(often);
                t.value = U256::from(1);
            }))
            .unwrap();
        commit_block(&ledger).unwrap();
    }
    let snap = ledger.store().snapshot().unwrap();
    assert_eq!(snap.last_applied().unwrap(), Some(10));
    let oldest = snap.oldest_state().unwrap();
    assert!((6..=7).contains(&oldest), "oldest retained state {oldest}");
    match snap.account_at(often, 2) {
        Err(StorageError::Pruned {
            requested: 2,
            oldest: o,
        }) => assert_eq!(o, oldest),
        other => panic!("expected pruned, got {other:?}"),
    }
    for n in oldest..=10 {
        // `often` received 1 wei in each of blocks 2..=n.
        let b = snap.account_at(often, n).unwrap().unwrap().balance;
        assert_eq!(b, U256::from(n - 1), "balance at block {n}");
        // `once` was written only at block 1, long pruned, yet its value is still known.
        assert_eq!(
            snap.account_at(once, n).unwrap().unwrap().balance,
            U256::from(1)
        );
    }
}
