//! Micro-benchmark (ignored by default): batch updates on a large trie.
//!
//! `cargo test --release -p txnchain-trie --test bench -- --ignored --nocapture`
//! (`TRIE_BENCH_KEYS` / `TRIE_BENCH_BATCH` / `TRIE_BENCH_BATCHES` override the sizes;
//! `TRIE_BENCH_NO_VERIFY=1` skips the per-read hash check).

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy_primitives::B256;
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::convert::Infallible;
use std::time::Instant;
use txnchain_trie::{MemoryNodes, Nibbles, NodeReader, update};

/// `MemoryNodes` without the per-read hash check, to show its cost.
struct Unverified<'a>(&'a MemoryNodes);

impl NodeReader for Unverified<'_> {
    type Error = Infallible;
    fn get_node(&self, path: &Nibbles) -> Result<Option<Vec<u8>>, Infallible> {
        self.0.get_node(path)
    }
    fn verify_hashes(&self) -> bool {
        false
    }
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU time this thread has run, in ns (Linux `schedstat`; 0 elsewhere). The machine is
/// shared, so CPU time is a steadier figure than wall time.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn value(rng: &mut StdRng) -> Vec<u8> {
    // About the size of an RLP-encoded account.
    let mut v = vec![0u8; 70];
    rng.fill(&mut v[..]);
    v[0] = 0xf8;
    v
}

#[test]
#[ignore = "benchmark; run with --release -- --ignored --nocapture"]
fn batch_updates_per_second() {
    let total = env("TRIE_BENCH_KEYS", 1_000_000);
    let batch = env("TRIE_BENCH_BATCH", 1_000);
    let batches = env("TRIE_BENCH_BATCHES", 200);
    let verify = std::env::var("TRIE_BENCH_NO_VERIFY").is_err();
    let mut rng = StdRng::seed_from_u64(42);
    let keys: Vec<B256> = (0..total)
        .map(|_| B256::from(rng.random::<[u8; 32]>()))
        .collect();

    let mut store = MemoryNodes::new();
    let start = Instant::now();
    for chunk in keys.chunks(100_000) {
        let upd = update(&store, chunk.iter().map(|k| (*k, Some(value(&mut rng))))).unwrap();
        store.apply(&upd);
    }
    println!(
        "built {total}-key trie ({} stored nodes) in {:.2?}",
        store.len(),
        start.elapsed()
    );

    let mut keys = keys;
    let mut compute = std::time::Duration::ZERO;
    let mut cpu_ns = 0u64;
    let mut writes = 0usize;
    let start = Instant::now();
    for _ in 0..batches {
        // 80% updates of existing keys, 10% inserts, 10% deletes.
        let mut changes = Vec::with_capacity(batch);
        for _ in 0..batch {
            let r = rng.random_range(0..10);
            if r < 8 {
                changes.push((keys[rng.random_range(0..keys.len())], Some(value(&mut rng))));
            } else if r < 9 {
                let k = B256::from(rng.random::<[u8; 32]>());
                keys.push(k);
                changes.push((k, Some(value(&mut rng))));
            } else {
                let i = rng.random_range(0..keys.len());
                changes.push((keys.swap_remove(i), None));
            }
        }
        let t = Instant::now();
        let c = thread_cpu_ns();
        let upd = if verify {
            update(&store, changes)
        } else {
            update(&Unverified(&store), changes)
        }
        .unwrap();
        cpu_ns += thread_cpu_ns() - c;
        compute += t.elapsed();
        writes += upd.writes.len();
        store.apply(&upd);
    }
    let wall = start.elapsed();
    let per_batch = compute / u32::try_from(batches).unwrap();
    let cpu_per_batch = std::time::Duration::from_nanos(cpu_ns / batches as u64);
    println!(
        "{batches} batches of {batch} keys (verify hashes: {verify}): update() takes {per_batch:.2?} wall, \
         {cpu_per_batch:.2?} CPU per batch → {:.0} batches/s, {:.0} keys/s by CPU time \
         ({:.0} node writes/batch; wall incl. apply {wall:.2?})",
        1.0 / cpu_per_batch.as_secs_f64(),
        batch as f64 / cpu_per_batch.as_secs_f64(),
        writes as f64 / batches as f64,
    );
}
