//! The database handle and the one-transaction block apply.

use std::path::Path;
use std::sync::Arc;

use alloy_rlp::Encodable;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, WriteTransaction};

use txnchain_crypto::at_rest::TableCodec;

use crate::access;
use crate::cache::AccountCache;
use crate::records::{BlockWrite, TrieKey, TxLocation, encode_tx};
use crate::snapshot::{meta_u64, storage_key};
use crate::tables::{self, Table};
use crate::{Snapshot, StorageError};

type RawTable<'t> = redb::Table<'t, &'static [u8], &'static [u8]>;

/// The value sealed under `meta.at_rest_check`: opening it proves the codec is the one the
/// database was written with.
const AT_REST_CHECK: &[u8] = b"txnchain at-rest check v1";

/// Layout of the tables, in the clear under `meta.at_rest_layout` and read before anything is
/// opened (a layout changes how keys are encoded, so a check value written in another one
/// would not open at all): 3 = XAES-256-GCM values and AES-256-CMAC key parts (16 bytes),
/// receipts and block changes keyed by block number in the clear, and the ledger tree's
/// tables. Layout 2 had XChaCha20-Poly1305 values, Keccak key parts and no ledger tree;
/// databases of layout 1 (32-byte key parts) never wrote the entry.
const AT_REST_LAYOUT: u64 = 3;

/// How much history to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Keep the state of every block forever.
    pub archive: bool,
    /// Without `archive`: keep at least this many recent blocks of state…
    pub retain_blocks: u64,
    /// …and at least every block whose timestamp is within this many seconds of the newest.
    pub retain_seconds: u64,
    /// Cache size handed to redb, in bytes.
    pub cache_bytes: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            archive: false,
            retain_blocks: 10_000,
            retain_seconds: 3_600,
            cache_bytes: 256 << 20,
        }
    }
}

/// A state of the database [`Store::restore`] can go back to.
pub struct StoreSavepoint {
    savepoint: redb::Savepoint,
    last_applied: Option<u64>,
}

impl StoreSavepoint {
    /// The last block applied when the savepoint was taken.
    pub fn last_applied(&self) -> Option<u64> {
        self.last_applied
    }
}

impl std::fmt::Debug for StoreSavepoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSavepoint")
            .field("last_applied", &self.last_applied)
            .finish_non_exhaustive()
    }
}

/// The node's database.
pub struct Store {
    db: Database,
    codec: Arc<dyn TableCodec>,
    options: StoreOptions,
    accounts: Arc<AccountCache>,
}

/// Latest account records kept decoded in memory (see [`crate::cache`]).
const ACCOUNT_CACHE_ENTRIES: usize = 100_000;

/// Removes every key starting with `prefix`.
fn remove_prefix(table: &mut RawTable<'_>, prefix: &[u8]) -> Result<(), StorageError> {
    match access::prefix_end(prefix) {
        Some(end) => table.retain_in::<&[u8], _>(prefix..end.as_slice(), |_, _| false)?,
        None => table.retain_in::<&[u8], _>(prefix.., |_, _| false)?,
    }
    Ok(())
}

