//! Batch updates: load the touched paths, apply the changes in memory, re-hash the dirty nodes
//! bottom-up and collect the node writes.

use crate::{
    NodeReader, ROOT_PATH, TrieError, TrieUpdate,
    node::{
        Child, Loaded, Node, StoredNode, child_path, empty_children, encode_branch,
        encode_extension, encode_leaf, nibble_at, read_node,
    },
};
use alloy_primitives::{
    B256, keccak256,
    map::{HashMap, HashSet},
};
use alloy_trie::{EMPTY_ROOT_HASH, Nibbles, TrieMask, nodes::RlpNode};
use std::collections::BTreeMap;

type Result<T, R> = std::result::Result<T, TrieError<<R as NodeReader>::Error>>;

/// State of one [`crate::update`] call.
///
/// The in-memory tree rooted at the root node is the per-update cache: a stored node is read
/// only when a [`Child::Hash`] slot is resolved, which replaces the slot by the loaded node, and
/// every stored path is referenced by exactly one such slot, so each path is read at most once.
pub(crate) struct Updater<'r, R: NodeReader + ?Sized> {
    reader: &'r R,
    /// Every stored node read during this update: path → keccak of its stored bytes.
    original: HashMap<Nibbles, B256>,
    /// Paths that hold a stored node after this update.
    live: HashSet<Nibbles>,
    /// Nodes to (re)write.
    puts: Vec<(Nibbles, Vec<u8>)>,
    /// Scratch encoding buffer.
    buf: Vec<u8>,
}

impl<'r, R: NodeReader + ?Sized> Updater<'r, R> {
    pub(crate) fn new(reader: &'r R) -> Self {
        Self {
            reader,
            original: HashMap::default(),
            live: HashSet::default(),
            puts: Vec::new(),
            buf: Vec::with_capacity(600),
        }
    }

    /// Applies `changes` (sorted, deduplicated; `None` deletes) and returns the new root and
    /// the writes.
    pub(crate) fn run(mut self, changes: BTreeMap<B256, Option<Vec<u8>>>) -> Result<TrieUpdate, R> {
        let mut root = self.load(&ROOT_PATH, None, false)?.map(Child::Node);
        for (key, change) in changes {
            let key = Nibbles::unpack(key);
            match change {
                Some(value) => {
                    self.insert_slot(&mut root, ROOT_PATH, key, value)?;
                }
                None => {
                    if let Some(node) = root.as_mut()
                        && self.delete(node, ROOT_PATH, key)? == Deleted::Removed
                    {
                        root = None;
                    }
                }
            }
        }

        let root_hash = match root {
            None => EMPTY_ROOT_HASH,
            Some(root) => {
                let loaded = self.resolve(root, &ROOT_PATH, false)?;
                // The root is always stored, and hashed whatever its length: encode it even
                // when clean (one node) so the hash comes from the bytes.
                self.commit_loaded(*loaded, &ROOT_PATH, true)?;
                let hash = keccak256(&self.buf);
                self.live.insert(ROOT_PATH);
                if self.original.get(&ROOT_PATH) != Some(&hash) {
                    self.puts.push((ROOT_PATH, self.buf.clone()));
                }
                hash
            }
        };

        let mut writes: BTreeMap<Nibbles, Option<Vec<u8>>> = BTreeMap::new();
        for path in self.original.keys() {
            if !self.live.contains(path) {
                writes.insert(*path, None);
            }
        }
        for (path, bytes) in self.puts {
            writes.insert(path, Some(bytes));
        }
        Ok(TrieUpdate {
            root: root_hash,
            writes: writes.into_iter().collect(),
        })
    }

    /// Reads and decodes the node stored at `path`, recording it as originally present.
    fn load(
        &mut self,
        path: &Nibbles,
        expected: Option<B256>,
        expect_branch: bool,
    ) -> Result<Option<Box<Loaded>>, R> {
        let Some(StoredNode { bytes, hash, node }) =
            read_node(self.reader, path, expected, expect_branch)?
        else {
            return Ok(None);
        };
        self.original.insert(*path, hash);
        Ok(Some(Box::new(Loaded {
            node,
            rlp: Some(stored_ref(&bytes, &hash)),
        })))
    }

