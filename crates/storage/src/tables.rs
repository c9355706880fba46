//! Table definitions. Every table maps bytes to bytes; typed encoding lives in
//! [`crate::records`].
//!
//! Every table is explicitly [`Class::Public`], [`Class::SealedByBlock`] or
//! [`Class::Confidential`] (as CCF's `public:` maps): public tables hold only what the chain
//! publishes anyway (headers, the block hash index, the ordering of transaction hashes,
//! metadata) and are written as they are; confidential tables go through the store's
//! [`TableCodec`](txnchain_crypto::at_rest::TableCodec): keys are built from parts that the
//! codec hashes, values are sealed with the stored key as associated data. Tables keyed by
//! block number seal their values the same way but keep the key in the clear: every header
//! publishes the number, and a key that grows with the chain appends at the end of redb's
//! B-tree instead of splitting pages at random places.

use redb::TableDefinition;

pub(crate) type Raw = TableDefinition<'static, &'static [u8], &'static [u8]>;

/// Whether a table passes through the codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Written as it is: public by design.
    Public,
    /// Keyed by block number in the clear (public: every header carries it), values sealed.
    /// Such tables grow at their end, as the chain does, instead of at a random place.
    SealedByBlock,
    /// Keys hashed, values sealed.
    Confidential,
}

/// A named bytes → bytes table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Table {
    pub(crate) name: &'static str,
    pub(crate) class: Class,
}

impl Table {
    const fn public(name: &'static str) -> Self {
        Table {
            name,
            class: Class::Public,
        }
    }
    const fn sealed_by_block(name: &'static str) -> Self {
        Table {
            name,
            class: Class::SealedByBlock,
        }
    }
    const fn confidential(name: &'static str) -> Self {
        Table {
            name,
            class: Class::Confidential,
        }
    }
    pub(crate) fn def(self) -> Raw {
        TableDefinition::new(self.name)
    }
}

/// `name` → value: `last_applied`, `genesis_hash`, `chain_spec`, `oldest_state`, `at_rest`,
/// `at_rest_check`. Public (the check value is sealed by the codec itself).
pub(crate) const META: Table = Table::public("meta");
/// block number (8 bytes BE) → header RLP.
pub(crate) const HEADERS: Table = Table::public("headers");
/// block hash → block number.
pub(crate) const BLOCK_HASHES: Table = Table::public("block_hashes");
/// block number → concatenated 32-byte transaction hashes.
pub(crate) const BLOCK_TXS: Table = Table::public("block_txs");
/// tx hash → block number ‖ index ‖ sender ‖ EIP-2718 bytes.
pub(crate) const TXS: Table = Table::confidential("txs");
/// block number → RLP list of receipts.
pub(crate) const RECEIPTS: Table = Table::sealed_by_block("receipts");
/// address → account record.
pub(crate) const ACCOUNTS: Table = Table::confidential("accounts");
/// address | slot → value (two key parts, so a destroyed account's slots are one prefix).
pub(crate) const STORAGE: Table = Table::confidential("storage");
/// code hash → bytecode.
pub(crate) const CODE: Table = Table::confidential("code");
/// trie namespace | node path → RLP node (two key parts: the namespace, then the path).
pub(crate) const TRIE: Table = Table::confidential("trie_nodes");
/// address | block → account record after that block (empty = absent). The block number
/// is appended in the clear to the encoded address, so history range scans keep working.
pub(crate) const ACCOUNT_HISTORY: Table = Table::confidential("account_history");
/// address ‖ slot | block → value after that block.
pub(crate) const STORAGE_HISTORY: Table = Table::confidential("storage_history");
/// block → keys written in that block (for pruning history, and rebuilding a past block's
/// tries for proofs).
pub(crate) const BLOCK_CHANGES: Table = Table::sealed_by_block("block_changes");
/// tx hash → sealed result of an enveloped transaction (already ciphertext for the sender;
/// sealed again at rest like everything else).
pub(crate) const SEALED_RESULTS: Table = Table::confidential("sealed_results");
/// Ledger tree node (`u32be(level) ‖ u64be(index)`) → its 32-byte hash: the perfect
/// subtrees of the receipts' RFC 9162 tree (see `txnchain-ledger-tree`). Public: every leaf
/// commits to a transaction hash, a receipt and a sealed result's digest, all of which the
/// chain publishes.
pub(crate) const LEDGER_TREE: Table = Table::public("ledger_tree");
/// block number → u64be number of ledger tree leaves after that block.
pub(crate) const LEDGER_TREE_SIZES: Table = Table::public("ledger_tree_sizes");
/// block number → the service identity's 64-byte Ed25519 signature of the block's signed
/// root (`specs/receipts.md` §2). Public: signatures are what receipts carry.
pub(crate) const LEDGER_ROOT_SIGNATURES: Table = Table::public("ledger_root_signatures");
/// Pseudo-table of the codec check value kept in `meta`.
pub(crate) const AT_REST_CHECK: Table = Table::confidential("at_rest_check");

pub(crate) const ALL: [Table; 17] = [
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
    SEALED_RESULTS,
    LEDGER_TREE,
    LEDGER_TREE_SIZES,
    LEDGER_ROOT_SIGNATURES,
];

/// Names of every table the codec must have keys for.
pub const CONFIDENTIAL_TABLES: [&str; 11] = [
    TXS.name,
    RECEIPTS.name,
    ACCOUNTS.name,
    STORAGE.name,
    CODE.name,
    TRIE.name,
    ACCOUNT_HISTORY.name,
    STORAGE_HISTORY.name,
    BLOCK_CHANGES.name,
    SEALED_RESULTS.name,
    AT_REST_CHECK.name,
];
