//! State history retention: recent blocks are readable, older ones give a clear error, and a
//! value written long ago is still the value at every retained block.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy_primitives::{Address, U256};
use common::*;
use txnchain_ledger::PoolLimits;
use txnchain_storage::{StorageError, StoreOptions};

/// A ledger that keeps the state of the last `retain` blocks only, with two dev keys.
fn pruning_ledger(
    retain: u64,
) -> (
    tempfile::TempDir,
    Vec<alloy_signer_local::PrivateKeySigner>,
    std::sync::Arc<txnchain_ledger::Ledger>,
) {
    let keys =
        txnchain_primitives::dev::dev_keys(txnchain_primitives::dev::DEV_MNEMONIC, 2).unwrap();
    let genesis = genesis(&keys);
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        archive: false,
        retain_blocks: retain,
        retain_seconds: 0,
        ..StoreOptions::default()
    };
    let ledger = open_with(dir.path(), &genesis, PoolLimits::default(), options);
    (dir, keys, ledger)
}

#[test]
fn old_state_is_pruned_but_retained_blocks_stay_exact() {
    let (_dir, keys, ledger) = pruning_ledger(3);
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

/// A contract whose every call stores the block number in slot 0 and in slot `number`
/// (runtime `NUMBER PUSH1 0 SSTORE NUMBER NUMBER SSTORE STOP`), deployed by an init code that
/// returns it.
const RECORDER_INIT: [u8; 17] = [
    0x67, 0x43, 0x60, 0x00, 0x55, 0x43, 0x43, 0x55, 0x00, // PUSH8 runtime
    0x60, 0x00, 0x52, // PUSH1 0 MSTORE
    0x60, 0x08, 0x60, 0x18, 0xf3, // PUSH1 8 PUSH1 24 RETURN
];

#[test]
fn proofs_at_past_blocks_verify_against_their_headers() {
    use alloy_primitives::{Bytes, keccak256};
    use alloy_trie::{Nibbles, proof::verify_proof};
    let (_dir, keys, ledger) = pruning_ledger(4);
    ledger
        .submit(eip1559(&keys[1], 0, |t| {
            t.to = alloy_primitives::TxKind::Create;
            t.input = Bytes::copy_from_slice(&RECORDER_INIT);
            t.gas_limit = 200_000;
            t.value = U256::ZERO;
        }))
        .unwrap();
    commit_block(&ledger).unwrap();
    let recorder = keys[1].address().create(0);
    for i in 0..8u64 {
        ledger
            .submit(eip1559(&keys[0], i, |t| {
                t.to = alloy_primitives::TxKind::Call(recorder);
                t.gas_limit = 100_000;
                t.value = U256::ZERO;
            }))
            .unwrap();
        commit_block(&ledger).unwrap();
    }
    let snap = ledger.store().snapshot().unwrap();
    let latest = snap.last_applied().unwrap().unwrap();
    assert_eq!(latest, 9);
    let oldest = snap.oldest_state().unwrap();
    assert!(
        oldest > 1 && oldest < latest,
        "oldest retained state {oldest}"
    );
    let absent = Address::repeat_byte(0x99);
    for n in oldest..latest {
        let root = snap.header(n).unwrap().unwrap().header.state_root;
        let tries = snap
            .past_tries(n, 10_000)
            .unwrap()
            .expect("key lists are kept");
        assert_eq!(tries.block(), n);
        for addr in [keys[0].address(), recorder, absent] {
            let (account, proof) = snap.account_proof_in(&tries, addr).unwrap();
            let leaf = account.map(|a| a.trie_leaf());
            verify_proof(root, Nibbles::unpack(keccak256(addr)), leaf, &proof)
                .unwrap_or_else(|e| panic!("account proof of {addr} at block {n}: {e}"));
        }
        // The sender had sent n - 1 calls by block n (the first in block 2).
        let sender = snap.account_proof_in(&tries, keys[0].address()).unwrap().0;
        assert_eq!(sender.unwrap().nonce, n - 1, "nonce at block {n}");
        let contract = snap.account_proof_in(&tries, recorder).unwrap().0.unwrap();
        for (slot, expected) in [(0, n), (n, n), (n + 1, 0)] {
            let (value, proof) = snap
                .storage_proof_in(&tries, recorder, U256::from(slot))
                .unwrap();
            assert_eq!(value, U256::from(expected), "slot {slot} at block {n}");
            let key = Nibbles::unpack(keccak256(U256::from(slot).to_be_bytes::<32>()));
            let leaf = (!value.is_zero()).then(|| alloy_rlp::encode(value));
            verify_proof(contract.storage_root, key, leaf, &proof)
                .unwrap_or_else(|e| panic!("storage proof of slot {slot} at block {n}: {e}"));
        }
        // The latest storage root differs: the proof really is of block n's trie.
        let now = snap.account(recorder).unwrap().unwrap();
        assert_ne!(now.storage_root, contract.storage_root);
    }
    assert!(matches!(
        snap.past_tries(oldest - 1, 10_000),
        Err(StorageError::Pruned { .. })
    ));
    assert!(matches!(
        snap.past_tries(oldest, 3),
        Err(StorageError::HistoryTooLarge { max_keys: 3, .. })
    ));
}

#[test]
fn archive_mode_proves_past_blocks_too() {
    use alloy_primitives::keccak256;
    use alloy_trie::{Nibbles, proof::verify_proof};
    let keys =
        txnchain_primitives::dev::dev_keys(txnchain_primitives::dev::DEV_MNEMONIC, 1).unwrap();
    let genesis = genesis(&keys);
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        archive: true,
        ..StoreOptions::default()
    };
    let ledger = open_with(dir.path(), &genesis, PoolLimits::default(), options);
    for i in 0..3 {
        ledger.submit(eip1559(&keys[0], i, |_| {})).unwrap();
        commit_block(&ledger).unwrap();
    }
    let snap = ledger.store().snapshot().unwrap();
    for n in 0..3 {
        let root = snap.header(n).unwrap().unwrap().header.state_root;
        let tries = snap
            .past_tries(n, 10_000)
            .unwrap()
            .expect("key lists are kept");
        let (account, proof) = snap.account_proof_in(&tries, keys[0].address()).unwrap();
        assert_eq!(account.unwrap().nonce, n);
        let leaf = account.map(|a| a.trie_leaf());
        verify_proof(
            root,
            Nibbles::unpack(keccak256(keys[0].address())),
            leaf,
            &proof,
        )
        .unwrap();
    }
}
