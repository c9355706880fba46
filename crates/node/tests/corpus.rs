//! Replays the REST fuzz seed corpora (and truncations and one-bit mutations of every seed)
//! through the harnesses the `cargo fuzz` targets run.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use txnchain_node::fuzzing;

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
fn rest_request_corpus_replays_cleanly() {
    replay("rest_request", fuzzing::rest_request, 512);
}

#[test]
fn receipt_document_corpus_replays_cleanly() {
    replay("receipt_document", fuzzing::receipt_document, 1024);
}

#[test]
fn rest_seeds_reach_receipts_roots_and_each_error() {
    let expected = [
        ("01-receipt", 200, "\"inclusionProof\""),
        ("02-receipt-later", 200, "\"inclusionProof\""),
        ("03-latest", 200, "\"signature\""),
        ("04-root", 200, "\"signature\""),
        ("05-root-hex", 200, "\"signature\""),
        ("06-consistency", 200, "\"proof\""),
        ("07-consistency-empty", 200, "\"proof\":[]"),
        ("08-unknown", 404, "not_found"),
        ("09-short", 400, "invalid_hash"),
        ("10-inverted", 400, "invalid_range"),
        ("11-max", 404, "not_found"),
        ("12-wrong-method", 405, ""),
        ("14-status", 200, "\"committed\""),
        ("15-status-wait", 200, "\"blockNumber\":2"),
        ("16-status-unknown", 404, "\"unknown\""),
        ("17-submit-replay", 400, "transaction_rejected"),
        ("18-submit-garbage", 400, "transaction_rejected"),
        ("19-submit-bad-json", 400, "invalid_body"),
        ("20-bad-wait", 400, "invalid_wait"),
    ];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/rest_request");
    for (seed, status, needle) in expected {
        let data = std::fs::read(dir.join(seed)).unwrap();
        let (got, body) = fuzzing::rest_exchange(&data).unwrap();
        let body = String::from_utf8(body).unwrap();
        assert_eq!(got.as_u16(), status, "{seed}: {body}");
        assert!(body.contains(needle), "{seed}: {body}");
    }
}
