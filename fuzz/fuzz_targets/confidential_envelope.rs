//! Confidential envelopes (calldata of transactions and calls) and sealed results: never
//! panic, never open without the key.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    txnchain_crypto::fuzzing::envelope(data);
});
