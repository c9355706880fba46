//! `txnchain pay [--max 0.05] <url>`: fetch a URL, paying its x402 price within a spend
//! policy; prints the body (stdout) and the decoded settlement receipt (stderr).
//!
//! With a trusted service identity (`--service-identity` or `TXNCHAIN_SERVICE_IDENTITY`) it
//! then fetches the ledger receipt of the settlement transaction (from the URL the settle
//! response names in `extra.receipt`, or `--receipt-from`), verifies it offline
//! (`specs/receipts.md` §3) and checks that it proves this payment: the settled transaction,
//! successful, on the paid network, with the token's `Transfer(payer, payTo, amount)` in its
//! logs. It prints `receipt verified: block N, leaf i`; `--save-receipt FILE` keeps the
//! receipt as proof of payment (`txnchain receipt verify FILE` checks it again later).
//!
//! The payer key comes from `--key-file` or `TXNCHAIN_PAY_KEY`, never the command line. A
//! payment refused after signing stays counted against the daily cap until the chain shows
//! it unusable: with `--rpc URL`, expired-and-unused (or cancelled) authorizations are given
//! back before paying.

use std::path::PathBuf;

use alloy_consensus::ReceiptEnvelope;
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::SolEvent;
use anyhow::Context;
use txnchain_ledger_tree::receipt::{Receipt, Verified};
use txnchain_x402::parse_units;
use txnchain_x402::policy::{SpendLimits, SpendPolicy};
use txnchain_x402::types::{PaymentRequirements, SettleResponse};

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
    /// The chain's service identity (0x + 32 bytes, from `txnchain attest verify`): verify
    /// the settlement's ledger receipt against it.
    #[arg(long, env = "TXNCHAIN_SERVICE_IDENTITY")]
    service_identity: Option<String>,
    /// Fetch the settlement's receipt from this node (its REST API) instead of the URL the
    /// settle response names.
    #[arg(long)]
    receipt_from: Option<String>,
    /// Save the verified receipt here (proof of payment).
    #[arg(long)]
    save_receipt: Option<PathBuf>,
}

/// Exit code when the resource was paid for and served but its settlement receipt could not
/// be fetched or did not verify.
pub(crate) const EXIT_RECEIPT: i32 = 3;
/// How long the settlement's receipt is waited for (it is committed before the response is
/// released, so it is normally there at once).
const RECEIPT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Environment variable holding the payer key when no key file is given.
pub(crate) const KEY_ENV: &str = "TXNCHAIN_PAY_KEY";

/// Runs the command; returns the exit code.
pub(crate) async fn run(a: PayArgs) -> anyhow::Result<i32> {
    let Some(key) = crate::secrets::from_file_or_env(a.key_file.as_deref(), KEY_ENV)? else {
        anyhow::bail!("a payer key is required: --key-file PATH or {KEY_ENV}");
    };
    let signer = crate::secrets::parse_key(&key)?;
    drop(key);
    let trusted = match &a.service_identity {
        None => None,
        Some(text) => Some(
            hex::decode(text.trim_start_matches("0x"))
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| {
                    anyhow::anyhow!("--service-identity: expected 0x + 32 bytes of hex")
                })?,
        ),
    };
    let payer = signer.address();
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
    let code = if resp.status.is_success() { 0 } else { 1 };
    let (Some(settlement), Some(paid)) = (&resp.settlement, &resp.paid) else {
        return Ok(code);
    };
    if !settlement.success {
        return Ok(code);
    }
    let Some(trusted) = trusted else {
        eprintln!("receipt: not verified (give --service-identity or TXNCHAIN_SERVICE_IDENTITY)");
        return Ok(code);
    };
    match settlement_receipt(&a, settlement, paid, payer, &trusted).await {
        Ok((receipt, verified)) => {
            eprintln!(
                "receipt verified: block {}, leaf {} (tree size {}; transaction {})",
                verified.block_number,
                verified.leaf_index,
                verified.tree_size,
                verified.transaction_hash
            );
            if let Some(path) = &a.save_receipt {
                std::fs::write(
                    path,
                    format!("{}\n", serde_json::to_string_pretty(&receipt)?),
                )
                .with_context(|| format!("writing {}", path.display()))?;
                eprintln!("receipt saved to {}", path.display());
            }
            Ok(code)
        }
        Err(e) => {
            eprintln!("receipt INVALID: {e:#}");
            Ok(EXIT_RECEIPT)
        }
    }
}

