//! Signed roots and receipts (`specs/receipts.md` §2–§3) from a real ledger: every block gets
//! the service identity's signature in the write that commits it; every committed
//! transaction's receipt verifies offline; a follower holding the same keys stores the same
//! signature bytes for every block; a node without keys signs nothing and says so; each
//! tampered field fails the check named for it.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use alloy_primitives::{B256, U256};
use common::*;
use txnchain_crypto::keys::{LedgerSecret, NetworkKeys, ServiceIdentity};
use txnchain_ledger::receipts::Signer;
use txnchain_ledger::{Ledger, LedgerError, Mempool, PoolLimits};
use txnchain_ledger_tree::receipt::{Receipt, ReceiptError};
use txnchain_primitives::GenesisConfig;
use txnchain_storage::{Store, StoreOptions};
use zeroize::Zeroizing;

fn keyed(dir: &std::path::Path, genesis: &GenesisConfig) -> (Arc<Ledger>, Arc<NetworkKeys>) {
    let secret = LedgerSecret::from_bytes(Zeroizing::new([7; 32]));
    let store = Arc::new(
        Store::open(
            &dir.join("chain.redb"),
            StoreOptions::default(),
            txnchain_storage::at_rest_codec(&secret),
        )
        .unwrap(),
    );
    txnchain_ledger::genesis::init_genesis(&store, genesis).unwrap();
    let keys = Arc::new(NetworkKeys::new(
        genesis.spec.chain_id,
        ServiceIdentity::from_seed(&[3; 32]),
        secret,
    ));
    let pool = Arc::new(Mempool::new(PoolLimits::default(), &genesis.spec));
    let ledger = Arc::new(
        Ledger::new(genesis.spec.clone(), store, pool, true)
            .unwrap()
            .with_network_keys(keys.clone())
            .unwrap(),
    );
    (ledger, keys)
}

fn signer(keys: &NetworkKeys) -> Signer {
    Signer {
        chain_id: keys.chain_id(),
        service_identity: keys.service_identity(),
    }
}

/// Commits blocks of 1, 4, 2 and 3 transfers; returns the blocks and the transaction hashes.
fn chain(f: &Fixture, ledger: &Ledger) -> (Vec<txnchain_primitives::SealedBlock>, Vec<B256>) {
    let (mut blocks, mut hashes, mut nonce) = (vec![], vec![], [0u64; 2]);
    for (b, count) in [1u64, 4, 2, 3].into_iter().enumerate() {
        let sender = b % 2;
        for _ in 0..count {
            let tx = eip1559(&f.keys[sender], nonce[sender], |t| t.value = U256::from(1));
            hashes.push(ledger.submit(tx).unwrap());
            nonce[sender] += 1;
        }
        blocks.push(commit_block(ledger).unwrap());
    }
    (blocks, hashes)
}

#[test]
fn every_receipt_verifies_and_followers_store_the_same_signatures() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let (ledger, keys) = keyed(dir.path(), &f.genesis);
    let (blocks, hashes) = chain(&f, &ledger);
    let reader = ledger.reader().unwrap();
    let identity = keys.service_identity();
    for (i, hash) in hashes.iter().enumerate() {
        let receipt = reader
            .ledger_receipt(signer(&keys), *hash)
            .unwrap()
            .unwrap();
        let verified = receipt.verify(&identity).unwrap();
        assert_eq!(verified.transaction_hash, *hash);
        assert_eq!(verified.leaf_index, i as u64, "leaves are in ledger order");
        assert!(verified.success);
        // The document round-trips through its JSON form unchanged.
        let json = serde_json::to_string(&receipt).unwrap();
        assert_eq!(serde_json::from_str::<Receipt>(&json).unwrap(), receipt);
    }
    assert!(
        reader
            .ledger_receipt(signer(&keys), B256::repeat_byte(9))
            .unwrap()
            .is_none()
    );
    for block in &blocks {
        let root = reader
            .signed_root(signer(&keys), block.number())
            .unwrap()
            .unwrap();
        root.verify(&identity).unwrap();
        assert_eq!(root.block_hash, block.hash());
        assert_eq!(
            root.root.as_slice(),
            block.header.header.extra_data.as_ref()
        );
    }
    assert!(reader.signed_root(signer(&keys), 0).unwrap().is_none());
    assert!(reader.signed_root(signer(&keys), 99).unwrap().is_none());

    // A replica with the same keys re-executes the blocks and signs the same bytes.
    let follower_dir = tempfile::tempdir().unwrap();
    let (follower, follower_keys) = keyed(follower_dir.path(), &f.genesis);
    for block in &blocks {
        follower.apply_committed(block).unwrap();
    }
    let theirs = follower.reader().unwrap();
    for block in &blocks {
        assert_eq!(
            theirs
                .signed_root(signer(&follower_keys), block.number())
                .unwrap(),
            reader.signed_root(signer(&keys), block.number()).unwrap(),
        );
    }

    // A node without the network's keys applies the same blocks but signs nothing.
    let bare_dir = tempfile::tempdir().unwrap();
    let bare = open(bare_dir.path(), &f.genesis, PoolLimits::default());
    for block in &blocks {
        bare.apply_committed(block).unwrap();
    }
    assert!(matches!(
        bare.reader()
            .unwrap()
            .ledger_receipt(signer(&keys), hashes[0]),
        Err(LedgerError::Unsigned(1))
    ));
}

