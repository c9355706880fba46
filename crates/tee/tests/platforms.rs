//! Platforms end to end: `virtual` through the node surface and the
//! verifier, `--tee` selection, and the configfs-tsm code path against a
//! prepared directory tree with an emulated kernel.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use txnchain_tee::platform::{
    ConfigfsTsm, SevSnpPlatform, TdxPlatform, TsmEmulator, VirtualPlatform, select_auto,
};
use txnchain_tee::verify::{ExpectedReportData, VerifyOptions, verify_bundle};
use txnchain_tee::{
    ClaimStatus, EvidenceBundle, EvidencePlatform, FailureKind, IdentityAlgorithm, NodeAttestation,
    NodeIdentity, Platform, PlatformConfig, Policy, TeeChoice, TeeError, attestation_response,
    now_unix, select_platform,
};

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/attestation-vectors"
);

fn virtual_node(alg: IdentityAlgorithm) -> (Arc<dyn Platform>, Arc<NodeIdentity>) {
    let platform: Arc<dyn Platform> = Arc::new(VirtualPlatform::new(Some([7; 48]), [9; 32]));
    (platform, Arc::new(NodeIdentity::generate(alg).unwrap()))
}

#[test]
fn virtual_evidence_is_insecure_and_only_dev_policies_accept_it() {
    for alg in [IdentityAlgorithm::Ed25519, IdentityAlgorithm::P384] {
        let (platform, identity) = virtual_node(alg);
        let resp = attestation_response(platform.as_ref(), &identity, None).unwrap();
        assert!(resp.insecure);
        assert_eq!(resp.platform, EvidencePlatform::Virtual);
        assert_eq!(
            resp.measurement.as_deref(),
            Some(hex::encode([7u8; 48]).as_str())
        );
        assert_eq!(
            resp.identity_public_key.as_deref(),
            Some(identity.public_key_spki_der())
        );
        // The JSON a node serves says so too.
        let json = resp.to_json_pretty();
        assert!(json.contains("\"insecure\": true"), "{json}");

        let now = now_unix();
        let opts = VerifyOptions::new(now, ExpectedReportData::FromBundle);
        let v = verify_bundle(&resp, &Policy::dev(), &opts);
        assert!(v.is_trusted(), "{v}");
        assert!(v.insecure);
        assert!(v.to_string().contains("INSECURE"), "{v}");

        let v = verify_bundle(&resp, &Policy::default(), &opts);
        assert_eq!(v.failure_kind(), Some(FailureKind::InsecurePlatform), "{v}");
        assert!(v.to_string().contains("INSECURE"));

        // A policy that allows virtual but lists measurements enforces them.
        let mut p = Policy {
            allow_insecure_virtual: true,
            ..Policy::default()
        };
        let v = verify_bundle(&resp, &p, &opts);
        assert_eq!(
            v.failure_kind(),
            Some(FailureKind::MeasurementNotAllowed),
            "{v}"
        );
        p.measurements
            .push(txnchain_tee::policy::Measured::Virtual([7; 48]).to_entry());
        assert!(verify_bundle(&resp, &p, &opts).is_trusted());
        p.host_data = vec![hex::encode([8u8; 32])];
        assert_eq!(
            verify_bundle(&resp, &p, &opts).failure_kind(),
            Some(FailureKind::HostDataNotAllowed)
        );
    }
}

