//! `txnchain facilitator`, `txnchain paywall`, `txnchain pay`: x402 from the command line.

pub(crate) mod bench;
pub(crate) mod facilitator;
pub(crate) mod node;
pub(crate) mod pay;
pub(crate) mod paywall;
