//! The store on its own: a block is one write (readers see all of it or none of it), blocks
//! apply only in order, state at past blocks is kept and pruned as configured, and everything
//! survives reopening the file.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use alloy_consensus::Header;
use alloy_primitives::{Address, B256, KECCAK256_EMPTY, U256};
use std::sync::Arc;
use txnchain_primitives::SealedHeader;

use txnchain_crypto::keys::LedgerSecret;
use txnchain_storage::{
    BlockWrite, PlainCodec, StateChanges, StorageError, Store, StoreOptions, TableCodec,
    at_rest_codec,
};
use zeroize::Zeroizing;

/// The node's real at-rest codec under a fixed ledger secret.
fn codec(secret: u8) -> Arc<dyn TableCodec> {
    at_rest_codec(&LedgerSecret::from_bytes(Zeroizing::new([secret; 32])))
}

const ALICE: Address = Address::repeat_byte(0xa1);
const TOKEN: Address = Address::repeat_byte(0x70);

/// Block `number` setting ALICE's balance to `balance` and TOKEN's slot 0 to `slot`,
/// prepared against the store's latest state.
fn block(store: &Store, number: u64, balance: u64, slot: u64, timestamp: u64) -> BlockWrite {
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
    block_with(store, number, timestamp, changes)
}

/// Block `number` applying `changes`, prepared against the store's latest state.
fn block_with(store: &Store, number: u64, timestamp: u64, changes: StateChanges) -> BlockWrite {
    let snap = store.snapshot().unwrap();
    let parent_hash = match number {
        0 => B256::ZERO,
        n => snap
            .header(n - 1)
            .unwrap()
            .map(|h| h.hash)
            .unwrap_or_default(),
    };
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
        sealed_results: vec![],
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
    let store = Store::open(
        &dir.path().join("chain.redb"),
        StoreOptions::default(),
        codec(1),
    )
    .unwrap();
    store
        .apply_block(&block(&store, 0, 100, 1, 0), true)
        .unwrap();
    let before = store.snapshot().unwrap();
    // Read (and so cache) ALICE before the next block: the cache must not serve this value
    // to later snapshots, nor the later value to this one.
    assert_eq!(
        before.account(ALICE).unwrap().unwrap().balance,
        U256::from(100)
    );
    let next = block(&store, 1, 200, 2, 1);
    store.apply_block(&next, true).unwrap();
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
        let store = Store::open(&path, options, codec(1)).unwrap();
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
    let store = Store::open(&path, options, codec(1)).unwrap();
    let snap = store.snapshot().unwrap();
    assert_eq!(snap.last_applied().unwrap(), Some(7));
    assert_eq!(snap.storage(TOKEN, U256::ZERO).unwrap(), U256::from(7));
    assert_eq!(balance_at(&store, Some(6)).unwrap(), U256::from(106));
    assert_eq!(
        snap.state_root().unwrap(),
        snap.header(7).unwrap().unwrap().header.state_root
    );
}

/// A 32-byte word holding an ASCII canary.
fn canary_word(text: &[u8]) -> U256 {
    let mut w = [0u8; 32];
    w[32 - text.len()..].copy_from_slice(text);
    U256::from_be_bytes(w)
}

fn canary_changes() -> StateChanges {
    let mut changes = StateChanges::default();
    changes.accounts.insert(
        ALICE,
        Some((1, canary_word(b"BALANCE-CANARY-7f3a"), KECCAK256_EMPTY)),
    );
    let code = alloy_primitives::Bytes::from_static(b"CODE-CANARY-91bc-runtime-bytes");
    let code_hash = alloy_primitives::keccak256(&code);
    changes
        .accounts
        .insert(TOKEN, Some((1, U256::ZERO, code_hash)));
    changes.code.insert(code_hash, code);
    changes.storage.insert(
        TOKEN,
        BTreeMap::from([
            (
                canary_word(b"SLOTKEY-CANARY-55d0"),
                canary_word(b"SLOTVAL-CANARY-e2a4"),
            ),
            (U256::from(1), U256::from(2)),
        ]),
    );
    changes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn the_file_holds_no_state_in_the_clear() {
    let canaries: [&[u8]; 5] = [
        b"BALANCE-CANARY-7f3a",
        b"CODE-CANARY-91bc",
        b"SLOTKEY-CANARY-55d0",
        b"SLOTVAL-CANARY-e2a4",
        ALICE.as_slice(),
    ];
    let mut roots = Vec::new();
    for (name, codec) in [
        ("plain", Arc::new(PlainCodec) as Arc<dyn TableCodec>),
        ("at-rest", codec(1)),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chain.redb");
        {
            let store = Store::open(&path, StoreOptions::default(), codec).unwrap();
            for n in 0..3 {
                let b = block_with(&store, n, n, canary_changes());
                store.apply_block(&b, true).unwrap();
            }
            let snap = store.snapshot().unwrap();
            assert_eq!(
                snap.storage(TOKEN, canary_word(b"SLOTKEY-CANARY-55d0"))
                    .unwrap(),
                canary_word(b"SLOTVAL-CANARY-e2a4")
            );
            assert_eq!(
                snap.storage_at(TOKEN, canary_word(b"SLOTKEY-CANARY-55d0"), 1)
                    .unwrap(),
                canary_word(b"SLOTVAL-CANARY-e2a4")
            );
            roots.push(snap.state_root().unwrap());
        }
        let bytes = std::fs::read(&path).unwrap();
        for c in canaries {
            // The identity codec stores them as they are: proof that the search finds them.
            assert_eq!(contains(&bytes, c), name == "plain", "{name}: {c:?}");
        }
    }
    // Roots are computed from plaintext: the codec (and its random nonces) never enter them.
    assert_eq!(roots[0], roots[1]);
}

/// A database in a temporary directory holding block 0, written under ledger secret 1.
fn one_block_under_secret_1() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.redb");
    let store = Store::open(&path, StoreOptions::default(), codec(1)).unwrap();
    store
        .apply_block(&block(&store, 0, 100, 1, 0), true)
        .unwrap();
    (dir, path)
}