#[test]
fn signed_roots_survive_a_restart() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let (ledger, keys) = keyed(dir.path(), &f.genesis);
    let (_, hashes) = chain(&f, &ledger);
    let before = ledger
        .reader()
        .unwrap()
        .ledger_receipt(signer(&keys), hashes[6])
        .unwrap();
    drop(ledger);
    let (ledger, keys) = keyed(dir.path(), &f.genesis);
    let after = ledger
        .reader()
        .unwrap()
        .ledger_receipt(signer(&keys), hashes[6])
        .unwrap();
    assert_eq!(before, after);
    after.unwrap().verify(&keys.service_identity()).unwrap();
}

#[test]
fn consistency_is_served_for_every_pair_of_sizes_and_refused_out_of_range() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = keyed(dir.path(), &f.genesis);
    let (_, hashes) = chain(&f, &ledger);
    let reader = ledger.reader().unwrap();
    let n = hashes.len() as u64;
    let snap = ledger.store().snapshot().unwrap();
    for m in 0..=n {
        for k in m..=n {
            let proof = reader.ledger_consistency(m, k).unwrap();
            let roots = (
                snap.ledger_tree_root(m).unwrap().0,
                snap.ledger_tree_root(k).unwrap().0,
            );
            let proof: Vec<[u8; 32]> = proof.iter().map(|h| h.0).collect();
            txnchain_ledger_tree::verify_consistency(m, k, &roots.0, &roots.1, &proof).unwrap();
        }
    }
    for (m, k) in [(3, 2), (0, n + 1), (n + 1, n + 2)] {
        assert!(matches!(
            reader.ledger_consistency(m, k),
            Err(LedgerError::TreeRange { .. })
        ));
    }
}

#[test]
fn each_tampered_field_fails_its_check() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let (ledger, keys) = keyed(dir.path(), &f.genesis);
    let (_, hashes) = chain(&f, &ledger);
    let good = ledger
        .reader()
        .unwrap()
        .ledger_receipt(signer(&keys), hashes[3])
        .unwrap()
        .unwrap();
    let identity = keys.service_identity();
    let flip = |b: &alloy_primitives::Bytes, at: usize| {
        let mut v = b.to_vec();
        v[at] ^= 1;
        alloy_primitives::Bytes::from(v)
    };
    let cases: Vec<(&str, Receipt, [u8; 32], &str)> = vec![
        (
            "version",
            Receipt {
                version: 2,
                ..good.clone()
            },
            identity,
            "version",
        ),
        ("identity", good.clone(), [5; 32], "serviceIdentity"),
        // A flipped byte in the signature's s value: the transaction no longer recovers to
        // the same sender, or decodes at all; either way its hash (and leaf) changed.
        (
            "transaction",
            Receipt {
                transaction: flip(&good.transaction, good.transaction.len() - 1),
                ..good.clone()
            },
            identity,
            "inclusionProof",
        ),
        (
            "receipt gas used",
            Receipt {
                receipt: flip(&good.receipt, 7),
                ..good.clone()
            },
            identity,
            "inclusionProof",
        ),
        (
            "proof element",
            Receipt {
                inclusion_proof: {
                    let mut p = good.inclusion_proof.clone();
                    p[0].0[0] ^= 1;
                    p
                },
                ..good.clone()
            },
            identity,
            "inclusionProof",
        ),
        (
            "index",
            Receipt {
                leaf_index: good.leaf_index + 1,
                ..good.clone()
            },
            identity,
            "inclusionProof",
        ),
        (
            "size",
            Receipt {
                tree_size: good.tree_size - 1,
                ..good.clone()
            },
            identity,
            "inclusionProof",
        ),
        (
            "root",
            Receipt {
                root: B256::repeat_byte(1),
                ..good.clone()
            },
            identity,
            "inclusionProof",
        ),
        (
            "block hash",
            Receipt {
                block_hash: B256::repeat_byte(1),
                ..good.clone()
            },
            identity,
            "signature",
        ),
        (
            "signature",
            Receipt {
                signature: flip(&good.signature, 10),
                ..good.clone()
            },
            identity,
            "signature",
        ),
        (
            "chain id",
            Receipt {
                chain_id: 1,
                ..good.clone()
            },
            identity,
            "chainId",
        ),
    ];
    for (what, receipt, trusted, check) in cases {
        let err = receipt.verify(&trusted).expect_err(what);
        // The transaction's last byte may also make it undecodable: that is its own check.
        if what == "transaction" && matches!(err, ReceiptError::Transaction(_)) {
            continue;
        }
        assert_eq!(err.check(), check, "{what}: {err}");
    }
    good.verify(&identity).unwrap();
}
