//! In-memory trie nodes, decoded from and encoded to Ethereum's RLP node format.

use crate::{NodeReader, TrieError};
use alloy_primitives::{B256, keccak256};
use alloy_rlp::Decodable;
use alloy_trie::{
    Nibbles,
    nodes::{BranchNodeRef, ExtensionNodeRef, LeafNodeRef, RlpNode, TrieNode},
};

/// Length in nibbles of every key (keys are 32-byte hashes).
pub(crate) const KEY_NIBBLES: usize = 64;

/// RLP of a child reference by hash: a 32-byte string (`0xa0 ‖ hash`).
const HASH_REF_LEN: usize = 33;
const HASH_REF_PREFIX: u8 = alloy_rlp::EMPTY_STRING_CODE + 32;

/// A node's child slot.
#[derive(Debug)]
pub(crate) enum Child {
    /// Referenced by hash and not loaded yet; it is stored at the child's path.
    Hash(B256),
    /// Loaded (from the store or decoded inline from its parent) or newly created.
    Node(Box<Loaded>),
}

/// A node held in memory, with its reference if it is unchanged.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) node: Node,
    /// `Some(reference)` while the node is clean (as loaded); `None` once changed (dirty).
    pub(crate) rlp: Option<RlpNode>,
}

/// A trie node of a trie with fixed-length keys (so branches never carry values).
#[derive(Debug)]
pub(crate) enum Node {
    Leaf { key: Nibbles, value: Vec<u8> },
    Extension { key: Nibbles, child: Child },
    Branch { children: Box<[Option<Child>; 16]> },
}

impl Child {
    /// A new (dirty) node.
    pub(crate) fn dirty(node: Node) -> Self {
        Self::Node(Box::new(Loaded { node, rlp: None }))
    }

    /// A node as loaded, with the reference its parent holds.
    pub(crate) fn clean(node: Node, rlp: RlpNode) -> Self {
        Self::Node(Box::new(Loaded {
            node,
            rlp: Some(rlp),
        }))
    }
}

pub(crate) fn empty_children() -> Box<[Option<Child>; 16]> {
    Box::new(std::array::from_fn(|_| None))
}

/// The nibble at `index`, or an error naming `path` (only reachable with inconsistent data).
pub(crate) fn nibble_at<E>(
    nibbles: &Nibbles,
    index: usize,
    path: &Nibbles,
) -> Result<u8, TrieError<E>> {
    nibbles
        .get(index)
        .ok_or_else(|| TrieError::malformed(*path, "path runs past the end of the key"))
}

/// `path ‖ [nibble]`.
pub(crate) fn child_path(path: &Nibbles, nibble: u8) -> Nibbles {
    let mut p = *path;
    // `nibble < 16` and every branch's path is shorter than 64 nibbles (checked on decode, and
    // kept by construction for new branches).
    p.push_unchecked(nibble);
    p
}

/// A node read from the store.
pub(crate) struct StoredNode {
    /// The stored RLP.
    pub(crate) bytes: Vec<u8>,
    /// Its keccak.
    pub(crate) hash: B256,
    /// The decoded node.
    pub(crate) node: Node,
}

/// Reads the node stored at `path` and decodes it.
///
/// With `expected` (the hash the parent references), the bytes are checked against it (unless
/// the reader opts out with [`NodeReader::verify_hashes`]) and must be at least 32 bytes long (shorter nodes are embedded in their parent, never referenced by
/// hash). With `expect_branch` (the parent is an extension), the node must be a branch.
pub(crate) fn read_node<R: NodeReader + ?Sized>(
    reader: &R,
    path: &Nibbles,
    expected: Option<B256>,
    expect_branch: bool,
) -> Result<Option<StoredNode>, TrieError<R::Error>> {
    let Some(bytes) = reader.get_node(path).map_err(TrieError::Reader)? else {
        return if expected.is_some() {
            Err(TrieError::MissingNode { path: *path })
        } else {
            Ok(None)
        };
    };
    let hash = match expected {
        Some(expected) if !reader.verify_hashes() => expected,
        _ => keccak256(&bytes),
    };
    if let Some(expected) = expected {
        if hash != expected {
            return Err(TrieError::HashMismatch {
                path: *path,
                expected,
                got: hash,
            });
        }
        if bytes.len() < 32 {
            return Err(TrieError::malformed(
                *path,
                "node shorter than 32 bytes referenced by hash",
            ));
        }
    }
    let node = decode_node(&bytes, path)?;
    if expect_branch && !matches!(node, Node::Branch { .. }) {
        return Err(TrieError::malformed(
            *path,
            "extension child is not a branch",
        ));
    }
    Ok(Some(StoredNode { bytes, hash, node }))
}

