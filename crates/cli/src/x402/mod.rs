//! `txnchain facilitator`, `txnchain paywall`, `txnchain pay`: x402 from the command line.

pub mod bench;
pub mod facilitator;
pub mod node;
pub mod pay;
pub mod paywall;
