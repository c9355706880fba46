//! Arbitrary bytes as a facilitator `/verify` and `/settle` body, through the real
//! facilitator on a deterministic chain: no panic, well-formed answers, and no fuzzed
//! payment ever verified or settled (checked inside the harness).
//!
//! Run: `cargo +nightly fuzz run x402_facilitator ../crates/x402/tests/corpus/x402_facilitator`
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    txnchain_x402::fuzzing::facilitator_request(data);
});
