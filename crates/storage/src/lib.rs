//! Persistent storage of a TxnChain node, on redb.
//!
//! What lives here:
//! - public tables: headers, the block hash index, each block's transaction hashes, and
//!   metadata (the `last_applied` marker, the genesis);
//! - confidential tables: transactions, receipts, accounts, storage slots, code,
//!   Merkle-Patricia trie nodes, the history of every write (for state at past blocks) and
//!   the per-block change lists; their keys and values pass through the store's
//!   [`TableCodec`] (keyed-hash keys, AEAD values: see `txnchain_crypto::at_rest`), chosen
//!   when the store is opened and recorded in the database so it cannot be swapped.
//!
//! Applying a block is ONE redb write transaction ([`Store::apply_block`]): transactions,
//! receipts, indexes, state changes, trie nodes, history and the `last_applied` marker commit
//! together or not at all. Readers take [`Snapshot`]s (redb MVCC read transactions) and never
//! block the writer.

mod access;
mod cache;
mod error;
mod ledger_tree;
mod past_tries;
mod records;
mod snapshot;
mod state_trie;
mod store;
mod tables;

pub use error::StorageError;
pub use past_tries::PastTries;
pub use records::{
    AccountRecord, BlockWrite, LedgerTreeWrite, PreparedState, StateChanges, TrieKey, TxLocation,
};
pub use snapshot::Snapshot;
pub use store::{Store, StoreOptions, StoreSavepoint};
pub use tables::CONFIDENTIAL_TABLES;
pub use txnchain_crypto::at_rest::{AtRestCodec, PlainCodec, TableCodec};

/// The at-rest codec of a node: keys derived from `secret` for every confidential table.
pub fn at_rest_codec(
    secret: &txnchain_crypto::keys::LedgerSecret,
) -> std::sync::Arc<dyn TableCodec> {
    std::sync::Arc::new(AtRestCodec::new(secret, &CONFIDENTIAL_TABLES))
}

/// An at-rest codec under a fresh random ledger secret, for throwaway databases (tests, fuzz
/// harnesses, benchmarks): real encryption, nothing to keep.
pub fn fresh_at_rest_codec() -> Result<std::sync::Arc<dyn TableCodec>, StorageError> {
    let secret = txnchain_crypto::keys::LedgerSecret::generate()?;
    Ok(at_rest_codec(&secret))
}
