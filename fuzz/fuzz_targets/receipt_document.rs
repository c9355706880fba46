//! Arbitrary bytes as a receipt file for `txnchain receipt verify`: parsing and offline
//! verification never panic, and only the ledger's own receipts verify (checked inside the
//! harness).
//!
//! Run: `cargo +nightly fuzz run receipt_document ../crates/node/tests/corpus/receipt_document`
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    txnchain_node::fuzzing::receipt_document(data);
});
