//! Replays the fuzz seed corpus through the fuzz harness (no panics, valid output).

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

#[test]
fn seed_corpus_replays_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/jsonrpc_request");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    assert!(
        entries.len() >= 12,
        "seed corpus too small: {}",
        entries.len()
    );
    for path in entries {
        let data = std::fs::read(&path).unwrap();
        let out = txnchain_jsonrpc::fuzzing::request(&data);
        if let Some(out) = &out {
            txnchain_jsonrpc::fuzzing::check_response(out);
        }
        eprintln!(
            "{}: {}",
            path.file_name().unwrap().to_string_lossy(),
            out.map_or_else(
                || "<no response>".into(),
                |o| String::from_utf8_lossy(&o[..o.len().min(200)]).into_owned()
            )
        );
    }
}

#[test]
fn harness_answers_known_inputs() {
    let out = txnchain_jsonrpc::fuzzing::request(
        br#"{"jsonrpc":"2.0","id":1,"method":"test_add","params":[1,2]}"#,
    );
    assert_eq!(
        out.as_deref(),
        Some(&br#"{"jsonrpc":"2.0","id":1,"result":3}"#[..])
    );
    assert_eq!(txnchain_jsonrpc::fuzzing::request(b""), None);
}
