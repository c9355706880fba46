//! `txnchain attest verify`: fetch a node's attestation evidence (or read a
//! saved bundle), verify it offline against a policy, and print the verdict
//! with every claim checked.
//!
//! With `--url` a fresh random nonce is sent by default and the evidence must
//! bind it (report_data derived from the returned identity key and *our*
//! nonce), so a recorded bundle cannot be replayed. `--no-nonce` fetches the
//! node's start-up evidence instead and says that it may be a replay.
//! `--file` verifies a saved bundle as it is.
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
pub(crate) const EXIT_TRUSTED: i32 = 0;
/// Exit status: the evidence is rejected.
pub(crate) const EXIT_REJECTED: i32 = 1;
/// Exit status: usage or I/O error.
pub(crate) const EXIT_USAGE: i32 = 2;

/// `txnchain attest …`
#[derive(Args, Debug)]
pub(crate) struct AttestArgs {
    #[command(subcommand)]
    pub command: AttestCommand,
}

/// Attestation subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum AttestCommand {
    /// Verify a node's attestation evidence and print the verdict.
    Verify(VerifyArgs),
}

/// `txnchain attest verify (--url URL [--no-nonce] | --file FILE) [--policy FILE]`
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["url", "file"])))]
pub(crate) struct VerifyArgs {
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
    /// Ask the node for a fresh report bound to a random nonce chosen here. This is the
    /// default with --url; the flag is kept for scripts that pass it.
    #[arg(long, conflicts_with_all = ["file", "no_nonce"])]
    pub nonce: bool,
    /// With --url: do not send a nonce; verify the node's start-up evidence, which
    /// proves the key binding but not freshness (it may be a replay).
    #[arg(long, conflicts_with = "file")]
    pub no_nonce: bool,
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
pub(crate) async fn run(args: AttestArgs) -> i32 {
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

pub(crate) fn load_policy(arg: Option<&str>) -> Result<Policy, String> {
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

pub(crate) async fn fetch(base: &str, nonce: Option<&[u8]>) -> Result<EvidenceBundle, String> {
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

/// Whether to send a nonce of our own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NonceChoice {
    /// `--url`: a fresh random nonce, which the evidence must bind.
    Fresh,
    /// `--url --no-nonce`, or `--url --report-data` (a raw expectation cannot
    /// include our nonce): the evidence may be a replay.
    NoneReplayable,
    /// `--file`: as before, the bundle is verified as it is.
    File,
}

fn nonce_choice(args: &VerifyArgs) -> Result<NonceChoice, String> {
    if args.url.is_none() {
        return Ok(NonceChoice::File);
    }
    if args.report_data.is_some() {
        if args.nonce {
            return Err(
                "--nonce and --report-data exclude each other: a raw report_data cannot \
                 include the nonce chosen here"
                    .into(),
            );
        }
        return Ok(NonceChoice::NoneReplayable);
    }
    Ok(if args.no_nonce {
        NonceChoice::NoneReplayable
    } else {
        NonceChoice::Fresh
    })
}

/// The report_data the evidence must carry. With our nonce it is derived
/// from the returned identity key and that nonce, never from the bundle's
/// own `nonce` field; a bundle without an identity key then fails the check.
fn expected_report_data(
    raw: Option<[u8; 64]>,
    our_nonce: Option<&[u8]>,
    bundle: &EvidenceBundle,
) -> ExpectedReportData {
    match (raw, our_nonce) {
        (Some(rd), _) => ExpectedReportData::Raw(rd),
        (None, Some(n)) => ExpectedReportData::Identity {
            spki_der: bundle.identity_public_key.clone().unwrap_or_default(),
            nonce: Some(n.to_vec()),
        },
        (None, None) => ExpectedReportData::FromBundle,
    }
}

/// The warning printed when `--url` evidence is not bound to a nonce of ours.
const REPLAY_WARNING: &str = "WARNING: no nonce was sent (--no-nonce or --report-data): this \
     evidence is not bound to this request and MAY BE A REPLAY of old evidence; it proves the key \
     binding, not that the node holds the key now";

async fn verify(args: VerifyArgs) -> Result<i32, String> {
    let policy = load_policy(args.policy.as_deref())?;
    let raw_expected = args
        .report_data
        .as_deref()
        .map(parse_report_data)
        .transpose()?;
    let choice = nonce_choice(&args)?;
    let nonce = if choice == NonceChoice::Fresh {
        Some(random_nonce().map_err(|e| e.to_string())?.to_vec())
    } else {
        None
    };
    let bundle = match (&args.url, &args.file) {
        (Some(url), _) => fetch(url, nonce.as_deref()).await?,
        (None, Some(path)) => read_bundle(path)?,
        (None, None) => return Err("give --url or --file".into()),
    };
    match (&nonce, choice) {
        (Some(n), _) => {
            eprintln!("nonce: sent {}; the evidence must bind it", hex::encode(n));
            if bundle.nonce.as_deref() != Some(n.as_slice()) {
                eprintln!("note: the node's response does not echo our nonce");
            }
        }
        (None, NonceChoice::NoneReplayable) => eprintln!("{REPLAY_WARNING}"),
        (None, _) => {}
    }
    let expected = expected_report_data(raw_expected, nonce.as_deref(), &bundle);
    let opts = VerifyOptions {
        now: args.at.unwrap_or_else(now_unix),
        expected,
        trust: TrustRoots::builtin(),
        collateral_dir: args.collateral_dir,
    };
    let verdict = verify_bundle(&bundle, &policy, &opts);
    // The statement binds the service identity to the key the evidence binds: it is only
    // worth anything when the evidence is trusted.
    let service = bundle.verify_service_statement();
    print_verdict(&verdict, &service, args.json);
    Ok(if verdict.is_trusted() && service.is_ok() {
        EXIT_TRUSTED
    } else {
        EXIT_REJECTED
    })
}

fn print_verdict(
    verdict: &Verdict,
    service: &Result<Option<[u8; 32]>, txnchain_tee::TeeError>,
    json: bool,
) {
    if verdict.insecure {
        eprintln!("!!! {INSECURE_BANNER} !!!");
    }
    let service_line = match service {
        Ok(Some(id)) if verdict.is_trusted() => {
            format!("trusted service identity: 0x{}", hex::encode(id))
        }
        Ok(Some(id)) => format!(
            "service identity 0x{} is NOT trusted: the evidence was rejected",
            hex::encode(id)
        ),
        Ok(None) => "service identity: none (the node states no service identity)".into(),
        Err(e) => format!("service identity REJECTED: {e}"),
    };
    if json {
        let mut value = match serde_json::to_value(verdict) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("error: cannot encode the verdict: {e}");
                return;
            }
        };
        if let Some(obj) = value.as_object_mut() {
            let trusted = match service {
                Ok(Some(id)) if verdict.is_trusted() => {
                    serde_json::Value::String(format!("0x{}", hex::encode(id)))
                }
                _ => serde_json::Value::Null,
            };
            obj.insert("service_identity".into(), trusted);
            if let Err(e) = service {
                obj.insert(
                    "service_identity_error".into(),
                    serde_json::Value::String(e.to_string()),
                );
            }
        }
        match serde_json::to_string_pretty(&value) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("error: cannot encode the verdict: {e}"),
        }
    } else {
        println!("{verdict}");
        println!("{service_line}");
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
        assert!(
            Cli::try_parse_from(["txnchain", "attest", "verify", "--url", "u", "--no-nonce"])
                .is_ok()
        );
        // One source is required, and --nonce / --no-nonce need --url.
        assert!(Cli::try_parse_from(["txnchain", "attest", "verify"]).is_err());
        for flag in ["--nonce", "--no-nonce"] {
            assert!(
                Cli::try_parse_from(["txnchain", "attest", "verify", "--file", "e", flag]).is_err(),
                "{flag}"
            );
        }
        assert!(
            Cli::try_parse_from([
                "txnchain",
                "attest",
                "verify",
                "--url",
                "u",
                "--nonce",
                "--no-nonce"
            ])
            .is_err()
        );
        assert!(
            Cli::try_parse_from(["txnchain", "attest", "verify", "--file", "e", "--url", "u"])
                .is_err()
        );
    }

