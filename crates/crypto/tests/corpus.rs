#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Replays the `confidential_envelope` fuzz corpus (every seed, its truncations and one-bit
//! mutations) through the harness the `cargo fuzz` target runs.

use std::path::Path;

use txnchain_crypto::fuzzing::envelope;

#[test]
fn corpus_replays_without_panics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/confidential_envelope");
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 8);
    for data in &seeds {
        envelope(data);
        for cut in 0..data.len() {
            envelope(&data[..cut]);
        }
        for bit in 0..data.len().min(96) * 8 {
            let mut m = data.clone();
            m[bit / 8] ^= 1 << (bit % 8);
            envelope(&m);
        }
    }
}
