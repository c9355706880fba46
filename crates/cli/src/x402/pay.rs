//! `txnchain pay [--max 0.05] <url>`: fetch a URL, paying its x402 price within a spend
//! policy; prints the body (stdout) and the decoded settlement receipt (stderr).
//!
//! The payer key comes from `--key-file` or `TXNCHAIN_PAY_KEY`, never the command line. A
//! payment refused after signing stays counted against the daily cap until the chain shows
//! it unusable: with `--rpc URL`, expired-and-unused (or cancelled) authorizations are given
//! back before paying.

use std::path::PathBuf;

use alloy_primitives::Address;
use txnchain_x402::parse_units;
use txnchain_x402::policy::{SpendLimits, SpendPolicy};

/// Arguments.
#[derive(clap::Args)]
pub(crate) struct PayArgs {
    /// URL to fetch.
    url: String,
    /// File holding the payer key (hex). Without it, the TXNCHAIN_PAY_KEY environment
    /// variable.
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// JSON-RPC endpoint of the chain, to give back authorizations that can no longer be
    /// used (expired unused, or cancelled) before paying.
    #[arg(long)]
    rpc: Option<String>,
    /// Most one request may cost, in token units (6 decimals).
    #[arg(long, default_value = "0.05")]
    max: String,
    /// Most a UTC day may cost, in token units (persisted in --ledger).
    #[arg(long, default_value = "5")]
    max_per_day: String,
    /// Allowed networks (repeat; default eip155:424242).
    #[arg(long = "network", default_values_t = vec!["eip155:424242".to_string()])]
    networks: Vec<String>,
    /// Allowed token addresses (repeat; default the dev stablecoin).
    #[arg(long = "asset", default_values_t = vec![txnchain_node::dev::STABLECOIN])]
    assets: Vec<Address>,
    /// Allowed payees (repeat; default any).
    #[arg(long = "recipient")]
    recipients: Vec<Address>,
    /// The daily spend ledger (default ~/.txnchain/x402-spend.json).
    #[arg(long)]
    ledger: Option<PathBuf>,
    /// HTTP method.
    #[arg(long, short = 'X', default_value = "GET")]
    method: String,
    /// Request body.
    #[arg(long, short = 'd')]
    data: Option<String>,
}

/// Environment variable holding the payer key when no key file is given.
pub(crate) const KEY_ENV: &str = "TXNCHAIN_PAY_KEY";

/// Runs the command; returns the exit code.
pub(crate) async fn run(a: PayArgs) -> anyhow::Result<i32> {
    let Some(key) = crate::secrets::from_file_or_env(a.key_file.as_deref(), KEY_ENV)? else {
        anyhow::bail!("a payer key is required: --key-file PATH or {KEY_ENV}");
    };
    let signer = crate::secrets::parse_key(&key)?;
    drop(key);
    let ledger = a.ledger.clone().or_else(|| {
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".txnchain").join("x402-spend.json"))
    });
    let limits = SpendLimits {
        max_per_request: Some(parse_units(&a.max, 6)?),
        max_per_day: Some(parse_units(&a.max_per_day, 6)?),
        networks: a.networks.iter().cloned().collect(),
        assets: a.assets.iter().copied().collect(),
        recipients: a.recipients.iter().copied().collect(),
    };
    let policy = SpendPolicy::new(limits, ledger)?;
    let client = txnchain_x402::client::PayingClient::new(signer, policy)?;
    if let Some(rpc) = &a.rpc {
        let chain = txnchain_x402::JsonRpcChain::connect(rpc).await?;
        let back = client.reconcile(&chain).await?;
        if !back.is_zero() {
            eprintln!(
                "gave back {} (authorizations that can no longer be used)",
                txnchain_x402::format_units(back, 6)
            );
        }
    }
    let method = reqwest::Method::from_bytes(a.method.as_bytes())?;
    let mut req = client.http().request(method, &a.url);
    if let Some(d) = &a.data {
        req = req.body(d.clone());
    }
    let req = req.build()?;
    let resp = match client.execute(req).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("txnchain pay: {e}");
            return Ok(2);
        }
    };
    use std::io::Write;
    let mut out = std::io::stdout();
    out.write_all(&resp.body)?;
    out.flush()?;
    if let Some(s) = &resp.settlement {
        eprintln!("\nPAYMENT-RESPONSE: {}", serde_json::to_string_pretty(s)?);
    }
    if let Some(p) = &resp.payment_required
        && resp.status == reqwest::StatusCode::PAYMENT_REQUIRED
    {
        eprintln!("\n402: {}", p.error.clone().unwrap_or_default());
    }
    eprintln!("HTTP {}", resp.status);
    Ok(if resp.status.is_success() { 0 } else { 1 })
}
