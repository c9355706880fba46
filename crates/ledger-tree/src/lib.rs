//! The ledger tree (`specs/receipts.md` §1): one append-only Merkle tree whose leaves are the
//! committed transactions in ledger order, hashed exactly as RFC 9162 (Certificate
//! Transparency 2.0) §2.1 with SHA-256, so that standard CT tooling verifies its proofs.
//!
//! This crate owns the tree's arithmetic, not its storage: it reads stored nodes through
//! [`NodeStore`] and hands the caller the nodes an append creates ([`Appended::nodes`]), to be
//! written in the same database transaction as the block whose leaves they are.
//!
//! # Stored nodes
//!
//! The tree is kept as the hashes of its **perfect subtrees**: node `(level, index)` is the
//! Merkle Tree Hash of leaves `index·2^level .. (index+1)·2^level`; level 0 holds the leaf
//! hashes. A tree of `n` leaves has fewer than `2n` of them and never changes one: appending a
//! leaf adds the leaf hash and one node for every perfect subtree it completes (amortised two,
//! at most `1 + log2 n`). Every Merkle Tree Hash the RFC's definitions need — the root of any
//! past size, every element of an inclusion or consistency proof for any pair of sizes — is a
//! fold of at most `log2 n` stored nodes, so proofs for any past tree size cost
//! `O(log² n)` node reads at worst and nothing has to be rebuilt.
//!
//! # Verification
//!
//! [`verify_inclusion`] and [`verify_consistency`] are the algorithms of RFC 9162 §2.1.3.2 and
//! §2.1.4.2, step by step; they need no store and are what an offline verifier runs. They
//! refuse proofs longer than [`MAX_PROOF_LEN`] before hashing anything.
//!
//! # Receipts
//!
//! [`receipt`] holds the signed-root message (`specs/receipts.md` §2) and the receipt
//! document with its offline verification (§3).

pub mod receipt;

use std::collections::HashMap;

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of the empty string (RFC 9162 §2.1.1).
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// Longest inclusion or consistency proof of a tree of at most 2^64 − 1 leaves (a consistency
/// proof may carry one element more than the tree's height).
pub const MAX_PROOF_LEN: usize = 65;

/// Domain prefix of a ledger leaf's input (`specs/receipts.md` §1).
pub const LEAF_DOMAIN: &[u8; 16] = b"txnchain-leaf-v1";

/// The leaf input of one committed transaction (`specs/receipts.md` §1):
/// `"txnchain-leaf-v1" ‖ transactionHash ‖ receiptHash ‖ resultDigest`.
pub fn ledger_leaf_input(tx_hash: &Hash, receipt_hash: &Hash, result_digest: &Hash) -> [u8; 112] {
    let mut out = [0u8; 112];
    out[..16].copy_from_slice(LEAF_DOMAIN);
    out[16..48].copy_from_slice(tx_hash);
    out[48..80].copy_from_slice(receipt_hash);
    out[80..].copy_from_slice(result_digest);
    out
}

/// The leaf hash of one committed transaction: [`leaf_hash`] of its [`ledger_leaf_input`].
pub fn ledger_leaf_hash(tx_hash: &Hash, receipt_hash: &Hash, result_digest: &Hash) -> Hash {
    leaf_hash(&ledger_leaf_input(tx_hash, receipt_hash, result_digest))
}

/// `resultDigest` of a transaction: SHA-256 of its sealed result if it was enveloped,
/// 32 zero bytes otherwise.
pub fn result_digest(sealed_result: Option<&[u8]>) -> Hash {
    sealed_result.map_or([0u8; 32], |s| Sha256::digest(s).into())
}

