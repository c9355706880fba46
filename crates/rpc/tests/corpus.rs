//! Replays the `rpc_params` fuzz seed corpus (one seed per method, and one-bit mutations of
//! each) through the harness the `cargo fuzz` target runs, and checks every method the
//! module serves has a seed.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use txnchain_rpc::fuzzing;

#[test]
fn every_method_has_a_seed_and_the_corpus_replays_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/rpc_params");
    for m in fuzzing::methods() {
        assert!(
            dir.join(m).exists(),
            "no seed for {m}: add tests/corpus/rpc_params/{m}"
        );
    }
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    for p in paths {
        let data = std::fs::read(&p).unwrap();
        fuzzing::call(&data);
        for bit in 8..(data.len() * 8).min(8 + 96) {
            let mut m = data.clone();
            m[bit / 8] ^= 1 << (bit % 8);
            fuzzing::call(&m);
        }
    }
}