#[test]
fn nonce_binding_and_freshness() {
    let (platform, identity) = virtual_node(IdentityAlgorithm::Ed25519);
    let node = NodeAttestation::new(platform, identity.clone()).unwrap();
    let nonce = [0xabu8; 16];
    let resp = node.respond(Some(&hex::encode(nonce))).unwrap();
    assert_eq!(resp.nonce.as_deref(), Some(&nonce[..]));

    let mut policy = Policy::dev();
    policy.require_nonce = true;
    let ours = VerifyOptions::new(
        now_unix(),
        ExpectedReportData::Identity {
            spki_der: identity.public_key_spki_der().to_vec(),
            nonce: Some(nonce.to_vec()),
        },
    );
    let v = verify_bundle(&resp, &policy, &ours);
    assert!(v.is_trusted(), "{v}");
    assert_eq!(
        v.claim("policy.freshness").unwrap().status,
        ClaimStatus::Pass
    );

    // The start-up evidence (no nonce) cannot answer our nonce.
    let v = verify_bundle(node.startup(), &policy, &ours);
    assert_eq!(
        v.failure_kind(),
        Some(FailureKind::ReportDataMismatch),
        "{v}"
    );
    // A bundle's own nonce is binding, but not freshness chosen by us.
    let from_bundle = VerifyOptions::new(now_unix(), ExpectedReportData::FromBundle);
    let v = verify_bundle(&resp, &policy, &from_bundle);
    assert_eq!(v.failure_kind(), Some(FailureKind::NotFresh), "{v}");
    // Another node's key does not match.
    let other = NodeIdentity::generate(IdentityAlgorithm::P384).unwrap();
    let theirs = VerifyOptions::new(
        now_unix(),
        ExpectedReportData::Identity {
            spki_der: other.public_key_spki_der().to_vec(),
            nonce: Some(nonce.to_vec()),
        },
    );
    let v = verify_bundle(&resp, &Policy::dev(), &theirs);
    assert_eq!(
        v.failure_kind(),
        Some(FailureKind::ReportDataMismatch),
        "{v}"
    );

    // Each fresh report is new evidence for its own nonce; the start-up one stays.
    let again = node.respond(Some("01")).unwrap();
    assert_eq!(again.nonce.as_deref(), Some(&[1u8][..]));
    assert_ne!(again.evidence, resp.evidence);
    assert_eq!(
        node.respond(None).unwrap().evidence,
        node.startup().evidence
    );
    assert!(matches!(node.respond(Some("zz")), Err(TeeError::Nonce(_))));
    assert!(matches!(
        node.respond(Some(&"00".repeat(65))),
        Err(TeeError::Nonce(_))
    ));
}

#[test]
fn tampered_virtual_claims_are_caught() {
    let (platform, identity) = virtual_node(IdentityAlgorithm::Ed25519);
    let resp = attestation_response(platform.as_ref(), &identity, None).unwrap();
    let opts = VerifyOptions::new(now_unix(), ExpectedReportData::FromBundle);
    let mut claims: serde_json::Value = serde_json::from_slice(&resp.evidence).unwrap();

    let mut debug = claims.clone();
    debug["debug"] = true.into();
    let mut b = resp.clone();
    b.evidence = serde_json::to_vec(&debug).unwrap();
    assert_eq!(
        verify_bundle(&b, &Policy::dev(), &opts).failure_kind(),
        Some(FailureKind::DebugEnabled)
    );
    let mut allow = Policy::dev();
    allow.allow_debug = true;
    assert!(verify_bundle(&b, &allow, &opts).is_trusted());

    claims["report_data"] = hex::encode([1u8; 64]).into();
    b.evidence = serde_json::to_vec(&claims).unwrap();
    assert_eq!(
        verify_bundle(&b, &Policy::dev(), &opts).failure_kind(),
        Some(FailureKind::ReportDataMismatch)
    );
    claims["insecure"] = false.into();
    b.evidence = serde_json::to_vec(&claims).unwrap();
    assert_eq!(
        verify_bundle(&b, &Policy::dev(), &opts).failure_kind(),
        Some(FailureKind::Malformed)
    );
    b.evidence = b"not json".to_vec();
    assert_eq!(
        verify_bundle(&b, &Policy::dev(), &opts).failure_kind(),
        Some(FailureKind::Malformed)
    );

    // Old claim sets are refused when the policy bounds their age.
    let mut p = Policy::dev();
    p.max_evidence_age_secs = Some(60);
    let later = VerifyOptions::new(now_unix() + 3600, ExpectedReportData::FromBundle);
    assert_eq!(
        verify_bundle(&resp, &p, &later).failure_kind(),
        Some(FailureKind::NotFresh)
    );
    assert!(verify_bundle(&resp, &p, &opts).is_trusted());
}

