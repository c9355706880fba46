//! The state commitment: Ethereum's Merkle-Patricia account trie and per-account storage tries,
//! with nodes stored by path in the `trie_nodes` table and updated incrementally.
//!
//! Node keys have two parts: the namespace (`0x00` for the account trie, `0x01 ‖ address` for
//! the storage trie of `address`) and the path (encoded by [`txnchain_trie::encode_path`]);
//! the codec encodes each part, so a whole storage trie is one key prefix.

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use txnchain_trie::{NodePath, NodeReader, TrieUpdate, encode_path};

use crate::records::{AccountRecord, PreparedState, StateChanges, TrieKey};
use crate::{Snapshot, StorageError};

const EMPTY_ROOT: B256 = alloy_trie::EMPTY_ROOT_HASH;

struct Nodes<'a> {
    snap: &'a Snapshot,
    ns: Vec<u8>,
}

impl<'a> Nodes<'a> {
    fn new(snap: &'a Snapshot, account: Option<Address>) -> Self {
        Nodes {
            snap,
            ns: snap.trie_prefix(&TrieKey::namespace(account)),
        }
    }
}

impl NodeReader for Nodes<'_> {
    type Error = StorageError;

    fn get_node(&self, path: &NodePath) -> Result<Option<Vec<u8>>, StorageError> {
        self.snap.trie_node(&self.ns, &encode_path(path))
    }
}

fn trie_err(e: impl std::fmt::Display) -> StorageError {
    StorageError::Trie(e.to_string())
}

fn namespaced(
    account: Option<Address>,
    update: TrieUpdate,
    out: &mut Vec<(TrieKey, Option<Vec<u8>>)>,
) -> B256 {
    for (path, node) in update.writes {
        out.push((
            TrieKey {
                account,
                path: encode_path(&path),
            },
            node,
        ));
    }
    update.root
}

impl Snapshot {
    /// Computes the trie effect of `changes` on the state in this snapshot: new storage roots,
    /// complete account records, the state root, and the node writes. Cost grows with the
    /// number of changed keys, not with the size of the state.
    pub fn prepare_state(&self, changes: &StateChanges) -> Result<PreparedState, StorageError> {
        let mut prepared = PreparedState::default();
        let mut touched: Vec<Address> = changes.accounts.keys().copied().collect();
        touched.extend(
            changes
                .storage
                .keys()
                .filter(|a| !changes.accounts.contains_key(*a)),
        );
        let mut account_leaves = Vec::with_capacity(touched.len());
        for address in touched {
            let old = self.account(address)?;
            let info = match changes.accounts.get(&address) {
                Some(info) => *info,
                None => old.map(|r| (r.nonce, r.balance, r.code_hash)),
            };
            let record = match info {
                None => {
                    if let Some(old) = old
                        && old.storage_root != EMPTY_ROOT
                    {
                        prepared.trie_wipes.push(address);
                    }
                    None
                }
                Some((nonce, balance, code_hash)) => {
                    let mut storage_root = old.map_or(EMPTY_ROOT, |r| r.storage_root);
                    if let Some(slots) = changes.storage.get(&address) {
                        let reader = Nodes::new(self, Some(address));
                        let update = txnchain_trie::update(
                            &reader,
                            slots.iter().map(|(slot, value)| {
                                let key = keccak256(slot.to_be_bytes::<32>());
                                (key, (!value.is_zero()).then(|| alloy_rlp::encode(value)))
                            }),
                        )
                        .map_err(trie_err)?;
                        storage_root = namespaced(Some(address), update, &mut prepared.trie_writes);
                    }
                    Some(AccountRecord {
                        nonce,
                        balance,
                        code_hash,
                        storage_root,
                    })
                }
            };
            account_leaves.push((keccak256(address), record.map(|r| r.trie_leaf())));
            prepared.accounts.insert(address, record);
        }
        let reader = Nodes::new(self, None);
        let update = txnchain_trie::update(&reader, account_leaves).map_err(trie_err)?;
        prepared.state_root = namespaced(None, update, &mut prepared.trie_writes);
        Ok(prepared)
    }

    /// The state root of the latest block.
    pub fn state_root(&self) -> Result<B256, StorageError> {
        txnchain_trie::root(&Nodes::new(self, None)).map_err(trie_err)
    }

    /// The account and its Merkle proof against the latest state root (`eth_getProof`).
    pub fn account_proof(
        &self,
        address: Address,
    ) -> Result<(Option<AccountRecord>, Vec<Bytes>), StorageError> {
        let reader = Nodes::new(self, None);
        let proof = txnchain_trie::proof(&reader, keccak256(address)).map_err(trie_err)?;
        Ok((self.account(address)?, proof))
    }

    /// A storage slot and its Merkle proof against the account's storage root.
    pub fn storage_proof(
        &self,
        address: Address,
        slot: U256,
    ) -> Result<(U256, Vec<Bytes>), StorageError> {
        let reader = Nodes::new(self, Some(address));
        let proof =
            txnchain_trie::proof(&reader, keccak256(slot.to_be_bytes::<32>())).map_err(trie_err)?;
        Ok((self.storage(address, slot)?, proof))
    }
}
