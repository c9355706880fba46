//! `txnchain attest verify`: fetch a node's attestation evidence (or read a
//! saved bundle), verify it offline against a policy, and print the verdict
//! with every claim checked.
//!
//! Exit status: 0 trusted, 1 rejected, 2 usage or I/O error.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use txnchain_tee::{
    EvidenceBundle, ExpectedReportData, INSECURE_BANNER, Policy, TrustRoots, Verdict,
    VerifyOptions, now_unix, random_nonce, verify_bundle,
};

/// Exit status: the evidence is trusted.
pub const EXIT_TRUSTED: i32 = 0;
/// Exit status: the evidence is rejected.
pub const EXIT_REJECTED: i32 = 1;
/// Exit status: usage or I/O error.
pub const EXIT_USAGE: i32 = 2;

/// `txnchain attest …`
#[derive(Args, Debug)]
pub struct AttestArgs {
    #[command(subcommand)]
    pub command: AttestCommand,
}

/// Attestation subcommands.
#[derive(Subcommand, Debug)]
pub enum AttestCommand {
    /// Verify a node's attestation evidence and print the verdict.
    Verify(VerifyArgs),
}

/// `txnchain attest verify (--url URL [--nonce] | --file FILE) [--policy FILE]`
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["url", "file"])))]
pub struct VerifyArgs {
    /// A node's base URL (e.g. http://127.0.0.1:8545); GET <url>/node/attestation.
    #[arg(long)]
    pub url: Option<String>,
    /// A saved evidence bundle (the JSON served by /node/attestation).
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Policy TOML file, or `dev` for the built-in development policy. Without it the
    /// strict built-in policy applies: hardware only, UpToDate only, and no measurement
    /// allowed until the policy lists some.
    #[arg(long)]
    pub policy: Option<String>,
    /// Ask the node for a fresh report bound to a random nonce chosen here (with --url).
    #[arg(long, conflicts_with = "file")]
    pub nonce: bool,
    /// Directory of cached collateral (TDX/SGX `<fmspc>-tdx.json`, SNP
    /// `snp/vcek-<chip_id>-<tcb>.der`) for bundles that carry none.
    #[arg(long)]
    pub collateral_dir: Option<PathBuf>,
    /// Verify as of this Unix time instead of now (for archived evidence).
    #[arg(long)]
    pub at: Option<u64>,
    /// Expect this raw report_data (128 hex digits) instead of deriving it from the
    /// bundle's identity key.
    #[arg(long)]
    pub report_data: Option<String>,
    /// Print the verdict as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Run an `attest` subcommand; returns the process exit status.
pub async fn run(args: AttestArgs) -> i32 {
    match args.command {
        AttestCommand::Verify(v) => match verify(v).await {
            Ok(code) => code,
            Err(message) => {
                eprintln!("error: {message}");
                EXIT_USAGE
            }
        },
    }
}

fn load_policy(arg: Option<&str>) -> Result<Policy, String> {
    match arg {
        None => {
            eprintln!(
                "note: no --policy given; using the strict built-in policy (no measurement is \
                 allowed until a policy lists it)"
            );
            Ok(Policy::default())
        }
        Some("dev") if !Path::new("dev").exists() => Ok(Policy::dev()),
        Some(path) => Policy::load(Path::new(path)).map_err(|e| e.to_string()),
    }
}

fn parse_report_data(text: &str) -> Result<[u8; 64], String> {
    let text = text.trim();
    let text = text.strip_prefix("0x").unwrap_or(text);
    let bytes = hex::decode(text).map_err(|e| format!("--report-data: {e}"))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("--report-data: {} bytes, expected 64", b.len()))
}

fn attestation_url(base: &str, nonce: Option<&[u8]>) -> String {
    let mut url = base.trim_end_matches('/').to_string();
    if !url.ends_with("/node/attestation") {
        url.push_str("/node/attestation");
    }
    if let Some(n) = nonce {
        url.push_str("?nonce=");
        url.push_str(&hex::encode(n));
    }
    url
}

