//! Replays the raw-transaction fuzz corpus (and one-bit mutations and truncations of every seed)
//! through the same harness the `cargo fuzz` target runs.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use txnchain_primitives::RecoveredTx;
use txnchain_primitives::tx::fuzzing::raw_transaction;

fn seeds() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/raw_transaction");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn corpus_replays_without_panics() {
    let seeds = seeds();
    assert!(seeds.len() >= 10);
    for (_, data) in &seeds {
        raw_transaction(data);
        for cut in 0..data.len() {
            raw_transaction(&data[..cut]);
        }
        for bit in 0..data.len().min(64) * 8 {
            let mut m = data.clone();
            m[bit / 8] ^= 1 << (bit % 8);
            raw_transaction(&m);
        }
    }
}

#[test]
fn every_accepted_type_decodes_and_blobs_do_not() {
    for (name, data) in seeds() {
        let decoded = RecoveredTx::decode(&data);
        let valid = [
            "legacy_eip155",
            "eip2930",
            "eip1559",
            "eip1559_create",
            "eip7702",
        ];
        if valid.contains(&name.as_str()) {
            let tx = decoded.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                tx.sender().to_string(),
                "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
                "{name}"
            );
            assert_eq!(tx.nonce(), 7);
        } else {
            assert!(decoded.is_err(), "{name} must not decode");
        }
    }
}
