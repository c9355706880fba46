//! `txnchain node --x402-facilitator …`: the in-process x402 facilitator of a non-dev node.
//!
//! Settlement keys come from a file (`--x402-key-file`) or the `TXNCHAIN_X402_KEYS`
//! environment variable, never from a plain command-line argument: arguments land in shell
//! history and are readable by every local user through `ps` / `/proc/<pid>/cmdline`.
//! Bearer tokens likewise. Keys are never logged; only their addresses are.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use alloy_primitives::Address;
use alloy_signer_local::PrivateKeySigner;
use anyhow::Context;
use txnchain_node::x402::X402Config;
use txnchain_x402::server::Access;

/// Environment variable holding settlement keys (hex, comma-separated) when no key file is
/// given.
pub const KEYS_ENV: &str = "TXNCHAIN_X402_KEYS";
/// Environment variable holding bearer tokens (comma-separated) when no token file is given.
pub const TOKENS_ENV: &str = "TXNCHAIN_X402_BEARER_TOKENS";

/// x402 flags of `txnchain node`.
#[derive(clap::Args, Debug, Default)]
pub struct NodeX402Args {
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
    /// verify + settle requests per second per client IP.
    #[arg(long, default_value_t = 200, requires = "x402_facilitator")]
    pub x402_rate_limit: u32,
}

fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
}

fn read_secret_file(path: &Path) -> anyhow::Result<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(path)
            && m.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(file = %path.display(), "secret file is readable by other users; chmod 600 it");
        }
    }
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn parse_keys(text: &str, source: &str) -> anyhow::Result<Vec<PrivateKeySigner>> {
    text.split([',', '\n'])
        .flat_map(lines)
        .enumerate()
        .map(|(i, k)| super::parse_key(k).with_context(|| format!("{source}: key #{}", i + 1)))
        .collect()
}

/// The facilitator configuration the flags describe (`None` without `--x402-facilitator`).
pub fn config(a: &NodeX402Args) -> anyhow::Result<Option<X402Config>> {
    if !a.x402_facilitator {
        return Ok(None);
    }
    let keys = match &a.x402_key_file {
        Some(path) => parse_keys(&read_secret_file(path)?, &path.display().to_string())?,
        None => match std::env::var(KEYS_ENV) {
            Ok(v) => parse_keys(&v, KEYS_ENV)?,
            Err(_) => vec![],
        },
    };
    anyhow::ensure!(
        !keys.is_empty(),
        "--x402-facilitator needs settlement keys: --x402-key-file PATH or {KEYS_ENV}"
    );
    let tokens: HashSet<String> = match &a.x402_bearer_token_file {
        Some(path) => lines(&read_secret_file(path)?)
            .map(str::to_string)
            .collect(),
        None => std::env::var(TOKENS_ENV)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    };
    anyhow::ensure!(
        !a.x402_allow_pay_to.is_empty() || !tokens.is_empty(),
        "refusing to serve a facilitator that settles for anyone (it pays the gas): give \
         --x402-allow-pay-to or bearer tokens (--x402-bearer-token-file / {TOKENS_ENV})"
    );
    let addresses: Vec<Address> = keys.iter().map(|k| k.address()).collect();
    tracing::info!(settlement_keys = ?addresses, payees = a.x402_allow_pay_to.len(), bearer_tokens = tokens.len(), "x402 facilitator enabled");
    Ok(Some(X402Config::for_token(
        a.x402_token,
        keys,
        Access::Restricted {
            pay_to: a.x402_allow_pay_to.iter().copied().collect(),
            tokens,
        },
        a.x402_rate_limit,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_lines_commas_and_comments() {
        let k1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
        let k2 = "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
        let text = format!("# settlement keys\n{k1}\n\n  {k2} # second\n");
        assert_eq!(parse_keys(&text, "f").map(|v| v.len()).ok(), Some(2));
        assert_eq!(
            parse_keys(&format!("{k1},{k2}"), "env")
                .map(|v| v.len())
                .ok(),
            Some(2)
        );
        let err = parse_keys("0xnot-a-key", "f")
            .err()
            .map(|e| format!("{e:#}"));
        assert!(err.is_some_and(|e| !e.contains("not-a-key")));
    }
}
