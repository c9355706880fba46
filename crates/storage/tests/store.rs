//! The store on its own: a block is one write (readers see all of it or none of it), blocks
//! apply only in order, state at past blocks is kept and pruned as configured, and everything
//! survives reopening the file.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use alloy_consensus::Header;
use alloy_primitives::{Address, B256, KECCAK256_EMPTY, U256};
use txnchain_primitives::SealedHeader;
use txnchain_storage::{BlockWrite, StateChanges, StorageError, Store, StoreOptions};

const ALICE: Address = Address::repeat_byte(0xa1);
const TOKEN: Address = Address::repeat_byte(0x70);

/// Block `number` setting ALICE's balance to `balance` and TOKEN's slot 0 to `slot`,
/// prepared against the store's latest state.
fn block(store: &Store, number: u64, balance: u64, slot: u64, timestamp: u64) -> BlockWrite {
    let snap = store.snapshot().unwrap();
    let parent_hash = match number {
        0 => B256::ZERO,
        n => snap
            .header(n - 1)
            .unwrap()
            .map(|h| h.hash)
            .unwrap_or_default(),
    };
    let mut changes = StateChanges::default();
    changes
        .accounts
        .insert(ALICE, Some((number, U256::from(balance), KECCAK256_EMPTY)));
    changes
        .accounts
        .insert(TOKEN, Some((1, U256::ZERO, KECCAK256_EMPTY)));
    changes
        .storage
        .insert(TOKEN, BTreeMap::from([(U256::ZERO, U256::from(slot))]));
    let prepared = snap.prepare_state(&changes).unwrap();
    let header = SealedHeader::seal(Header {
        number,
        parent_hash,
        timestamp,
        state_root: prepared.state_root,
        ..Default::default()
    });
    BlockWrite {
        header,
        transactions: vec![],
        receipts: vec![],
        changes,
        prepared,
    }
}

fn balance_at(store: &Store, at: Option<u64>) -> Result<U256, StorageError> {
    let snap = store.snapshot()?;
    Ok(match at {
        None => snap.account(ALICE)?.map(|a| a.balance).unwrap_or_default(),
        Some(n) => snap
            .account_at(ALICE, n)?
            .map(|a| a.balance)
            .unwrap_or_default(),
    })
}

#[test]
fn a_block_is_one_write_and_blocks_apply_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("chain.redb"), StoreOptions::default()).unwrap();
    store
        .apply_block(&block(&store, 0, 100, 1, 0), true)
        .unwrap();
    let before = store.snapshot().unwrap();
    store
        .apply_block(&block(&store, 1, 200, 2, 1), true)
        .unwrap();
    // A reader opened before the block sees none of it, in every table.
    assert_eq!(before.last_applied().unwrap(), Some(0));
    assert!(before.header(1).unwrap().is_none());
    assert_eq!(
        before.account(ALICE).unwrap().unwrap().balance,
        U256::from(100)
    );
    assert_eq!(before.storage(TOKEN, U256::ZERO).unwrap(), U256::from(1));
    // A reader after it sees all of it.
    let after = store.snapshot().unwrap();
    assert_eq!(after.last_applied().unwrap(), Some(1));
    assert_eq!(
        after.account(ALICE).unwrap().unwrap().balance,
        U256::from(200)
    );
    assert_eq!(after.storage(TOKEN, U256::ZERO).unwrap(), U256::from(2));
    assert_eq!(
        after.state_root().unwrap(),
        after.header(1).unwrap().unwrap().header.state_root
    );
    // Out of order: refused, nothing written.
    let skip = block(&store, 3, 999, 9, 3);
    match store.apply_block(&skip, true) {
        Err(StorageError::OutOfOrder { got: 3, last: 1 }) => {}
        other => panic!("{other:?}"),
    }
    let replay = block(&store, 1, 999, 9, 3);
    assert!(matches!(
        store.apply_block(&replay, true),
        Err(StorageError::OutOfOrder { got: 1, last: 1 })
    ));
    assert_eq!(balance_at(&store, None).unwrap(), U256::from(200));
    assert_eq!(store.snapshot().unwrap().last_applied().unwrap(), Some(1));
}

#[test]
fn past_state_is_kept_then_pruned_and_everything_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.redb");
    let options = StoreOptions {
        retain_blocks: 3,
        retain_seconds: 0,
        ..StoreOptions::default()
    };
    {
        let store = Store::open(&path, options).unwrap();
        for n in 0..8u64 {
            store
                .apply_block(&block(&store, n, 100 + n, n, n), true)
                .unwrap();
        }
        assert_eq!(balance_at(&store, Some(7)).unwrap(), U256::from(107));
        assert_eq!(balance_at(&store, Some(5)).unwrap(), U256::from(105));
        match balance_at(&store, Some(1)) {
            Err(StorageError::Pruned {
                requested: 1,
                oldest,
            }) => assert!(oldest >= 4, "{oldest}"),
            other => panic!("expected pruned history, got {other:?}"),
        }
    }
    // Reopened: the chain, its state and its retained history are all there.
    let store = Store::open(&path, options).unwrap();
    let snap = store.snapshot().unwrap();
    assert_eq!(snap.last_applied().unwrap(), Some(7));
    assert_eq!(snap.storage(TOKEN, U256::ZERO).unwrap(), U256::from(7));
    assert_eq!(balance_at(&store, Some(6)).unwrap(), U256::from(106));
    assert_eq!(
        snap.state_root().unwrap(),
        snap.header(7).unwrap().unwrap().header.state_root
    );
}
