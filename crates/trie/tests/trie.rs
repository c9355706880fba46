//! Checks roots, incremental updates, storage hygiene and proofs against alloy-trie's reference
//! `HashBuilder` and `verify_proof`.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy_primitives::{B256, Bytes, keccak256};
use alloy_rlp::Decodable;
use alloy_rlp::Encodable;
use alloy_trie::{HashBuilder, nodes::TrieNode, proof::verify_proof};
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::{cell::RefCell, collections::BTreeMap, convert::Infallible};
use txnchain_trie::{
    EMPTY_ROOT_HASH, MemoryNodes, Nibbles, NodeReader, OverlayNodes, ROOT_PATH, TrieError,
    decode_path, encode_path, get, get_with_proof, proof, root, update,
};

type Model = BTreeMap<B256, Vec<u8>>;

/// The reference root, built from scratch.
fn reference_root(model: &Model) -> B256 {
    let mut hb = HashBuilder::default();
    for (key, value) in model {
        hb.add_leaf(Nibbles::unpack(key), value);
    }
    hb.root()
}

fn random_b256(rng: &mut StdRng) -> B256 {
    B256::from(rng.random::<[u8; 32]>())
}

/// A random value: 1 byte (so leaves near the bottom are inline), short, or long.
fn random_value(rng: &mut StdRng) -> Vec<u8> {
    let len = match rng.random_range(0..4) {
        0 => 1,
        1 => rng.random_range(2..8),
        2 => rng.random_range(8..40),
        _ => rng.random_range(40..200),
    };
    let mut v = vec![0u8; len];
    rng.fill(&mut v[..]);
    if v[0] == 0 {
        v[0] = 1;
    }
    v
}

/// Random keys, some sharing long prefixes (up to 63 nibbles) with earlier ones.
fn random_key(rng: &mut StdRng, existing: &[B256]) -> B256 {
    let mut key: [u8; 32] = rng.random();
    if !existing.is_empty() && rng.random_bool(0.5) {
        let base = existing[rng.random_range(0..existing.len())];
        let shared_nibbles = rng.random_range(1..64usize);
        let mut nibbles = Nibbles::unpack(base).slice(..shared_nibbles);
        while nibbles.len() < 64 {
            nibbles.push(rng.random_range(0..16));
        }
        key.copy_from_slice(&nibbles.pack());
    }
    B256::from(key)
}

fn apply(store: &mut MemoryNodes, changes: Vec<(B256, Option<Vec<u8>>)>) -> B256 {
    let upd = update(store, changes).expect("update");
    store.apply(&upd);
    assert_eq!(root(store).unwrap(), upd.root);
    upd.root
}

/// Every stored node is reachable, hashes to its parent's reference and nothing else is stored.
fn assert_store_exact(store: &MemoryNodes, model: &Model) {
    // Rebuild a fresh store from scratch and compare byte for byte: path layout is canonical.
    let mut fresh = MemoryNodes::new();
    let upd = update(&fresh, model.iter().map(|(k, v)| (*k, Some(v.clone())))).unwrap();
    fresh.apply(&upd);
    assert_eq!(
        store, &fresh,
        "incremental store differs from a from-scratch store"
    );
}

fn check_model(store: &MemoryNodes, model: &Model, rng: &mut StdRng) {
    let root_hash = root(store).unwrap();
    assert_eq!(root_hash, reference_root(model));
    for (key, value) in model.iter().take(200) {
        assert_eq!(get(store, *key).unwrap().as_ref(), Some(value));
        let got = get_with_proof(store, *key).unwrap();
        assert_eq!(got.value.as_ref(), Some(value));
        verify_proof(
            root_hash,
            Nibbles::unpack(key),
            Some(value.clone()),
            &got.proof,
        )
        .unwrap();
    }
    let keys: Vec<B256> = model.keys().copied().collect();
    for _ in 0..100 {
        let key = random_key(rng, &keys);
        let expected = model.get(&key).cloned();
        assert_eq!(get(store, key).unwrap(), expected);
        let nodes = proof(store, key).unwrap();
        verify_proof(root_hash, Nibbles::unpack(key), expected, &nodes).unwrap();
    }
}

#[test]
fn empty_trie() {
    let store = MemoryNodes::new();
    assert_eq!(root(&store).unwrap(), EMPTY_ROOT_HASH);
    assert_eq!(get(&store, B256::ZERO).unwrap(), None);
    let nodes = proof(&store, B256::ZERO).unwrap();
    assert!(nodes.is_empty());
    verify_proof(EMPTY_ROOT_HASH, Nibbles::unpack(B256::ZERO), None, &nodes).unwrap();
    let upd = update(&store, [(B256::ZERO, None)]).unwrap();
    assert_eq!(upd.root, EMPTY_ROOT_HASH);
    assert!(upd.writes.is_empty());
}

