//! Evidence bundles as `txnchain attest verify --url` receives them from a node: parsing and
//! verification never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    txnchain_tee::fuzzing::evidence_bundle(data);
});
