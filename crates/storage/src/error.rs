//! Storage errors.

/// An error reading or writing the node's database.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database engine failed.
    #[error("database: {0}")]
    Db(#[from] redb::Error),
    /// A stored record could not be decoded (corruption or a format change).
    #[error("corrupt record in {table}: {detail}")]
    Corrupt {
        /// The table holding the record.
        table: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// The requested historical state has been pruned.
    #[error(
        "historical state not available: block {requested} is older than the oldest retained state (block {oldest})"
    )]
    Pruned {
        /// Requested block.
        requested: u64,
        /// Oldest block whose state is retained.
        oldest: u64,
    },
    /// The database belongs to another chain or another genesis.
    #[error("data directory mismatch: {0}")]
    Mismatch(String),
    /// A block was applied out of order.
    #[error("block {got} does not follow the last applied block {last}")]
    OutOfOrder {
        /// Block number offered.
        got: u64,
        /// Last applied block.
        last: u64,
    },
    /// A confidential value failed to seal or open (tampering, a moved value, or a data
    /// directory sealed under another ledger secret).
    #[error("at rest: {0}")]
    Codec(#[from] txnchain_crypto::CodecError),
    /// A key could not be created (the operating system's RNG failed).
    #[error("key material: {0}")]
    Key(#[from] txnchain_crypto::CryptoError),
    /// Too much state was written since a past block to rebuild its tries for a proof.
    #[error(
        "more than {max_keys} state keys were written after block {block}: proofs at that block are not available"
    )]
    HistoryTooLarge {
        /// The block asked for.
        block: u64,
        /// The most keys rebuilt for one proof.
        max_keys: usize,
    },
    /// Trie update failed.
    #[error("state trie: {0}")]
    Trie(String),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StorageError {
            fn from(e: $t) -> Self {
                StorageError::Db(e.into())
            }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

pub(crate) fn corrupt(table: &'static str, detail: impl ToString) -> StorageError {
    StorageError::Corrupt {
        table,
        detail: detail.to_string(),
    }
}
