//! Replays the `evidence_bundle` fuzz seed corpus (bundles of every platform, built from the
//! published hardware vectors and a dev node's virtual evidence) and truncations and one-bit
//! mutations of each through the harness the `cargo fuzz` target runs.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

#[test]
fn every_seed_is_a_bundle_and_the_corpus_replays_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/evidence_bundle");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    assert!(paths.len() >= 5);
    for p in paths {
        let data = std::fs::read(&p).unwrap();
        assert!(
            txnchain_tee::EvidenceBundle::from_json(&data).is_ok(),
            "{} is not a bundle",
            p.display()
        );
        txnchain_tee::fuzzing::evidence_bundle(&data);
        for cut in (0..data.len()).step_by((data.len() / 32).max(1)) {
            txnchain_tee::fuzzing::evidence_bundle(&data[..cut]);
        }
        for bit in (0..data.len() * 8).step_by(97).take(256) {
            let mut m = data.clone();
            m[bit / 8] ^= 1 << (bit % 8);
            txnchain_tee::fuzzing::evidence_bundle(&m);
        }
    }
}