    fn args(list: &[&str]) -> VerifyArgs {
        use clap::Parser;
        #[derive(Parser, Debug)]
        struct Cli {
            #[command(flatten)]
            v: VerifyArgs,
        }
        let mut argv = vec!["verify"];
        argv.extend_from_slice(list);
        Cli::try_parse_from(argv).unwrap().v
    }

    #[test]
    fn url_sends_a_fresh_nonce_by_default() {
        assert_eq!(
            nonce_choice(&args(&["--url", "http://n"])),
            Ok(NonceChoice::Fresh)
        );
        assert_eq!(
            nonce_choice(&args(&["--url", "http://n", "--nonce"])),
            Ok(NonceChoice::Fresh)
        );
        assert_eq!(
            nonce_choice(&args(&["--url", "http://n", "--no-nonce"])),
            Ok(NonceChoice::NoneReplayable)
        );
        let rd = "00".repeat(64);
        assert_eq!(
            nonce_choice(&args(&["--url", "http://n", "--report-data", &rd])),
            Ok(NonceChoice::NoneReplayable)
        );
        assert!(
            nonce_choice(&args(&[
                "--url",
                "http://n",
                "--report-data",
                &rd,
                "--nonce"
            ]))
            .is_err()
        );
        // --file: unchanged.
        assert_eq!(
            nonce_choice(&args(&["--file", "e.json"])),
            Ok(NonceChoice::File)
        );
        assert!(REPLAY_WARNING.contains("MAY BE A REPLAY"));
    }

