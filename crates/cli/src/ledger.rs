//! `txnchain ledger audit`: checks a node's whole ledger against the service identity the
//! auditor trusts, trusting nothing the node says that it can check itself.
//!
//! From genesis to the node's head it fetches every block header, raw transaction and receipt
//! over JSON-RPC and every sealed result and signed root over REST, then for each block:
//! recomputes the header hash and the parent link, the transactions root from the raw
//! transactions (and each transaction hash), the receipts root from the receipts re-encoded
//! (EIP-2718) and the logs bloom; appends the block's leaves (`specs/receipts.md` §1) to a tree
//! rebuilt in memory and requires the header's `extraData` to be its root; and requires the
//! block's signed root (§2) to carry that block hash, tree size and root under a valid
//! signature by the trusted service identity. With `--compare` it then checks that a second
//! node's latest signed root is consistent with the rebuilt tree: equal to its root at that
//! size, or (for a longer ledger) proven to extend it by an RFC 9162 consistency proof.
//!
//! Exit codes: 0 the audit passed, 1 a check failed (the first one is named, with its block),
//! 2 a usage error or a node that could not be read to the end.

use std::time::{Duration, Instant};

use alloy_consensus::Header;
use alloy_consensus::Transaction as _;
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use alloy_primitives::{B256, Bloom, Bytes, keccak256};
use anyhow::Context;
use futures::StreamExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use txnchain_crypto::envelope::{Payload, classify};
use txnchain_ledger_tree::receipt::SignedRoot;
use txnchain_ledger_tree::{Hash, MemoryStore, append, ledger_leaf_hash, root, verify_consistency};

use crate::bench::rpc::Rpc;

/// Blocks fetched per JSON-RPC batch (two calls each).
const BLOCKS_PER_BATCH: u64 = 32;
/// Raw transactions fetched per JSON-RPC batch.
const TXS_PER_BATCH: usize = 500;
/// REST requests (signed roots, sealed results) in flight at once.
const REST_CONCURRENCY: usize = 8;
/// Largest REST answer read (a signed root or a sealed result is far smaller).
const MAX_REST_BODY: usize = 1 << 20;

/// `txnchain ledger`.
#[derive(clap::Args)]
pub(crate) struct LedgerArgs {
    #[command(subcommand)]
    command: LedgerCommand,
}

#[derive(clap::Subcommand)]
enum LedgerCommand {
    /// Walk the chain from genesis, rebuild the ledger tree from blocks and receipts, and check
    /// every header, extraData and signed root (exit 0 passed, 1 failed, 2 incomplete).
    Audit(AuditArgs),
}

#[derive(clap::Args)]
struct AuditArgs {
    /// The node to audit (JSON-RPC and REST).
    #[arg(long, default_value = "http://127.0.0.1:8545")]
    url: String,
    /// The service identity to trust (0x + 32 bytes, e.g. printed by `txnchain attest verify`).
    #[arg(long)]
    service_identity: String,
    /// Also check that this node's latest signed root is consistent with the audited ledger
    /// (the same tree, a prefix of it, or an extension proven by a consistency proof).
    #[arg(long)]
    compare: Option<String>,
    /// Audit up to this block (default: the node's head when the audit starts).
    #[arg(long)]
    to_block: Option<u64>,
    /// Print the outcome as JSON on standard output.
    #[arg(long)]
    json: bool,
}

/// Why an audit did not pass.
enum AuditError {
    /// A check failed: the ledger served is not what the service identity signed.
    Failed {
        block: Option<u64>,
        check: &'static str,
        message: String,
    },
    /// The node could not be read (network, HTTP or JSON-RPC errors).
    Incomplete(anyhow::Error),
}

impl From<anyhow::Error> for AuditError {
    fn from(e: anyhow::Error) -> Self {
        AuditError::Incomplete(e)
    }
}

fn failed(block: u64, check: &'static str, message: impl Into<String>) -> AuditError {
    AuditError::Failed {
        block: Some(block),
        check,
        message: message.into(),
    }
}

/// What a passed audit saw.
struct Audited {
    chain_id: u64,
    head: u64,
    head_hash: B256,
    tree_size: u64,
    root: Hash,
    enveloped: u64,
    compared: Option<String>,
}

