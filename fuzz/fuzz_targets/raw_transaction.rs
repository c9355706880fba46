//! Raw transaction decoding (`eth_sendRawTransaction` input): never panics, and whatever
//! decodes re-encodes to the same bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    txnchain_primitives::tx::fuzzing::raw_transaction(data);
});
