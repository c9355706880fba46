//! Persistent storage of a TxnChain node, on redb.
//!
//! What lives here:
//! - public tables: headers, block hash index, block bodies, transaction locations, receipts,
//!   the `last_applied` marker;
//! - state tables: accounts, storage slots, code, Merkle-Patricia trie nodes, and the
//!   history of every write (for state at past blocks);
//! - a codec layer ([`codec`]) through which every key and value of the state tables passes,
//!   so keys can be hashed and values encrypted later without touching callers.
//!
//! Applying a block is ONE redb write transaction ([`Store::apply_block`]): transactions,
//! receipts, indexes, state changes, trie nodes, history and the `last_applied` marker commit
//! together or not at all. Readers take [`Snapshot`]s (redb MVCC read transactions) and never
//! block the writer.

pub mod codec;
mod error;
mod records;
mod snapshot;
mod state_trie;
mod store;
mod tables;

pub use error::StorageError;
pub use records::{AccountRecord, BlockWrite, PreparedState, StateChanges, TxLocation};
pub use snapshot::Snapshot;
pub use store::{Store, StoreOptions};
