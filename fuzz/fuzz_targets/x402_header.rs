//! Arbitrary bytes as an x402 header value (`PAYMENT-REQUIRED`, `PAYMENT-SIGNATURE`,
//! `PAYMENT-RESPONSE`): the base64 codec and every wire object decoded from one must never
//! panic, and what decodes must round-trip (checked inside the harness).
//!
//! Run: `cargo +nightly fuzz run x402_header ../crates/x402/tests/corpus/x402_header`
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    txnchain_x402::fuzzing::header(data);
});