impl Store {
    /// Opens (or creates) the database file at `path`; confidential tables pass through
    /// `codec` (a node's is [`crate::at_rest_codec`] of its ledger secret).
    ///
    /// A new database records a check value sealed by `codec`; an existing one is opened only
    /// if that value opens, so a data directory is never read, or half written, under another
    /// ledger secret.
    pub fn open(
        path: &Path,
        options: StoreOptions,
        codec: Arc<dyn TableCodec>,
    ) -> Result<Self, StorageError> {
        let db = Database::builder()
            .set_cache_size(options.cache_bytes)
            .create(path)?;
        let txn = db.begin_write()?;
        for t in tables::ALL {
            txn.open_table(t.def())?;
        }
        {
            let mut meta = txn.open_table(tables::META.def())?;
            let key = access::stored_key(&*codec, tables::AT_REST_CHECK, &[b"check"]);
            let existing = meta
                .get(b"at_rest_check".as_slice())?
                .map(|v| v.value().to_vec());
            let layout = crate::snapshot::meta_u64(
                meta.get(b"at_rest_layout".as_slice())?
                    .map(|v| v.value().to_vec())
                    .as_deref(),
            )?;
            match (existing, layout) {
                (Some(_), layout) if layout != Some(AT_REST_LAYOUT) => {
                    return Err(StorageError::Mismatch(format!(
                        "the database was written in at-rest layout {}, this build reads layout \
                         {AT_REST_LAYOUT}; start from a new data directory",
                        layout.unwrap_or(1)
                    )));
                }
                (Some(sealed), _) => {
                    let opened = access::open(&*codec, tables::AT_REST_CHECK, &key, &sealed)
                        .map_err(|_| {
                            StorageError::Mismatch(
                                "the database was written under another ledger secret or \
                                 at-rest codec"
                                    .into(),
                            )
                        })?;
                    if opened.as_ref() != AT_REST_CHECK {
                        return Err(StorageError::Mismatch(
                            "the database's at-rest check value is wrong".into(),
                        ));
                    }
                }
                (None, _) => {
                    if meta.get(b"last_applied".as_slice())?.is_some() {
                        return Err(StorageError::Mismatch(
                            "the database predates encryption at rest; start from a new data \
                             directory"
                                .into(),
                        ));
                    }
                    let sealed = access::seal(&*codec, tables::AT_REST_CHECK, &key, AT_REST_CHECK)?;
                    meta.insert(b"at_rest_check".as_slice(), sealed.as_ref())?;
                    meta.insert(
                        b"at_rest_layout".as_slice(),
                        AT_REST_LAYOUT.to_be_bytes().as_slice(),
                    )?;
                }
            }
        }
        txn.commit()?;
        Ok(Store {
            db,
            codec,
            options,
            accounts: Arc::new(AccountCache::new(ACCOUNT_CACHE_ENTRIES)),
        })
    }

    /// A consistent read view of the latest committed state.
    pub fn snapshot(&self) -> Result<Snapshot, StorageError> {
        Ok(Snapshot::new(
            self.db.begin_read()?,
            self.codec.clone(),
            self.accounts.clone(),
        ))
    }

    /// Marks the current committed state so that [`Store::restore`] can bring the whole
    /// database back to it (the dev chain's `evm_snapshot`). Held in memory only, by redb:
    /// while it lives, pages freed after it are kept, so the file grows until it is dropped.
    pub fn savepoint(&self) -> Result<StoreSavepoint, StorageError> {
        let txn = self.db.begin_write()?;
        let savepoint = txn.ephemeral_savepoint().map_err(redb::Error::from)?;
        let last_applied = meta_u64(
            txn.open_table(tables::META.def())?
                .get(b"last_applied".as_slice())?
                .map(|v| v.value().to_vec())
                .as_deref(),
        )?;
        // Committed, not aborted: an abort releases the savepoints the transaction took.
        txn.commit()?;
        Ok(StoreSavepoint {
            savepoint,
            last_applied,
        })
    }