/// Fetches the settlement's receipt and checks that it proves the payment.
async fn settlement_receipt(
    a: &PayArgs,
    settlement: &SettleResponse,
    paid: &PaymentRequirements,
    payer: Address,
    trusted: &[u8; 32],
) -> anyhow::Result<(Receipt, Verified)> {
    let tx: B256 = settlement
        .transaction
        .parse()
        .with_context(|| format!("settlement transaction {:?}", settlement.transaction))?;
    let url = match (&a.receipt_from, settlement.receipt_url()) {
        (Some(base), _) => format!(
            "{}/v1/transactions/{tx}/receipt",
            base.trim_end_matches('/')
        ),
        (None, Some(url)) => url.to_string(),
        (None, None) => {
            anyhow::bail!("the settle response names no receipt URL (give --receipt-from NODE)")
        }
    };
    anyhow::ensure!(
        url.starts_with("http://") || url.starts_with("https://"),
        "receipt URL {url:?} is not http(s)"
    );
    let receipt = fetch_receipt(&url).await?;
    let verified = receipt
        .verify(trusted)
        .map_err(|e| anyhow::anyhow!("{}: {e}", e.check()))?;
    anyhow::ensure!(
        verified.transaction_hash == tx,
        "the receipt is of transaction {}, not the settlement {tx}",
        verified.transaction_hash
    );
    anyhow::ensure!(verified.success, "the settlement transaction reverted");
    let network = format!("eip155:{}", receipt.chain_id);
    anyhow::ensure!(
        network == paid.network,
        "the receipt is of {network}, the payment of {}",
        paid.network
    );
    let asset: Address = paid.asset.parse().context("paid asset")?;
    let pay_to: Address = paid.pay_to.parse().context("paid payTo")?;
    let amount: U256 = paid.amount.parse().context("paid amount")?;
    let envelope = ReceiptEnvelope::decode_2718(&mut receipt.receipt.as_ref())
        .map_err(|e| anyhow::anyhow!("receipt: {e}"))?;
    let transfer = envelope.logs().iter().any(|log| {
        log.address == asset
            && IErc20::Transfer::decode_log(log)
                .is_ok_and(|t| t.from == payer && t.to == pay_to && t.value == amount)
    });
    anyhow::ensure!(
        transfer,
        "the settlement's logs have no Transfer of {amount} from {payer} to {pay_to} by {asset}"
    );
    Ok((receipt, verified))
}

/// GETs a receipt, waiting up to [`RECEIPT_WAIT`] while it is not there (404).
async fn fetch_receipt(url: &str) -> anyhow::Result<Receipt> {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let deadline = std::time::Instant::now() + RECEIPT_WAIT;
    loop {
        let resp = http
            .get(url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            continue;
        }
        let body = resp.bytes().await.with_context(|| format!("GET {url}"))?;
        anyhow::ensure!(
            body.len() <= MAX_RECEIPT_BYTES,
            "GET {url}: answer larger than {MAX_RECEIPT_BYTES} bytes"
        );
        anyhow::ensure!(
            status.is_success(),
            "GET {url}: {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
        return serde_json::from_slice(&body).with_context(|| format!("GET {url}: not a receipt"));
    }
}

/// Largest receipt read (one transaction, one receipt, at most 65 proof hashes).
const MAX_RECEIPT_BYTES: usize = 4 << 20;

alloy_sol_types::sol! {
    interface IErc20 {
        event Transfer(address indexed from, address indexed to, uint256 value);
    }
}