/// `SHA-256(0x00 ‖ input)`: the hash of one leaf.
pub fn leaf_hash(input: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(input);
    h.finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`: the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Why a tree operation or a proof failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TreeError<E> {
    /// The store could not be read.
    #[error("reading the ledger tree: {0}")]
    Store(E),
    /// A node the tree's size says exists is not in the store.
    #[error("ledger tree node ({level}, {index}) is missing")]
    MissingNode {
        /// Level of the node (0 = leaves).
        level: u32,
        /// Index of the node within its level.
        index: u64,
    },
    /// A leaf index or a tree size beyond the tree, or an inverted pair of sizes.
    #[error("{what} {value} is out of range for a tree of {size} leaves")]
    OutOfRange {
        /// What was out of range (`"leaf index"`, `"tree size"`).
        what: &'static str,
        /// The value asked for.
        value: u64,
        /// The tree's size.
        size: u64,
    },
    /// The tree would exceed 2^64 − 1 leaves.
    #[error("the ledger tree is full")]
    Full,
}

/// Why a proof did not verify: the first failed check, named.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The first size is larger than the second.
    #[error("tree size {first} is larger than {second}")]
    SizesInverted {
        /// The first (older) size.
        first: u64,
        /// The second (newer) size.
        second: u64,
    },
    /// The proof has more elements than any tree can need.
    #[error("proof has {len} elements, more than {MAX_PROOF_LEN}")]
    TooLong {
        /// Number of elements.
        len: usize,
    },
    /// The proof has too few or too many elements for the sizes and index.
    #[error("proof has the wrong number of elements")]
    WrongLength,
    /// The proof folds to another root than the one given.
    #[error("proof does not lead to the root")]
    RootMismatch,
    /// A consistency proof folds to another root for the first size.
    #[error("proof does not lead to the first root")]
    FirstRootMismatch,
}

/// Read access to stored perfect-subtree nodes (see the crate docs).
pub trait NodeStore {
    /// The store's error.
    type Error;
    /// Node `(level, index)`, or `None` if it is not stored.
    fn node(&self, level: u32, index: u64) -> Result<Option<Hash>, Self::Error>;
}

/// The result of appending leaves: the new size and root, and the nodes to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Number of leaves after the append.
    pub size: u64,
    /// Root at that size.
    pub root: Hash,
    /// New nodes `(level, index, hash)`, leaves first within each completed subtree.
    pub nodes: Vec<(u32, u64, Hash)>,
}

/// The store as seen during an append: stored nodes plus those the append made so far.
struct Pending<'a, S> {
    store: &'a S,
    new: &'a HashMap<(u32, u64), Hash>,
}

impl<S: NodeStore> NodeStore for Pending<'_, S> {
    type Error = S::Error;
    fn node(&self, level: u32, index: u64) -> Result<Option<Hash>, S::Error> {
        if let Some(h) = self.new.get(&(level, index)) {
            return Ok(Some(*h));
        }
        self.store.node(level, index)
    }
}

fn get<S: NodeStore>(store: &S, level: u32, index: u64) -> Result<Hash, TreeError<S::Error>> {
    store
        .node(level, index)
        .map_err(TreeError::Store)?
        .ok_or(TreeError::MissingNode { level, index })
}

/// Appends the leaves with these leaf hashes (see [`leaf_hash`]) to a tree of `size` leaves.
/// Costs one read and one hash per node created; the store is not changed.
pub fn append<S: NodeStore>(
    store: &S,
    size: u64,
    leaf_hashes: impl IntoIterator<Item = Hash>,
) -> Result<Appended, TreeError<S::Error>> {
    let mut nodes: Vec<(u32, u64, Hash)> = Vec::new();
    // The same nodes by position, for the lookups the append itself makes.
    let mut new: HashMap<(u32, u64), Hash> = HashMap::new();
    let mut n = size;
    for leaf in leaf_hashes {
        if n == u64::MAX {
            return Err(TreeError::Full);
        }
        nodes.push((0, n, leaf));
        new.insert((0, n), leaf);
        // Each trailing one bit of the new leaf's index completes a perfect subtree.
        let (mut level, mut index, mut hash) = (0u32, n, leaf);
        while index & 1 == 1 {
            let left = get(&Pending { store, new: &new }, level, index - 1)?;
            hash = node_hash(&left, &hash);
            level += 1;
            index >>= 1;
            nodes.push((level, index, hash));
            new.insert((level, index), hash);
        }
        n += 1;
    }
    let root = root(&Pending { store, new: &new }, n)?;
    Ok(Appended {
        size: n,
        root,
        nodes,
    })
}

/// The largest power of two smaller than `n` (`n` ≥ 2).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// MTH of the `len` leaves from `start`, where `start` is a multiple of the smallest power of
/// two not below `len` — true of every range the RFC's recursions produce.
fn mth<S: NodeStore>(store: &S, start: u64, len: u64) -> Result<Hash, TreeError<S::Error>> {
    if len == 0 {
        return Ok(EMPTY_ROOT);
    }
    if len.is_power_of_two() {
        let level = len.trailing_zeros();
        return get(store, level, start >> level);
    }
    // The left part is a perfect subtree; fold the right parts from the right.
    let k = split(len);
    let left = get(store, k.trailing_zeros(), start >> k.trailing_zeros())?;
    let right = mth(store, start + k, len - k)?;
    Ok(node_hash(&left, &right))
}

/// The root of the tree at `size` leaves.
pub fn root<S: NodeStore>(store: &S, size: u64) -> Result<Hash, TreeError<S::Error>> {
    mth(store, 0, size)
}

/// The inclusion proof (RFC 9162 §2.1.3.1, `PATH(index, D[size])`) of leaf `index` in the tree
/// at `size` leaves, for any `size` up to `current` (the tree's size now).
pub fn inclusion_proof<S: NodeStore>(
    store: &S,
    current: u64,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, TreeError<S::Error>> {
    if size > current {
        return Err(TreeError::OutOfRange {
            what: "tree size",
            value: size,
            size: current,
        });
    }
    if index >= size {
        return Err(TreeError::OutOfRange {
            what: "leaf index",
            value: index,
            size,
        });
    }
    let mut proof = Vec::new();
    path(store, index, 0, size, &mut proof)?;
    Ok(proof)
}

/// `PATH(m, D[start .. start + n])`, appended deepest first.
fn path<S: NodeStore>(
    store: &S,
    m: u64,
    start: u64,
    n: u64,
    out: &mut Vec<Hash>,
) -> Result<(), TreeError<S::Error>> {
    if n <= 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path(store, m, start, k, out)?;
        out.push(mth(store, start + k, n - k)?);
    } else {
        path(store, m - k, start + k, n - k, out)?;
        out.push(mth(store, start, k)?);
    }
    Ok(())
}

/// The consistency proof (RFC 9162 §2.1.4.1, `PROOF(first, D[second])`) between the tree at
/// `first` and at `second` leaves, for `first ≤ second ≤ current`. Empty when `first` is 0
/// or equal to `second` (nothing to prove: RFC 9162 defines proofs for `0 < first < second`).
pub fn consistency_proof<S: NodeStore>(
    store: &S,
    current: u64,
    first: u64,
    second: u64,
) -> Result<Vec<Hash>, TreeError<S::Error>> {
    if second > current {
        return Err(TreeError::OutOfRange {
            what: "tree size",
            value: second,
            size: current,
        });
    }
    if first > second {
        return Err(TreeError::OutOfRange {
            what: "tree size",
            value: first,
            size: second,
        });
    }
    let mut proof = Vec::new();
    if first > 0 && first < second {
        subproof(store, first, 0, second, true, &mut proof)?;
    }
    Ok(proof)
}

/// `SUBPROOF(m, D[start .. start + n], b)`, appended deepest first.
fn subproof<S: NodeStore>(
    store: &S,
    m: u64,
    start: u64,
    n: u64,
    complete: bool,
    out: &mut Vec<Hash>,
) -> Result<(), TreeError<S::Error>> {
    if m == n {
        if !complete {
            out.push(mth(store, start, n)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(store, m, start, k, complete, out)?;
        out.push(mth(store, start + k, n - k)?);
    } else {
        subproof(store, m - k, start + k, n - k, false, out)?;
        out.push(mth(store, start, k)?);
    }
    Ok(())
}

/// The walk up the tree that both verification algorithms of RFC 9162 make: `fn` and `sn`,
/// the node of the proved leaf and the last node, as the path climbs one level per element.
struct Walk {
    fnode: u64,
    snode: u64,
}

impl Walk {
    fn shift(&mut self) {
        self.fnode >>= 1;
        self.snode >>= 1;
    }

    /// Climbs past the next proof element and says where it goes: `true` = on the left of
    /// the running hash (§2.1.3.2 step 4, §2.1.4.2 step 6; the shifts do not depend on the
    /// hash, so they are all made here).
    fn next(&mut self) -> Result<bool, ProofError> {
        if self.snode == 0 {
            return Err(ProofError::WrongLength);
        }
        let left = self.fnode & 1 == 1 || self.fnode == self.snode;
        if left {
            while self.fnode & 1 == 0 && self.fnode != 0 {
                self.shift();
            }
        }
        self.shift();
        Ok(left)
    }

    /// The walk must have reached the root: `sn` = 0.
    fn done(&self) -> Result<(), ProofError> {
        if self.snode == 0 {
            Ok(())
        } else {
            Err(ProofError::WrongLength)
        }
    }
}

/// Verifies that the leaf with hash `leaf` is at `index` in the tree of `size` leaves whose
/// root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    if proof.len() > MAX_PROOF_LEN {
        return Err(ProofError::TooLong { len: proof.len() });
    }
    let mut walk = Walk {
        fnode: index,
        snode: size - 1,
    };
    let mut r = *leaf;
    for p in proof {
        r = if walk.next()? {
            node_hash(p, &r)
        } else {
            node_hash(&r, p)
        };
    }
    walk.done()?;
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies that the tree of `first` leaves with root `first_root` is a prefix of the tree of
/// `second` leaves with root `second_root` (RFC 9162 §2.1.4.2). For `first` = 0 or
/// `first` = `second` the proof must be empty (and, for equal sizes, the roots equal).
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if first > second {
        return Err(ProofError::SizesInverted { first, second });
    }
    if proof.len() > MAX_PROOF_LEN {
        return Err(ProofError::TooLong { len: proof.len() });
    }
    if first == 0 || first == second {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        if first == second && first_root != second_root {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }
    if proof.is_empty() {
        return Err(ProofError::WrongLength);
    }
    // Step 2: for a first size that is a power of two, its root is the first element.
    let path: Vec<Hash> = if first.is_power_of_two() {
        std::iter::once(*first_root)
            .chain(proof.iter().copied())
            .collect()
    } else {
        proof.to_vec()
    };
    let mut walk = Walk {
        fnode: first - 1,
        snode: second - 1,
    };
    while walk.fnode & 1 == 1 {
        walk.shift();
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if walk.next()? {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
        } else {
            sr = node_hash(&sr, c);
        }
    }
    walk.done()?;
    if fr != *first_root {
        return Err(ProofError::FirstRootMismatch);
    }
    if sr != *second_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Stored nodes in memory: for tests, tools and verifiers that rebuild a tree from its leaves
/// (`txnchain ledger audit`).
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    levels: Vec<Vec<Hash>>,
}

impl MemoryStore {
    /// Writes the nodes of an append. Nodes arrive in order within each level, as
    /// [`append`] produces them.
    pub fn insert(&mut self, appended: &Appended) {
        for &(level, index, hash) in &appended.nodes {
            let l = level as usize;
            if self.levels.len() <= l {
                self.levels.resize_with(l + 1, Vec::new);
            }
            let row = &mut self.levels[l];
            if usize::try_from(index).is_ok_and(|i| i == row.len()) {
                row.push(hash);
            }
        }
    }

    /// Number of leaves stored.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }
}

impl NodeStore for MemoryStore {
    type Error = std::convert::Infallible;
    fn node(&self, level: u32, index: u64) -> Result<Option<Hash>, Self::Error> {
        Ok(self
            .levels
            .get(level as usize)
            .and_then(|row| row.get(usize::try_from(index).ok()?))
            .copied())
    }
}
