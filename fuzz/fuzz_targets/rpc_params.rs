//! Arbitrary params for every method of the eth API (first byte picks the method) on a small
//! real chain: every answer is a well-formed JSON-RPC response, never an internal error
//! (checked inside the harness).
//!
//! Run: `cargo +nightly fuzz run rpc_params ../crates/rpc/tests/corpus/rpc_params`
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    txnchain_rpc::fuzzing::call(data);
});