#[test]
fn single_small_leaf_root() {
    // A root shorter than 32 bytes is still hashed and stored.
    let mut store = MemoryNodes::new();
    let mut key = [0u8; 32];
    key[0] = 1;
    let key = B256::from(key);
    let mut model = Model::new();
    model.insert(key, vec![7]);
    assert_eq!(
        apply(&mut store, vec![(key, Some(vec![7]))]),
        reference_root(&model)
    );
    assert_eq!(store.len(), 1);
    let nodes = proof(&store, key).unwrap();
    verify_proof(
        root(&store).unwrap(),
        Nibbles::unpack(key),
        Some(vec![7]),
        &nodes,
    )
    .unwrap();
}

#[test]
fn roots_match_hash_builder_from_scratch() {
    let mut rng = StdRng::seed_from_u64(1);
    for size in [1usize, 2, 3, 5, 16, 17, 100, 1000, 5000] {
        let mut model = Model::new();
        let mut keys = Vec::new();
        while model.len() < size {
            let key = random_key(&mut rng, &keys);
            keys.push(key);
            model.insert(key, random_value(&mut rng));
        }
        let mut store = MemoryNodes::new();
        apply(
            &mut store,
            model.iter().map(|(k, v)| (*k, Some(v.clone()))).collect(),
        );
        check_model(&store, &model, &mut rng);
    }
}

#[test]
fn deep_inline_subtrees() {
    // Keys differing only in the last nibbles with 1-byte values: inline leaves, inline
    // branches and inline extensions near the bottom.
    let mut rng = StdRng::seed_from_u64(2);
    let mut store = MemoryNodes::new();
    let mut model = Model::new();
    for round in 0..30 {
        let base: [u8; 32] = rng.random();
        let mut changes = Vec::new();
        for _ in 0..rng.random_range(1..20) {
            let mut key = base;
            let tail: u16 = rng.random_range(0..if round % 2 == 0 { 16 } else { 4096 });
            let [high, low] = tail.to_be_bytes();
            key[30] = (key[30] & 0xf0) | high & 0x0f;
            key[31] = low;
            let key = B256::from(key);
            let value = if rng.random_bool(0.7) {
                vec![rng.random_range(1..0x80)]
            } else {
                random_value(&mut rng)
            };
            model.insert(key, value.clone());
            changes.push((key, Some(value)));
        }
        assert_eq!(apply(&mut store, changes), reference_root(&model));
        check_model(&store, &model, &mut rng);
        assert_store_exact(&store, &model);
    }
    // Inline nodes really occur: some stored node embeds a child shorter than 32 bytes.
    let inline_children = store
        .iter()
        .filter_map(
            |(_, bytes)| match TrieNode::decode(&mut &bytes[..]).unwrap() {
                TrieNode::Branch(b) => Some(b.stack.iter().filter(|c| !c.is_hash()).count()),
                TrieNode::Extension(e) => Some(usize::from(!e.child.is_hash())),
                _ => None,
            },
        )
        .sum::<usize>();
    assert!(
        inline_children > 10,
        "only {inline_children} inline children"
    );
    // Now delete them in random batches.
    let mut keys: Vec<B256> = model.keys().copied().collect();
    while !keys.is_empty() {
        let n = rng.random_range(1..=keys.len().min(7));
        let batch: Vec<B256> = (0..n)
            .map(|_| keys.swap_remove(rng.random_range(0..keys.len())))
            .collect();
        for key in &batch {
            model.remove(key);
        }
        assert_eq!(
            apply(&mut store, batch.into_iter().map(|k| (k, None)).collect()),
            reference_root(&model)
        );
        assert_store_exact(&store, &model);
    }
    assert!(store.is_empty());
}

