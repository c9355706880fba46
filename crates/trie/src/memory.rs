//! In-memory node stores: a plain map, and an overlay of pending writes over another reader.

use crate::{NodeReader, TrieUpdate};
use alloy_trie::Nibbles;
use std::{collections::BTreeMap, convert::Infallible};

/// Trie nodes held in memory, keyed by path. For tests, and for tries that live only in memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryNodes {
    nodes: BTreeMap<Nibbles, Vec<u8>>,
}

impl MemoryNodes {
    /// An empty store (an empty trie).
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies an update's writes (puts and deletes).
    pub fn apply(&mut self, update: &TrieUpdate) {
        for (path, write) in &update.writes {
            match write {
                Some(bytes) => {
                    self.nodes.insert(*path, bytes.clone());
                }
                None => {
                    self.nodes.remove(path);
                }
            }
        }
    }

    /// Number of stored nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node is stored.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Stored nodes in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&Nibbles, &Vec<u8>)> {
        self.nodes.iter()
    }

    /// Stores `bytes` at `path`, returning what was there (for tests that tamper with nodes).
    pub fn insert(&mut self, path: Nibbles, bytes: Vec<u8>) -> Option<Vec<u8>> {
        self.nodes.insert(path, bytes)
    }

    /// Removes the node at `path`, returning it.
    pub fn remove(&mut self, path: &Nibbles) -> Option<Vec<u8>> {
        self.nodes.remove(path)
    }
}

impl NodeReader for MemoryNodes {
    type Error = Infallible;

    fn get_node(&self, path: &Nibbles) -> Result<Option<Vec<u8>>, Infallible> {
        Ok(self.nodes.get(path).cloned())
    }
}

/// Pending writes (puts and deletes) over a base reader: reads see the pending state.
///
/// Lets a caller chain several [`update`](crate::update)s (e.g. blocks not yet flushed) and
/// write them out once with [`OverlayNodes::into_writes`].
#[derive(Clone, Debug)]
pub struct OverlayNodes<R> {
    base: R,
    pending: BTreeMap<Nibbles, Option<Vec<u8>>>,
}

impl<R: NodeReader> OverlayNodes<R> {
    /// No pending writes over `base`.
    pub const fn new(base: R) -> Self {
        Self {
            base,
            pending: BTreeMap::new(),
        }
    }

    /// Records an update's writes as pending.
    pub fn apply(&mut self, update: &TrieUpdate) {
        for (path, write) in &update.writes {
            self.pending.insert(*path, write.clone());
        }
    }

    /// The base reader.
    pub const fn base(&self) -> &R {
        &self.base
    }

    /// Number of pending writes.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// The pending writes in path order (`None` deletes), to be written to the base store.
    pub fn into_writes(self) -> Vec<(Nibbles, Option<Vec<u8>>)> {
        self.pending.into_iter().collect()
    }
}

impl<R: NodeReader> NodeReader for OverlayNodes<R> {
    type Error = R::Error;

    fn get_node(&self, path: &Nibbles) -> Result<Option<Vec<u8>>, R::Error> {
        match self.pending.get(path) {
            Some(write) => Ok(write.clone()),
            None => self.base.get_node(path),
        }
    }

    fn verify_hashes(&self) -> bool {
        self.base.verify_hashes()
    }
}