    /// A replayed bundle (bound to the nonce of an earlier request) is rejected when we
    /// sent our own nonce, even if the bundle's `nonce` field claims ours.
    #[test]
    fn evidence_must_bind_our_nonce() {
        use std::sync::Arc;
        use txnchain_tee::platform::VirtualPlatform;
        use txnchain_tee::{FailureKind, IdentityAlgorithm, NodeIdentity, attestation_response};

        let platform = VirtualPlatform::new(Some([7; 48]), [0; 32]);
        let identity = Arc::new(NodeIdentity::generate(IdentityAlgorithm::Ed25519).unwrap());
        let ours = [0x11u8; 32];
        let fresh = attestation_response(&platform, &identity, Some(&ours)).unwrap();
        let mut replayed = attestation_response(&platform, &identity, Some(&[0x22; 32])).unwrap();
        replayed.nonce = Some(ours.to_vec());
        let startup = attestation_response(&platform, &identity, None).unwrap();

        let check = |b: &EvidenceBundle, nonce: Option<&[u8]>| {
            let opts = VerifyOptions::new(now_unix(), expected_report_data(None, nonce, b));
            verify_bundle(b, &Policy::dev(), &opts)
        };
        let v = check(&fresh, Some(&ours));
        assert!(v.is_trusted(), "{v}");
        assert!(
            v.claim("policy.freshness")
                .unwrap()
                .detail
                .contains("this verifier's nonce")
        );
        for b in [&replayed, &startup] {
            assert_eq!(
                check(b, Some(&ours)).failure_kind(),
                Some(FailureKind::ReportDataMismatch)
            );
        }
        // A bundle without an identity key cannot bind our nonce.
        let mut keyless = fresh.clone();
        keyless.identity_public_key = None;
        assert_eq!(
            check(&keyless, Some(&ours)).failure_kind(),
            Some(FailureKind::ReportDataMismatch)
        );
        // Without our nonce (--no-nonce) the start-up evidence verifies, but not as
        // bound to a nonce of ours.
        let v = check(&startup, None);
        assert!(v.is_trusted(), "{v}");
        assert!(
            !v.claim("policy.freshness")
                .unwrap()
                .detail
                .contains("this verifier's nonce"),
            "{v}"
        );
    }
}
