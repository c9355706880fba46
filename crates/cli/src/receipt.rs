//! `txnchain receipt get` (fetch a transaction's receipt from a node's REST API and save it)
//! and `txnchain receipt verify` (check a saved receipt offline against a pinned service
//! identity, `specs/receipts.md` §3). Verify exits 0 when the receipt is valid, 1 when it is
//! not (naming the first failed check), 2 on a usage error.

use std::path::PathBuf;

use anyhow::Context;
use txnchain_ledger_tree::receipt::Receipt;

/// Largest receipt file `verify` reads (a receipt is a few KiB: one transaction, one
/// receipt, at most 65 proof hashes).
const MAX_RECEIPT_FILE: u64 = 4 << 20;

/// `txnchain receipt`.
#[derive(clap::Args)]
pub(crate) struct ReceiptArgs {
    #[command(subcommand)]
    command: ReceiptCommand,
}

#[derive(clap::Subcommand)]
enum ReceiptCommand {
    /// Fetch the receipt of a committed transaction and save it.
    Get(GetArgs),
    /// Verify a saved receipt offline (exit 0 valid, 1 invalid, 2 usage error).
    Verify(VerifyArgs),
}

#[derive(clap::Args)]
struct GetArgs {
    /// The transaction hash.
    hash: String,
    /// The node (its REST API, served with JSON-RPC).
    #[arg(long, default_value = "http://127.0.0.1:8545")]
    url: String,
    /// Where to save it (default: `<hash>.receipt.json`; `-` for standard output).
    #[arg(long, short)]
    out: Option<PathBuf>,
}

#[derive(clap::Args)]
struct VerifyArgs {
    /// The receipt file (as `receipt get` saves it).
    file: PathBuf,
    /// The service identity to trust (0x + 32 bytes, e.g. printed by `txnchain attest verify`).
    #[arg(long)]
    service_identity: String,
    /// Print the outcome as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs the command; returns the process exit code.
pub(crate) async fn run(args: ReceiptArgs) -> i32 {
    match args.command {
        ReceiptCommand::Get(a) => match get(a).await {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {e:#}");
                1
            }
        },
        ReceiptCommand::Verify(a) => verify(&a),
    }
}

async fn get(a: GetArgs) -> anyhow::Result<()> {
    let url = format!(
        "{}/v1/transactions/{}/receipt",
        a.url.trim_end_matches('/'),
        a.hash
    );
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()?;
    let response = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let body = response.bytes().await.context("reading the answer")?;
    if !status.is_success() {
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        anyhow::bail!("{url}: {status}: {message}");
    }
    let receipt: Receipt =
        serde_json::from_slice(&body).context("the node's answer is not a receipt")?;
    let text = serde_json::to_string_pretty(&receipt)?;
    let out = a
        .out
        .unwrap_or_else(|| PathBuf::from(format!("{}.receipt.json", a.hash)));
    if out.as_os_str() == "-" {
        println!("{text}");
    } else {
        std::fs::write(&out, format!("{text}\n"))
            .with_context(|| format!("writing {}", out.display()))?;
        println!(
            "saved the receipt of {} (block {}, leaf {} of {}) to {}",
            a.hash,
            receipt.block_number,
            receipt.leaf_index,
            receipt.tree_size,
            out.display()
        );
    }
    Ok(())
}

fn verify(a: &VerifyArgs) -> i32 {
    let Some(trusted) = hex::decode(a.service_identity.trim_start_matches("0x"))
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
    else {
        eprintln!("error: --service-identity: expected 0x + 32 bytes of hex");
        return 2;
    };
    let text = match read_bounded(&a.file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e:#}");
            return 2;
        }
    };
    let outcome = serde_json::from_slice::<Receipt>(&text)
        .map_err(|e| ("format", format!("format: not a receipt: {e}")))
        .and_then(|r| r.verify(&trusted).map_err(|e| (e.check(), e.to_string())));
    match outcome {
        Ok(v) => {
            if a.json {
                let body = serde_json::json!({
                    "valid": true,
                    "transactionHash": v.transaction_hash,
                    "from": v.sender,
                    "to": v.to,
                    "status": if v.success { "success" } else { "reverted" },
                    "logs": v.logs,
                    "blockNumber": v.block_number,
                    "leafIndex": v.leaf_index,
                    "treeSize": v.tree_size,
                });
                println!("{body}");
            } else {
                println!(
                    "receipt verified: block {}, leaf {} (tree size {})",
                    v.block_number, v.leaf_index, v.tree_size
                );
                println!(
                    "transaction {} from {} to {}: {} ({} public logs)",
                    v.transaction_hash,
                    v.sender,
                    v.to.map_or_else(|| "contract creation".into(), |t| t.to_string()),
                    if v.success { "success" } else { "reverted" },
                    v.logs
                );
            }
            0
        }
        Err((check, message)) => {
            if a.json {
                let body = serde_json::json!({"valid": false, "check": check, "message": message});
                println!("{body}");
            } else {
                println!("receipt INVALID: {message}");
            }
            1
        }
    }
}

fn read_bounded(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut text = Vec::new();
    file.take(MAX_RECEIPT_FILE + 1)
        .read_to_end(&mut text)
        .with_context(|| format!("reading {}", path.display()))?;
    if text.len() as u64 > MAX_RECEIPT_FILE {
        anyhow::bail!(
            "{} is larger than {MAX_RECEIPT_FILE} bytes: not a receipt",
            path.display()
        );
    }
    Ok(text)
}
