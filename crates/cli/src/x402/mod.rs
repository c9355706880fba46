//! `txnchain facilitator`, `txnchain paywall`, `txnchain pay`: x402 from the command line.

pub mod bench;
pub mod facilitator;
pub mod node;
pub mod pay;
pub mod paywall;

use alloy_signer_local::PrivateKeySigner;

/// Parses a hex private key without echoing it in errors.
pub fn parse_key(s: &str) -> anyhow::Result<PrivateKeySigner> {
    s.trim()
        .parse::<PrivateKeySigner>()
        .map_err(|_| anyhow::anyhow!("invalid private key (expected 32 bytes hex)"))
}
