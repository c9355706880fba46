//! The ledger tree against an independent, naive reading of RFC 9162 §2.1: the recursive
//! definitions of MTH, PATH and PROOF applied to the list of leaf hashes, for every size up
//! to 300 and every index and pair of sizes in that range; against the Certificate
//! Transparency reference test vectors; and every kind of tampering with a proof.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

use txnchain_ledger_tree::{
    EMPTY_ROOT, Hash, MAX_PROOF_LEN, MemoryStore, ProofError, TreeError, append, consistency_proof,
    inclusion_proof, leaf_hash, node_hash, root, verify_consistency, verify_inclusion,
};

const MAX: usize = 300;

/// The largest power of two smaller than `n` (RFC 9162: "k < n ≤ 2k").
fn k_of(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

fn naive_mth(d: &[Hash]) -> Hash {
    match d.len() {
        0 => EMPTY_ROOT,
        1 => d[0],
        n => {
            let k = k_of(n);
            node_hash(&naive_mth(&d[..k]), &naive_mth(&d[k..]))
        }
    }
}

fn naive_path(m: usize, d: &[Hash]) -> Vec<Hash> {
    let n = d.len();
    if n == 1 {
        return vec![];
    }
    let k = k_of(n);
    if m < k {
        let mut p = naive_path(m, &d[..k]);
        p.push(naive_mth(&d[k..]));
        p
    } else {
        let mut p = naive_path(m - k, &d[k..]);
        p.push(naive_mth(&d[..k]));
        p
    }
}

fn naive_subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if b { vec![] } else { vec![naive_mth(d)] };
    }
    let k = k_of(n);
    if m <= k {
        let mut p = naive_subproof(m, &d[..k], b);
        p.push(naive_mth(&d[k..]));
        p
    } else {
        let mut p = naive_subproof(m - k, &d[k..], false);
        p.push(naive_mth(&d[..k]));
        p
    }
}

fn leaves(n: usize) -> Vec<Hash> {
    (0..n)
        .map(|i| leaf_hash(format!("txnchain-leaf-{i}").as_bytes()))
        .collect()
}

/// A store holding `leaves`, appended in batches of varying size (as blocks are).
fn store_of(leaves: &[Hash]) -> MemoryStore {
    let mut store = MemoryStore::default();
    let mut at = 0;
    let mut batch = 1;
    while at < leaves.len() {
        let end = (at + batch).min(leaves.len());
        let a = append(&store, at as u64, leaves[at..end].iter().copied()).unwrap();
        assert_eq!(a.size, end as u64);
        assert_eq!(
            a.root,
            naive_mth(&leaves[..end]),
            "root after append to {end}"
        );
        store.insert(&a);
        at = end;
        batch = batch % 7 + 1;
    }
    store
}