/// Runs the command; returns the process exit code.
pub(crate) async fn run(args: LedgerArgs) -> i32 {
    let LedgerCommand::Audit(a) = args.command;
    let Some(trusted) = hex::decode(a.service_identity.trim_start_matches("0x"))
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
    else {
        eprintln!("error: --service-identity: expected 0x + 32 bytes of hex");
        return 2;
    };
    let started = Instant::now();
    match audit(&a, &trusted).await {
        Ok(done) => {
            if a.json {
                let body = json!({
                    "passed": true,
                    "chainId": done.chain_id,
                    "blocks": done.head + 1,
                    "headBlock": done.head,
                    "headHash": done.head_hash,
                    "treeSize": done.tree_size,
                    "root": B256::from(done.root),
                    "enveloped": done.enveloped,
                    "compared": done.compared,
                });
                println!("{body}");
            } else {
                println!(
                    "audit passed: blocks 0..={} ({} transactions, {} enveloped) of chain {}, \
                     ledger root 0x{} at tree size {}, every signed root valid for service \
                     identity 0x{} ({:.1}s)",
                    done.head,
                    done.tree_size,
                    done.enveloped,
                    done.chain_id,
                    hex::encode(done.root),
                    done.tree_size,
                    hex::encode(trusted),
                    started.elapsed().as_secs_f64()
                );
                if let Some(c) = done.compared {
                    println!("{c}");
                }
            }
            0
        }
        Err(AuditError::Failed {
            block,
            check,
            message,
        }) => {
            if a.json {
                println!(
                    "{}",
                    json!({"passed": false, "block": block, "check": check, "message": message})
                );
            } else {
                match block {
                    Some(b) => println!("audit FAILED at block {b}: {check}: {message}"),
                    None => println!("audit FAILED: {check}: {message}"),
                }
            }
            1
        }
        Err(AuditError::Incomplete(e)) => {
            eprintln!("error: audit incomplete: {e:#}");
            2
        }
    }
}

/// A node's JSON-RPC and REST endpoints.
struct Node {
    base: String,
    rpc: Rpc,
    http: reqwest::Client,
}

impl Node {
    fn new(url: &str) -> anyhow::Result<Self> {
        let base = url.trim_end_matches('/').to_string();
        Ok(Node {
            rpc: Rpc::new(&base)?,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?,
            base,
        })
    }

