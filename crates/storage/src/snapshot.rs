//! Consistent read views of the database.

use std::sync::Arc;

use alloy_consensus::Header;
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_rlp::Decodable;
use redb::{ReadOnlyTable, ReadTransaction};
use txnchain_primitives::{RecoveredTx, SealedHeader, StoredReceipt};

use txnchain_crypto::at_rest::TableCodec;

use crate::StorageError;
use crate::access;
use crate::cache::AccountCache;
use crate::error::corrupt;
use crate::records::{AccountRecord, TxLocation, decode_receipts, decode_tx};
use crate::tables::{self, Table};

type RawTable = ReadOnlyTable<&'static [u8], &'static [u8]>;

/// A point-in-time view of the database (a redb read transaction). Cheap to create; holds no
/// lock that blocks the writer.
pub struct Snapshot {
    txn: ReadTransaction,
    codec: Arc<dyn TableCodec>,
    accounts: Arc<AccountCache>,
    head: std::sync::OnceLock<Option<u64>>,
}

pub(crate) fn meta_u64(v: Option<&[u8]>) -> Result<Option<u64>, StorageError> {
    match v {
        None => Ok(None),
        Some(b) => {
            let arr: [u8; 8] = b
                .try_into()
                .map_err(|_| corrupt("meta", "u64 of wrong length"))?;
            Ok(Some(u64::from_be_bytes(arr)))
        }
    }
}

impl Snapshot {
    pub(crate) fn new(
        txn: ReadTransaction,
        codec: Arc<dyn TableCodec>,
        accounts: Arc<AccountCache>,
    ) -> Self {
        Snapshot {
            txn,
            codec,
            accounts,
            head: std::sync::OnceLock::new(),
        }
    }

