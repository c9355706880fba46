//! `txnchain pay [--max 0.05] [--key …] <url>`: fetch a URL, paying its x402 price within a
//! spend policy; prints the body (stdout) and the decoded settlement receipt (stderr).

use std::path::PathBuf;

use alloy_primitives::Address;
use txnchain_x402::parse_units;
use txnchain_x402::policy::{SpendLimits, SpendPolicy};

/// Arguments.
#[derive(clap::Args)]
pub struct PayArgs {
    /// URL to fetch.
    url: String,
    /// Payer key (hex). Also TXNCHAIN_PAY_KEY.
    #[arg(long, env = "TXNCHAIN_PAY_KEY", hide_env_values = true)]
    key: String,
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

/// Runs the command; returns the exit code.
pub async fn run(a: PayArgs) -> anyhow::Result<i32> {
    let signer = super::parse_key(&a.key)?;
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