#[test]
fn a_database_opens_only_under_its_own_secret() {
    let (_dir, path) = one_block_under_secret_1();
    match Store::open(&path, StoreOptions::default(), codec(2)) {
        Err(StorageError::Mismatch(m)) => assert!(m.contains("another ledger secret"), "{m}"),
        other => panic!("expected a mismatch, got {:?}", other.map(|_| ())),
    }
    assert!(Store::open(&path, StoreOptions::default(), Arc::new(PlainCodec)).is_err());
    // The right secret still opens it, with the data intact.
    let store = Store::open(&path, StoreOptions::default(), codec(1)).unwrap();
    assert_eq!(balance_at(&store, None).unwrap(), U256::from(100));
}

/// Sets (or, with `None`, deletes) `meta.at_rest_layout` of a closed database, as a build of
/// another layout left it, and returns the meta table's entries afterwards.
fn rewrite_layout(path: &std::path::Path, layout: Option<u64>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let meta: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("meta");
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut t = txn.open_table(meta).unwrap();
        match layout {
            Some(l) => t
                .insert(b"at_rest_layout".as_slice(), l.to_be_bytes().as_slice())
                .map(|_| ())
                .unwrap(),
            None => t.remove(b"at_rest_layout".as_slice()).map(|_| ()).unwrap(),
        }
    }
    txn.commit().unwrap();
    meta_entries(&db)
}

fn meta_entries(db: &redb::Database) -> Vec<(Vec<u8>, Vec<u8>)> {
    use redb::{ReadableDatabase, ReadableTable};
    let meta: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("meta");
    let txn = db.begin_read().unwrap();
    txn.open_table(meta)
        .unwrap()
        .iter()
        .unwrap()
        .map(|e| {
            let (k, v) = e.unwrap();
            (k.value().to_vec(), v.value().to_vec())
        })
        .collect()
}

#[test]
fn a_database_in_another_at_rest_layout_is_refused_and_left_as_it_was() {
    // Layout 1 never wrote the entry (and sealed its check under a 32-byte key, which would
    // not open here); layout 2 (XChaCha20-Poly1305, Keccak key parts) and a later layout
    // write their own number.
    for (layout, named) in [
        (None, "layout 1,"),
        (Some(2), "layout 2,"),
        (Some(4), "layout 4,"),
    ] {
        let (_dir, path) = one_block_under_secret_1();
        let before = rewrite_layout(&path, layout);
        match Store::open(&path, StoreOptions::default(), codec(1)) {
            Err(StorageError::Mismatch(m)) => {
                assert!(m.contains(named) && m.contains("reads layout 3"), "{m}");
            }
            other => panic!("expected a mismatch, got {:?}", other.map(|_| ())),
        }
        let db = redb::Database::open(&path).unwrap();
        assert_eq!(
            meta_entries(&db),
            before,
            "the refused open wrote nothing to meta"
        );
    }
}

#[test]
fn a_destroyed_contract_takes_its_whole_storage_trie_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &dir.path().join("chain.redb"),
        StoreOptions::default(),
        codec(1),
    )
    .unwrap();
    let mut changes = StateChanges::default();
    changes
        .accounts
        .insert(TOKEN, Some((1, U256::ZERO, KECCAK256_EMPTY)));
    changes.storage.insert(
        TOKEN,
        (0..40u64)
            .map(|i| (U256::from(i), U256::from(i + 1)))
            .collect(),
    );
    store
        .apply_block(&block_with(&store, 0, 0, changes), true)
        .unwrap();
    let mut gone = StateChanges::default();
    gone.accounts.insert(TOKEN, None);
    let b = block_with(&store, 1, 1, gone);
    assert_eq!(b.prepared.trie_wipes, vec![TOKEN]);
    store.apply_block(&b, true).unwrap();
    // Recreated with one slot: its storage root is that of a fresh one-slot trie, so no node
    // of the old trie survived under the hashed namespace.
    let mut again = StateChanges::default();
    again
        .accounts
        .insert(TOKEN, Some((1, U256::ZERO, KECCAK256_EMPTY)));
    again
        .storage
        .insert(TOKEN, BTreeMap::from([(U256::from(3), U256::from(9))]));
    store
        .apply_block(&block_with(&store, 2, 2, again.clone()), true)
        .unwrap();
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = Store::open(
        &fresh_dir.path().join("chain.redb"),
        StoreOptions::default(),
        codec(1),
    )
    .unwrap();
    fresh
        .apply_block(&block_with(&fresh, 0, 0, again), true)
        .unwrap();
    let root = |s: &Store| {
        s.snapshot()
            .unwrap()
            .account(TOKEN)
            .unwrap()
            .unwrap()
            .storage_root
    };
    assert_eq!(root(&store), root(&fresh));
    let snap = store.snapshot().unwrap();
    assert_eq!(
        snap.state_root().unwrap(),
        snap.header(2).unwrap().unwrap().header.state_root
    );
    let (value, proof) = snap.storage_proof(TOKEN, U256::from(3)).unwrap();
    assert_eq!(value, U256::from(9));
    assert!(!proof.is_empty());
    // The old slots are gone from the latest state, and still readable at the block that had
    // them.
    assert_eq!(snap.storage(TOKEN, U256::from(5)).unwrap(), U256::ZERO);
    assert_eq!(
        snap.storage_at(TOKEN, U256::from(5), 0).unwrap(),
        U256::from(6)
    );
}
