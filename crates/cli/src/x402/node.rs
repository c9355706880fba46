//! `txnchain node --x402-facilitator …`: the in-process x402 facilitator of a non-dev node.
//!
//! Settlement keys come from a file (`--x402-key-file`) or the `TXNCHAIN_X402_KEYS`
//! environment variable, never from the command line ([`crate::secrets`]). Bearer tokens
//! likewise. Keys are never logged; only their addresses are.

use std::path::PathBuf;

use alloy_primitives::Address;
use txnchain_node::x402::X402Config;
use txnchain_x402::server::{Access, BearerTokens};

use crate::secrets;

/// Environment variable holding settlement keys (hex, comma-separated) when no key file is
/// given.
pub(crate) const KEYS_ENV: &str = "TXNCHAIN_X402_KEYS";
/// Environment variable holding bearer tokens (comma-separated) when no token file is given.
pub(crate) const TOKENS_ENV: &str = "TXNCHAIN_X402_BEARER_TOKENS";

/// x402 flags of `txnchain node`.
#[derive(clap::Args, Debug, Default)]
pub(crate) struct NodeX402Args {
    /// Serve the x402 facilitator at /x402 (verify, settle, supported, metrics).
    #[arg(long)]
    pub x402_facilitator: bool,
    /// File of settlement keys: hex private keys, one per line (`#` comments). Without it,
    /// the TXNCHAIN_X402_KEYS environment variable (comma-separated). Keep it mode 0600.
    #[arg(long, requires = "x402_facilitator")]
    pub x402_key_file: Option<PathBuf>,
    /// The EIP-3009 token to advertise and settle (its name, version, symbol and decimals
    /// are read from the chain at start).
    #[arg(long, default_value_t = txnchain_node::dev::STABLECOIN, requires = "x402_facilitator")]
    pub x402_token: Address,
    /// Settle only for this payee (repeat).
    #[arg(long = "x402-allow-pay-to", requires = "x402_facilitator")]
    pub x402_allow_pay_to: Vec<Address>,
    /// File of bearer tokens, one per line: a request bearing one is settled for any payee
    /// (one token per resource server). Without it, TXNCHAIN_X402_BEARER_TOKENS.
    #[arg(long, requires = "x402_facilitator")]
    pub x402_bearer_token_file: Option<PathBuf>,
    /// verify + settle requests per second per client address (IPv6: per /64).
    #[arg(long, default_value_t = 200, requires = "x402_facilitator")]
    pub x402_rate_limit: u32,
    /// Reverse proxies (comma-separated IPs) whose X-Forwarded-For names the client.
    #[arg(long, requires = "x402_facilitator")]
    pub x402_trusted_proxy: Option<String>,
    /// Base URL buyers reach this node at (e.g. https://chain.example.com): settle responses
    /// name the settlement's receipt there (`extra.receipt`). Default: http://<--host>:<--port>
    /// unless --host is 0.0.0.0 or ::.
    #[arg(long, requires = "x402_facilitator")]
    pub x402_receipt_base_url: Option<String>,
}

/// The facilitator configuration the flags describe (`None` without `--x402-facilitator`).
pub(crate) fn config(a: &NodeX402Args) -> anyhow::Result<Option<X402Config>> {
    if !a.x402_facilitator {
        return Ok(None);
    }
    let source = a
        .x402_key_file
        .as_ref()
        .map_or_else(|| KEYS_ENV.to_string(), |p| p.display().to_string());
    let keys = match secrets::from_file_or_env(a.x402_key_file.as_deref(), KEYS_ENV)? {
        Some(text) => secrets::parse_keys(&text, &source)?,
        None => vec![],
    };
    anyhow::ensure!(
        !keys.is_empty(),
        "--x402-facilitator needs settlement keys: --x402-key-file PATH or {KEYS_ENV}"
    );
    let tokens = match secrets::from_file_or_env(a.x402_bearer_token_file.as_deref(), TOKENS_ENV)? {
        Some(text) => BearerTokens::new(secrets::entries(&text)),
        None => BearerTokens::default(),
    };
    anyhow::ensure!(
        !a.x402_allow_pay_to.is_empty() || !tokens.is_empty(),
        "refusing to serve a facilitator that settles for anyone (it pays the gas): give \
         --x402-allow-pay-to or bearer tokens (--x402-bearer-token-file / {TOKENS_ENV})"
    );
    let addresses: Vec<Address> = keys
        .iter()
        .map(alloy_signer_local::LocalSigner::address)
        .collect();
    tracing::info!(settlement_keys = ?addresses, payees = a.x402_allow_pay_to.len(), bearer_tokens = tokens.len(), "x402 facilitator enabled");
    let mut config = X402Config::for_token(
        a.x402_token,
        keys,
        Access::Restricted {
            pay_to: a.x402_allow_pay_to.iter().copied().collect(),
            tokens,
        },
        a.x402_rate_limit,
    );
    config.receipt_base_url = a.x402_receipt_base_url.clone();
    if let Some(list) = &a.x402_trusted_proxy {
        config.trusted_proxies = txnchain_http::TrustedProxies::parse(list)?;
    }
    Ok(Some(config))
}
