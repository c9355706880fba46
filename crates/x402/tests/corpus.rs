//! Replays the x402 fuzz seed corpora (and truncations and one-bit mutations of every seed)
//! through the harnesses the `cargo fuzz` targets run.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use txnchain_x402::fuzzing;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(target);
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    assert!(paths.len() >= 8, "{target}: seed corpus too small");
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn replay(target: &str, harness: fn(&[u8]), mutations: usize) {
    for data in seeds(target) {
        harness(&data);
        for cut in (0..data.len()).step_by((data.len() / 64).max(1)) {
            harness(&data[..cut]);
        }
        for bit in 0..(data.len() * 8).min(mutations) {
            let mut m = data.clone();
            m[bit / 8] ^= 1 << (bit % 8);
            harness(&m);
        }
    }
}

#[test]
fn header_corpus_replays_cleanly() {
    replay("x402_header", fuzzing::header, 2048);
}

#[test]
fn facilitator_corpus_replays_cleanly() {
    replay("x402_facilitator", fuzzing::facilitator_request, 256);
}

#[test]
fn path_corpus_replays_cleanly() {
    replay("x402_path", fuzzing::path, 512);
}
