//! Verification against real, published hardware evidence in
//! `../shared/attestation-vectors` (see its README for the origin of each
//! file). Every test fixes `now` inside the validity window read from the
//! collateral itself, and uses the evidence's own report_data as the
//! expected raw value.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use txnchain_tee::evidence::{Endorsements, EvidenceBundle, EvidencePlatform, encode_cert_der};
use txnchain_tee::policy::{Measured, MinTcb, Policy, SgxMinTcb, SnpMinTcb, TdxMinTcb};
use txnchain_tee::verify::{
    ExpectedReportData, TrustRoots, VerifyOptions, certificate_validity, collateral_window,
    verify_bundle,
};
use txnchain_tee::{ClaimStatus, FailureCategory, FailureKind, Verdict, format_utc};

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/attestation-vectors"
);

fn read(rel: &str) -> Vec<u8> {
    let path = format!("{VECTORS}/{rel}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("test vector {path}: {e}"))
}

/// One real piece of evidence, ready to verify.
#[derive(Clone)]
struct Case {
    name: &'static str,
    bundle: EvidenceBundle,
    /// Inside the collateral's validity window.
    now: u64,
    /// Just past the end of the window.
    expired_now: u64,
    measured: Measured,
    report_data: [u8; 64],
    /// Where the measurement, report_data and signature start in the raw evidence.
    measurement_at: usize,
    report_data_at: usize,
    signature_at: usize,
}

impl Case {
    fn opts(&self) -> VerifyOptions {
        VerifyOptions::new(self.now, ExpectedReportData::Raw(self.report_data))
    }

    /// A policy that allows exactly this evidence's measurement.
    fn policy(&self) -> Policy {
        Policy {
            measurements: vec![self.measured.to_entry()],
            ..Policy::default()
        }
    }

    fn verify(&self, policy: &Policy) -> Verdict {
        verify_bundle(&self.bundle, policy, &self.opts())
    }

    fn with_flipped_bit(&self, at: usize) -> EvidenceBundle {
        let mut b = self.bundle.clone();
        b.evidence[at] ^= 0x01;
        b
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("field not found in evidence"))
}

fn snp() -> Case {
    let hex_text = String::from_utf8(read("sev/report_milan.hex")).unwrap();
    let report = hex::decode(hex_text.trim()).unwrap();
    assert_eq!(report.len(), 1184);
    let vcek = read("sev/vcek_milan.der");
    let chain = String::from_utf8(read("sev/cert_chain_milan")).unwrap();
    let pems: Vec<String> = chain
        .split_inclusive("-----END CERTIFICATE-----")
        .map(|s| s.trim().to_string())
        .filter(|s| s.starts_with("-----BEGIN"))
        .collect();
    assert_eq!(pems.len(), 2, "ASK then ARK");
    // The window in which all three certificates are valid.
    let mut nb = 0;
    let mut na = u64::MAX;
    let der_of = |pem: &str| {
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap()
    };
    for der in [vcek.clone(), der_of(&pems[0]), der_of(&pems[1])] {
        let (b, a) = certificate_validity(&der).unwrap();
        nb = nb.max(b);
        na = na.min(a);
    }
    let measurement: [u8; 48] = report[0x90..0xC0].try_into().unwrap();
    let report_data: [u8; 64] = report[0x50..0x90].try_into().unwrap();
    Case {
        name: "sev-snp milan",
        bundle: EvidenceBundle {
            version: 1,
            platform: EvidencePlatform::SevSnp,
            evidence: report,
            identity_public_key: None,
            nonce: None,
            measurement: None,
            endorsements: Endorsements {
                vcek: Some(encode_cert_der(&vcek)),
                ask: Some(pems[0].clone()),
                ark: Some(pems[1].clone()),
                ..Default::default()
            },
            insecure: false,
            service_identity: None,
            service_statement: None,
        },
        now: nb + (na - nb) / 2,
        expired_now: na + 86_400,
        measured: Measured::SevSnp(measurement),
        report_data,
        measurement_at: 0x90,
        report_data_at: 0x50,
        signature_at: 0x2A0,
    }
}

fn dcap(name: &'static str, platform: EvidencePlatform, quote: &str, collateral: &str) -> Case {
    let raw = read(&format!("dcap-qvl/{quote}"));
    let collateral: dcap_qvl::QuoteCollateralV3 =
        serde_json::from_slice(&read(&format!("dcap-qvl/{collateral}"))).unwrap();
    let window = collateral_window(&collateral).unwrap();
    assert!(window.not_before < window.not_after);
    let quote = dcap_qvl::quote::Quote::parse(&raw).unwrap();
    let (measured, report_data, measurement_field) = match &quote.report {
        dcap_qvl::quote::Report::SgxEnclave(r) => (
            Measured::Sgx {
                mrenclave: r.mr_enclave,
                mrsigner: r.mr_signer,
            },
            r.report_data,
            r.mr_enclave.to_vec(),
        ),
        other => {
            let td = other.as_td10().unwrap();
            (
                Measured::Tdx {
                    mrtd: td.mr_td,
                    rtmr: [td.rt_mr0, td.rt_mr1, td.rt_mr2, td.rt_mr3],
                },
                td.report_data,
                td.mr_td.to_vec(),
            )
        }
    };
    Case {
        name,
        measurement_at: find(&raw[..quote.signed_length()], &measurement_field),
        report_data_at: find(&raw[..quote.signed_length()], &report_data),
        // The ECDSA signature follows the signed part and the 4-byte auth-data length.
        signature_at: quote.signed_length() + 4,
        bundle: EvidenceBundle {
            version: 1,
            platform,
            evidence: raw,
            identity_public_key: None,
            nonce: None,
            measurement: None,
            endorsements: Endorsements {
                collateral: Some(collateral),
                ..Default::default()
            },
            insecure: false,
            service_identity: None,
            service_statement: None,
        },
        now: window.not_before + (window.not_after - window.not_before) / 2,
        expired_now: window.not_after + 86_400,
        measured,
        report_data,
    }
}

fn tdx() -> Case {
    dcap(
        "tdx v4",
        EvidencePlatform::Tdx,
        "tdx_quote",
        "tdx_quote_collateral.json",
    )
}

fn sgx() -> Case {
    dcap(
        "sgx v3",
        EvidencePlatform::Sgx,
        "sgx_quote",
        "sgx_quote_collateral.json",
    )
}

fn tdx_outdated() -> Case {
    dcap(
        "tdx v5 out of date",
        EvidencePlatform::Tdx,
        "tdx_quote_outdated",
        "tdx_quote_outdated_collateral.json",
    )
}

fn allowing(case: &Case, status: &str) -> Policy {
    let mut p = case.policy();
    p.accepted_tcb_statuses.push(status.to_string());
    p
}

/// Each case with a policy under which the untampered evidence is trusted.
fn trusted_cases() -> Vec<(Case, Policy)> {
    let (s, t, g, o) = (snp(), tdx(), sgx(), tdx_outdated());
    let (ps, pt) = (s.policy(), t.policy());
    let pg = allowing(&g, "ConfigurationAndSWHardeningNeeded");
    let po = allowing(&o, "TcbNotSupported");
    vec![(s, ps), (t, pt), (g, pg), (o, po)]
}

fn assert_trusted(case: &Case, v: &Verdict) {
    assert!(v.is_trusted(), "{} should be trusted:\n{v}", case.name);
    assert!(!v.insecure);
    assert!(
        v.claims.iter().all(|c| c.status != ClaimStatus::Fail),
        "{v}"
    );
}

fn assert_rejected(case: &Case, what: &str, v: &Verdict, kind: FailureKind) {
    let failure = v
        .failure
        .as_ref()
        .unwrap_or_else(|| panic!("{} with {what} was accepted:\n{v}", case.name));
    assert_eq!(failure.kind, kind, "{} with {what}:\n{v}", case.name);
    let claim = v.claim(&failure.claim).expect("failed claim is listed");
    assert_eq!(claim.status, ClaimStatus::Fail);
}

#[test]
fn snp_report_is_accepted_with_every_claim_checked() {
    let case = snp();
    let v = case.verify(&case.policy());
    assert_trusted(&case, &v);
    for claim in [
        "snp.parse",
        "snp.chain",
        "snp.signature",
        "snp.cert_validity",
        "snp.vek_tcb",
        "snp.chip_id",
        "policy.platform",
        "policy.report_data",
        "policy.measurement",
        "policy.debug",
        "policy.vmpl",
        "policy.migrate_ma",
    ] {
        assert_eq!(
            v.claim(claim).map(|c| c.status),
            Some(ClaimStatus::Pass),
            "{claim}:\n{v}"
        );
    }
    // No CRL comes with this vector: revocation is listed as not checked.
    for claim in ["snp.crl", "policy.crl"] {
        assert_eq!(
            v.claim(claim).map(|c| c.status),
            Some(ClaimStatus::NotApplicable),
            "{claim}:\n{v}"
        );
    }
    assert!(v.claim("snp.chain").unwrap().detail.contains("Milan"));
    assert_eq!(
        v.measurement.as_deref(),
        Some(case.measured.to_string().as_str())
    );
    assert_eq!(v.tcb_status, None, "SNP has no TCB status");
}

#[test]
fn tdx_quote_is_accepted_up_to_date() {
    let case = tdx();
    let v = case.verify(&case.policy());
    assert_trusted(&case, &v);
    assert_eq!(v.tcb_status.as_deref(), Some("UpToDate"));
    for claim in [
        "dcap.chain",
        "dcap.signature",
        "dcap.tcb_level",
        "policy.tcb_status",
    ] {
        assert_eq!(
            v.claim(claim).map(|c| c.status),
            Some(ClaimStatus::Pass),
            "{v}"
        );
    }
}

#[test]
fn sgx_quote_needs_its_status_allowed() {
    let case = sgx();
    let v = case.verify(&case.policy());
    assert_rejected(
        &case,
        "the default status policy",
        &v,
        FailureKind::TcbStatusNotAccepted,
    );
    let msg = &v.failure.as_ref().unwrap().message;
    assert!(msg.contains("ConfigurationAndSWHardeningNeeded"), "{msg}");
    assert!(
        msg.contains("INTEL-SA-00289") && msg.contains("INTEL-SA-00615"),
        "{msg}"
    );
    assert_eq!(
        v.failure.as_ref().unwrap().kind.category(),
        FailureCategory::Policy
    );

    let v = case.verify(&allowing(&case, "ConfigurationAndSWHardeningNeeded"));
    assert_trusted(&case, &v);
    assert_eq!(
        v.tcb_status.as_deref(),
        Some("ConfigurationAndSWHardeningNeeded")
    );

    // Allowed status, but one of its advisories is rejected.
    let mut p = allowing(&case, "ConfigurationAndSWHardeningNeeded");
    p.rejected_advisories = vec!["INTEL-SA-00615".into()];
    assert_rejected(
        &case,
        "a rejected advisory",
        &case.verify(&p),
        FailureKind::AdvisoryRejected,
    );
}

/// The out-of-date TDX quote's platform is below every TCB level its TCB info
/// lists: that is `TcbNotSupported`, not `OutOfDate`, and only a policy that
/// names it accepts it.
#[test]
fn tdx_quote_below_every_tcb_level_needs_tcb_not_supported_allowed() {
    let case = tdx_outdated();
    assert_eq!(case.bundle.evidence[0], 5, "quote v5");
    let v = case.verify(&case.policy());
    assert_rejected(
        &case,
        "the default status policy",
        &v,
        FailureKind::TcbStatusNotAccepted,
    );
    assert_eq!(v.tcb_status.as_deref(), Some("TcbNotSupported"), "{v}");
    assert!(
        v.failure
            .as_ref()
            .unwrap()
            .message
            .starts_with("TcbNotSupported "),
        "{v}"
    );
    assert!(
        v.claim("dcap.tcb_level")
            .unwrap()
            .detail
            .contains("below every level"),
        "{v}"
    );

    // Accepting OutOfDate (even with every other Intel status) is not enough.
    let mut every_intel_status = case.policy();
    every_intel_status.accepted_tcb_statuses = txnchain_tee::policy::KNOWN_TCB_STATUSES
        .iter()
        .filter(|s| **s != "TcbNotSupported")
        .map(std::string::ToString::to_string)
        .collect();
    for policy in [allowing(&case, "OutOfDate"), every_intel_status] {
        let v = case.verify(&policy);
        assert_rejected(
            &case,
            "a policy accepting OutOfDate",
            &v,
            FailureKind::TcbStatusNotAccepted,
        );
        assert_eq!(v.tcb_status.as_deref(), Some("TcbNotSupported"), "{v}");
    }

    let v = case.verify(&allowing(&case, "TcbNotSupported"));
    assert_trusted(&case, &v);
    assert_eq!(v.tcb_status.as_deref(), Some("TcbNotSupported"));
    // A TOML policy names it the same way.
    let toml = txnchain_tee::Policy::from_toml_str(
        "accepted_tcb_statuses = [\"UpToDate\", \"TcbNotSupported\"]",
    )
    .unwrap();
    let policy = Policy {
        measurements: case.policy().measurements,
        ..toml
    };
    assert_trusted(&case, &case.verify(&policy));
}

#[test]
fn one_flipped_bit_is_a_signature_error() {
    for (case, policy) in trusted_cases() {
        assert_trusted(&case, &case.verify(&policy));
        for (what, at) in [
            ("signature", case.signature_at),
            ("measurement", case.measurement_at),
            ("report_data", case.report_data_at),
        ] {
            let v = verify_bundle(&case.with_flipped_bit(at), &policy, &case.opts());
            assert_rejected(&case, what, &v, FailureKind::Signature);
            assert_eq!(
                v.failure.as_ref().unwrap().kind.category(),
                FailureCategory::Signature
            );
        }
    }
}

#[test]
fn measurement_missing_from_allow_list_is_a_policy_error() {
    for (case, mut policy) in trusted_cases() {
        policy.measurements.clear();
        let v = case.verify(&policy);
        assert_rejected(
            &case,
            "an empty allow-list",
            &v,
            FailureKind::MeasurementNotAllowed,
        );
        // The verdict still lists the claims after the first failure.
        assert!(v.claim("policy.debug").is_some(), "{v}");
        // An allow-list with only other platforms' or other values' entries.
        let mut other = case.measured.to_entry();
        match case.measured {
            Measured::SevSnp(_) => other.value = Some("ff".repeat(48)),
            Measured::Tdx { .. } => other.rtmr2 = Some("ff".repeat(48)),
            Measured::Sgx { .. } => other.mrenclave = Some("ff".repeat(32)),
            Measured::Virtual(_) => unreachable!(),
        }
        policy.measurements = vec![other];
        let v = case.verify(&policy);
        assert_rejected(
            &case,
            "another measurement",
            &v,
            FailureKind::MeasurementNotAllowed,
        );
        assert_eq!(v.failure.unwrap().kind.category(), FailureCategory::Policy);
    }
}

#[test]
fn unexpected_report_data_is_a_policy_error() {
    for (case, policy) in trusted_cases() {
        let mut other = case.report_data;
        other[0] ^= 0x80;
        let opts = VerifyOptions::new(case.now, ExpectedReportData::Raw(other));
        let v = verify_bundle(&case.bundle, &policy, &opts);
        assert_rejected(
            &case,
            "other expected report_data",
            &v,
            FailureKind::ReportDataMismatch,
        );
        // Deriving from a presented key that is not the one bound.
        let opts = VerifyOptions::new(
            case.now,
            ExpectedReportData::Identity {
                spki_der: vec![0x30, 0x00],
                nonce: Some(vec![1, 2, 3]),
            },
        );
        let v = verify_bundle(&case.bundle, &policy, &opts);
        assert_rejected(
            &case,
            "a presented key",
            &v,
            FailureKind::ReportDataMismatch,
        );
        // A bundle with no identity key cannot be checked against itself.
        let opts = VerifyOptions::new(case.now, ExpectedReportData::FromBundle);
        let v = verify_bundle(&case.bundle, &policy, &opts);
        assert_rejected(
            &case,
            "no identity key",
            &v,
            FailureKind::ReportDataMismatch,
        );
    }
}

#[test]
fn expired_collateral_is_a_collateral_error() {
    for (case, policy) in trusted_cases() {
        let mut opts = case.opts();
        opts.now = case.expired_now;
        let v = verify_bundle(&case.bundle, &policy, &opts);
        assert_rejected(
            &case,
            &format!("now = {}", format_utc(opts.now)),
            &v,
            FailureKind::CollateralExpired,
        );
        assert_eq!(
            v.failure.unwrap().kind.category(),
            FailureCategory::Collateral
        );
    }
}

#[test]
fn wrong_root_is_a_chain_error() {
    // SEV-SNP: the Genoa root presented as the Milan root.
    let case = snp();
    let builtin = TrustRoots::builtin();
    let genoa = builtin
        .amd
        .iter()
        .find(|r| r.product == "Genoa")
        .unwrap()
        .clone();
    let mut opts = case.opts();
    opts.trust.amd = vec![txnchain_tee::verify::AmdRoot {
        product: "Milan".into(),
        ..genoa
    }];
    let v = verify_bundle(&case.bundle, &case.policy(), &opts);
    assert_rejected(&case, "the Genoa root", &v, FailureKind::Chain);
    // Also without the bundle's ASK/ARK, so the (wrong) built-in ASK is used.
    let mut bare = case.bundle.clone();
    bare.endorsements.ask = None;
    bare.endorsements.ark = None;
    assert_trusted(&case, &verify_bundle(&bare, &case.policy(), &case.opts()));
    let v = verify_bundle(&bare, &case.policy(), &opts);
    assert_rejected(
        &case,
        "the Genoa root, built-in ASK",
        &v,
        FailureKind::Chain,
    );
    // No root for the product at all.
    opts.trust.amd.clear();
    let v = verify_bundle(&case.bundle, &case.policy(), &opts);
    assert_rejected(&case, "no AMD roots", &v, FailureKind::Chain);

    // TDX / SGX: an Intel certificate that is not the root (the TCB signer)
    // used as the trust anchor.
    for case in [tdx(), sgx(), tdx_outdated()] {
        let collateral = case.bundle.endorsements.collateral.as_ref().unwrap();
        let pem = &collateral.tcb_info_issuer_chain;
        let first = pem.split("-----END CERTIFICATE-----").next().unwrap();
        let body: String = first.lines().filter(|l| !l.starts_with("-----")).collect();
        let wrong_root = base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .unwrap();
        let mut opts = case.opts();
        opts.trust.intel_root_der = Some(wrong_root);
        let mut policy = allowing(&case, "TcbNotSupported");
        policy
            .accepted_tcb_statuses
            .push("ConfigurationAndSWHardeningNeeded".into());
        assert_trusted(&case, &case.verify(&policy));
        let v = verify_bundle(&case.bundle, &policy, &opts);
        assert_rejected(&case, "a wrong Intel root", &v, FailureKind::Chain);
        assert_eq!(v.failure.unwrap().kind.category(), FailureCategory::Chain);
    }
}

#[test]
fn tampered_endorsements_are_rejected() {
    // SNP without any VCEK.
    let case = snp();
    let mut b = case.bundle.clone();
    b.endorsements.vcek = None;
    let v = verify_bundle(&b, &case.policy(), &case.opts());
    assert_rejected(&case, "no VCEK", &v, FailureKind::CollateralMissing);
    // SNP with the ASK in place of the VCEK.
    b.endorsements.vcek = case.bundle.endorsements.ask.clone();
    let v = verify_bundle(&b, &case.policy(), &case.opts());
    assert_ne!(v.failure_kind(), None, "{v}");
    // SNP with the ASK as the ARK: not the trusted root.
    let mut b = case.bundle.clone();
    b.endorsements.ark = case.bundle.endorsements.ask.clone();
    let v = verify_bundle(&b, &case.policy(), &case.opts());
    assert_rejected(&case, "the ASK as ARK", &v, FailureKind::Chain);

    // TDX: collateral missing, TCB info text altered (its signature breaks),
    // or another platform's collateral.
    let case = tdx();
    let mut b = case.bundle.clone();
    b.endorsements.collateral = None;
    assert_rejected(
        &case,
        "no collateral",
        &verify_bundle(&b, &case.policy(), &case.opts()),
        FailureKind::CollateralMissing,
    );
    let mut b = case.bundle.clone();
    if let Some(c) = b.endorsements.collateral.as_mut() {
        let altered = c.tcb_info.replacen(
            "\"tcbStatus\":\"UpToDate\"",
            "\"tcbStatus\":\"OutOfDate\"",
            1,
        );
        assert_ne!(altered, c.tcb_info);
        c.tcb_info = altered;
    }
    let v = verify_bundle(&b, &case.policy(), &case.opts());
    assert_rejected(&case, "an altered TCB info", &v, FailureKind::Signature);
    let mut b = case.bundle.clone();
    b.endorsements.collateral = sgx().bundle.endorsements.collateral;
    let mut opts = case.opts();
    opts.now = sgx().now;
    let v = verify_bundle(&b, &case.policy(), &opts);
    assert!(!v.is_trusted(), "{v}");
    // A TDX quote labelled as SGX.
    let mut b = case.bundle.clone();
    b.platform = EvidencePlatform::Sgx;
    let v = verify_bundle(&b, &case.policy(), &case.opts());
    assert_rejected(
        &case,
        "the wrong platform label",
        &v,
        FailureKind::Malformed,
    );
    // Truncated evidence.
    for case in [snp(), tdx(), sgx()] {
        let mut b = case.bundle.clone();
        b.evidence.truncate(b.evidence.len() / 2);
        let v = verify_bundle(&b, &case.policy(), &case.opts());
        assert_eq!(
            v.failure_kind().map(FailureKind::category),
            Some(FailureCategory::Evidence),
            "{v}"
        );
    }
}

#[test]
fn policy_minimums_host_data_and_freshness() {
    // SNP REPORTED_TCB of this report: bootloader 3, tee 0, snp 8, microcode 115.
    let case = snp();
    let mut p = case.policy();
    p.min_tcb = MinTcb {
        sev_snp: Some(SnpMinTcb {
            bootloader: 3,
            snp: 8,
            microcode: 115,
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_trusted(&case, &case.verify(&p));
    p.min_tcb.sev_snp.as_mut().unwrap().microcode = 116;
    let v = case.verify(&p);
    assert_rejected(&case, "microcode 116", &v, FailureKind::TcbBelowMinimum);
    assert!(v.failure.unwrap().message.contains("microcode 115 < 116"));

    let host_data = hex::encode(&case.bundle.evidence[0xC0..0xE0]);
    let mut p = case.policy();
    p.host_data = vec![host_data];
    assert_trusted(&case, &case.verify(&p));
    p.host_data = vec!["11".repeat(32)];
    assert_rejected(
        &case,
        "other host_data",
        &case.verify(&p),
        FailureKind::HostDataNotAllowed,
    );

    let mut p = case.policy();
    p.require_nonce = true;
    assert_rejected(
        &case,
        "require_nonce",
        &case.verify(&p),
        FailureKind::NotFresh,
    );

    // TDX: TEE_TCB_SVN minimum, MRCONFIGID as host data, collateral age.
    let case = tdx();
    let quote = dcap_qvl::quote::Quote::parse(&case.bundle.evidence).unwrap();
    let td = *quote.report.as_td10().unwrap();
    let mut p = case.policy();
    p.min_tcb.tdx = Some(TdxMinTcb {
        tee_tcb_svn: hex::encode(td.tee_tcb_svn),
    });
    assert_trusted(&case, &case.verify(&p));
    let mut higher = td.tee_tcb_svn;
    higher[0] += 1;
    p.min_tcb.tdx = Some(TdxMinTcb {
        tee_tcb_svn: hex::encode(higher),
    });
    assert_rejected(
        &case,
        "a higher TEE_TCB_SVN",
        &case.verify(&p),
        FailureKind::TcbBelowMinimum,
    );
    let mut p = case.policy();
    p.host_data = vec![hex::encode(td.mr_config_id)];
    assert_trusted(&case, &case.verify(&p));
    let mut p = case.policy();
    p.max_collateral_age_secs = Some(60);
    assert_rejected(
        &case,
        "a 60 s collateral age",
        &case.verify(&p),
        FailureKind::NotFresh,
    );
    p.max_collateral_age_secs = Some(40 * 86_400);
    assert_trusted(&case, &case.verify(&p));

    // SGX: ISVSVN minimum; it has no host data.
    let case = sgx();
    let quote = dcap_qvl::quote::Quote::parse(&case.bundle.evidence).unwrap();
    let isv_svn = quote.report.as_sgx().unwrap().isv_svn;
    let mut p = allowing(&case, "ConfigurationAndSWHardeningNeeded");
    p.min_tcb.sgx = Some(SgxMinTcb { isv_svn });
    assert_trusted(&case, &case.verify(&p));
    p.min_tcb.sgx = Some(SgxMinTcb {
        isv_svn: isv_svn + 1,
    });
    assert_rejected(
        &case,
        "a higher ISVSVN",
        &case.verify(&p),
        FailureKind::TcbBelowMinimum,
    );
    let mut p = allowing(&case, "ConfigurationAndSWHardeningNeeded");
    p.host_data = vec!["11".repeat(32)];
    assert_rejected(
        &case,
        "host_data on SGX",
        &case.verify(&p),
        FailureKind::HostDataNotAllowed,
    );
}

#[test]
fn collateral_directory_stands_in_for_the_bundle() {
    let dir = tempfile::tempdir().unwrap();
    // TDX: <fmspc>-tdx.json
    let case = tdx();
    let collateral = case.bundle.endorsements.collateral.clone().unwrap();
    let fmspc = serde_json::from_str::<serde_json::Value>(&collateral.tcb_info).unwrap()["fmspc"]
        .as_str()
        .unwrap()
        .to_ascii_lowercase();
    let mut bare = case.bundle.clone();
    bare.endorsements.collateral = None;
    let mut opts = case.opts();
    opts.collateral_dir = Some(dir.path().to_path_buf());
    let v = verify_bundle(&bare, &case.policy(), &opts);
    assert_rejected(
        &case,
        "an empty collateral dir",
        &v,
        FailureKind::CollateralMissing,
    );
    std::fs::write(
        dir.path().join(format!("{fmspc}-tdx.json")),
        serde_json::to_vec(&collateral).unwrap(),
    )
    .unwrap();
    let v = verify_bundle(&bare, &case.policy(), &opts);
    assert_trusted(&case, &v);
    assert!(
        v.claim("dcap.collateral")
            .unwrap()
            .detail
            .contains("-tdx.json")
    );

    // SNP: snp/vcek-<chip_id>-<reported_tcb>.der
    let case = snp();
    let mut bare = case.bundle.clone();
    bare.endorsements = Endorsements::default();
    let mut opts = case.opts();
    opts.collateral_dir = Some(dir.path().to_path_buf());
    let v = verify_bundle(&bare, &case.policy(), &opts);
    assert_rejected(&case, "no cached VCEK", &v, FailureKind::CollateralMissing);
    let chip = hex::encode(&case.bundle.evidence[0x1A0..0x1E0]);
    let tcb = u64::from_le_bytes(case.bundle.evidence[0x180..0x188].try_into().unwrap());
    std::fs::create_dir_all(dir.path().join("snp")).unwrap();
    std::fs::write(
        dir.path()
            .join("snp")
            .join(format!("vcek-{chip}-{tcb:016x}.der")),
        read("sev/vcek_milan.der"),
    )
    .unwrap();
    assert_trusted(&case, &verify_bundle(&bare, &case.policy(), &opts));
}

#[test]
fn bundles_round_trip_through_json() {
    for (case, policy) in trusted_cases() {
        let json = case.bundle.to_json_pretty();
        let back = EvidenceBundle::from_json(json.as_bytes()).unwrap();
        assert_eq!(back, case.bundle);
        assert_trusted(&case, &verify_bundle(&back, &policy, &case.opts()));
    }
}

#[test]
fn verification_is_deterministic() {
    for (case, policy) in trusted_cases() {
        assert_eq!(case.verify(&policy), case.verify(&policy));
    }
}

/// Corrupting any byte of real evidence, or truncating it, never panics a verifier: it always
/// produces a verdict (this is what a malicious node could send to `attest verify --url`).
#[test]
fn corrupted_and_truncated_evidence_never_panics() {
    for case in [snp(), tdx(), sgx(), tdx_outdated()] {
        let len = case.bundle.evidence.len();
        let stride = (len / 600).max(1);
        for at in (0..len).step_by(stride) {
            let mut b = case.bundle.clone();
            b.evidence[at] ^= 0xff;
            txnchain_tee::fuzzing::verify_evidence(&b);
            let _ = verify_bundle(&b, &case.policy(), &case.opts());
        }
        // Quotes may carry zero padding after their declared signature data; cutting into
        // anything before it must be rejected.
        let structural_end = case
            .bundle
            .evidence
            .iter()
            .rposition(|&b| b != 0)
            .unwrap_or(0);
        for cut in (0..=structural_end).step_by(stride * 7) {
            let mut b = case.bundle.clone();
            b.evidence.truncate(cut);
            let v = verify_bundle(&b, &case.policy(), &case.opts());
            assert!(
                !v.is_trusted(),
                "{}: truncated evidence ({cut} bytes) must be rejected",
                case.name
            );
        }
        let json = serde_json::to_vec(&case.bundle).unwrap();
        for cut in (0..json.len()).step_by((json.len() / 200).max(1)) {
            txnchain_tee::fuzzing::evidence_bundle(&json[..cut]);
        }
    }
}
