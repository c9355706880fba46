//! Arbitrary bytes as a request path for the paywall: canonicalization never panics and
//! its output is canonical and idempotent (checked inside the harness).
//!
//! Run: `cargo +nightly fuzz run x402_path ../crates/x402/tests/corpus/x402_path`
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    txnchain_x402::fuzzing::path(data);
});
