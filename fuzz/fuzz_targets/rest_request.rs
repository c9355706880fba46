//! Arbitrary bytes as a request to the REST routes of the TxnChain API (receipts, signed
//! roots, consistency) over a real ledger: never a 5xx, errors as JSON, every served receipt
//! and root verifies (checked inside the harness).
//!
//! Run: `cargo +nightly fuzz run rest_request ../crates/node/tests/corpus/rest_request`
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    txnchain_node::fuzzing::rest_request(data);
});
