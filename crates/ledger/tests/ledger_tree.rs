//! The ledger tree in blocks (`specs/receipts.md` §1): every header's `extraData` is the RFC
//! 9162 root of every transaction committed so far, recomputed here from the stored blocks and
//! receipts with a naive MTH; proofs served from the store verify against the headers, the
//! tree survives a restart, and a follower refuses a block whose ledger root is not its own.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{U256, keccak256};
use common::*;
use txnchain_ledger::PoolLimits;
use txnchain_ledger_tree::{
    EMPTY_ROOT, Hash, consistency_proof, inclusion_proof, ledger_leaf_hash, node_hash,
    verify_consistency, verify_inclusion,
};
use txnchain_primitives::SealedBlock;
use txnchain_storage::Snapshot;

fn naive_mth(d: &[Hash]) -> Hash {
    match d.len() {
        0 => EMPTY_ROOT,
        1 => d[0],
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            node_hash(&naive_mth(&d[..k]), &naive_mth(&d[k..]))
        }
    }
}

/// The leaves of blocks 1..=last, from what the store serves (plaintext transactions: the
/// result digest is zero).
fn leaves_of(snap: &Snapshot, last: u64) -> Vec<Vec<Hash>> {
    (1..=last)
        .map(|n| {
            let hashes = snap.block_tx_hashes(n).unwrap();
            let receipts = snap.block_receipts(n).unwrap().unwrap();
            assert_eq!(hashes.len(), receipts.len());
            hashes
                .iter()
                .zip(&receipts)
                .map(|(h, r)| {
                    let receipt_hash = keccak256(r.envelope().encoded_2718());
                    ledger_leaf_hash(&h.0, &receipt_hash.0, &[0u8; 32])
                })
                .collect()
        })
        .collect()
}

/// Commits a block of `count` transfers from key `sender`, starting at `nonce`.
fn commit(f: &Fixture, sender: usize, nonce: u64, count: u64) -> SealedBlock {
    for i in 0..count {
        f.ledger
            .submit(eip1559(&f.keys[sender], nonce + i, |t| {
                t.value = U256::from(nonce + i + 1);
            }))
            .unwrap();
    }
    commit_block(&f.ledger).unwrap()
}

#[test]
fn every_header_carries_the_ledger_root_and_proofs_verify_against_it() {
    let f = fixture();
    let mut nonce = [0u64; 4];
    for (block, count) in [1u64, 3, 2, 5, 1].into_iter().enumerate() {
        let sender = block % 2;
        commit(&f, sender, nonce[sender], count);
        nonce[sender] += count;
    }
    let snap = f.ledger.store().snapshot().unwrap();
    let genesis = snap.header(0).unwrap().unwrap();
    assert!(
        genesis.header.extra_data.is_empty(),
        "genesis is as configured"
    );
    let blocks = leaves_of(&snap, 5);
    let mut all: Vec<Hash> = vec![];
    for (i, leaves) in blocks.iter().enumerate() {
        let number = i as u64 + 1;
        all.extend_from_slice(leaves);
        let header = snap.header(number).unwrap().unwrap().header;
        assert_eq!(
            header.extra_data.as_ref(),
            naive_mth(&all),
            "block {number}"
        );
        let size = snap.ledger_tree_size_at(number).unwrap().unwrap();
        assert_eq!(size, all.len() as u64);
        let root: Hash = header.extra_data.as_ref().try_into().unwrap();
        for index in 0..size {
            let proof = inclusion_proof(&snap, 12, index, size).unwrap();
            verify_inclusion(&all[index as usize], index, size, &proof, &root).unwrap();
        }
    }
    assert_eq!(snap.ledger_tree_size().unwrap(), 12);
    // Every pair of block roots is consistent.
    let roots: Vec<(u64, Hash)> = (0..=5)
        .map(|n| {
            let size = snap.ledger_tree_size_at(n).unwrap().unwrap();
            (size, snap.ledger_tree_root(size).unwrap().0)
        })
        .collect();
    for &(m, rm) in &roots {
        for &(n, rn) in roots.iter().filter(|(n, _)| *n >= m) {
            let proof = consistency_proof(&snap, 12, m, n).unwrap();
            verify_consistency(m, n, &rm, &rn, &proof).unwrap();
        }
    }
}

#[test]
fn the_tree_survives_a_restart_and_keeps_growing() {
    let f = fixture();
    commit(&f, 0, 0, 3);
    commit(&f, 1, 0, 2);
    let Fixture {
        dir,
        ledger,
        keys,
        genesis,
    } = f;
    drop(ledger);
    let ledger = open(dir.path(), &genesis, PoolLimits::default());
    let f = Fixture {
        dir,
        ledger,
        keys,
        genesis,
    };
    assert_eq!(
        f.ledger
            .store()
            .snapshot()
            .unwrap()
            .ledger_tree_size()
            .unwrap(),
        5
    );
    commit(&f, 0, 3, 4);
    let snap = f.ledger.store().snapshot().unwrap();
    let all: Vec<Hash> = leaves_of(&snap, 3).concat();
    assert_eq!(all.len(), 9);
    assert_eq!(
        snap.header(3).unwrap().unwrap().header.extra_data.as_ref(),
        naive_mth(&all)
    );
}

#[test]
fn a_follower_refuses_a_block_with_another_ledger_root() {
    let leader = fixture();
    let block = commit(&leader, 0, 0, 2);
    let forged = forged(&block, |h| {
        let mut root = h.extra_data.to_vec();
        root[0] ^= 1;
        h.extra_data = root.into();
    });
    let (what, number, _dir, follower) = divergence_on_follower(&leader.genesis, &forged);
    assert_eq!((what, number), ("extraData (ledger tree root)", 1));
    let snap = follower.store().snapshot().unwrap();
    assert_eq!(snap.ledger_tree_size().unwrap(), 0, "nothing was written");
    assert!(follower.apply_committed(&block).is_ok());
    assert_eq!(
        follower
            .store()
            .snapshot()
            .unwrap()
            .ledger_tree_size()
            .unwrap(),
        2
    );
}