    fn table(&self, t: Table) -> Result<Option<RawTable>, StorageError> {
        match self.txn.open_table(t.def()) {
            Ok(t) => Ok(Some(t)),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The plaintext value of the key made of `parts` in `t` (opened when confidential).
    pub(crate) fn get(&self, t: Table, parts: &[&[u8]]) -> Result<Option<Vec<u8>>, StorageError> {
        let Some(table) = self.table(t)? else {
            return Ok(None);
        };
        let key = access::stored_key(&*self.codec, t, parts);
        self.get_stored(&table, t, &key)
    }

    /// [`Snapshot::get`] under an already encoded key.
    fn get_stored(
        &self,
        table: &RawTable,
        t: Table,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, StorageError> {
        match table.get(key)? {
            None => Ok(None),
            Some(v) => Ok(Some(
                access::open(&*self.codec, t, key, v.value())?.into_owned(),
            )),
        }
    }

    /// The last applied block, `None` before genesis.
    pub fn last_applied(&self) -> Result<Option<u64>, StorageError> {
        if let Some(head) = self.head.get() {
            return Ok(*head);
        }
        let head = meta_u64(self.get(tables::META, &[b"last_applied"])?.as_deref())?;
        Ok(*self.head.get_or_init(|| head))
    }

    /// The oldest block whose state can be read.
    pub fn oldest_state(&self) -> Result<u64, StorageError> {
        Ok(meta_u64(self.get(tables::META, &[b"oldest_state"])?.as_deref())?.unwrap_or(0))
    }

    /// A metadata value.
    pub fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.get(tables::META, &[name.as_bytes()])
    }

    /// The header of block `number`.
    pub fn header(&self, number: u64) -> Result<Option<SealedHeader>, StorageError> {
        let Some(raw) = self.get(tables::HEADERS, &[&number.to_be_bytes()])? else {
            return Ok(None);
        };
        let header = Header::decode(&mut raw.as_slice()).map_err(|e| corrupt("headers", e))?;
        Ok(Some(SealedHeader {
            header,
            hash: keccak256(&raw),
        }))
    }

    /// The number of the block with `hash`.
    pub fn block_number(&self, hash: B256) -> Result<Option<u64>, StorageError> {
        meta_u64(
            self.get(tables::BLOCK_HASHES, &[hash.as_slice()])?
                .as_deref(),
        )
    }

    /// Hashes of the transactions in block `number`.
    pub fn block_tx_hashes(&self, number: u64) -> Result<Vec<B256>, StorageError> {
        let raw = self
            .get(tables::BLOCK_TXS, &[&number.to_be_bytes()])?
            .unwrap_or_default();
        if raw.len() % 32 != 0 {
            return Err(corrupt("block_txs", "length not a multiple of 32"));
        }
        Ok(raw.chunks_exact(32).map(B256::from_slice).collect())
    }

    /// A transaction and where it landed.
    pub fn transaction(
        &self,
        hash: B256,
    ) -> Result<Option<(TxLocation, RecoveredTx)>, StorageError> {
        match self.get(tables::TXS, &[hash.as_slice()])? {
            None => Ok(None),
            Some(raw) => decode_tx(&raw).map(Some),
        }
    }

    /// All transactions of block `number`, in order.
    pub fn block_transactions(&self, number: u64) -> Result<Vec<RecoveredTx>, StorageError> {
        self.block_tx_hashes(number)?
            .into_iter()
            .map(|h| {
                self.transaction(h)?
                    .map(|(_, tx)| tx)
                    .ok_or_else(|| corrupt("txs", format!("missing transaction {h}")))
            })
            .collect()
    }

    /// The sealed result of the enveloped transaction `hash`, once committed.
    pub fn sealed_result(&self, hash: B256) -> Result<Option<Bytes>, StorageError> {
        Ok(self
            .get(tables::SEALED_RESULTS, &[hash.as_slice()])?
            .map(Bytes::from))
    }

    /// The receipts of block `number`.
    pub fn block_receipts(&self, number: u64) -> Result<Option<Vec<StoredReceipt>>, StorageError> {
        match self.get(tables::RECEIPTS, &[&number.to_be_bytes()])? {
            None => Ok(None),
            Some(raw) => decode_receipts(&raw).map(Some),
        }
    }

    /// The latest record of `address`.
    pub fn account(&self, address: Address) -> Result<Option<AccountRecord>, StorageError> {
        let head = self.last_applied()?;
        if let Some(h) = head
            && let Some(cached) = self.accounts.get(&address, h)
        {
            return Ok(cached);
        }
        let record = match self.get(tables::ACCOUNTS, &[address.as_slice()])? {
            None => None,
            Some(b) => Some(AccountRecord::decode("accounts", &b)?),
        };
        if let Some(h) = head {
            self.accounts.fill(address, h, record);
        }
        Ok(record)
    }

    /// The latest value of a storage slot (zero when unset).
    pub fn storage(&self, address: Address, slot: U256) -> Result<U256, StorageError> {
        let slot = slot.to_be_bytes::<32>();
        match self.get(tables::STORAGE, &[address.as_slice(), &slot])? {
            None => Ok(U256::ZERO),
            Some(b) if b.len() == 32 => Ok(U256::from_be_slice(&b)),
            Some(_) => Err(corrupt("storage", "slot value of wrong length")),
        }
    }

    /// Bytecode by hash.
    pub fn code(&self, hash: B256) -> Result<Option<Bytes>, StorageError> {
        Ok(self.get(tables::CODE, &[hash.as_slice()])?.map(Bytes::from))
    }

    fn check_history(&self, block: u64) -> Result<bool, StorageError> {
        let last = self.last_applied()?.unwrap_or(0);
        if block >= last {
            return Ok(true);
        }
        let oldest = self.oldest_state()?;
        if block < oldest {
            return Err(StorageError::Pruned {
                requested: block,
                oldest,
            });
        }
        Ok(false)
    }

    fn history_lookup(
        &self,
        t: Table,
        entity: &[u8],
        block: u64,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        let Some(table) = self.table(t)? else {
            return Ok(None);
        };
        let prefix = access::stored_key(&*self.codec, t, &[entity]);
        let mut hi = prefix.clone();
        hi.extend_from_slice(&block.to_be_bytes());
        let mut lo = prefix;
        lo.extend_from_slice(&0u64.to_be_bytes());
        let mut range = table.range::<&[u8]>(lo.as_slice()..=hi.as_slice())?;
        match range.next_back() {
            None => Ok(None),
            Some(entry) => {
                let (k, v) = entry?;
                Ok(Some(
                    access::open(&*self.codec, t, k.value(), v.value())?.into_owned(),
                ))
            }
        }
    }

    /// The record of `address` after block `block`.
    pub fn account_at(
        &self,
        address: Address,
        block: u64,
    ) -> Result<Option<AccountRecord>, StorageError> {
        if self.check_history(block)? {
            return self.account(address);
        }
        match self.history_lookup(tables::ACCOUNT_HISTORY, address.as_slice(), block)? {
            None => Ok(None),
            Some(b) if b.is_empty() => Ok(None),
            Some(b) => AccountRecord::decode("account_history", &b).map(Some),
        }
    }

    /// The value of a storage slot after block `block`.
    pub fn storage_at(
        &self,
        address: Address,
        slot: U256,
        block: u64,
    ) -> Result<U256, StorageError> {
        if self.check_history(block)? {
            return self.storage(address, slot);
        }
        match self.history_lookup(tables::STORAGE_HISTORY, &storage_key(address, slot), block)? {
            None => Ok(U256::ZERO),
            Some(b) if b.len() == 32 => Ok(U256::from_be_slice(&b)),
            Some(_) => Err(corrupt("storage_history", "slot value of wrong length")),
        }
    }

    /// The stored-key prefix of a trie namespace (encoded once per trie walk, not per node).
    pub(crate) fn trie_prefix(&self, namespace: &[u8]) -> Vec<u8> {
        access::stored_key(&*self.codec, tables::TRIE, &[namespace])
    }

    /// The trie node at `path` under a namespace prefix from [`Snapshot::trie_prefix`].
    pub(crate) fn trie_node(
        &self,
        prefix: &[u8],
        path: &[u8],
    ) -> Result<Option<Vec<u8>>, StorageError> {
        let t = tables::TRIE;
        let Some(table) = self.table(t)? else {
            return Ok(None);
        };
        let mut key = Vec::with_capacity(prefix.len() + 32);
        key.extend_from_slice(prefix);
        key.extend_from_slice(&access::stored_key(&*self.codec, t, &[path]));
        self.get_stored(&table, t, &key)
    }
}

pub(crate) fn storage_key(address: Address, slot: U256) -> [u8; 52] {
    let mut k = [0u8; 52];
    k[..20].copy_from_slice(address.as_slice());
    k[20..].copy_from_slice(&slot.to_be_bytes::<32>());
    k
}
