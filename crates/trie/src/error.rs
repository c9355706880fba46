//! The error type of every trie operation.

use alloy_primitives::B256;
use alloy_trie::Nibbles;

/// An error from reading or updating a trie.
///
/// `E` is the [`NodeReader`](crate::NodeReader)'s own error type. Every variant other than
/// [`TrieError::Reader`] means the stored nodes are missing, corrupted or not a valid Ethereum
/// trie; the operation is abandoned and nothing should be written.
#[derive(Debug, thiserror::Error)]
pub enum TrieError<E> {
    /// The node reader failed.
    #[error("trie node reader failed: {0}")]
    Reader(#[source] E),
    /// A node referenced by hash from its parent is not stored at its path.
    #[error("trie node at path {path:?} is missing")]
    MissingNode {
        /// Nibble path of the missing node.
        path: Nibbles,
    },
    /// A stored node does not hash to the hash its parent references it by.
    #[error("trie node at path {path:?} hashes to {got}, but its parent references {expected}")]
    HashMismatch {
        /// Nibble path of the node.
        path: Nibbles,
        /// Hash the parent node references.
        expected: B256,
        /// Keccak-256 of the stored bytes.
        got: B256,
    },
    /// A stored node is not valid RLP for a trie node.
    #[error("trie node at path {path:?} is not a valid RLP trie node: {source}")]
    Rlp {
        /// Nibble path of the node.
        path: Nibbles,
        /// The RLP decoding error.
        source: alloy_rlp::Error,
    },
    /// A stored node decodes, but breaks the structure of a trie of 32-byte keys.
    #[error("trie node at path {path:?} is malformed: {reason}")]
    Malformed {
        /// Nibble path of the node.
        path: Nibbles,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl<E> TrieError<E> {
    pub(crate) const fn malformed(path: Nibbles, reason: &'static str) -> Self {
        Self::Malformed { path, reason }
    }
}