/// Decodes one RLP trie node located at `path`, including any children embedded inline.
pub(crate) fn decode_node<E>(bytes: &[u8], path: &Nibbles) -> Result<Node, TrieError<E>> {
    let mut buf = bytes;
    let node = TrieNode::decode(&mut buf).map_err(|source| TrieError::Rlp {
        path: *path,
        source,
    })?;
    if !buf.is_empty() {
        return Err(TrieError::malformed(*path, "trailing bytes after the node"));
    }
    convert(node, path)
}

fn convert<E>(node: TrieNode, path: &Nibbles) -> Result<Node, TrieError<E>> {
    match node {
        TrieNode::EmptyRoot => Err(TrieError::malformed(*path, "unexpected empty node")),
        TrieNode::Leaf(leaf) => {
            if path.len() + leaf.key.len() != KEY_NIBBLES {
                return Err(TrieError::malformed(
                    *path,
                    "leaf key does not end at 64 nibbles",
                ));
            }
            if leaf.value.is_empty() {
                return Err(TrieError::malformed(*path, "leaf with an empty value"));
            }
            Ok(Node::Leaf {
                key: leaf.key,
                value: leaf.value,
            })
        }
        TrieNode::Extension(ext) => {
            if ext.key.is_empty() || path.len() + ext.key.len() >= KEY_NIBBLES {
                return Err(TrieError::malformed(
                    *path,
                    "extension key length out of range",
                ));
            }
            let child_path = path.join(&ext.key);
            let child = convert_child(&ext.child, &child_path)?;
            if let Child::Node(loaded) = &child
                && !matches!(loaded.node, Node::Branch { .. })
            {
                return Err(TrieError::malformed(
                    child_path,
                    "extension child is not a branch",
                ));
            }
            Ok(Node::Extension {
                key: ext.key,
                child,
            })
        }
        TrieNode::Branch(branch) => {
            if path.len() >= KEY_NIBBLES {
                return Err(TrieError::malformed(*path, "branch at a full-length path"));
            }
            let count = branch.state_mask.count_ones() as usize;
            if count < 2 {
                return Err(TrieError::malformed(
                    *path,
                    "branch with fewer than two children",
                ));
            }
            if branch.stack.len() != count {
                return Err(TrieError::malformed(*path, "branch child count mismatch"));
            }
            let mut children = empty_children();
            let mut stack = branch.stack.iter();
            for (index, slot) in (0u8..).zip(children.iter_mut()) {
                if branch.state_mask.is_bit_set(index) {
                    let Some(item) = stack.next() else {
                        return Err(TrieError::malformed(*path, "branch child count mismatch"));
                    };
                    *slot = Some(convert_child(item, &child_path(path, index))?);
                }
            }
            Ok(Node::Branch { children })
        }
    }
}

/// Decodes a child reference: a hash, or a node embedded inline (RLP shorter than 32 bytes).
fn convert_child<E>(item: &RlpNode, path: &Nibbles) -> Result<Child, TrieError<E>> {
    let raw = item.as_slice();
    if raw.len() == HASH_REF_LEN && raw[0] == HASH_REF_PREFIX {
        return Ok(Child::Hash(B256::from_slice(&raw[1..])));
    }
    if raw.len() >= 32 || raw.first().is_none_or(|b| *b < alloy_rlp::EMPTY_LIST_CODE) {
        return Err(TrieError::malformed(
            *path,
            "child is neither a hash nor an inline node",
        ));
    }
    Ok(Child::clean(decode_node(raw, path)?, item.clone()))
}

/// Encodes a leaf node into `buf` (cleared first), returning its reference (inline RLP or hash).
pub(crate) fn encode_leaf(key: &Nibbles, value: &[u8], buf: &mut Vec<u8>) -> RlpNode {
    buf.clear();
    LeafNodeRef::new(key, value).rlp(buf)
}

/// Encodes an extension node into `buf` (cleared first), returning its reference.
pub(crate) fn encode_extension(key: &Nibbles, child: &RlpNode, buf: &mut Vec<u8>) -> RlpNode {
    buf.clear();
    ExtensionNodeRef::new(key, child).rlp(buf)
}

/// Encodes a branch node into `buf` (cleared first), returning its reference. `stack` holds
/// the present children's references in nibble order, `mask` which nibbles they are.
pub(crate) fn encode_branch(
    stack: &[RlpNode],
    mask: alloy_trie::TrieMask,
    buf: &mut Vec<u8>,
) -> RlpNode {
    buf.clear();
    BranchNodeRef::new(stack, mask).rlp(buf)
}