#[test]
fn incremental_batches_match_from_scratch() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut store = MemoryNodes::new();
    let mut model = Model::new();
    let mut keys: Vec<B256> = Vec::new();
    for batch in 0..60 {
        let mut changes = Vec::new();
        let n = rng.random_range(1..300);
        for _ in 0..n {
            let op = rng.random_range(0..10);
            if op < 4 || keys.is_empty() {
                let key = random_key(&mut rng, &keys);
                let value = random_value(&mut rng);
                keys.push(key);
                changes.push((key, Some(value)));
            } else if op < 7 {
                let key = keys[rng.random_range(0..keys.len())];
                changes.push((key, Some(random_value(&mut rng))));
            } else if op < 9 {
                let key = keys[rng.random_range(0..keys.len())];
                changes.push((key, None));
            } else {
                // Deleting an absent key is a no-op; an empty value deletes.
                let key = random_key(&mut rng, &keys);
                changes.push((
                    key,
                    if rng.random_bool(0.5) {
                        None
                    } else {
                        Some(Vec::new())
                    },
                ));
            }
        }
        // Duplicate keys in one batch: the last change wins.
        if let Some((key, _)) = changes.first().cloned() {
            changes.push((key, Some(vec![0x42])));
        }
        for (key, value) in &changes {
            match value {
                Some(v) if !v.is_empty() => model.insert(*key, v.clone()),
                _ => model.remove(key),
            };
        }
        assert_eq!(
            apply(&mut store, changes),
            reference_root(&model),
            "batch {batch}"
        );
        if batch % 10 == 0 {
            check_model(&store, &model, &mut rng);
            assert_store_exact(&store, &model);
        }
    }
    check_model(&store, &model, &mut rng);
    assert_store_exact(&store, &model);

    // Re-applying identical values changes nothing and writes nothing.
    let same: Vec<_> = model
        .iter()
        .take(50)
        .map(|(k, v)| (*k, Some(v.clone())))
        .collect();
    let upd = update(&store, same).unwrap();
    assert_eq!(upd.root, root(&store).unwrap());
    assert!(
        upd.writes.is_empty(),
        "no-op batch wrote {:?}",
        upd.writes.len()
    );

    // Delete everything in a few batches: back to the empty root and an empty store.
    let mut all: Vec<B256> = model.keys().copied().collect();
    while !all.is_empty() {
        let n = rng.random_range(1..=all.len().min(500));
        let batch: Vec<B256> = all.drain(..n).collect();
        for key in &batch {
            model.remove(key);
        }
        assert_eq!(
            apply(&mut store, batch.into_iter().map(|k| (k, None)).collect()),
            reference_root(&model)
        );
    }
    assert_eq!(root(&store).unwrap(), EMPTY_ROOT_HASH);
    assert!(store.is_empty(), "{} nodes leaked", store.len());
}

#[test]
fn delete_all_in_one_batch() {
    let mut rng = StdRng::seed_from_u64(4);
    let mut store = MemoryNodes::new();
    let keys: Vec<B256> = (0..2000).map(|_| random_b256(&mut rng)).collect();
    apply(
        &mut store,
        keys.iter()
            .map(|k| (*k, Some(random_value(&mut rng))))
            .collect(),
    );
    assert!(store.len() > 2000);
    let upd = update(&store, keys.iter().map(|k| (*k, None))).unwrap();
    assert_eq!(upd.root, EMPTY_ROOT_HASH);
    assert!(upd.writes.iter().all(|(_, w)| w.is_none()));
    store.apply(&upd);
    assert!(store.is_empty());
}

/// Records every path read, to check that an update reads each path at most once and only
/// O(changed keys × depth) of them.
struct CountingReader<'a> {
    inner: &'a MemoryNodes,
    reads: RefCell<Vec<Nibbles>>,
}

impl NodeReader for CountingReader<'_> {
    type Error = Infallible;
    fn get_node(&self, path: &Nibbles) -> Result<Option<Vec<u8>>, Infallible> {
        self.reads.borrow_mut().push(*path);
        self.inner.get_node(path)
    }
}

#[test]
fn update_reads_each_path_once_and_only_touched_paths() {
    let mut rng = StdRng::seed_from_u64(5);
    let mut store = MemoryNodes::new();
    let mut model = Model::new();
    let mut keys = Vec::new();
    for _ in 0..20_000 {
        let key = random_b256(&mut rng);
        keys.push(key);
        model.insert(key, random_value(&mut rng));
    }
    apply(
        &mut store,
        model.iter().map(|(k, v)| (*k, Some(v.clone()))).collect(),
    );
    let total = store.len();

    let mut changes = Vec::new();
    for i in 0..50 {
        let key = if i % 3 == 0 {
            random_b256(&mut rng)
        } else {
            keys[rng.random_range(0..keys.len())]
        };
        changes.push((
            key,
            if i % 5 == 0 {
                None
            } else {
                Some(random_value(&mut rng))
            },
        ));
    }
    let reader = CountingReader {
        inner: &store,
        reads: RefCell::new(Vec::new()),
    };
    let upd = update(&reader, changes.clone()).unwrap();
    let reads = reader.reads.into_inner();
    let mut unique = reads.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), reads.len(), "a path was read twice");
    // Depth of a 20k-key random trie is ~4-5 nodes; allow siblings for collapses.
    assert!(
        reads.len() <= 50 * 8,
        "{} reads of {total} nodes",
        reads.len()
    );
    assert!(upd.writes.len() <= 50 * 8);

    for (key, value) in changes {
        match value {
            Some(v) => model.insert(key, v),
            None => model.remove(&key),
        };
    }
    store.apply(&upd);
    assert_eq!(upd.root, reference_root(&model));
    assert_store_exact(&store, &model);
}

