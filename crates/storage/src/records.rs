//! Typed records and their byte encodings.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, U256};
use txnchain_primitives::{RecoveredTx, SealedHeader, StoredReceipt};

use crate::StorageError;
use crate::error::corrupt;

/// An account as stored: the fields of Ethereum's account leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountRecord {
    /// Sender nonce.
    pub nonce: u64,
    /// Balance in wei.
    pub balance: U256,
    /// keccak256 of the code (`KECCAK_EMPTY` for none).
    pub code_hash: B256,
    /// Root of the account's storage trie.
    pub storage_root: B256,
}

impl AccountRecord {
    pub(crate) const LEN: usize = 8 + 32 + 32 + 32;

    pub(crate) fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..8].copy_from_slice(&self.nonce.to_be_bytes());
        out[8..40].copy_from_slice(&self.balance.to_be_bytes::<32>());
        out[40..72].copy_from_slice(self.code_hash.as_slice());
        out[72..].copy_from_slice(self.storage_root.as_slice());
        out
    }

    pub(crate) fn decode(table: &'static str, b: &[u8]) -> Result<Self, StorageError> {
        if b.len() != Self::LEN {
            return Err(corrupt(
                table,
                format!("account record of {} bytes", b.len()),
            ));
        }
        let mut nonce = [0u8; 8];
        nonce.copy_from_slice(&b[..8]);
        Ok(AccountRecord {
            nonce: u64::from_be_bytes(nonce),
            balance: U256::from_be_slice(&b[8..40]),
            code_hash: B256::from_slice(&b[40..72]),
            storage_root: B256::from_slice(&b[72..]),
        })
    }

    /// The RLP of Ethereum's account leaf `[nonce, balance, storageRoot, codeHash]`.
    pub fn trie_leaf(&self) -> Vec<u8> {
        let acc = alloy_trie::TrieAccount {
            nonce: self.nonce,
            balance: self.balance,
            storage_root: self.storage_root,
            code_hash: self.code_hash,
        };
        alloy_rlp::encode(acc)
    }
}

/// Where a transaction landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxLocation {
    /// Block number.
    pub block: u64,
    /// Index within the block.
    pub index: u32,
}

/// The state a block changes, as execution leaves it (before trie roots are computed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateChanges {
    /// Final account info after the block: `(nonce, balance, code_hash)`; `None` = deleted.
    pub accounts: BTreeMap<Address, Option<(u64, U256, B256)>>,
    /// Final storage values after the block, per account; zero = deleted.
    pub storage: BTreeMap<Address, BTreeMap<U256, U256>>,
    /// Code first deployed in this block.
    pub code: BTreeMap<B256, Bytes>,
}

/// State changes with their effect on the Merkle-Patricia tries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreparedState {
    /// The state root after the block.
    pub state_root: B256,
    /// Complete records of changed accounts (with new storage roots); `None` = deleted.
    pub accounts: BTreeMap<Address, Option<AccountRecord>>,
    /// Storage tries deleted whole (their accounts were destroyed); applied before
    /// `trie_writes`.
    pub trie_wipes: Vec<Address>,
    /// Trie node writes (`None` = delete).
    pub trie_writes: Vec<(TrieKey, Option<Vec<u8>>)>,
    /// The block's ledger tree leaves, appended.
    pub ledger_tree: LedgerTreeWrite,
}

/// What a block adds to the ledger tree: its size after the block and the new nodes
/// `(level, index, hash)` (see `txnchain-ledger-tree`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerTreeWrite {
    /// Number of leaves after the block.
    pub size: u64,
    /// New perfect-subtree nodes.
    pub nodes: Vec<(u32, u64, [u8; 32])>,
    /// The service identity's signature of the block's signed root (`specs/receipts.md` §2),
    /// set by the ledger once the header is sealed; `None` on a node without the network's
    /// keys.
    pub signature: Option<[u8; 64]>,
}

/// Where a trie node lives: the account trie (`account: None`) or the storage trie of an
/// account, and the node's path (as [`txnchain_trie::encode_path`] encodes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrieKey {
    /// The account whose storage trie holds the node; `None` for the account trie.
    pub account: Option<Address>,
    /// The encoded node path.
    pub path: Vec<u8>,
}

impl TrieKey {
    /// The namespace part of the key: `0x00` (account trie) or `0x01 ‖ address`.
    pub(crate) fn namespace(account: Option<Address>) -> Vec<u8> {
        match account {
            None => vec![0],
            Some(a) => {
                let mut ns = Vec::with_capacity(21);
                ns.push(1);
                ns.extend_from_slice(a.as_slice());
                ns
            }
        }
    }
}

/// Everything one block's apply writes, in one transaction.
#[derive(Debug, Clone)]
pub struct BlockWrite {
    /// The sealed header.
    pub header: SealedHeader,
    /// Transactions in order.
    pub transactions: Vec<RecoveredTx>,
    /// One receipt per transaction.
    pub receipts: Vec<StoredReceipt>,
    /// State changes.
    pub changes: StateChanges,
    /// Their trie effect, computed against the parent state.
    pub prepared: PreparedState,
    /// Sealed results of the block's enveloped transactions, by transaction hash.
    pub sealed_results: Vec<(B256, Bytes)>,
}

pub(crate) fn encode_tx(loc: TxLocation, tx: &RecoveredTx) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + tx.encoded().len());
    out.extend_from_slice(&loc.block.to_be_bytes());
    out.extend_from_slice(&loc.index.to_be_bytes());
    out.extend_from_slice(tx.sender().as_slice());
    out.extend_from_slice(tx.encoded());
    out
}

pub(crate) fn decode_tx(b: &[u8]) -> Result<(TxLocation, RecoveredTx), StorageError> {
    if b.len() < 33 {
        return Err(corrupt("txs", "record too short"));
    }
    let mut block = [0u8; 8];
    block.copy_from_slice(&b[..8]);
    let mut index = [0u8; 4];
    index.copy_from_slice(&b[8..12]);
    let sender = Address::from_slice(&b[12..32]);
    let mut raw = &b[32..];
    let envelope =
        <alloy_consensus::TxEnvelope as alloy_eips::Decodable2718>::decode_2718(&mut raw)
            .map_err(|e| corrupt("txs", e))?;
    let loc = TxLocation {
        block: u64::from_be_bytes(block),
        index: u32::from_be_bytes(index),
    };
    Ok((loc, RecoveredTx::from_trusted(envelope, sender)))
}

pub(crate) fn decode_receipts(b: &[u8]) -> Result<Vec<StoredReceipt>, StorageError> {
    let mut buf = b;
    <Vec<StoredReceipt> as alloy_rlp::Decodable>::decode(&mut buf)
        .map_err(|e| corrupt("receipts", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_record_roundtrip_and_rejects_truncation() {
        let r = AccountRecord {
            nonce: 3,
            balance: U256::from(12345),
            code_hash: B256::repeat_byte(7),
            storage_root: B256::repeat_byte(9),
        };
        assert_eq!(AccountRecord::decode("t", &r.encode()).unwrap(), r);
        assert!(AccountRecord::decode("t", &r.encode()[..50]).is_err());
    }
}