    /// Turns a child slot into its node, loading it from the store if it is a hash.
    fn resolve(
        &mut self,
        child: Child,
        path: &Nibbles,
        expect_branch: bool,
    ) -> Result<Box<Loaded>, R> {
        match child {
            Child::Node(loaded) => Ok(loaded),
            Child::Hash(hash) => self
                .load(path, Some(hash), expect_branch)?
                .ok_or(TrieError::MissingNode { path: *path }),
        }
    }

    /// Turns a child slot into its node in place, loading it from the store if it is a hash.
    fn resolve_mut<'c>(
        &mut self,
        child: &'c mut Child,
        path: &Nibbles,
        expect_branch: bool,
    ) -> Result<&'c mut Loaded, R> {
        if let Child::Hash(hash) = *child {
            *child = Child::Node(self.resolve(Child::Hash(hash), path, expect_branch)?);
        }
        match child {
            Child::Node(loaded) => Ok(loaded),
            Child::Hash(_) => Err(TrieError::malformed(*path, "node not resolved")),
        }
    }

    /// Inserts or overwrites `key` (the rest of the key below `path`) in the branch slot `slot`.
    /// Returns whether anything changed.
    fn insert_slot(
        &mut self,
        slot: &mut Option<Child>,
        path: Nibbles,
        key: Nibbles,
        value: Vec<u8>,
    ) -> Result<bool, R> {
        match slot {
            Some(child) => self.insert(child, path, key, value),
            None => {
                *slot = Some(Child::dirty(Node::Leaf { key, value }));
                Ok(true)
            }
        }
    }

    /// Inserts or overwrites `key` (the rest of the key below `path`) under the node `child`.
    /// Returns whether anything changed.
    fn insert(
        &mut self,
        child: &mut Child,
        path: Nibbles,
        key: Nibbles,
        value: Vec<u8>,
    ) -> Result<bool, R> {
        let loaded = self.resolve_mut(child, &path, false)?;
        match &mut loaded.node {
            Node::Branch { children } => {
                let nibble = nibble_at(&key, 0, &path)?;
                let changed = self.insert_slot(
                    &mut children[usize::from(nibble)],
                    child_path(&path, nibble),
                    key.slice(1..),
                    value,
                )?;
                if changed {
                    loaded.rlp = None;
                }
                Ok(changed)
            }
            Node::Extension {
                key: ext_key,
                child: ext_child,
            } if key.starts_with(ext_key) => {
                let below = path.join(ext_key);
                let rest = key.slice(ext_key.len()..);
                self.resolve_mut(ext_child, &below, true)?;
                let changed = self.insert(ext_child, below, rest, value)?;
                if changed {
                    loaded.rlp = None;
                }
                Ok(changed)
            }
            Node::Leaf {
                key: leaf_key,
                value: leaf_value,
            } if *leaf_key == key => {
                if *leaf_value == value {
                    return Ok(false);
                }
                *leaf_value = value;
                loaded.rlp = None;
                Ok(true)
            }
            Node::Leaf { .. } | Node::Extension { .. } => {
                let old = std::mem::replace(child, Child::Hash(B256::ZERO));
                *child = split(old, &path, key, value)?;
                Ok(true)
            }
        }
    }

    /// Deletes `key` (the rest of the key below `path`) under the node `child`.
    fn delete(&mut self, child: &mut Child, path: Nibbles, key: Nibbles) -> Result<Deleted, R> {
        let loaded = self.resolve_mut(child, &path, false)?;
        match &mut loaded.node {
            Node::Leaf { key: leaf_key, .. } => Ok(if *leaf_key == key {
                Deleted::Removed
            } else {
                Deleted::Unchanged
            }),
            Node::Extension {
                key: ext_key,
                child: ext_child,
            } => {
                if !key.starts_with(ext_key) {
                    return Ok(Deleted::Unchanged);
                }
                let below = path.join(ext_key);
                let rest = key.slice(ext_key.len()..);
                self.resolve_mut(ext_child, &below, true)?;
                match self.delete(ext_child, below, rest)? {
                    Deleted::Unchanged => Ok(Deleted::Unchanged),
                    // Cannot happen in a valid trie (a branch keeps a child), but nothing is
                    // left below either way.
                    Deleted::Removed => Ok(Deleted::Removed),
                    Deleted::Changed => {
                        loaded.rlp = None;
                        // The child branch may have collapsed into a leaf or extension: absorb it.
                        let collapsed = matches!(ext_child, Child::Node(n) if !matches!(n.node, Node::Branch { .. }));
                        if collapsed {
                            let old = std::mem::replace(child, Child::Hash(B256::ZERO));
                            if let Child::Node(old) = old
                                && let Node::Extension {
                                    key: ext_key,
                                    child: ext_child,
                                } = old.node
                            {
                                *child = self.prefix(ext_key, ext_child, &below)?;
                            }
                        }
                        Ok(Deleted::Changed)
                    }
                }
            }
            Node::Branch { children } => {
                let nibble = nibble_at(&key, 0, &path)?;
                let Some(below) = children[usize::from(nibble)].as_mut() else {
                    return Ok(Deleted::Unchanged);
                };
                match self.delete(below, child_path(&path, nibble), key.slice(1..))? {
                    Deleted::Unchanged => return Ok(Deleted::Unchanged),
                    Deleted::Changed => {
                        loaded.rlp = None;
                        return Ok(Deleted::Changed);
                    }
                    Deleted::Removed => children[usize::from(nibble)] = None,
                }
                loaded.rlp = None;
                let mut present = (0u8..)
                    .zip(children.iter())
                    .filter(|(_, c)| c.is_some())
                    .map(|(i, _)| i);
                let (Some(first), second) = (present.next(), present.next()) else {
                    return Ok(Deleted::Removed);
                };
                if second.is_none() {
                    // One child left: the branch collapses into it, prefixed by its nibble.
                    if let Some(only) = children[usize::from(first)].take() {
                        let mut prefix = Nibbles::new();
                        prefix.push_unchecked(first);
                        *child = self.prefix(prefix, only, &child_path(&path, first))?;
                    }
                }
                Ok(Deleted::Changed)
            }
        }
    }

    /// The node replacing `prefix ‖ child` (where `child` sits at `child_path`): a leaf or
    /// extension child absorbs the prefix into its key (and moves up), a branch child gets an
    /// extension above it (and stays where it is).
    fn prefix(&mut self, prefix: Nibbles, child: Child, child_path: &Nibbles) -> Result<Child, R> {
        let Loaded { node, rlp } = *self.resolve(child, child_path, false)?;
        Ok(match node {
            Node::Leaf { key, value } => Child::dirty(Node::Leaf {
                key: prefix.join(&key),
                value,
            }),
            Node::Extension { key, child } => Child::dirty(Node::Extension {
                key: prefix.join(&key),
                child,
            }),
            Node::Branch { children } => Child::dirty(Node::Extension {
                key: prefix,
                child: keep(Node::Branch { children }, rlp),
            }),
        })
    }

    /// Commits a child slot at `path`: returns its reference and records its write if it is a
    /// stored (hash-referenced) node that changed.
    fn commit_child(&mut self, child: Child, path: Nibbles) -> Result<RlpNode, R> {
        let loaded = match child {
            Child::Hash(hash) => return Ok(RlpNode::word_rlp(&hash)),
            Child::Node(loaded) => loaded,
        };
        let (rlp, fresh) = self.commit_loaded(*loaded, &path, false)?;
        if let Some(hash) = rlp.as_hash() {
            self.live.insert(path);
            if fresh && self.original.get(&path) != Some(&hash) {
                self.puts.push((path, self.buf.clone()));
            }
        }
        Ok(rlp)
    }

    /// Commits the children of a node at `path`, then encodes the node into `self.buf` if it
    /// is dirty (or `force`). Returns its reference and whether `self.buf` holds its encoding.
    fn commit_loaded(
        &mut self,
        loaded: Loaded,
        path: &Nibbles,
        force: bool,
    ) -> Result<(RlpNode, bool), R> {
        let Loaded { node, rlp } = loaded;
        let rlp = rlp.filter(|_| !force);
        match node {
            Node::Leaf { key, value } => match rlp {
                Some(rlp) => Ok((rlp, false)),
                None => Ok((encode_leaf(&key, &value, &mut self.buf), true)),
            },
            Node::Extension { key, child } => {
                let child = self.commit_child(child, path.join(&key))?;
                match rlp {
                    Some(rlp) => Ok((rlp, false)),
                    None => Ok((encode_extension(&key, &child, &mut self.buf), true)),
                }
            }
            Node::Branch { children } => {
                let mut stack: [RlpNode; 16] = Default::default();
                let mut count = 0;
                let mut mask = TrieMask::default();
                for (nibble, child) in (0u8..).zip(*children) {
                    if let Some(child) = child {
                        stack[count] = self.commit_child(child, child_path(path, nibble))?;
                        count += 1;
                        mask.set_bit(nibble);
                    }
                }
                match rlp {
                    Some(rlp) => Ok((rlp, false)),
                    None => Ok((encode_branch(&stack[..count], mask, &mut self.buf), true)),
                }
            }
        }
    }
}

