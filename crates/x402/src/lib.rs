//! x402 v2 payments on TxnChain.
//!
//! x402 revives HTTP 402: a server answers an unpaid request with payment requirements
//! (`PAYMENT-REQUIRED`), the client signs an EIP-3009 `transferWithAuthorization` and
//! retries with `PAYMENT-SIGNATURE`, a facilitator verifies and settles it on chain, and the
//! server returns the resource with a settlement receipt (`PAYMENT-RESPONSE`). Wire formats
//! and reason codes follow the public specification and the reference SDK (`@x402/*` 2.27.0).
//!
//! - [`types`], [`codec`], [`reason`]: wire objects (v2; v1 recognised and refused with a
//!   precise `invalid_x402_version`), the base64 header codec, reason codes;
//! - [`eip712`]: the EIP-712 domain, digest, signing and recovery of EIP-3009 authorizations;
//! - [`chain`]: the facilitator's one interface to the chain ([`Chain`]) and its JSON-RPC
//!   implementation (the in-process one lives in `txnchain-node`);
//! - [`facilitator`]: `verify` / `settle` / `supported`, at-most-once settlement, a pool of
//!   settlement keys; [`server`] serves them over HTTP with payee authorization and rate
//!   limits;
//! - [`middleware`]: a tower [`Layer`](tower::Layer) that puts axum routes behind x402,
//!   pricing canonical paths ([`path`]);
//! - [`client`]: a paying HTTP client with a [`SpendPolicy`](policy::SpendPolicy).

pub mod chain;
pub mod client;
pub mod codec;
pub mod eip712;
mod error;
pub mod facilitator;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod middleware;
pub mod path;
pub mod policy;
pub mod reason;
pub mod server;
pub mod types;

pub use chain::{Chain, ChainError, JsonRpcChain, TxStatus};
pub use error::{PaymentRefusal, PolicyRefusal, SignatureError, X402Error};
pub use facilitator::{Facilitator, FacilitatorConfig, TokenInfo};
pub use types::*;

/// Installs rustls' ring provider for reqwest (built with `rustls-no-provider`); a provider
/// already installed is kept.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Unix seconds now.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Parses a decimal token amount (`"0.01"`) into atomic units for `decimals` (10000 for 6).
pub fn parse_units(amount: &str, decimals: u8) -> Result<alloy_primitives::U256, X402Error> {
    let bad = || X402Error::Amount {
        amount: amount.to_string(),
        decimals,
    };
    let (int, frac) = amount.trim().split_once('.').unwrap_or((amount.trim(), ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > decimals as usize
    {
        return Err(bad());
    }
    let digits = format!("{int}{frac:0<width$}", width = decimals as usize);
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Ok(alloy_primitives::U256::ZERO);
    }
    alloy_primitives::U256::from_str_radix(digits, 10).map_err(|_| bad())
}

/// Formats atomic units as a decimal token amount.
pub fn format_units(v: alloy_primitives::U256, decimals: u8) -> String {
    let s = format!("{v:0>width$}", width = decimals as usize + 1);
    let (int, frac) = s.split_at(s.len() - decimals as usize);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::U256;

    #[test]
    fn units() {
        assert_eq!(parse_units("0.01", 6).ok(), Some(U256::from(10_000)));
        assert_eq!(parse_units("1", 6).ok(), Some(U256::from(1_000_000)));
        assert_eq!(parse_units(".5", 6).ok(), Some(U256::from(500_000)));
        assert!(parse_units("0.0000001", 6).is_err());
        assert!(parse_units("-1", 6).is_err());
        assert!(parse_units("", 6).is_err());
        assert_eq!(format_units(U256::from(10_000), 6), "0.01");
        assert_eq!(format_units(U256::from(1_000_000), 6), "1");
    }
}
