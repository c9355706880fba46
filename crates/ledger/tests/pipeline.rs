//! Mempool ordering, replacement and eviction; the build → append → apply pipeline, including
//! the apply-compares-roots path, stale blocks, atomicity and restart.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy_primitives::{Address, U256};
use common::*;
use txnchain_ledger::pipeline::Applied;
use txnchain_ledger::{LedgerError, PoolLimits};
use txnchain_primitives::SealedBlock;

#[test]
fn gapped_transactions_wait_for_the_gap() {
    let f = fixture();
    let k = &f.keys[0];
    f.ledger.submit(eip1559(k, 1, |_| {})).unwrap();
    f.ledger.submit(eip1559(k, 2, |_| {})).unwrap();
    let status = f.ledger.pool().status(|_| 0);
    assert_eq!((status.pending, status.queued), (0, 2));
    assert!(
        txnchain_ledger::builder::build_block(&f.ledger, false)
            .unwrap()
            .is_none()
    );
    f.ledger.submit(eip1559(k, 0, |_| {})).unwrap();
    let block = commit_block(&f.ledger).unwrap();
    let nonces: Vec<u64> = block
        .transactions
        .iter()
        .map(txnchain_primitives::RecoveredTx::nonce)
        .collect();
    assert_eq!(nonces, vec![0, 1, 2]);
    assert!(f.ledger.pool().is_empty());
}

#[test]
fn senders_are_ordered_by_tip_and_nonces_stay_in_order() {
    let f = fixture();
    let (a, b) = (&f.keys[0], &f.keys[1]);
    f.ledger
        .submit(eip1559(a, 0, |t| t.max_priority_fee_per_gas = 1))
        .unwrap();
    f.ledger
        .submit(eip1559(a, 1, |t| t.max_priority_fee_per_gas = GWEI / 2))
        .unwrap();
    f.ledger
        .submit(eip1559(b, 0, |t| t.max_priority_fee_per_gas = GWEI / 4))
        .unwrap();
    let selected = f.ledger.pool().select(10, |_| 0);
    let order: Vec<(Address, u64)> = selected.iter().map(|t| (t.sender(), t.nonce())).collect();
    // b's head pays more than a's head; a's second transaction cannot jump its first.
    assert_eq!(
        order,
        vec![(b.address(), 0), (a.address(), 0), (a.address(), 1)]
    );
}

#[test]
fn a_full_pool_evicts_the_cheapest_or_refuses() {
    let f = fixture_with(PoolLimits {
        max_total: 2,
        ..Default::default()
    });
    let cheap = eip1559(&f.keys[0], 0, |t| t.max_priority_fee_per_gas = 1);
    f.ledger.submit(cheap.clone()).unwrap();
    f.ledger
        .submit(eip1559(&f.keys[1], 0, |t| t.max_priority_fee_per_gas = 10))
        .unwrap();
    match f
        .ledger
        .submit(eip1559(&f.keys[2], 0, |t| t.max_priority_fee_per_gas = 1))
    {
        Err(LedgerError::Rejected(r)) => {
            assert_eq!(r, txnchain_primitives::TxRejection::PoolFull);
        }
        other => panic!("{other:?}"),
    }
    f.ledger
        .submit(eip1559(&f.keys[3], 0, |t| t.max_priority_fee_per_gas = 100))
        .unwrap();
    assert!(f.ledger.pool().get(&cheap.hash()).is_none());
    assert_eq!(f.ledger.pool().len(), 2);
}