async fn fetch(base: &str, nonce: Option<&[u8]>) -> Result<EvidenceBundle, String> {
    // reqwest is built without a default TLS crypto provider; use ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let url = attestation_url(base, nonce);
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        let body: String = body.chars().take(500).collect();
        return Err(format!("GET {url}: HTTP {status}: {body}"));
    }
    response
        .json::<EvidenceBundle>()
        .await
        .map_err(|e| format!("GET {url}: not an evidence bundle: {e}"))
}

fn read_bundle(path: &Path) -> Result<EvidenceBundle, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    EvidenceBundle::from_json(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

async fn verify(args: VerifyArgs) -> Result<i32, String> {
    let policy = load_policy(args.policy.as_deref())?;
    let raw_expected = args
        .report_data
        .as_deref()
        .map(parse_report_data)
        .transpose()?;
    let nonce = if args.nonce {
        Some(random_nonce().map_err(|e| e.to_string())?.to_vec())
    } else {
        None
    };
    let bundle = match (&args.url, &args.file) {
        (Some(url), _) => fetch(url, nonce.as_deref()).await?,
        (None, Some(path)) => read_bundle(path)?,
        (None, None) => return Err("give --url or --file".into()),
    };
    let expected = match (raw_expected, &nonce, &bundle.identity_public_key) {
        (Some(rd), _, _) => ExpectedReportData::Raw(rd),
        (None, Some(n), Some(key)) => ExpectedReportData::Identity {
            spki_der: key.clone(),
            nonce: Some(n.clone()),
        },
        _ => ExpectedReportData::FromBundle,
    };
    let opts = VerifyOptions {
        now: args.at.unwrap_or_else(now_unix),
        expected,
        trust: TrustRoots::builtin(),
        collateral_dir: args.collateral_dir,
    };
    let verdict = verify_bundle(&bundle, &policy, &opts);
    print_verdict(&verdict, args.json);
    Ok(if verdict.is_trusted() {
        EXIT_TRUSTED
    } else {
        EXIT_REJECTED
    })
}

fn print_verdict(verdict: &Verdict, json: bool) {
    if verdict.insecure {
        eprintln!("!!! {INSECURE_BANNER} !!!");
    }
    if json {
        match serde_json::to_string_pretty(verdict) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("error: cannot encode the verdict: {e}"),
        }
    } else {
        println!("{verdict}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            attestation_url("http://127.0.0.1:8545/", None),
            "http://127.0.0.1:8545/node/attestation"
        );
        assert_eq!(
            attestation_url("http://h:1/node/attestation", Some(&[0xab, 0x01])),
            "http://h:1/node/attestation?nonce=ab01"
        );
    }

    #[test]
    fn report_data_argument() {
        assert_eq!(parse_report_data(&"00".repeat(64)).unwrap(), [0u8; 64]);
        assert!(parse_report_data("00").is_err());
        assert!(parse_report_data("zz").is_err());
    }

    #[test]
    fn arguments_parse() {
        use clap::Parser;
        #[derive(Parser, Debug)]
        struct Cli {
            #[command(subcommand)]
            cmd: Top,
        }
        #[derive(clap::Subcommand, Debug)]
        enum Top {
            Attest(AttestArgs),
        }
        let ok = Cli::try_parse_from([
            "txnchain", "attest", "verify", "--url", "http://x", "--nonce", "--policy", "p.toml",
        ]);
        assert!(ok.is_ok(), "{ok:?}");
        assert!(Cli::try_parse_from(["txnchain", "attest", "verify", "--file", "e.json"]).is_ok());
        // One source is required, and --nonce needs --url.
        assert!(Cli::try_parse_from(["txnchain", "attest", "verify"]).is_err());
        assert!(
            Cli::try_parse_from(["txnchain", "attest", "verify", "--file", "e", "--nonce"])
                .is_err()
        );
        assert!(
            Cli::try_parse_from(["txnchain", "attest", "verify", "--file", "e", "--url", "u"])
                .is_err()
        );
    }
}