/// The reference a parent holds to a stored node: its hash, or the bytes themselves if shorter
/// than 32 (only possible for the root). Avoids re-hashing what was just hashed on load.
fn stored_ref(bytes: &[u8], hash: &B256) -> RlpNode {
    if bytes.len() < 32 {
        RlpNode::from_rlp(bytes)
    } else {
        RlpNode::word_rlp(hash)
    }
}

/// The outcome of a deletion below a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Deleted {
    /// The key was absent: nothing changed.
    Unchanged,
    /// The node changed (and may have been replaced in place).
    Changed,
    /// Nothing is left of the node: the caller removes it.
    Removed,
}

/// Splits the leaf or extension `old` at `path` to make room for the new leaf `key` → `value`,
/// which leaves `old`'s key after their common prefix: a branch holds both, under an
/// extension for the common prefix if it is not empty.
fn split<E>(
    old: Child,
    path: &Nibbles,
    key: Nibbles,
    value: Vec<u8>,
) -> std::result::Result<Child, TrieError<E>> {
    let Child::Node(old) = old else {
        return Err(TrieError::malformed(*path, "node not resolved"));
    };
    let old_key = match &old.node {
        Node::Leaf { key, .. } | Node::Extension { key, .. } => *key,
        Node::Branch { .. } => return Err(TrieError::malformed(*path, "cannot split a branch")),
    };
    // The new key differs from the old key within the old key's length: a leaf's key has the
    // same length (64 - |path|), an extension's is shorter and not a prefix of the new key.
    let common = old_key.common_prefix_length(&key);
    let old_nibble = nibble_at(&old_key, common, path)?;
    let new_nibble = nibble_at(&key, common, path)?;
    let old_rest = old_key.slice(common + 1..);
    let old_child = match old.node {
        Node::Leaf { value, .. } => Child::dirty(Node::Leaf {
            key: old_rest,
            value,
        }),
        // An extension whose whole key is consumed leaves its branch child directly in place.
        Node::Extension { child, .. } if old_rest.is_empty() => child,
        Node::Extension { child, .. } => Child::dirty(Node::Extension {
            key: old_rest,
            child,
        }),
        Node::Branch { .. } => return Err(TrieError::malformed(*path, "cannot split a branch")),
    };
    let mut children = empty_children();
    children[usize::from(old_nibble)] = Some(old_child);
    children[usize::from(new_nibble)] = Some(Child::dirty(Node::Leaf {
        key: key.slice(common + 1..),
        value,
    }));
    Ok(with_extension(
        key.slice(..common),
        Child::dirty(Node::Branch { children }),
    ))
}

/// An unchanged node, keeping its reference if it had one.
fn keep(node: Node, rlp: Option<RlpNode>) -> Child {
    Child::Node(Box::new(Loaded { node, rlp }))
}

/// `child` below an extension with `key`, or `child` itself if `key` is empty.
fn with_extension(key: Nibbles, child: Child) -> Child {
    if key.is_empty() {
        child
    } else {
        Child::dirty(Node::Extension { key, child })
    }
}