    /// `GET path`: the JSON body, `None` for a 404.
    async fn rest(&self, path: &str) -> anyhow::Result<Option<Value>> {
        let url = format!("{}{path}", self.base);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let body = response
            .bytes()
            .await
            .with_context(|| format!("GET {url}"))?;
        if body.len() > MAX_REST_BODY {
            anyhow::bail!("GET {url}: answer larger than {MAX_REST_BODY} bytes");
        }
        if !status.is_success() {
            anyhow::bail!(
                "GET {url}: {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            );
        }
        serde_json::from_slice(&body)
            .map(Some)
            .with_context(|| format!("GET {url}: not JSON"))
    }

    /// The signed root of `block`, `None` if the node has none.
    async fn signed_root(&self, path: &str) -> Result<Option<SignedRoot>, AuditError> {
        match self.rest(path).await? {
            None => Ok(None),
            Some(v) => serde_json::from_value(v).map(Some).map_err(|e| {
                AuditError::Incomplete(anyhow::anyhow!("GET {path}: not a signed root: {e}"))
            }),
        }
    }
}

/// One block as fetched, before any check.
struct Fetched {
    number: u64,
    block: Value,
    receipts: Value,
    raw: Vec<Bytes>,
    roots: Option<SignedRoot>,
    results: Vec<Option<Vec<u8>>>,
}

fn hex_u64(n: u64) -> String {
    format!("{n:#x}")
}

async fn audit(a: &AuditArgs, trusted: &[u8; 32]) -> Result<Audited, AuditError> {
    let node = Node::new(&a.url)?;
    let chain_id = parse_quantity(&node.rpc.call::<Value>("eth_chainId", json!([])).await?)
        .context("eth_chainId")?;
    let latest = parse_quantity(&node.rpc.call::<Value>("eth_blockNumber", json!([])).await?)
        .context("eth_blockNumber")?;
    let head = match a.to_block {
        Some(b) if b > latest => {
            return Err(AuditError::Incomplete(anyhow::anyhow!(
                "--to-block {b} is past the node's head {latest}"
            )));
        }
        Some(b) => b,
        None => latest,
    };
    let mut tree = MemoryStore::default();
    let mut size = 0u64;
    let mut hashes: Vec<B256> = Vec::new();
    let mut enveloped = 0u64;
    let mut last_progress = Instant::now();
    let mut from = 0u64;
    while from <= head {
        let to = head.min(from + BLOCKS_PER_BATCH - 1);
        for fetched in fetch(&node, from, to).await? {
            let (hash, leaves, env) = check_block(&fetched, hashes.last(), chain_id)?;
            let appended = append(&tree, size, leaves)
                .map_err(|e| AuditError::Incomplete(anyhow::anyhow!("rebuilding the tree: {e}")))?;
            tree.insert(&appended);
            size = appended.size;
            enveloped += env;
            check_root(&fetched, hash, size, &appended.root, chain_id, trusted)?;
            hashes.push(hash);
        }
        if last_progress.elapsed() >= Duration::from_secs(2) && !a.json {
            eprintln!("audited blocks 0..={to} of {head} ({size} transactions)");
            last_progress = Instant::now();
        }
        from = to + 1;
    }
    let root_now = root(&tree, size)
        .map_err(|e| AuditError::Incomplete(anyhow::anyhow!("rebuilding the tree: {e}")))?;
    let compared = match &a.compare {
        None => None,
        Some(other) => {
            Some(compare(other, &tree, size, &root_now, &hashes, chain_id, trusted).await?)
        }
    };
    Ok(Audited {
        chain_id,
        head,
        head_hash: hashes.last().copied().unwrap_or_default(),
        tree_size: size,
        root: root_now,
        enveloped,
        compared,
    })
}

fn parse_quantity(v: &Value) -> anyhow::Result<u64> {
    let s = v.as_str().context("expected a hex quantity")?;
    u64::from_str_radix(s.trim_start_matches("0x"), 16).context("bad hex quantity")
}

/// Fetches blocks `from..=to` with their raw transactions, receipts, signed roots and the
/// sealed results of their enveloped transactions.
async fn fetch(node: &Node, from: u64, to: u64) -> Result<Vec<Fetched>, AuditError> {
    let mut calls = Vec::new();
    for b in from..=to {
        calls.push(("eth_getBlockByNumber", json!([hex_u64(b), false])));
        calls.push(("eth_getBlockReceipts", json!([hex_u64(b)])));
    }
    let answers = node.rpc.batch::<Value>(&calls).await?;
    let mut blocks = Vec::new();
    let mut answers = answers.into_iter();
    for number in from..=to {
        let (Some(block), Some(receipts)) = (answers.next(), answers.next()) else {
            return Err(anyhow::anyhow!("batch answer too short").into());
        };
        let block = block.map_err(|e| anyhow::anyhow!("eth_getBlockByNumber {number}: {e}"))?;
        let receipts =
            receipts.map_err(|e| anyhow::anyhow!("eth_getBlockReceipts {number}: {e}"))?;
        if block.is_null() {
            return Err(anyhow::anyhow!("block {number} is not served").into());
        }
        blocks.push(Fetched {
            number,
            block,
            receipts,
            raw: Vec::new(),
            roots: None,
            results: Vec::new(),
        });
    }
    // Raw transactions, by block and index.
    let mut wanted: Vec<(usize, u64)> = Vec::new();
    for (i, f) in blocks.iter().enumerate() {
        let n = f.block["transactions"].as_array().map_or(0, Vec::len);
        wanted.extend((0..n as u64).map(|t| (i, t)));
    }
    for chunk in wanted.chunks(TXS_PER_BATCH) {
        let calls: Vec<(&str, Value)> = chunk
            .iter()
            .map(|&(i, t)| {
                (
                    "eth_getRawTransactionByBlockNumberAndIndex",
                    json!([hex_u64(blocks[i].number), hex_u64(t)]),
                )
            })
            .collect();
        let raws = node.rpc.batch::<Option<Bytes>>(&calls).await?;
        for (&(i, t), raw) in chunk.iter().zip(raws) {
            let number = blocks[i].number;
            let raw = raw
                .map_err(|e| anyhow::anyhow!("raw transaction {t} of block {number}: {e}"))?
                .ok_or_else(|| {
                    failed(
                        number,
                        "transactions",
                        format!("transaction {t} is not served"),
                    )
                })?;
            blocks[i].raw.push(raw);
        }
    }
    // Signed roots, and the sealed results of enveloped transactions.
    let mut paths: Vec<(usize, Option<usize>, String)> = Vec::new();
    for (i, f) in blocks.iter().enumerate() {
        if f.number > 0 {
            paths.push((i, None, format!("/v1/ledger/roots/{}", f.number)));
        }
        for (t, raw) in f.raw.iter().enumerate() {
            if enveloped(raw) {
                paths.push((
                    i,
                    Some(t),
                    format!("/v1/transactions/{}/result", keccak256(raw)),
                ));
            }
        }
    }
    for f in &mut blocks {
        f.results = vec![None; f.raw.len()];
    }
    let answers: Vec<_> = futures::stream::iter(paths.into_iter().map(|(i, t, path)| async move {
        match t {
            None => node.signed_root(&path).await.map(|r| (i, t, r, None)),
            Some(_) => match node.rest(&path).await {
                Ok(v) => Ok((i, t, None, v)),
                Err(e) => Err(e.into()),
            },
        }
    }))
    .buffered(REST_CONCURRENCY)
    .collect()
    .await;
    for answer in answers {
        let (i, t, signed, result) = answer?;
        match t {
            None => blocks[i].roots = signed,
            Some(t) => {
                let number = blocks[i].number;
                if let Some(v) = result {
                    let sealed = v["result"]
                        .as_str()
                        .and_then(|s| hex::decode(s.trim_start_matches("0x")).ok())
                        .ok_or_else(|| {
                            failed(
                                number,
                                "result",
                                format!("transaction {t}: malformed result"),
                            )
                        })?;
                    blocks[i].results[t] = Some(sealed);
                }
            }
        }
    }
    Ok(blocks)
}

/// Whether a raw transaction carries an envelope (or signed query) in its calldata: then its
/// leaf commits to its sealed result. Undecodable bytes count as plain; the checks that follow
/// reject them.
fn enveloped(raw: &[u8]) -> bool {
    alloy_consensus::TxEnvelope::decode_2718(&mut &raw[..])
        .is_ok_and(|tx| classify(tx.input()) != Payload::Plain)
}

/// Checks one block's header, transactions and receipts; returns its hash, its ledger leaf
/// hashes and how many of its transactions were enveloped.
fn check_block(
    f: &Fetched,
    parent: Option<&B256>,
    chain_id: u64,
) -> Result<(B256, Vec<Hash>, u64), AuditError> {
    let b = f.number;
    let header: Header = serde_json::from_value(f.block.clone())
        .map_err(|e| failed(b, "header", format!("not a block header: {e}")))?;
    let claimed: B256 = serde_json::from_value(f.block["hash"].clone())
        .map_err(|e| failed(b, "header", format!("no block hash: {e}")))?;
    if header.number != b {
        return Err(failed(
            b,
            "header",
            format!("the node served block {}", header.number),
        ));
    }
    let hash = header.hash_slow();
    if hash != claimed {
        return Err(failed(
            b,
            "block hash",
            format!("the header hashes to {hash}, the node says {claimed}"),
        ));
    }
    if let Some(parent) = parent
        && header.parent_hash != *parent
    {
        return Err(failed(
            b,
            "parent hash",
            format!(
                "parent {} is not block {}'s hash {parent}",
                header.parent_hash,
                b - 1
            ),
        ));
    }
    // Transactions: their hashes and their root.
    let listed: Vec<B256> = serde_json::from_value(f.block["transactions"].clone())
        .map_err(|e| failed(b, "transactions", format!("not a list of hashes: {e}")))?;
    if listed.len() != f.raw.len() {
        return Err(failed(
            b,
            "transactions",
            "transaction count differs from the raw ones",
        ));
    }
    let mut tx_hashes = Vec::with_capacity(f.raw.len());
    let mut env = 0u64;
    for (i, raw) in f.raw.iter().enumerate() {
        let hash = keccak256(raw);
        if hash != listed[i] {
            return Err(failed(
                b,
                "transactions",
                format!(
                    "transaction {i}'s raw bytes hash to {hash}, the block lists {}",
                    listed[i]
                ),
            ));
        }
        let tx = alloy_consensus::TxEnvelope::decode_2718(&mut &raw[..])
            .map_err(|e| failed(b, "transactions", format!("transaction {i}: {e}")))?;
        if tx.chain_id().is_some_and(|c| c != chain_id) {
            return Err(failed(
                b,
                "transactions",
                format!("transaction {i} is for another chain"),
            ));
        }
        if classify(tx.input()) != Payload::Plain {
            env += 1;
        }
        tx_hashes.push(hash);
    }
    let tx_root = alloy_consensus::proofs::ordered_trie_root_encoded(&f.raw);
    if tx_root != header.transactions_root {
        return Err(failed(
            b,
            "transactions root",
            format!(
                "the transactions give {tx_root}, the header says {}",
                header.transactions_root
            ),
        ));
    }
    // Receipts: re-encoded, their root and bloom.
    let receipts: Vec<alloy_rpc_types_eth::TransactionReceipt> =
        serde_json::from_value(f.receipts.clone())
            .map_err(|e| failed(b, "receipts", format!("not a list of receipts: {e}")))?;
    if receipts.len() != tx_hashes.len() {
        return Err(failed(
            b,
            "receipts",
            format!(
                "{} receipts for {} transactions",
                receipts.len(),
                tx_hashes.len()
            ),
        ));
    }
    let mut encoded = Vec::with_capacity(receipts.len());
    let mut bloom = Bloom::default();
    for (i, r) in receipts.into_iter().enumerate() {
        if r.transaction_hash != tx_hashes[i] {
            return Err(failed(
                b,
                "receipts",
                format!("receipt {i} is of another transaction"),
            ));
        }
        let envelope = r.into_primitives_receipt().inner;
        let logs_bloom = alloy_primitives::logs_bloom(envelope.logs());
        if logs_bloom != *envelope.logs_bloom() {
            return Err(failed(
                b,
                "receipts",
                format!("receipt {i}'s bloom is not its logs'"),
            ));
        }
        bloom.accrue_bloom(&logs_bloom);
        encoded.push(envelope.encoded_2718());
    }
    let receipts_root = alloy_consensus::proofs::ordered_trie_root_encoded(&encoded);
    if receipts_root != header.receipts_root {
        return Err(failed(
            b,
            "receipts root",
            format!(
                "the receipts give {receipts_root}, the header says {}",
                header.receipts_root
            ),
        ));
    }
    if bloom != header.logs_bloom {
        return Err(failed(
            b,
            "logs bloom",
            "the receipts' blooms do not make the header's",
        ));
    }
    // Leaves.
    let leaves = tx_hashes
        .iter()
        .zip(&encoded)
        .zip(&f.results)
        .map(|((tx, receipt), result)| {
            let digest: Hash = result
                .as_deref()
                .map_or([0u8; 32], |s| Sha256::digest(s).into());
            ledger_leaf_hash(&tx.0, &keccak256(receipt).0, &digest)
        })
        .collect();
    if b == 0 && !tx_hashes.is_empty() {
        return Err(failed(
            0,
            "transactions",
            "the genesis block has transactions",
        ));
    }
    Ok((hash, leaves, env))
}

/// Checks block `f`'s `extraData` and signed root against the rebuilt tree.
fn check_root(
    f: &Fetched,
    hash: B256,
    size: u64,
    rebuilt: &Hash,
    chain_id: u64,
    trusted: &[u8; 32],
) -> Result<(), AuditError> {
    let b = f.number;
    if b == 0 {
        return Ok(());
    }
    let extra: Bytes = serde_json::from_value(f.block["extraData"].clone())
        .map_err(|e| failed(b, "extraData", format!("{e}")))?;
    if extra.as_ref() != rebuilt.as_slice() {
        return Err(failed(
            b,
            "extraData",
            format!(
                "the header says {extra}, the rebuilt tree of {size} leaves has root 0x{}",
                hex::encode(rebuilt)
            ),
        ));
    }
    let Some(signed) = &f.roots else {
        return Err(failed(
            b,
            "signed root",
            "the node serves no signed root for it",
        ));
    };
    signed
        .verify(trusted)
        .map_err(|e| failed(b, e.check(), format!("signed root: {e}")))?;
    let mismatch = if signed.chain_id != chain_id {
        Some(format!(
            "chain id {} (the node's is {chain_id})",
            signed.chain_id
        ))
    } else if signed.block_number != b {
        Some(format!("block number {}", signed.block_number))
    } else if signed.block_hash != hash {
        Some(format!(
            "block hash {} (the header's is {hash})",
            signed.block_hash
        ))
    } else if signed.tree_size != size {
        Some(format!("tree size {} (rebuilt: {size})", signed.tree_size))
    } else if signed.root.0 != *rebuilt {
        Some(format!(
            "root {} (rebuilt: 0x{})",
            signed.root,
            hex::encode(rebuilt)
        ))
    } else {
        None
    };
    match mismatch {
        Some(m) => Err(failed(b, "signed root", format!("signed for {m}"))),
        None => Ok(()),
    }
}

/// Checks that `other`'s latest signed root is consistent with the audited tree.
async fn compare(
    other: &str,
    tree: &MemoryStore,
    size: u64,
    rebuilt: &Hash,
    hashes: &[B256],
    chain_id: u64,
    trusted: &[u8; 32],
) -> Result<String, AuditError> {
    let cmp = |check: &'static str, message: String| AuditError::Failed {
        block: None,
        check,
        message: format!("{other}: {message}"),
    };
    let node = Node::new(other)?;
    let Some(theirs) = node.signed_root("/v1/ledger/roots/latest").await? else {
        return Err(cmp("compare", "serves no signed root".into()));
    };
    theirs
        .verify(trusted)
        .map_err(|e| cmp(e.check(), format!("latest signed root: {e}")))?;
    if theirs.chain_id != chain_id {
        return Err(cmp(
            "compare",
            format!("is chain {}, not {chain_id}", theirs.chain_id),
        ));
    }
    let n = theirs.tree_size;
    if n <= size {
        let ours = root(tree, n)
            .map_err(|e| AuditError::Incomplete(anyhow::anyhow!("rebuilding the tree: {e}")))?;
        if ours != theirs.root.0 {
            return Err(cmp(
                "consistency",
                format!(
                    "its root at tree size {n} (block {}) is {}, the audited ledger's is 0x{}: \
                     the ledgers forked",
                    theirs.block_number,
                    theirs.root,
                    hex::encode(ours)
                ),
            ));
        }
        if let Some(h) = usize::try_from(theirs.block_number)
            .ok()
            .and_then(|i| hashes.get(i))
            && *h != theirs.block_hash
        {
            return Err(cmp(
                "consistency",
                format!(
                    "its block {} is {}, the audited ledger's is {h}: the ledgers forked",
                    theirs.block_number, theirs.block_hash
                ),
            ));
        }
        return Ok(format!(
            "consistent with {other}: its signed tree of {n} leaves (block {}) is {} the audited one",
            theirs.block_number,
            if n == size {
                "the same as"
            } else {
                "a prefix of"
            }
        ));
    }
    let path = format!("/v1/ledger/consistency?from={size}&to={n}");
    let answer = node
        .rest(&path)
        .await?
        .ok_or_else(|| cmp("consistency", format!("GET {path}: not found")))?;
    let proof: Vec<B256> = serde_json::from_value(answer["proof"].clone())
        .map_err(|e| cmp("consistency", format!("GET {path}: no proof: {e}")))?;
    let proof: Vec<Hash> = proof.into_iter().map(|h| h.0).collect();
    verify_consistency(size, n, rebuilt, &theirs.root.0, &proof).map_err(|e| {
        cmp(
            "consistency",
            format!("its tree of {n} leaves does not extend the audited one of {size}: {e}"),
        )
    })?;
    Ok(format!(
        "consistent with {other}: its signed tree of {n} leaves (block {}) extends the audited one \
         of {size} (consistency proof of {} hashes verified)",
        theirs.block_number,
        proof.len()
    ))
}
