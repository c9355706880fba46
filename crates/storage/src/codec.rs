//! The encoding layer between typed state records and redb.
//!
//! Every key and value of a state table (accounts, storage, code, trie nodes, history) goes
//! through a [`TableCodec`]. Today the node uses [`PlainCodec`] (identity). Confidential
//! execution will install a codec that replaces keys with keyed hashes and encrypts values,
//! without touching any caller. Range scans used by history lookups rely on the key codec
//! preserving the prefix structure `entity ‖ block`; a keyed-hash codec hashes the entity part
//! and keeps the block suffix.

use std::borrow::Cow;

/// Encodes keys and values of state tables.
pub trait TableCodec: Send + Sync + 'static {
    /// Encodes the entity part of a key (address, address ‖ slot, trie path, code hash).
    fn key<'a>(&self, table: &'static str, key: &'a [u8]) -> Cow<'a, [u8]>;
    /// Encodes a value before it is written.
    fn seal<'a>(&self, table: &'static str, value: &'a [u8]) -> Cow<'a, [u8]>;
    /// Decodes a stored value; `None` when it fails authentication.
    fn open<'a>(&self, table: &'static str, value: &'a [u8]) -> Option<Cow<'a, [u8]>>;
}

/// The identity codec: keys and values are stored as they are.
#[derive(Debug, Default, Clone, Copy)]
pub struct PlainCodec;

impl TableCodec for PlainCodec {
    fn key<'a>(&self, _table: &'static str, key: &'a [u8]) -> Cow<'a, [u8]> {
        Cow::Borrowed(key)
    }
    fn seal<'a>(&self, _table: &'static str, value: &'a [u8]) -> Cow<'a, [u8]> {
        Cow::Borrowed(value)
    }
    fn open<'a>(&self, _table: &'static str, value: &'a [u8]) -> Option<Cow<'a, [u8]>> {
        Some(Cow::Borrowed(value))
    }
}
