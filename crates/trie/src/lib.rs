//! Incremental Ethereum Merkle-Patricia trie over stored nodes.
//!
//! This crate owns TxnChain's state commitment structure: the hexary Merkle-Patricia trie of
//! Ethereum (yellow paper appendix D) over 32-byte hashed keys, used for the account trie
//! (`keccak(address)` → `rlp(account)`) and each account's storage trie (`keccak(slot)` →
//! `rlp(value)`), and for `eth_getProof`'s `accountProof` / `storageProof`. It computes roots and
//! proofs bit-for-bit equal to Ethereum's (checked against `alloy-trie`'s `HashBuilder` and
//! `verify_proof` in the tests). It does not own the storage engine: nodes are read through
//! [`NodeReader`] and written by the caller from [`TrieUpdate::writes`].
//!
//! # Storage layout
//!
//! Nodes are keyed by their *nibble path* from the trie root (the path scheme of geth and reth):
//! the root node at the empty path [`ROOT_PATH`], a branch's child `i` at `path ‖ i`, an
//! extension's child at `path ‖ extension key`. [`encode_path`] turns a path into a unique byte
//! string the caller can append to a namespace prefix (e.g. `keccak(address)` for a storage
//! trie) to form a database key. The stored value is the node's exact Ethereum RLP encoding.
//!
//! Only nodes that Ethereum references **by hash** are stored: the root (always, whatever its
//! size) and every node whose RLP is 32 bytes or longer. A node whose RLP is shorter than 32
//! bytes is embedded inline in its parent's RLP, as Ethereum encodes it, and has no entry of
//! its own (its whole subtree is inline too, since a hash reference alone is 33 bytes). Proofs
//! are therefore simply the stored nodes met on the way from the root to the key.
//!
//! Every stored node read through a parent is checked against the hash the parent holds, so a
//! corrupted or stale node is reported as [`TrieError::HashMismatch`] rather than silently
//! producing a wrong root or proof (a store that guarantees integrity itself can opt out with
//! [`NodeReader::verify_hashes`]). Whatever it reads, malformed data is an error, never a panic.
//!
//! # Updates
//!
//! [`update`] reads only the nodes on the paths of the changed keys (plus, on deletion, the
//! sibling a collapsing branch folds into), each path at most once, applies the whole batch in
//! memory, re-encodes and re-hashes only the changed nodes bottom-up, and returns the new root
//! with the puts of changed nodes and the deletes of nodes that no longer exist (so storage
//! does not leak). Its cost grows with the number of changed keys times the trie depth, not
//! with the size of the trie. The caller applies the writes atomically with whatever else it
//! commits; nothing is written through the reader.
#![warn(missing_docs)]

mod error;
mod memory;
mod node;
mod update;

pub use alloy_trie::{EMPTY_ROOT_HASH, Nibbles};
pub use error::TrieError;
pub use memory::{MemoryNodes, OverlayNodes};

use alloy_primitives::{B256, Bytes, keccak256};
use node::{Child, Node, StoredNode, child_path, nibble_at, read_node};
use std::collections::BTreeMap;

/// A node's position in the trie: its nibble path from the root.
pub type NodePath = Nibbles;

/// The path of the root node (empty).
pub const ROOT_PATH: NodePath = Nibbles::new();

/// Reads stored trie nodes by path.
///
/// Nodes are keyed by their nibble path from the trie root, so a caller keeping several tries
/// in one table namespaces them by prefixing [`encode_path`] with a per-trie prefix.
pub trait NodeReader {
    /// The store's error.
    type Error;

    /// The RLP of the node stored at `path`, or `None` if there is none.
    fn get_node(&self, path: &NodePath) -> Result<Option<Vec<u8>>, Self::Error>;

    /// Whether each node read through its parent is checked against the hash the parent
    /// references (default `true`; costs one keccak per node read).
    ///
    /// Return `false` only if the store already guarantees the integrity of what it returns
    /// (e.g. nodes sealed with authenticated encryption): a corrupted node that still decodes
    /// would then go undetected here.
    fn verify_hashes(&self) -> bool {
        true
    }
}

impl<R: NodeReader + ?Sized> NodeReader for &R {
    type Error = R::Error;

    fn get_node(&self, path: &NodePath) -> Result<Option<Vec<u8>>, Self::Error> {
        (**self).get_node(path)
    }

    fn verify_hashes(&self) -> bool {
        (**self).verify_hashes()
    }
}

/// The result of [`update`]: the new root hash and the node writes that produce it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrieUpdate {
    /// The new root hash ([`EMPTY_ROOT_HASH`] if the trie is now empty).
    pub root: B256,
    /// Node writes in path order, each path at most once: `Some(rlp)` stores the node at the
    /// path (replacing any old one), `None` deletes the node there.
    pub writes: Vec<(NodePath, Option<Vec<u8>>)>,
}

/// A key's value and its Merkle proof, from [`get_with_proof`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ValueWithProof {
    /// The value under the key, if present.
    pub value: Option<Vec<u8>>,
    /// The proof, as [`proof`] returns it.
    pub proof: Vec<Bytes>,
}