#[test]
fn tee_choice_and_auto_never_fall_back_to_virtual() {
    assert_eq!("auto".parse::<TeeChoice>().unwrap(), TeeChoice::Auto);
    assert_eq!("sev-snp".parse::<TeeChoice>().unwrap(), TeeChoice::SevSnp);
    assert_eq!("TDX".parse::<TeeChoice>().unwrap(), TeeChoice::Tdx);
    assert!(matches!(
        "sgx".parse::<TeeChoice>(),
        Err(TeeError::UnknownPlatform(_))
    ));

    let dir = tempfile::tempdir().unwrap();
    let config = PlatformConfig {
        configfs_root: dir.path().join("no-such-configfs"),
        ..PlatformConfig::default()
    };
    let err = select_platform(TeeChoice::Auto, &config).unwrap_err();
    assert!(matches!(err, TeeError::NoHardwareTee { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("never falls back") && msg.contains("--tee virtual"),
        "{msg}"
    );
    for choice in [TeeChoice::SevSnp, TeeChoice::Tdx] {
        let err = select_platform(choice, &config).unwrap_err();
        assert!(matches!(err, TeeError::Configfs { .. }), "{err}");
        assert!(err.to_string().contains("configfs mounted"), "{err}");
    }
    let p = select_platform(TeeChoice::Virtual, &config).unwrap();
    assert!(p.is_insecure());
}

type ReportFn = Box<dyn Fn(&[u8]) -> Vec<u8> + Send + Sync>;

/// Stands in for the kernel: creates the attribute files when an entry is
/// made and answers `inblob` with a report carrying it.
struct FakeKernel {
    provider: &'static str,
    /// Returns the outblob for an inblob.
    report: ReportFn,
    auxblob: Option<Vec<u8>>,
    /// Extra generation increments, simulating another writer.
    interference: AtomicU64,
}

impl TsmEmulator for FakeKernel {
    fn entry_created(&self, entry: &Path) -> std::io::Result<()> {
        std::fs::write(entry.join("provider"), format!("{}\n", self.provider))?;
        std::fs::write(entry.join("generation"), "0\n")
    }
    fn inblob_written(&self, entry: &Path) -> std::io::Result<()> {
        let inblob = std::fs::read(entry.join("inblob"))?;
        std::fs::write(entry.join("outblob"), (self.report)(&inblob))?;
        if let Some(aux) = &self.auxblob {
            std::fs::write(entry.join("auxblob"), aux)?;
        }
        let generation = 1 + self.interference.load(Ordering::SeqCst);
        std::fs::write(entry.join("generation"), format!("{generation}\n"))
    }
}

fn snp_like(inblob: &[u8]) -> Vec<u8> {
    let mut r = vec![0u8; 1184];
    r[0] = 2;
    r[0x50..0x90].copy_from_slice(inblob);
    r[0x90..0xC0].copy_from_slice(&[0x5a; 48]);
    r
}

fn cert_table(vcek: &[u8]) -> Vec<u8> {
    // VCEK GUID 63da758d-e664-4564-adc5-f4b93be8accd, RFC byte order.
    let guid = hex::decode("63da758de6644564adc5f4b93be8accd").unwrap();
    let mut t = guid;
    t.extend_from_slice(&48u32.to_le_bytes());
    t.extend_from_slice(&u32::try_from(vcek.len()).unwrap().to_le_bytes());
    t.extend_from_slice(&[0u8; 24]);
    t.extend_from_slice(vcek);
    t
}

#[test]
fn configfs_sev_snp_request_on_a_prepared_tree() {
    let root = tempfile::tempdir().unwrap();
    let vcek = std::fs::read(format!("{VECTORS}/sev/vcek_milan.der")).unwrap();
    let kernel = Arc::new(FakeKernel {
        provider: "sev_guest",
        report: Box::new(snp_like),
        auxblob: Some(cert_table(&vcek)),
        interference: AtomicU64::new(0),
    });
    let tsm = ConfigfsTsm::new(root.path()).with_emulator(kernel.clone());
    let platform = select_auto(tsm, &PlatformConfig::default()).unwrap();
    assert_eq!(platform.kind(), EvidencePlatform::SevSnp);
    assert!(!platform.is_insecure());

    let identity = NodeIdentity::generate(IdentityAlgorithm::Ed25519).unwrap();
    let resp = attestation_response(platform.as_ref(), &identity, Some(b"n")).unwrap();
    assert_eq!(resp.evidence[0x50..0x90], identity.report_data(Some(b"n")));
    assert_eq!(
        resp.measurement.as_deref(),
        Some(hex::encode([0x5a; 48]).as_str())
    );
    assert!(!resp.insecure);
    let vcek_b64 = txnchain_tee::evidence::encode_cert_der(&vcek);
    assert_eq!(resp.endorsements.vcek.as_deref(), Some(vcek_b64.as_str()));
    // The fake report is unsigned: verification must reject it.
    let opts = VerifyOptions::new(now_unix(), ExpectedReportData::FromBundle);
    let v = verify_bundle(&resp, &Policy::dev(), &opts);
    assert!(!v.is_trusted(), "{v}");

    // Another writer bumps the generation: the report is discarded.
    kernel.interference.store(1, Ordering::SeqCst);
    let err = platform.attest(&[0; 64]).unwrap_err();
    assert!(
        matches!(
            err,
            TeeError::GenerationMismatch {
                expected: 1,
                found: 2,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn configfs_rejects_wrong_provider_and_wrong_report_data() {
    let root = tempfile::tempdir().unwrap();
    let tdx_kernel = Arc::new(FakeKernel {
        provider: "tdx_guest",
        report: Box::new(|_| vec![1, 2, 3]),
        auxblob: None,
        interference: AtomicU64::new(0),
    });
    let err = SevSnpPlatform::open(
        ConfigfsTsm::new(root.path()).with_emulator(tdx_kernel),
        None,
    )
    .unwrap_err();
    assert!(matches!(err, TeeError::WrongProvider { .. }), "{err}");

    let liar = Arc::new(FakeKernel {
        provider: "sev_guest",
        report: Box::new(|_| snp_like(&[0xee; 64])),
        auxblob: None,
        interference: AtomicU64::new(0),
    });
    let p = SevSnpPlatform::open(ConfigfsTsm::new(root.path()).with_emulator(liar), None).unwrap();
    assert!(matches!(
        p.attest(&[1; 64]),
        Err(TeeError::ReportDataMismatch)
    ));
}

#[test]
fn configfs_tdx_request_with_collateral_directory() {
    let root = tempfile::tempdir().unwrap();
    let quote = std::fs::read(format!("{VECTORS}/dcap-qvl/tdx_quote")).unwrap();
    let parsed = dcap_qvl::quote::Quote::parse(&quote).unwrap();
    let rd = parsed.report.as_td10().unwrap().report_data;
    let at = quote.windows(64).position(|w| w == rd).unwrap();
    let kernel = Arc::new(FakeKernel {
        provider: "tdx_guest",
        report: Box::new(move |inblob| {
            let mut q = quote.clone();
            q[at..at + 64].copy_from_slice(inblob);
            q
        }),
        auxblob: None,
        interference: AtomicU64::new(0),
    });
    let coll_dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        format!("{VECTORS}/dcap-qvl/tdx_quote_collateral.json"),
        coll_dir.path().join("collateral.json"),
    )
    .unwrap();
    let p = TdxPlatform::open(
        ConfigfsTsm::new(root.path()).with_emulator(kernel),
        Some(coll_dir.path().to_path_buf()),
    )
    .unwrap();
    let identity = NodeIdentity::generate(IdentityAlgorithm::P384).unwrap();
    let resp = attestation_response(&p, &identity, None).unwrap();
    assert_eq!(resp.platform, EvidencePlatform::Tdx);
    assert!(resp.endorsements.collateral.is_some());
    assert!(resp.measurement.as_deref().unwrap().starts_with("mrtd="));
    // Re-targeting a real quote at another key breaks its signature.
    let collateral = resp.endorsements.collateral.as_ref().unwrap();
    let w = txnchain_tee::verify::collateral_window(collateral).unwrap();
    let opts = VerifyOptions::new(w.not_before + 86_400, ExpectedReportData::FromBundle);
    let policy = Policy {
        allow_any_measurement: true,
        ..Policy::default()
    };
    let v = verify_bundle(&resp, &policy, &opts);
    assert_eq!(v.failure_kind(), Some(FailureKind::Signature), "{v}");
    // And the bundle survives a trip through JSON.
    let back = EvidenceBundle::from_json(resp.to_json_pretty().as_bytes()).unwrap();
    assert_eq!(back, resp);
}