    /// Brings every table back to `savepoint`, in one fsynced write transaction: the blocks
    /// applied since are gone as if never written. Savepoints taken after it become invalid.
    pub fn restore(&self, savepoint: &StoreSavepoint) -> Result<(), StorageError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)
            .map_err(redb::Error::from)?;
        txn.restore_savepoint(&savepoint.savepoint)
            .map_err(redb::Error::from)?;
        // Every cached account may be newer than the restored state.
        self.accounts.clear();
        let committed = txn.commit();
        self.accounts.clear();
        committed?;
        Ok(())
    }

    /// Writes a metadata value in its own transaction (used once, at initialisation).
    pub fn put_meta(&self, name: &str, value: &[u8]) -> Result<(), StorageError> {
        let txn = self.db.begin_write()?;
        txn.open_table(tables::META.def())?
            .insert(name.as_bytes(), value)?;
        txn.commit()?;
        Ok(())
    }

    /// Applies one block: every write of the block and the `last_applied` marker commit in ONE
    /// redb transaction. With `durable`, the commit is fsynced before returning (the single-node
    /// durable write); without it, durability comes from a replicated log that is replayed from
    /// `last_applied` after a crash.
    pub fn apply_block(&self, block: &BlockWrite, durable: bool) -> Result<(), StorageError> {
        let number = block.header.header.number;
        let mut txn = self.db.begin_write()?;
        txn.set_durability(if durable {
            Durability::Immediate
        } else {
            Durability::None
        })
        .map_err(|e| {
            StorageError::Db(redb::Error::from(redb::StorageError::from(
                std::io::Error::other(e.to_string()),
            )))
        })?;
        {
            let mut meta = txn.open_table(tables::META.def())?;
            let last = meta_u64(
                meta.get(b"last_applied".as_slice())?
                    .map(|v| v.value().to_vec())
                    .as_deref(),
            )?;
            match last {
                None if number == 0 => {}
                Some(l) if number == l + 1 => {}
                l => {
                    return Err(StorageError::OutOfOrder {
                        got: number,
                        last: l.unwrap_or(u64::MAX),
                    });
                }
            }
            meta.insert(b"last_applied".as_slice(), number.to_be_bytes().as_slice())?;
        }
        self.write_block_data(&txn, block)?;
        self.write_state(&txn, block)?;
        if !self.options.archive {
            self.prune(&txn, block)?;
        }
        // The cache learns the block's accounts before the commit makes them visible, so no
        // snapshot that can see this block reads an older cached value.
        self.accounts.apply(number, &block.prepared.accounts);
        if let Err(e) = txn.commit() {
            self.accounts.clear();
            return Err(e.into());
        }
        Ok(())
    }

    /// Writes `value` under the key made of `parts` in `t` (sealed when confidential);
    /// `None` removes it.
    fn put(
        &self,
        table: &mut RawTable<'_>,
        t: Table,
        parts: &[&[u8]],
        value: Option<&[u8]>,
    ) -> Result<(), StorageError> {
        let key = access::stored_key(&*self.codec, t, parts);
        self.put_stored(table, t, &key, value)
    }

    /// [`Store::put`] under an already encoded key.
    fn put_stored(
        &self,
        table: &mut RawTable<'_>,
        t: Table,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<(), StorageError> {
        match value {
            Some(v) => {
                let sealed = access::seal(&*self.codec, t, key, v)?;
                table.insert(key, sealed.as_ref())?;
            }
            None => {
                table.remove(key)?;
            }
        }
        Ok(())
    }

    /// Writes a history entry: the encoded entity, then the block number in the clear.
    fn put_history(
        &self,
        table: &mut RawTable<'_>,
        t: Table,
        entity: &[u8],
        block: u64,
        value: &[u8],
    ) -> Result<(), StorageError> {
        let mut key = access::stored_key(&*self.codec, t, &[entity]);
        key.extend_from_slice(&block.to_be_bytes());
        let sealed = access::seal(&*self.codec, t, &key, value)?;
        table.insert(key.as_slice(), sealed.as_ref())?;
        Ok(())
    }

    fn write_block_data(
        &self,
        txn: &WriteTransaction,
        block: &BlockWrite,
    ) -> Result<(), StorageError> {
        let number = block.header.header.number;
        let nb = number.to_be_bytes();
        self.put(
            &mut txn.open_table(tables::HEADERS.def())?,
            tables::HEADERS,
            &[&nb],
            Some(&block.header.rlp()),
        )?;
        self.put(
            &mut txn.open_table(tables::BLOCK_HASHES.def())?,
            tables::BLOCK_HASHES,
            &[block.header.hash.as_slice()],
            Some(&nb),
        )?;
        let mut hashes = Vec::with_capacity(block.transactions.len() * 32);
        let mut txs = txn.open_table(tables::TXS.def())?;
        for (index, tx) in (0u32..).zip(&block.transactions) {
            hashes.extend_from_slice(tx.hash().as_slice());
            let loc = TxLocation {
                block: number,
                index,
            };
            self.put(
                &mut txs,
                tables::TXS,
                &[tx.hash().as_slice()],
                Some(&encode_tx(loc, tx)),
            )?;
        }
        self.put(
            &mut txn.open_table(tables::BLOCK_TXS.def())?,
            tables::BLOCK_TXS,
            &[&nb],
            Some(&hashes),
        )?;
        if !block.sealed_results.is_empty() {
            let mut results = txn.open_table(tables::SEALED_RESULTS.def())?;
            for (hash, sealed) in &block.sealed_results {
                self.put(
                    &mut results,
                    tables::SEALED_RESULTS,
                    &[hash.as_slice()],
                    Some(sealed),
                )?;
            }
        }
        let mut receipts = Vec::new();
        block.receipts.encode(&mut receipts);
        self.put(
            &mut txn.open_table(tables::RECEIPTS.def())?,
            tables::RECEIPTS,
            &[&nb],
            Some(&receipts),
        )?;
        self.write_ledger_tree(txn, block)
    }

    /// The block's ledger tree nodes and size, after checking that it adds one leaf per
    /// transaction to the parent's tree.
    fn write_ledger_tree(
        &self,
        txn: &WriteTransaction,
        block: &BlockWrite,
    ) -> Result<(), StorageError> {
        let number = block.header.header.number;
        let tree = &block.prepared.ledger_tree;
        let mut sizes = txn.open_table(tables::LEDGER_TREE_SIZES.def())?;
        let parent = match number.checked_sub(1) {
            None => 0,
            Some(p) => meta_u64(
                sizes
                    .get(p.to_be_bytes().as_slice())?
                    .map(|v| v.value().to_vec())
                    .as_deref(),
            )?
            .ok_or_else(|| {
                crate::error::corrupt("ledger_tree_sizes", format!("no size for block {p}"))
            })?,
        };
        if Some(tree.size) != parent.checked_add(block.transactions.len() as u64) {
            return Err(StorageError::Mismatch(format!(
                "block {number} grows the ledger tree from {parent} to {} leaves with {} \
                 transactions",
                tree.size,
                block.transactions.len()
            )));
        }
        let mut nodes = txn.open_table(tables::LEDGER_TREE.def())?;
        for &(level, index, hash) in &tree.nodes {
            self.put(
                &mut nodes,
                tables::LEDGER_TREE,
                &[&crate::ledger_tree::node_key(level, index)],
                Some(&hash),
            )?;
        }
        if let Some(signature) = &tree.signature {
            self.put(
                &mut txn.open_table(tables::LEDGER_ROOT_SIGNATURES.def())?,
                tables::LEDGER_ROOT_SIGNATURES,
                &[&number.to_be_bytes()],
                Some(signature),
            )?;
        }
        self.put(
            &mut sizes,
            tables::LEDGER_TREE_SIZES,
            &[&number.to_be_bytes()],
            Some(&tree.size.to_be_bytes()),
        )
    }

    fn write_state(&self, txn: &WriteTransaction, block: &BlockWrite) -> Result<(), StorageError> {
        let number = block.header.header.number;
        let mut changed = Vec::new();
        {
            let mut accounts = txn.open_table(tables::ACCOUNTS.def())?;
            let mut history = txn.open_table(tables::ACCOUNT_HISTORY.def())?;
            for (addr, record) in &block.prepared.accounts {
                let enc = record.map(|r| r.encode());
                self.put(
                    &mut accounts,
                    tables::ACCOUNTS,
                    &[addr.as_slice()],
                    enc.as_ref().map(<[u8; 104]>::as_slice),
                )?;
                self.put_history(
                    &mut history,
                    tables::ACCOUNT_HISTORY,
                    addr.as_slice(),
                    number,
                    enc.as_ref().map_or(&[], <[u8; 104]>::as_slice),
                )?;
                changed.push(0u8);
                changed.extend_from_slice(addr.as_slice());
            }
        }
        {
            let mut storage = txn.open_table(tables::STORAGE.def())?;
            // A destroyed account's slots go with it (its storage trie is wiped below). Only
            // the latest-state table needs it: history keeps what past blocks saw.
            for address in &block.prepared.trie_wipes {
                let prefix =
                    access::stored_key(&*self.codec, tables::STORAGE, &[address.as_slice()]);
                remove_prefix(&mut storage, &prefix)?;
            }
            let mut history = txn.open_table(tables::STORAGE_HISTORY.def())?;
            for (addr, slots) in &block.changes.storage {
                for (slot, value) in slots {
                    let key = storage_key(*addr, *slot);
                    let v = value.to_be_bytes::<32>();
                    let stored = (!value.is_zero()).then_some(v.as_slice());
                    self.put(
                        &mut storage,
                        tables::STORAGE,
                        &[addr.as_slice(), &key[20..]],
                        stored,
                    )?;
                    self.put_history(&mut history, tables::STORAGE_HISTORY, &key, number, &v)?;
                    changed.push(1u8);
                    changed.extend_from_slice(&key);
                }
            }
        }
        {
            let mut code = txn.open_table(tables::CODE.def())?;
            for (hash, bytes) in &block.changes.code {
                self.put(&mut code, tables::CODE, &[hash.as_slice()], Some(bytes))?;
            }
        }
        {
            let mut trie = txn.open_table(tables::TRIE.def())?;
            for address in &block.prepared.trie_wipes {
                let ns = TrieKey::namespace(Some(*address));
                let prefix = access::stored_key(&*self.codec, tables::TRIE, &[&ns]);
                remove_prefix(&mut trie, &prefix)?;
            }
            // Writes come grouped by trie: encode each namespace once.
            let mut prefix: Option<(Option<alloy_primitives::Address>, Vec<u8>)> = None;
            for (key, node) in &block.prepared.trie_writes {
                let ns_key = match &prefix {
                    Some((account, p)) if *account == key.account => p,
                    _ => {
                        let ns = TrieKey::namespace(key.account);
                        let p = access::stored_key(&*self.codec, tables::TRIE, &[&ns]);
                        &prefix.insert((key.account, p)).1
                    }
                };
                let mut stored = ns_key.clone();
                stored.extend_from_slice(&access::stored_key(
                    &*self.codec,
                    tables::TRIE,
                    &[&key.path],
                ));
                self.put_stored(&mut trie, tables::TRIE, &stored, node.as_deref())?;
            }
        }
        // Kept in archive mode too: pruning reads them, and so does rebuilding a past block's
        // tries for `eth_getProof` (`past_tries`).
        self.put(
            &mut txn.open_table(tables::BLOCK_CHANGES.def())?,
            tables::BLOCK_CHANGES,
            &[&number.to_be_bytes()],
            Some(&changed),
        )?;
        Ok(())
    }

    /// Drops history that no retained block can need. When block `p` leaves the retention
    /// window, every history entry older than `p` for a key written at `p` is superseded by
    /// the entry at `p`, so it is deleted; the entry at `p` stays as the value at the window's
    /// start until a later write of the same key leaves the window.
    fn prune(&self, txn: &WriteTransaction, block: &BlockWrite) -> Result<(), StorageError> {
        let number = block.header.header.number;
        let now = block.header.header.timestamp;
        let mut meta = txn.open_table(tables::META.def())?;
        let oldest = meta_u64(
            meta.get(b"oldest_state".as_slice())?
                .map(|v| v.value().to_vec())
                .as_deref(),
        )?
        .unwrap_or(0);
        if number < self.options.retain_blocks + oldest + 1 {
            return Ok(());
        }
        let p = oldest;
        let headers = txn.open_table(tables::HEADERS.def())?;
        if let Some(raw) = headers.get(p.to_be_bytes().as_slice())? {
            let h = <alloy_consensus::Header as alloy_rlp::Decodable>::decode(&mut raw.value())
                .map_err(|e| crate::error::corrupt("headers", e))?;
            if h.timestamp + self.options.retain_seconds > now {
                return Ok(());
            }
        }
        let mut changes = txn.open_table(tables::BLOCK_CHANGES.def())?;
        let changes_key =
            access::stored_key(&*self.codec, tables::BLOCK_CHANGES, &[&p.to_be_bytes()]);
        let sealed = changes
            .remove(changes_key.as_slice())?
            .map(|v| v.value().to_vec());
        let list = match sealed {
            Some(v) => {
                access::open(&*self.codec, tables::BLOCK_CHANGES, &changes_key, &v)?.into_owned()
            }
            None => Vec::new(),
        };
        let mut acc_hist = txn.open_table(tables::ACCOUNT_HISTORY.def())?;
        let mut st_hist = txn.open_table(tables::STORAGE_HISTORY.def())?;
        let mut rest = list.as_slice();
        while let Some((&tag, tail)) = rest.split_first() {
            let (table, t, len) = match tag {
                0 => (&mut acc_hist, tables::ACCOUNT_HISTORY, 20),
                1 => (&mut st_hist, tables::STORAGE_HISTORY, 52),
                _ => return Err(crate::error::corrupt("block_changes", "unknown tag")),
            };
            if tail.len() < len {
                return Err(crate::error::corrupt("block_changes", "truncated"));
            }
            let prefix = access::stored_key(&*self.codec, t, &[&tail[..len]]);
            let mut lo = prefix.clone();
            lo.extend_from_slice(&0u64.to_be_bytes());
            let mut hi = prefix;
            hi.extend_from_slice(&p.to_be_bytes());
            table.retain_in::<&[u8], _>(lo.as_slice()..hi.as_slice(), |_, _| false)?;
            rest = &tail[len..];
        }
        meta.insert(b"oldest_state".as_slice(), (p + 1).to_be_bytes().as_slice())?;
        Ok(())
    }
}