/// Applies a batch of changes to the trie stored in `reader` and returns the new root and the
/// node writes.
///
/// Keys are already-hashed 32-byte keys (`keccak(address)`, `keccak(slot)`); values are the
/// RLP-encoded leaf values. `None` (or an empty value, as in geth) deletes the key; deleting an
/// absent key is a no-op. If a key appears several times, the last change wins. Nothing is
/// written: apply [`TrieUpdate::writes`] to the store (e.g. [`MemoryNodes::apply`]).
pub fn update<R: NodeReader + ?Sized>(
    reader: &R,
    changes: impl IntoIterator<Item = (B256, Option<Vec<u8>>)>,
) -> Result<TrieUpdate, TrieError<R::Error>> {
    let changes: BTreeMap<B256, Option<Vec<u8>>> = changes
        .into_iter()
        .map(|(key, value)| (key, value.filter(|v| !v.is_empty())))
        .collect();
    if changes.is_empty() {
        return Ok(TrieUpdate {
            root: root(reader)?,
            writes: Vec::new(),
        });
    }
    update::Updater::new(reader).run(changes)
}

/// The value stored under `key`, if any.
pub fn get<R: NodeReader + ?Sized>(
    reader: &R,
    key: B256,
) -> Result<Option<Vec<u8>>, TrieError<R::Error>> {
    walk(reader, key, |_| {})
}

/// The Merkle proof for `key`: the RLP of the stored nodes from the root towards the key, as in
/// `eth_getProof`'s `accountProof` / `storageProof`.
///
/// For an absent key it is an exclusion proof (the nodes down to where the key's path leaves
/// the trie). For an empty trie it is empty. Verifiable with `alloy_trie::proof::verify_proof`.
pub fn proof<R: NodeReader + ?Sized>(
    reader: &R,
    key: B256,
) -> Result<Vec<Bytes>, TrieError<R::Error>> {
    Ok(get_with_proof(reader, key)?.proof)
}

/// The value under `key` and its [`proof`], in one walk.
pub fn get_with_proof<R: NodeReader + ?Sized>(
    reader: &R,
    key: B256,
) -> Result<ValueWithProof, TrieError<R::Error>> {
    let mut proof = Vec::new();
    let value = walk(reader, key, |bytes| proof.push(Bytes::from(bytes)))?;
    Ok(ValueWithProof { value, proof })
}

/// The root hash of the trie stored in `reader` ([`EMPTY_ROOT_HASH`] if it is empty).
pub fn root<R: NodeReader + ?Sized>(reader: &R) -> Result<B256, TrieError<R::Error>> {
    Ok(reader
        .get_node(&ROOT_PATH)
        .map_err(TrieError::Reader)?
        .map_or(EMPTY_ROOT_HASH, |bytes| keccak256(&bytes)))
}

/// Encodes a node path as bytes that are unique per path: the packed nibbles (two per byte,
/// the last low half zero when the length is odd) followed by one byte holding the length in
/// nibbles (0–64). 1 to 33 bytes long.
///
/// Paths of a subtree below an even-length prefix share that prefix's packed bytes, so they
/// sit together in a sorted key-value store.
pub fn encode_path(path: &NodePath) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len().div_ceil(2) + 1);
    out.extend_from_slice(&path.pack());
    #[expect(
        clippy::cast_possible_truncation,
        reason = "a path holds at most 64 nibbles"
    )]
    out.push(path.len() as u8);
    out
}

/// Decodes [`encode_path`]'s bytes; `None` if they are not a valid encoding.
pub fn decode_path(bytes: &[u8]) -> Option<NodePath> {
    let (&len, packed) = bytes.split_last()?;
    let len = usize::from(len);
    if len > 64 || packed.len() != len.div_ceil(2) {
        return None;
    }
    if len % 2 == 1 && packed.last().is_some_and(|b| b & 0x0f != 0) {
        return None;
    }
    let mut path = Nibbles::unpack(packed);
    path.truncate(len);
    Some(path)
}

/// Walks from the root towards `key`, passing each stored node read to `on_stored`, and
/// returns the key's value if present.
fn walk<R: NodeReader + ?Sized>(
    reader: &R,
    key: B256,
    mut on_stored: impl FnMut(Vec<u8>),
) -> Result<Option<Vec<u8>>, TrieError<R::Error>> {
    let Some(StoredNode {
        bytes, mut node, ..
    }) = read_node(reader, &ROOT_PATH, None, false)?
    else {
        return Ok(None);
    };
    on_stored(bytes);
    let key = Nibbles::unpack(key);
    let mut path = ROOT_PATH;
    loop {
        // Decoding checked that every node's path plus key stays within 64 nibbles.
        let rest = key.slice(path.len()..);
        let (child, next_path, expect_branch) = match node {
            Node::Leaf {
                key: leaf_key,
                value,
            } => return Ok((leaf_key == rest).then_some(value)),
            Node::Extension {
                key: ext_key,
                child,
            } => {
                if !rest.starts_with(&ext_key) {
                    return Ok(None);
                }
                (child, path.join(&ext_key), true)
            }
            Node::Branch { mut children } => {
                let nibble = nibble_at(&rest, 0, &path)?;
                let Some(child) = children[usize::from(nibble)].take() else {
                    return Ok(None);
                };
                (child, child_path(&path, nibble), false)
            }
        };
        path = next_path;
        node = match child {
            Child::Node(loaded) => loaded.node,
            Child::Hash(hash) => {
                let Some(StoredNode { bytes, node, .. }) =
                    read_node(reader, &path, Some(hash), expect_branch)?
                else {
                    return Err(TrieError::MissingNode { path });
                };
                on_stored(bytes);
                node
            }
        };
    }
}