fn hex(s: &str) -> Hash {
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

#[test]
fn certificate_transparency_reference_vectors() {
    // The eight leaves and the roots of sizes 1..=8 of the CT reference implementation's
    // Merkle tree tests (RFC 6962 hashing, which RFC 9162 §2.1 keeps).
    let inputs: [&[u8]; 8] = [
        b"",
        &[0x00],
        &[0x10],
        &[0x20, 0x21],
        &[0x30, 0x31],
        &[0x40, 0x41, 0x42, 0x43],
        &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
        &[
            0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
            0x6e, 0x6f,
        ],
    ];
    let roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    let hashes: Vec<Hash> = inputs.iter().map(|i| leaf_hash(i)).collect();
    let store = store_of(&hashes);
    assert_eq!(root(&store, 0).unwrap(), EMPTY_ROOT);
    for (i, r) in roots.iter().enumerate() {
        assert_eq!(
            root(&store, i as u64 + 1).unwrap(),
            hex(r),
            "size {}",
            i + 1
        );
    }
}

#[test]
fn roots_and_inclusion_proofs_match_the_definitions_for_every_index_and_size() {
    let d = leaves(MAX);
    let store = store_of(&d);
    let current = MAX as u64;
    for n in 0..=MAX {
        let r = root(&store, n as u64).unwrap();
        assert_eq!(r, naive_mth(&d[..n]), "root of {n}");
        for m in 0..n {
            let proof = inclusion_proof(&store, current, m as u64, n as u64).unwrap();
            assert_eq!(proof, naive_path(m, &d[..n]), "PATH({m}, D[{n}])");
            assert_eq!(
                verify_inclusion(&d[m], m as u64, n as u64, &proof, &r),
                Ok(()),
                "verify PATH({m}, D[{n}])"
            );
        }
    }
}

#[test]
fn consistency_proofs_match_the_definitions_for_every_pair_of_sizes() {
    let d = leaves(MAX);
    let store = store_of(&d);
    let current = MAX as u64;
    let roots: Vec<Hash> = (0..=MAX).map(|n| naive_mth(&d[..n])).collect();
    for n in 0..=MAX {
        for m in 0..=n {
            let proof = consistency_proof(&store, current, m as u64, n as u64).unwrap();
            let expected = if m == 0 || m == n {
                vec![]
            } else {
                naive_subproof(m, &d[..n], true)
            };
            assert_eq!(proof, expected, "PROOF({m}, D[{n}])");
            assert_eq!(
                verify_consistency(m as u64, n as u64, &roots[m], &roots[n], &proof),
                Ok(()),
                "verify PROOF({m}, D[{n}])"
            );
        }
    }
}

#[test]
fn tampered_inclusion_proofs_fail_with_the_check_named() {
    let d = leaves(MAX);
    let store = store_of(&d);
    for (m, n) in [
        (0usize, 1usize),
        (0, 2),
        (1, 2),
        (5, 7),
        (6, 7),
        (100, 257),
        (299, 300),
    ] {
        let r = naive_mth(&d[..n]);
        let proof = inclusion_proof(&store, MAX as u64, m as u64, n as u64).unwrap();
        let (m, n) = (m as u64, n as u64);
        let leaf = d[m as usize];
        for i in 0..proof.len() {
            for bit in [0usize, 131, 255] {
                let mut p = proof.clone();
                p[i][bit / 8] ^= 1 << (bit % 8);
                assert_eq!(
                    verify_inclusion(&leaf, m, n, &p, &r),
                    Err(ProofError::RootMismatch)
                );
            }
        }
        let mut other_leaf = leaf;
        other_leaf[0] ^= 0x80;
        assert_eq!(
            verify_inclusion(&other_leaf, m, n, &proof, &r),
            Err(ProofError::RootMismatch)
        );
        let mut other_root = r;
        other_root[31] ^= 1;
        assert_eq!(
            verify_inclusion(&leaf, m, n, &proof, &other_root),
            Err(ProofError::RootMismatch)
        );
        // The neighbouring index never verifies the same proof. (A proof may verify for
        // another size against the same root: the size is bound by the signed root, §2 of
        // the receipts spec, not by the hashes.)
        if m ^ 1 < n {
            assert_eq!(
                verify_inclusion(&leaf, m ^ 1, n, &proof, &r),
                Err(ProofError::RootMismatch),
                "index {}",
                m ^ 1
            );
        }
        assert_eq!(
            verify_inclusion(&leaf, n, n, &proof, &r),
            Err(ProofError::IndexOutOfRange { index: n, size: n })
        );
        let mut longer = proof.clone();
        longer.push(r);
        assert!(verify_inclusion(&leaf, m, n, &longer, &r).is_err());
        if !proof.is_empty() {
            assert!(verify_inclusion(&leaf, m, n, &proof[..proof.len() - 1], &r).is_err());
        }
    }
    let leaf = d[0];
    assert_eq!(
        verify_inclusion(&leaf, 0, 1, &vec![leaf; MAX_PROOF_LEN + 1], &leaf),
        Err(ProofError::TooLong {
            len: MAX_PROOF_LEN + 1
        })
    );
}

#[test]
fn tampered_consistency_proofs_fail_with_the_check_named() {
    let d = leaves(MAX);
    let store = store_of(&d);
    let roots: Vec<Hash> = (0..=MAX).map(|n| naive_mth(&d[..n])).collect();
    for (m, n) in [
        (1usize, 2usize),
        (3, 7),
        (4, 7),
        (6, 8),
        (64, 300),
        (255, 257),
        (299, 300),
    ] {
        let proof = consistency_proof(&store, MAX as u64, m as u64, n as u64).unwrap();
        let (rm, rn) = (roots[m], roots[n]);
        let (m, n) = (m as u64, n as u64);
        for i in 0..proof.len() {
            let mut p = proof.clone();
            p[i][7] ^= 4;
            assert!(
                verify_consistency(m, n, &rm, &rn, &p).is_err(),
                "element {i} of PROOF({m}, {n})"
            );
        }
        let mut bad = rm;
        bad[0] ^= 1;
        assert_eq!(
            verify_consistency(m, n, &bad, &rn, &proof),
            if m.is_power_of_two() {
                // The first root is the proof's first element: the second root fails.
                Err(ProofError::RootMismatch)
            } else {
                Err(ProofError::FirstRootMismatch)
            }
        );
        let mut bad = rn;
        bad[0] ^= 1;
        assert_eq!(
            verify_consistency(m, n, &rm, &bad, &proof),
            Err(ProofError::RootMismatch)
        );
        // A forked second tree (one leaf replaced) is caught.
        let mut forked = d[..n as usize].to_vec();
        forked[m as usize - 1][3] ^= 1;
        assert!(verify_consistency(m, n, &rm, &naive_mth(&forked), &proof).is_err());
        // (As for inclusion, a proof can verify for another second size against the same
        // roots: sizes are bound by the signed roots, not by the hashes.)
        assert_eq!(
            verify_consistency(n, m, &rn, &rm, &proof),
            Err(ProofError::SizesInverted {
                first: n,
                second: m
            })
        );
        assert_eq!(
            verify_consistency(m, n, &rm, &rn, &[]),
            Err(ProofError::WrongLength)
        );
    }
    assert_eq!(
        verify_consistency(5, 5, &roots[5], &roots[6], &[]),
        Err(ProofError::RootMismatch)
    );
    assert_eq!(
        verify_consistency(5, 5, &roots[5], &roots[5], &[roots[1]]),
        Err(ProofError::WrongLength)
    );
}

#[test]
fn proofs_beyond_the_tree_are_refused_and_missing_nodes_named() {
    let d = leaves(10);
    let store = store_of(&d);
    assert_eq!(
        inclusion_proof(&store, 10, 3, 11),
        Err(TreeError::OutOfRange {
            what: "tree size",
            value: 11,
            size: 10
        })
    );
    assert_eq!(
        inclusion_proof(&store, 10, 4, 4),
        Err(TreeError::OutOfRange {
            what: "leaf index",
            value: 4,
            size: 4
        })
    );
    assert!(consistency_proof(&store, 10, 4, 11).is_err());
    assert!(consistency_proof(&store, 10, 5, 4).is_err());
    // A store that lost nodes says which one, instead of answering a wrong root.
    let empty = MemoryStore::default();
    assert_eq!(
        root(&empty, 3),
        Err(TreeError::MissingNode { level: 1, index: 0 })
    );
}
