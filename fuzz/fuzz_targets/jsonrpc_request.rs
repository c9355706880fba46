//! Arbitrary bytes as a JSON-RPC message (HTTP body / WebSocket frame): must never
//! panic, and must answer valid JSON-RPC or nothing (checked inside the harness).
//!
//! Run: `cargo +nightly fuzz run jsonrpc_request ../crates/jsonrpc/tests/corpus/jsonrpc_request`
//! (from this directory; seed corpus is replayed by `cargo test -p txnchain-jsonrpc`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = txnchain_jsonrpc::fuzzing::request(data);
});