#[test]
fn the_nodes_own_transactions_are_never_evicted() {
    let f = fixture_with(PoolLimits {
        max_total: 2,
        ..Default::default()
    });
    // A settlement-like transaction with no tip, submitted by the node itself.
    let local = eip1559(&f.keys[0], 0, |t| t.max_priority_fee_per_gas = 0);
    f.ledger.submit_local(local.clone()).unwrap();
    f.ledger
        .submit(eip1559(&f.keys[1], 0, |t| t.max_priority_fee_per_gas = 5))
        .unwrap();
    // A better-paying stranger evicts the other stranger, not the local one...
    f.ledger
        .submit(eip1559(&f.keys[2], 0, |t| t.max_priority_fee_per_gas = 100))
        .unwrap();
    assert!(f.ledger.pool().get(&local.hash()).is_some());
    assert_eq!(f.ledger.pool().len(), 2);
    // ...and when only locals and better payers are left, the newcomer is refused.
    f.ledger
        .submit(eip1559(&f.keys[3], 0, |t| {
            t.max_priority_fee_per_gas = 1000;
        }))
        .unwrap();
    assert!(f.ledger.pool().get(&local.hash()).is_some());
    match f
        .ledger
        .submit(eip1559(&f.keys[1], 0, |t| t.max_priority_fee_per_gas = 1))
    {
        Err(LedgerError::Rejected(r)) => {
            assert_eq!(r, txnchain_primitives::TxRejection::PoolFull);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_transaction_leaves_the_pool_only_when_its_block_commits() {
    let f = fixture();
    let tx = eip1559(&f.keys[0], 0, |_| {});
    f.ledger.submit(tx.clone()).unwrap();
    let mut events = f.ledger.subscribe();
    let block = txnchain_ledger::builder::build_block(&f.ledger, false)
        .unwrap()
        .unwrap();
    assert!(
        f.ledger.pool().get(&tx.hash()).is_some(),
        "still pooled until applied"
    );
    assert!(events.try_recv().is_err(), "no notification before apply");
    let hash = block.block.hash();
    assert_eq!(f.ledger.apply_proposal(block).unwrap(), Applied::Written);
    assert!(f.ledger.pool().get(&tx.hash()).is_none());
    let committed = events.try_recv().unwrap();
    assert_eq!(committed.header.hash, hash);
    assert_eq!(committed.receipts.len(), 1);
    assert!(committed.receipts[0].success);
}

fn build_on(f: &Fixture, n: u64) -> Vec<SealedBlock> {
    let mut blocks = vec![];
    for i in 0..n {
        f.ledger
            .submit(eip1559(&f.keys[0], i, |t| t.value = U256::from(i + 1)))
            .unwrap();
        f.ledger
            .submit(eip1559(&f.keys[1], i, |t| {
                t.to = alloy_primitives::TxKind::Create;
            }))
            .unwrap_or_default();
        blocks.push(commit_block(&f.ledger).unwrap());
    }
    blocks
}

#[test]
fn a_follower_reexecutes_and_reaches_the_same_roots() {
    let leader = fixture();
    let blocks = build_on(&leader, 3);
    let dir = tempfile::tempdir().unwrap();
    let follower = open(dir.path(), &leader.genesis, PoolLimits::default());
    for b in &blocks {
        // The follower has no cached outcome: it re-executes and compares every root.
        assert_eq!(follower.apply_committed(b).unwrap(), Applied::Written);
    }
    let (ls, fs) = (
        leader.ledger.store().snapshot().unwrap(),
        follower.store().snapshot().unwrap(),
    );
    assert_eq!(fs.last_applied().unwrap(), Some(3));
    for n in 0..=3 {
        assert_eq!(ls.header(n).unwrap(), fs.header(n).unwrap());
        assert_eq!(ls.block_receipts(n).unwrap(), fs.block_receipts(n).unwrap());
    }
    assert_eq!(ls.state_root().unwrap(), fs.state_root().unwrap());
    assert_eq!(
        fs.state_root().unwrap(),
        fs.header(3).unwrap().unwrap().header.state_root
    );
}

#[test]
fn a_follower_refuses_a_block_whose_roots_it_cannot_reproduce() {
    let leader = fixture();
    let block = build_on(&leader, 1).remove(0);
    let forged = forged(&block, |h| {
        h.state_root = alloy_primitives::B256::repeat_byte(7);
    });
    let (what, number, _dir, follower) = divergence_on_follower(&leader.genesis, &forged);
    assert_eq!((what, number), ("stateRoot", 1));
    let snap = follower.store().snapshot().unwrap();
    assert_eq!(snap.last_applied().unwrap(), Some(0), "nothing was written");
    assert_eq!(snap.account(Address::repeat_byte(0x42)).unwrap(), None);
    // The genuine block still applies afterwards.
    assert_eq!(follower.apply_committed(&block).unwrap(), Applied::Written);
}

#[test]
fn a_stale_block_is_a_no_op() {
    let f = fixture();
    let b1 = build_on(&f, 1).remove(0);
    // Re-applying block 1 (its parent is no longer the head) changes nothing.
    assert_eq!(f.ledger.apply_committed(&b1).unwrap(), Applied::Stale);
    assert_eq!(
        f.ledger.store().snapshot().unwrap().last_applied().unwrap(),
        Some(1)
    );
}

#[test]
fn out_of_order_apply_writes_nothing() {
    let leader = fixture();
    let blocks = build_on(&leader, 2);
    let dir = tempfile::tempdir().unwrap();
    let follower = open(dir.path(), &leader.genesis, PoolLimits::default());
    assert_eq!(
        follower.apply_committed(&blocks[1]).unwrap(),
        Applied::Stale
    );
    assert_eq!(
        follower.store().snapshot().unwrap().last_applied().unwrap(),
        Some(0)
    );
}

#[test]
fn state_survives_reopening_and_the_chain_continues() {
    let f = fixture();
    let blocks = build_on(&f, 3);
    let balance = f
        .ledger
        .store()
        .snapshot()
        .unwrap()
        .account(Address::repeat_byte(0x42))
        .unwrap();
    let dir = f.dir;
    drop(f.ledger);
    let reopened = open(dir.path(), &f.genesis, PoolLimits::default());
    let snap = reopened.store().snapshot().unwrap();
    assert_eq!(snap.last_applied().unwrap(), Some(3));
    assert_eq!(snap.header(3).unwrap().unwrap().hash, blocks[2].hash());
    assert_eq!(snap.account(Address::repeat_byte(0x42)).unwrap(), balance);
    drop(snap);
    reopened.submit(eip1559(&f.keys[0], 3, |_| {})).unwrap();
    let b4 = commit_block(&reopened).unwrap();
    assert_eq!(b4.number(), 4);
    assert_eq!(b4.header.header.parent_hash, blocks[2].hash());
}

#[test]
fn historical_state_is_served_per_block() {
    let f = fixture();
    build_on(&f, 3);
    let snap = f.ledger.store().snapshot().unwrap();
    let to = Address::repeat_byte(0x42);
    let at = |n| {
        snap.account_at(to, n)
            .unwrap()
            .map(|a| a.balance)
            .unwrap_or_default()
    };
    assert_eq!(at(0), U256::ZERO);
    assert_eq!(at(1), U256::from(1));
    assert_eq!(at(2), U256::from(3));
    assert_eq!(at(3), U256::from(6));
    assert_eq!(
        snap.account_at(f.keys[0].address(), 1)
            .unwrap()
            .unwrap()
            .nonce,
        1
    );
}

#[test]
fn account_and_storage_proofs_verify_against_the_header_state_root() {
    use alloy_primitives::{Bytes, keccak256};
    use alloy_trie::{Nibbles, proof::verify_proof};
    let f = fixture();
    // A contract whose constructor stores 0x2a in slot 1 (PUSH1 0x2a PUSH1 1 SSTORE STOP).
    let deploy = eip1559(&f.keys[2], 0, |t| {
        t.to = alloy_primitives::TxKind::Create;
        t.input = Bytes::from_static(&[0x60, 0x2a, 0x60, 0x01, 0x55, 0x00]);
        t.gas_limit = 100_000;
        t.value = U256::ZERO;
    });
    f.ledger.submit(deploy).unwrap();
    build_on(&f, 2);
    let snap = f.ledger.store().snapshot().unwrap();
    let root = snap
        .header(snap.last_applied().unwrap().unwrap())
        .unwrap()
        .unwrap()
        .header
        .state_root;
    let contract = f.keys[2].address().create(0);
    for addr in [f.keys[0].address(), contract, Address::repeat_byte(0x99)] {
        let (account, proof) = snap.account_proof(addr).unwrap();
        let leaf = account.map(|a| a.trie_leaf());
        verify_proof(root, Nibbles::unpack(keccak256(addr)), leaf, &proof).unwrap();
    }
    let account = snap.account(contract).unwrap().unwrap();
    let (value, proof) = snap.storage_proof(contract, U256::from(1)).unwrap();
    assert_eq!(value, U256::from(0x2a));
    let key = Nibbles::unpack(keccak256(U256::from(1).to_be_bytes::<32>()));
    verify_proof(
        account.storage_root,
        key,
        Some(alloy_rlp::encode(value)),
        &proof,
    )
    .unwrap();
    // A wrong value does not verify.
    assert!(
        verify_proof(
            account.storage_root,
            key,
            Some(alloy_rlp::encode(U256::from(7))),
            &proof
        )
        .is_err()
    );
}
