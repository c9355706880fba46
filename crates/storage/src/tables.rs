//! Table definitions. Every table maps bytes to bytes; typed encoding lives in
//! [`crate::records`] and, for state tables, passes through [`crate::codec`].

use redb::TableDefinition;

pub(crate) type Raw = TableDefinition<'static, &'static [u8], &'static [u8]>;

/// A named bytes → bytes table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Table(pub &'static str);

impl Table {
    pub(crate) fn def(self) -> Raw {
        TableDefinition::new(self.0)
    }
}

/// `name` → value: `last_applied`, `genesis_hash`, `chain_spec`, `oldest_state`.
pub(crate) const META: Table = Table("meta");
/// block number (8 bytes BE) → header RLP. Public.
pub(crate) const HEADERS: Table = Table("headers");
/// block hash → block number. Public.
pub(crate) const BLOCK_HASHES: Table = Table("block_hashes");
/// block number → concatenated 32-byte transaction hashes. Public.
pub(crate) const BLOCK_TXS: Table = Table("block_txs");
/// tx hash → block number ‖ index ‖ sender ‖ EIP-2718 bytes. Confidential payload.
pub(crate) const TXS: Table = Table("txs");
/// block number → RLP list of receipts. Confidential payload.
pub(crate) const RECEIPTS: Table = Table("receipts");
/// address → account record. State.
pub(crate) const ACCOUNTS: Table = Table("accounts");
/// address ‖ slot → value. State.
pub(crate) const STORAGE: Table = Table("storage");
/// code hash → bytecode. State.
pub(crate) const CODE: Table = Table("code");
/// trie namespace ‖ node path → RLP node. State.
pub(crate) const TRIE: Table = Table("trie_nodes");
/// address ‖ block → account record after that block (empty = absent). State history.
pub(crate) const ACCOUNT_HISTORY: Table = Table("account_history");
/// address ‖ slot ‖ block → value after that block. State history.
pub(crate) const STORAGE_HISTORY: Table = Table("storage_history");
/// block → keys written in that block (for pruning history). State history.
pub(crate) const BLOCK_CHANGES: Table = Table("block_changes");

pub(crate) const ALL: [Table; 13] = [
    META,
    HEADERS,
    BLOCK_HASHES,
    BLOCK_TXS,
    TXS,
    RECEIPTS,
    ACCOUNTS,
    STORAGE,
    CODE,
    TRIE,
    ACCOUNT_HISTORY,
    STORAGE_HISTORY,
    BLOCK_CHANGES,
];
