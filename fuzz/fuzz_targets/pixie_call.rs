//! Arbitrary sequences of calls to the Pixie DEX exchange (`IPixieDex` calldata from any
//! caller, static or not, with batch closes between): decoding and execution never panic or
//! fault, a refused call changes nothing, and the books always agree.
//!
//! Run: `cargo +nightly fuzz run pixie_call ../apps/pixie/tests/corpus/pixie_call`
#![no_main]

use libfuzzer_sys::fuzz_target;
use txnchain_pixie::fuzzing::{CALLERS, calls};

fuzz_target!(|data: &[u8]| {
    calls(data, &CALLERS);
});
