//! Merkle proofs against the state after a past block (`eth_getProof` at a block in the
//! retained history window).
//!
//! Trie nodes are stored for the latest state only. The tries of a past block `n` are rebuilt
//! in memory: every key written after `n` (the per-block key lists kept for pruning) is put
//! back to its value at `n` (from the history tables), and the latest tries are updated with
//! those values without writing anything — the same incremental update a block applies, run
//! backwards. The result must hash to block `n`'s state root, or nothing is answered: a proof
//! is never built from a reconstruction that does not match the header.
//!
//! Cost grows with the number of keys written since `n`, bounded by the caller's `max_keys`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use alloy_primitives::{Address, Bytes, U256, keccak256};
use txnchain_trie::{NodePath, NodeReader, encode_path};

use crate::error::corrupt;
use crate::records::{AccountRecord, StateChanges, TrieKey};
use crate::{Snapshot, StorageError, tables};

/// A trie node's place: the trie (`None` = the account trie) and the encoded path.
type NodeKey = (Option<Address>, Vec<u8>);

/// The keys written after a block: accounts, and storage slots.
type WrittenKeys = (BTreeSet<Address>, BTreeSet<(Address, U256)>);

/// The tries of the state after a past block, as an overlay of node writes on the latest
/// tries.
#[derive(Debug)]
pub struct PastTries {
    block: u64,
    /// Records of the accounts written since `block`, as they were at `block`.
    accounts: BTreeMap<Address, Option<AccountRecord>>,
    /// Node writes by (trie, encoded path); `None` = the node did not exist.
    nodes: HashMap<NodeKey, Option<Vec<u8>>>,
    /// Storage tries that did not exist at `block` (their latest nodes are not read).
    wiped: HashSet<Address>,
}

impl PastTries {
    /// The block these tries are the state of.
    pub fn block(&self) -> u64 {
        self.block
    }
}

struct OverlayNodes<'a> {
    snap: &'a Snapshot,
    tries: &'a PastTries,
    account: Option<Address>,
    ns: Vec<u8>,
}

impl NodeReader for OverlayNodes<'_> {
    type Error = StorageError;

    fn get_node(&self, path: &NodePath) -> Result<Option<Vec<u8>>, StorageError> {
        let key = encode_path(path);
        if let Some(node) = self.tries.nodes.get(&(self.account, key.clone())) {
            return Ok(node.clone());
        }
        if self.account.is_some_and(|a| self.tries.wiped.contains(&a)) {
            return Ok(None);
        }
        self.snap.trie_node(&self.ns, &key)
    }
}

/// Why past tries could not be built.
fn too_many(block: u64, max_keys: usize) -> StorageError {
    StorageError::HistoryTooLarge { block, max_keys }
}

impl Snapshot {
    /// The keys written in blocks after `block` up to the latest, or `None` when a block of
    /// that range has no key list (an archive data directory written before archive mode kept
    /// them). At most `max_keys` keys.
    fn written_after(
        &self,
        block: u64,
        max_keys: usize,
    ) -> Result<Option<WrittenKeys>, StorageError> {
        let last = self.last_applied()?.unwrap_or(0);
        let mut accounts = BTreeSet::new();
        let mut slots = BTreeSet::new();
        // Repeated writes of the same key count too: the scan itself is bounded.
        let mut entries = 0usize;
        for n in block.saturating_add(1)..=last {
            let Some(list) = self.get(tables::BLOCK_CHANGES, &[&n.to_be_bytes()])? else {
                return Ok(None);
            };
            let mut rest = list.as_slice();
            while let Some((&tag, tail)) = rest.split_first() {
                match tag {
                    0 if tail.len() >= 20 => {
                        accounts.insert(Address::from_slice(&tail[..20]));
                        rest = &tail[20..];
                    }
                    1 if tail.len() >= 52 => {
                        let address = Address::from_slice(&tail[..20]);
                        slots.insert((address, U256::from_be_slice(&tail[20..52])));
                        rest = &tail[52..];
                    }
                    _ => return Err(corrupt("block_changes", "malformed key list")),
                }
                entries += 1;
                if accounts.len() + slots.len() > max_keys || entries > max_keys.saturating_mul(4) {
                    return Err(too_many(block, max_keys));
                }
            }
        }
        Ok(Some((accounts, slots)))
    }

    /// The tries of the state after `block` (older than the latest and inside the retained
    /// history), for [`Snapshot::account_proof_in`] and [`Snapshot::storage_proof_in`]. At
    /// most `max_keys` keys may have been written since; `Ok(None)` when the key lists of that
    /// range were not kept.
    pub fn past_tries(
        &self,
        block: u64,
        max_keys: usize,
    ) -> Result<Option<PastTries>, StorageError> {
        let Some(header) = self.header(block)? else {
            return Err(corrupt("headers", format!("block {block} has no header")));
        };
        let oldest = self.oldest_state()?;
        if block < oldest {
            return Err(StorageError::Pruned {
                requested: block,
                oldest,
            });
        }
        let Some((accounts, slots)) = self.written_after(block, max_keys)? else {
            return Ok(None);
        };
        let mut changes = StateChanges::default();
        for address in &accounts {
            let record = self.account_at(*address, block)?;
            changes
                .accounts
                .insert(*address, record.map(|r| (r.nonce, r.balance, r.code_hash)));
        }
        for (address, slot) in &slots {
            let value = self.storage_at(*address, *slot, block)?;
            changes
                .storage
                .entry(*address)
                .or_default()
                .insert(*slot, value);
        }
        let prepared = self.prepare_state(&changes)?;
        if prepared.state_root != header.header.state_root {
            return Err(corrupt(
                "trie_nodes",
                format!(
                    "the state of block {block} rebuilt from history has root {}, its header {}",
                    prepared.state_root, header.header.state_root
                ),
            ));
        }
        let nodes = prepared
            .trie_writes
            .into_iter()
            .map(|(TrieKey { account, path }, node)| ((account, path), node))
            .collect();
        // Storage tries the account did not have at `block` (prepare_state wipes them).
        let wiped: HashSet<Address> = prepared.trie_wipes.into_iter().collect();
        Ok(Some(PastTries {
            block,
            accounts: prepared.accounts,
            nodes,
            wiped,
        }))
    }

    fn overlay<'a>(&'a self, tries: &'a PastTries, account: Option<Address>) -> OverlayNodes<'a> {
        OverlayNodes {
            snap: self,
            tries,
            account,
            ns: self.trie_prefix(&TrieKey::namespace(account)),
        }
    }

    /// The account at `tries`' block and its proof against that block's state root.
    pub fn account_proof_in(
        &self,
        tries: &PastTries,
        address: Address,
    ) -> Result<(Option<AccountRecord>, Vec<Bytes>), StorageError> {
        let reader = self.overlay(tries, None);
        let proof = txnchain_trie::proof(&reader, keccak256(address))
            .map_err(|e| StorageError::Trie(e.to_string()))?;
        let record = match tries.accounts.get(&address) {
            Some(r) => *r,
            None => self.account(address)?,
        };
        Ok((record, proof))
    }

    /// A slot at `tries`' block and its proof against the account's storage root then.
    pub fn storage_proof_in(
        &self,
        tries: &PastTries,
        address: Address,
        slot: U256,
    ) -> Result<(U256, Vec<Bytes>), StorageError> {
        let reader = self.overlay(tries, Some(address));
        let proof = txnchain_trie::proof(&reader, keccak256(slot.to_be_bytes::<32>()))
            .map_err(|e| StorageError::Trie(e.to_string()))?;
        Ok((self.storage_at(address, slot, tries.block)?, proof))
    }
}