#[test]
fn corrupted_nodes_are_errors() {
    let mut rng = StdRng::seed_from_u64(6);
    let mut store = MemoryNodes::new();
    let keys: Vec<B256> = (0..500).map(|_| random_b256(&mut rng)).collect();
    apply(
        &mut store,
        keys.iter()
            .map(|k| (*k, Some(random_value(&mut rng))))
            .collect(),
    );
    let paths: Vec<Nibbles> = store.iter().map(|(p, _)| *p).collect();

    // Garbage, a truncated node, a flipped byte, an empty string, and removal, at the root and
    // at inner nodes: reads and updates error (no panic).
    for (i, path) in paths.iter().enumerate().filter(|(i, _)| i % 7 == 0) {
        let original = store.get_node(path).unwrap().unwrap();
        let mut flipped = original.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x5a;
        let corruptions: Vec<Option<Vec<u8>>> = vec![
            Some(vec![0xff; 40]),
            Some(original[..original.len() / 2].to_vec()),
            Some(flipped),
            Some(vec![0x80]),
            Some(Vec::new()),
            None,
        ];
        for corrupt in corruptions {
            let mut bad = store.clone();
            match &corrupt {
                Some(bytes) => bad.insert(*path, bytes.clone()),
                None => bad.remove(path),
            };
            // Find a key below this path.
            let below = keys
                .iter()
                .find(|k| Nibbles::unpack(k).starts_with(path))
                .copied()
                .unwrap();
            let is_root = *path == ROOT_PATH;
            let read = get(&bad, below);
            let prf = proof(&bad, below);
            let upd = update(&bad, [(below, Some(vec![1, 2, 3]))]);
            if is_root && corrupt.is_none() {
                // No root: an empty trie.
                assert_eq!(read.unwrap(), None);
                continue;
            }
            if is_root
                && corrupt
                    .as_deref()
                    .is_some_and(|b| b.len() > 3 && b[0] >= 0xc0)
                && read.is_ok()
            {
                // A root that still decodes is trusted (nothing references it); the proof and
                // root then simply commit to the tampered node.
                continue;
            }
            assert!(read.is_err(), "path {i} {path:?}: corrupted read succeeded");
            assert!(prf.is_err());
            let err = upd.expect_err("corrupted update succeeded");
            assert!(matches!(
                err,
                TrieError::HashMismatch { .. }
                    | TrieError::MissingNode { .. }
                    | TrieError::Rlp { .. }
                    | TrieError::Malformed { .. }
            ));
            let _ = err.to_string();
        }
    }
}

#[test]
fn path_encoding_is_unique_and_round_trips() {
    let mut seen = std::collections::HashSet::new();
    let mut rng = StdRng::seed_from_u64(7);
    for len in 0..=64usize {
        for _ in 0..20 {
            let path: Nibbles = (0..len)
                .map(|_| rng.random_range(0..16u8))
                .collect::<Vec<_>>()
                .into_iter()
                .collect();
            let enc = encode_path(&path);
            assert_eq!(enc.len(), len.div_ceil(2) + 1);
            assert_eq!(decode_path(&enc), Some(path));
            seen.insert((enc, path));
        }
    }
    // Same packed bytes, different lengths: distinct.
    let a = Nibbles::from_nibbles([1]);
    let b = Nibbles::from_nibbles([1, 0]);
    assert_ne!(encode_path(&a), encode_path(&b));
    assert_eq!(encode_path(&ROOT_PATH), vec![0]);
    let encs: std::collections::HashSet<_> = seen.iter().map(|(e, _)| e.clone()).collect();
    let paths: std::collections::HashSet<_> = seen.iter().map(|(_, p)| *p).collect();
    assert_eq!(encs.len(), paths.len());
    assert_eq!(decode_path(&[]), None);
    assert_eq!(decode_path(&[0x12, 1]), None);
    assert_eq!(decode_path(&[0x10, 3]), None);
    assert_eq!(decode_path(&[0; 34]), None);
}

#[test]
fn overlay_chains_updates() {
    let mut rng = StdRng::seed_from_u64(8);
    let mut base = MemoryNodes::new();
    let mut model = Model::new();
    let keys: Vec<B256> = (0..300).map(|_| random_b256(&mut rng)).collect();
    for k in &keys {
        model.insert(*k, random_value(&mut rng));
    }
    apply(
        &mut base,
        model.iter().map(|(k, v)| (*k, Some(v.clone()))).collect(),
    );

    let mut overlay = OverlayNodes::new(&base);
    for round in 0..5 {
        let changes: Vec<_> = keys
            .iter()
            .skip(round * 40)
            .take(60)
            .map(|k| {
                (
                    *k,
                    if rng.random_bool(0.3) {
                        None
                    } else {
                        Some(random_value(&mut rng))
                    },
                )
            })
            .collect();
        for (k, v) in &changes {
            match v {
                Some(v) => model.insert(*k, v.clone()),
                None => model.remove(k),
            };
        }
        let upd = update(&overlay, changes).unwrap();
        assert_eq!(upd.root, reference_root(&model));
        overlay.apply(&upd);
        assert_eq!(root(&overlay).unwrap(), upd.root);
    }
    let writes = overlay.into_writes();
    let mut flushed = base.clone();
    flushed.apply(&txnchain_trie::TrieUpdate {
        root: B256::ZERO,
        writes,
    });
    assert_eq!(root(&flushed).unwrap(), reference_root(&model));
    assert_store_exact(&flushed, &model);
}

#[test]
fn account_like_values() {
    // Realistic account-trie leaves: rlp(TrieAccount) keyed by keccak(address).
    let mut store = MemoryNodes::new();
    let mut model = Model::new();
    let mut changes = Vec::new();
    for i in 0u64..200 {
        let key = keccak256(i.to_be_bytes());
        // rlp([nonce, balance, storage_root, code_hash])
        let mut payload = Vec::new();
        i.encode(&mut payload);
        alloy_primitives::U256::from(i * 1_000_000).encode(&mut payload);
        EMPTY_ROOT_HASH.encode(&mut payload);
        alloy_trie::KECCAK_EMPTY.encode(&mut payload);
        let mut value = Vec::new();
        alloy_rlp::Header {
            list: true,
            payload_length: payload.len(),
        }
        .encode(&mut value);
        value.extend_from_slice(&payload);
        model.insert(key, value.clone());
        changes.push((key, Some(value)));
    }
    assert_eq!(apply(&mut store, changes), reference_root(&model));
    let key = keccak256(7u64.to_be_bytes());
    let nodes: Vec<Bytes> = proof(&store, key).unwrap();
    verify_proof(
        root(&store).unwrap(),
        Nibbles::unpack(key),
        model.get(&key).cloned(),
        &nodes,
    )
    .unwrap();
}

/// A reader that trusts its store (no per-read hash check).
struct Trusting<'a>(&'a MemoryNodes);

impl NodeReader for Trusting<'_> {
    type Error = Infallible;
    fn get_node(&self, path: &Nibbles) -> Result<Option<Vec<u8>>, Infallible> {
        self.0.get_node(path)
    }
    fn verify_hashes(&self) -> bool {
        false
    }
}

#[test]
fn unverified_reads_give_identical_results() {
    let mut rng = StdRng::seed_from_u64(9);
    let mut store = MemoryNodes::new();
    let mut keys = Vec::new();
    for _ in 0..20 {
        let changes: Vec<_> = (0..100)
            .map(|_| {
                if !keys.is_empty() && rng.random_bool(0.3) {
                    (keys[rng.random_range(0..keys.len())], None)
                } else {
                    let key = random_key(&mut rng, &keys);
                    keys.push(key);
                    (key, Some(random_value(&mut rng)))
                }
            })
            .collect();
        let verified = update(&store, changes.clone()).unwrap();
        let trusted = update(&Trusting(&store), changes).unwrap();
        assert_eq!(verified, trusted);
        store.apply(&verified);
    }
    for key in keys.iter().take(50) {
        assert_eq!(
            proof(&store, *key).unwrap(),
            proof(&Trusting(&store), *key).unwrap()
        );
    }
    // Undecodable data is still an error without the hash check.
    let path = *store.iter().nth(1).unwrap().0;
    let below = keys
        .iter()
        .find(|k| Nibbles::unpack(k).starts_with(&path))
        .copied()
        .unwrap();
    let mut bad = store.clone();
    bad.insert(path, vec![0xff; 40]);
    assert!(get(&Trusting(&bad), below).is_err());
    assert!(update(&Trusting(&bad), [(below, None)]).is_err());
}
