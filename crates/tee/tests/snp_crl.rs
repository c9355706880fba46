//! SEV-SNP revocation (AMD CRLs) and the VMPL / MIGRATE_MA policy checks.
//!
//! Revoking a certificate needs a CRL signed by the ARK, so these tests build
//! a synthetic AMD chain with keys they generate: an RSA ARK (self-signed) and
//! ASK, both RSASSA-PSS / SHA-384 as AMD's, a P-384 VCEK carrying the real
//! Milan report's TCB and CHIP_ID, and the real Milan report (from
//! `../shared/attestation-vectors`) re-signed by that VCEK, optionally with
//! its VMPL or guest policy changed. The same code path verifies it as real
//! evidence, with the synthetic ARK as the only trusted root. Tests against
//! the real Milan chain check that a CRL not signed by AMD's ARK is refused.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

use p384::ecdsa::signature::Signer as _;
use p384::pkcs8::EncodePublicKey as _;
use rsa::pkcs1::{RsaPssParams, TrailerField};
use rsa::rand_core::{CryptoRng, RngCore};
use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _};
use sha2::{Digest, Sha256, Sha384};
use txnchain_tee::evidence::{Endorsements, EvidenceBundle, EvidencePlatform, encode_cert_der};
use txnchain_tee::policy::{Measured, Policy};
use txnchain_tee::verify::{AmdRoot, ExpectedReportData, TrustRoots, VerifyOptions, verify_bundle};
use txnchain_tee::{ClaimStatus, FailureCategory, FailureKind, Verdict};
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::der::asn1::{BitString, OctetString, UtcTime};
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::{Any, AnyRef, Decode as _, Encode as _};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::spki::{AlgorithmIdentifier, AlgorithmIdentifierOwned, AlgorithmIdentifierRef};
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate};

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/attestation-vectors"
);

/// The verification time (2025-06-15), inside every synthetic validity window.
const NOW: u64 = 1_750_000_000;
const DAY: u64 = 86_400;

const OID_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const OID_MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");
const OID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");

const ASK_SERIAL: &[u8] = &[0x01, 0x00, 0x01];
const VCEK_SERIAL: &[u8] = &[0x42];

/// A deterministic RNG for key generation and PSS salts (rand_core 0.6, as `rsa` wants).
struct TestRng(u64);

impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        u32::try_from(self.next_u64() >> 32).unwrap()
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(32) {
            self.0 += 1;
            let block = Sha256::digest(self.0.to_le_bytes());
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for TestRng {}

fn read(rel: &str) -> Vec<u8> {
    let path = format!("{VECTORS}/{rel}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("test vector {path}: {e}"))
}

fn milan_report() -> Vec<u8> {
    let text = String::from_utf8(read("sev/report_milan.hex")).unwrap();
    hex::decode(text.trim()).unwrap()
}

/// RSASSA-PSS with SHA-384, MGF1-SHA-384 and a 48-byte salt, as AMD signs.
fn pss_alg() -> AlgorithmIdentifierOwned {
    let sha384 = AlgorithmIdentifierRef {
        oid: OID_SHA384,
        parameters: Some(AnyRef::NULL),
    };
    let params = RsaPssParams {
        hash: sha384,
        mask_gen: AlgorithmIdentifier {
            oid: OID_MGF1,
            parameters: Some(sha384),
        },
        salt_len: 48,
        trailer_field: TrailerField::BC,
    };
    AlgorithmIdentifierOwned {
        oid: OID_PSS,
        parameters: Some(Any::from_der(&params.to_der().unwrap()).unwrap()),
    }
}

fn time(unix: u64) -> Time {
    Time::UtcTime(UtcTime::from_unix_duration(Duration::from_secs(unix)).unwrap())
}

fn pss_sign(key: &rsa::RsaPrivateKey, message: &[u8]) -> BitString {
    let signer = rsa::pss::SigningKey::<Sha384>::new(key.clone());
    let sig = signer.sign_with_rng(&mut TestRng(7), message);
    BitString::from_bytes(&sig.to_vec()).unwrap()
}

fn ext(oid: &str, value: Vec<u8>) -> Extension {
    Extension {
        extn_id: ObjectIdentifier::new_unwrap(oid),
        critical: false,
        extn_value: OctetString::new(value).unwrap(),
    }
}

fn der_u8(v: u8) -> Vec<u8> {
    if v < 0x80 {
        vec![0x02, 0x01, v]
    } else {
        vec![0x02, 0x02, 0x00, v]
    }
}

fn certificate(
    serial: &[u8],
    issuer: &Name,
    subject: &Name,
    spki: SubjectPublicKeyInfoOwned,
    extensions: Option<Vec<Extension>>,
    signer: &rsa::RsaPrivateKey,
) -> Vec<u8> {
    let tbs = TbsCertificate {
        version: x509_cert::Version::V3,
        serial_number: SerialNumber::new(serial).unwrap(),
        signature: pss_alg(),
        issuer: issuer.clone(),
        validity: Validity {
            not_before: time(NOW - 365 * DAY),
            not_after: time(NOW + 365 * DAY),
        },
        subject: subject.clone(),
        subject_public_key_info: spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions,
    };
    let signature = pss_sign(signer, &tbs.to_der().unwrap());
    Certificate {
        tbs_certificate: tbs,
        signature_algorithm: pss_alg(),
        signature,
    }
    .to_der()
    .unwrap()
}

fn rsa_spki(key: &rsa::RsaPrivateKey) -> SubjectPublicKeyInfoOwned {
    let der = key.to_public_key().to_public_key_der().unwrap();
    SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).unwrap()
}

/// The synthetic AMD chain.
struct Chain {
    ark_key: rsa::RsaPrivateKey,
    /// Another RSA key, for CRLs that claim the ARK's name but are not its.
    other_key: rsa::RsaPrivateKey,
    ark_name: Name,
    ark_der: Vec<u8>,
    ask_der: Vec<u8>,
    vcek_der: Vec<u8>,
    vcek_key: p384::ecdsa::SigningKey,
}

fn chain() -> &'static Chain {
    static CHAIN: OnceLock<Chain> = OnceLock::new();
    CHAIN.get_or_init(|| {
        let mut rng = TestRng(1);
        let ark_key = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let ask_key = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let other_key = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let ark_name = Name::from_str("CN=ARK-Milan,O=TxnChain test (not AMD)").unwrap();
        let ask_name = Name::from_str("CN=SEV-Milan,O=TxnChain test (not AMD)").unwrap();
        let vcek_name = Name::from_str("CN=SEV-VCEK,O=TxnChain test (not AMD)").unwrap();
        let ark_der = certificate(
            &[0x01],
            &ark_name,
            &ark_name,
            rsa_spki(&ark_key),
            None,
            &ark_key,
        );
        let ask_der = certificate(
            ASK_SERIAL,
            &ark_name,
            &ask_name,
            rsa_spki(&ask_key),
            None,
            &ark_key,
        );

        // The VCEK certifies the real report's REPORTED_TCB and CHIP_ID.
        let report = milan_report();
        let tcb = &report[0x180..0x188];
        let mut hw_id = vec![0x04, 0x40];
        hw_id.extend_from_slice(&report[0x1A0..0x1E0]);
        let mut product = vec![0x16, 8];
        product.extend_from_slice(b"Milan-B0");
        let vcek_key = p384::ecdsa::SigningKey::from_slice(&Sha384::digest(b"test VCEK")).unwrap();
        let vcek_spki = SubjectPublicKeyInfoOwned::from_der(
            vcek_key
                .verifying_key()
                .to_public_key_der()
                .unwrap()
                .as_bytes(),
        )
        .unwrap();
        let vcek_der = certificate(
            VCEK_SERIAL,
            &ask_name,
            &vcek_name,
            vcek_spki,
            Some(vec![
                ext("1.3.6.1.4.1.3704.1.2", product),
                ext("1.3.6.1.4.1.3704.1.3.1", der_u8(tcb[0])),
                ext("1.3.6.1.4.1.3704.1.3.2", der_u8(tcb[1])),
                ext("1.3.6.1.4.1.3704.1.3.3", der_u8(tcb[6])),
                ext("1.3.6.1.4.1.3704.1.3.8", der_u8(tcb[7])),
                ext("1.3.6.1.4.1.3704.1.4", hw_id),
            ]),
            &ask_key,
        );
        Chain {
            ark_key,
            other_key,
            ark_name,
            ark_der,
            ask_der,
            vcek_der,
            vcek_key,
        }
    })
}

/// The real Milan report with VMPL and guest policy set as given, signed by the synthetic VCEK.
fn signed_report(vmpl: u32, policy: u64) -> Vec<u8> {
    let mut r = milan_report();
    r[0x08..0x10].copy_from_slice(&policy.to_le_bytes());
    r[0x30..0x34].copy_from_slice(&vmpl.to_le_bytes());
    let sig: p384::ecdsa::Signature = chain().vcek_key.sign(&r[..0x2A0]);
    let (rr, ss) = sig.split_bytes();
    let mut r_le: Vec<u8> = rr.to_vec();
    r_le.reverse();
    let mut s_le: Vec<u8> = ss.to_vec();
    s_le.reverse();
    r[0x2A0..0x2A0 + 72].fill(0);
    r[0x2A0..0x2A0 + 48].copy_from_slice(&r_le);
    r[0x2E8..0x2E8 + 72].fill(0);
    r[0x2E8..0x2E8 + 48].copy_from_slice(&s_le);
    r
}

/// The Milan report's own guest policy (SMT allowed, reserved bit 17).
const POLICY: u64 = 0x30000;
const MIGRATE_MA: u64 = 1 << 18;

fn bundle(report: Vec<u8>, crl: Option<&[u8]>) -> EvidenceBundle {
    let c = chain();
    EvidenceBundle {
        version: 1,
        platform: EvidencePlatform::SevSnp,
        evidence: report,
        identity_public_key: None,
        nonce: None,
        measurement: None,
        endorsements: Endorsements {
            vcek: Some(encode_cert_der(&c.vcek_der)),
            ask: Some(encode_cert_der(&c.ask_der)),
            ark: Some(encode_cert_der(&c.ark_der)),
            crl: crl.map(encode_cert_der),
            ..Default::default()
        },
        insecure: false,
        service_identity: None,
        service_statement: None,
    }
}

fn opts(report: &[u8]) -> VerifyOptions {
    let c = chain();
    let mut o = VerifyOptions::new(
        NOW,
        ExpectedReportData::Raw(report[0x50..0x90].try_into().unwrap()),
    );
    o.trust = TrustRoots {
        amd: vec![AmdRoot {
            product: "Milan".into(),
            ark_der: c.ark_der.clone(),
            ask_der: c.ask_der.clone(),
        }],
        intel_root_der: None,
    };
    o
}

fn policy() -> Policy {
    let m: [u8; 48] = milan_report()[0x90..0xC0].try_into().unwrap();
    Policy {
        measurements: vec![Measured::SevSnp(m).to_entry()],
        ..Policy::default()
    }
}

struct CrlSpec<'a> {
    issuer: &'a Name,
    key: &'a rsa::RsaPrivateKey,
    this_update: u64,
    next_update: Option<u64>,
    revoked: &'a [&'a [u8]],
}

impl Default for CrlSpec<'static> {
    fn default() -> Self {
        let c = chain();
        Self {
            issuer: &c.ark_name,
            key: &c.ark_key,
            this_update: NOW - DAY,
            next_update: Some(NOW + 7 * DAY),
            revoked: &[&[0x99], &[0x01, 0x00, 0x02]],
        }
    }
}

fn crl(spec: CrlSpec<'_>) -> Vec<u8> {
    let tbs = TbsCertList {
        version: x509_cert::Version::V2,
        signature: pss_alg(),
        issuer: spec.issuer.clone(),
        this_update: time(spec.this_update),
        next_update: spec.next_update.map(time),
        revoked_certificates: Some(
            spec.revoked
                .iter()
                .map(|serial| RevokedCert {
                    serial_number: SerialNumber::new(serial).unwrap(),
                    revocation_date: time(NOW - 30 * DAY),
                    crl_entry_extensions: None,
                })
                .collect(),
        ),
        crl_extensions: None,
    };
    let signature = pss_sign(spec.key, &tbs.to_der().unwrap());
    CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: pss_alg(),
        signature,
    }
    .to_der()
    .unwrap()
}

fn verify(b: &EvidenceBundle, p: &Policy) -> Verdict {
    verify_bundle(b, p, &opts(&b.evidence))
}

fn status(v: &Verdict, claim: &str) -> Option<ClaimStatus> {
    v.claim(claim).map(|c| c.status)
}

fn assert_rejected(v: &Verdict, kind: FailureKind, claim: &str) {
    let f = v
        .failure
        .as_ref()
        .unwrap_or_else(|| panic!("accepted:\n{v}"));
    assert_eq!((f.kind, f.claim.as_str()), (kind, claim), "{v}");
    assert_eq!(status(v, claim), Some(ClaimStatus::Fail), "{v}");
}

#[test]
fn synthetic_chain_is_trusted_and_says_revocation_was_not_checked() {
    let b = bundle(signed_report(0, POLICY), None);
    let v = verify(&b, &policy());
    assert!(v.is_trusted(), "{v}");
    for claim in ["snp.chain", "snp.signature", "snp.vek_tcb", "snp.chip_id"] {
        assert_eq!(status(&v, claim), Some(ClaimStatus::Pass), "{claim}:\n{v}");
    }
    assert_eq!(
        status(&v, "snp.crl"),
        Some(ClaimStatus::NotApplicable),
        "{v}"
    );
    assert_eq!(status(&v, "policy.crl"), Some(ClaimStatus::NotApplicable));
    assert!(
        v.claim("policy.crl")
            .unwrap()
            .detail
            .contains("NOT checked")
    );
    assert_eq!(status(&v, "policy.vmpl"), Some(ClaimStatus::Pass));
    assert_eq!(status(&v, "policy.migrate_ma"), Some(ClaimStatus::Pass));
    // Only the synthetic root is trusted: with AMD's built-in roots it is rejected.
    let mut o = opts(&b.evidence);
    o.trust = TrustRoots::builtin();
    assert_eq!(
        verify_bundle(&b, &policy(), &o).failure_kind(),
        Some(FailureKind::Chain)
    );
}

#[test]
fn a_valid_crl_not_listing_the_chain_is_an_accepted_claim() {
    let good = crl(CrlSpec::default());
    let b = bundle(signed_report(0, POLICY), Some(&good));
    let v = verify(&b, &policy());
    assert!(v.is_trusted(), "{v}");
    assert_eq!(status(&v, "snp.crl"), Some(ClaimStatus::Pass), "{v}");
    let detail = &v.claim("snp.crl").unwrap().detail;
    assert!(detail.contains("ASK and VCEK not revoked"), "{detail}");
    assert!(
        detail.contains("bundle CRL") && detail.contains("2 entries"),
        "{detail}"
    );
    assert_eq!(status(&v, "policy.crl"), Some(ClaimStatus::Pass));

    // From the verifier's collateral directory, with require_crl.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("snp")).unwrap();
    std::fs::write(dir.path().join("snp/crl-Milan.der"), &good).unwrap();
    let b = bundle(signed_report(0, POLICY), None);
    let mut o = opts(&b.evidence);
    o.collateral_dir = Some(dir.path().to_path_buf());
    let strict = Policy {
        require_crl: true,
        ..policy()
    };
    let v = verify_bundle(&b, &strict, &o);
    assert!(v.is_trusted(), "{v}");
    assert!(
        v.claim("snp.crl").unwrap().detail.contains("crl-Milan.der"),
        "{v}"
    );
}

#[test]
fn a_crl_listing_the_ask_is_a_revocation() {
    let (serial, which) = (ASK_SERIAL, "ASK");
    let revoking = crl(CrlSpec {
        revoked: &[&[0x99], serial],
        ..CrlSpec::default()
    });
    let b = bundle(signed_report(0, POLICY), Some(&revoking));
    let v = verify(&b, &policy());
    assert_rejected(&v, FailureKind::CertificateRevoked, "snp.crl");
    assert_eq!(
        v.failure_kind().map(FailureKind::category),
        Some(FailureCategory::Chain)
    );
    let msg = &v.failure.as_ref().unwrap().message;
    assert!(
        msg.contains(&format!("the {which} (serial {})", hex::encode(serial))),
        "{msg}"
    );

    // A clean CRL in the bundle does not hide a revocation in the verifier's own.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("snp")).unwrap();
    std::fs::write(dir.path().join("snp/crl-milan.der"), &revoking).unwrap();
    let b = bundle(signed_report(0, POLICY), Some(&crl(CrlSpec::default())));
    let mut o = opts(&b.evidence);
    o.collateral_dir = Some(dir.path().to_path_buf());
    let v = verify_bundle(&b, &policy(), &o);
    assert_rejected(&v, FailureKind::CertificateRevoked, "snp.crl");
}

#[test]
fn the_arks_crl_does_not_judge_the_vcek_whose_serial_only_the_ask_scopes() {
    // Serial numbers are unique per issuer: a number the ARK revoked is another certificate
    // than the ASK-issued VCEK that happens to carry it.
    let same_number = crl(CrlSpec {
        revoked: &[VCEK_SERIAL],
        ..CrlSpec::default()
    });
    let v = verify(
        &bundle(signed_report(0, POLICY), Some(&same_number)),
        &policy(),
    );
    assert!(v.is_trusted(), "{v}");
    assert_eq!(status(&v, "snp.crl"), Some(ClaimStatus::Pass), "{v}");
}

#[test]
fn a_crl_not_signed_by_the_ark_is_rejected() {
    let c = chain();
    // One bit of the signature flipped.
    let mut flipped = crl(CrlSpec::default());
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    // Signed by another key under the ARK's name.
    let forged = crl(CrlSpec {
        key: &c.other_key,
        revoked: &[],
        ..CrlSpec::default()
    });
    for bad in [flipped, forged] {
        let v = verify(&bundle(signed_report(0, POLICY), Some(&bad)), &policy());
        assert_rejected(&v, FailureKind::Signature, "snp.crl");
    }
    // Issued under another name.
    let other_name = Name::from_str("CN=Someone else").unwrap();
    let stranger = crl(CrlSpec {
        issuer: &other_name,
        ..CrlSpec::default()
    });
    let v = verify(
        &bundle(signed_report(0, POLICY), Some(&stranger)),
        &policy(),
    );
    assert_rejected(&v, FailureKind::Chain, "snp.crl");
    // Not a CRL at all.
    let v = verify(&bundle(signed_report(0, POLICY), Some(b"junk")), &policy());
    assert_rejected(&v, FailureKind::Malformed, "snp.crl");
}

#[test]
fn an_expired_or_future_crl_is_rejected() {
    for spec in [
        CrlSpec {
            this_update: NOW - 30 * DAY,
            next_update: Some(NOW - DAY),
            ..CrlSpec::default()
        },
        CrlSpec {
            this_update: NOW + DAY,
            next_update: Some(NOW + 8 * DAY),
            ..CrlSpec::default()
        },
    ] {
        let v = verify(
            &bundle(signed_report(0, POLICY), Some(&crl(spec))),
            &policy(),
        );
        assert_rejected(&v, FailureKind::CollateralExpired, "snp.crl");
        assert!(v.failure.unwrap().message.contains("not at 2025-06-15"));
    }
    // Without nextUpdate it cannot be known to be current.
    let open_ended = crl(CrlSpec {
        next_update: None,
        ..CrlSpec::default()
    });
    let v = verify(
        &bundle(signed_report(0, POLICY), Some(&open_ended)),
        &policy(),
    );
    assert_rejected(&v, FailureKind::Malformed, "snp.crl");
}

#[test]
fn require_crl_rejects_evidence_without_one() {
    let strict = Policy {
        require_crl: true,
        ..policy()
    };
    let b = bundle(signed_report(0, POLICY), None);
    let v = verify(&b, &strict);
    assert_rejected(&v, FailureKind::CollateralMissing, "policy.crl");
    assert!(v.failure.unwrap().message.contains("require_crl"));
    let b = bundle(signed_report(0, POLICY), Some(&crl(CrlSpec::default())));
    assert!(verify(&b, &strict).is_trusted());
}

#[test]
fn a_report_from_a_vmpl_above_max_vmpl_is_rejected() {
    let b = bundle(signed_report(1, POLICY), None);
    let v = verify(&b, &policy());
    assert_rejected(&v, FailureKind::VmplNotAllowed, "policy.vmpl");
    assert_eq!(
        v.failure_kind().map(FailureKind::category),
        Some(FailureCategory::Policy)
    );
    assert!(
        v.failure
            .unwrap()
            .message
            .contains("VMPL 1, above max_vmpl = 0")
    );
    let relaxed = Policy {
        max_vmpl: 1,
        ..policy()
    };
    assert!(verify(&b, &relaxed).is_trusted());
    let b3 = bundle(signed_report(3, POLICY), None);
    assert_rejected(
        &verify(&b3, &relaxed),
        FailureKind::VmplNotAllowed,
        "policy.vmpl",
    );
    assert!(Policy::from_toml_str("max_vmpl = 4").is_err());
}

#[test]
fn a_guest_allowing_a_migration_agent_is_rejected_by_default() {
    let b = bundle(signed_report(0, POLICY | MIGRATE_MA), None);
    let v = verify(&b, &policy());
    assert_rejected(&v, FailureKind::MigrationAgentAllowed, "policy.migrate_ma");
    assert_eq!(status(&v, "policy.debug"), Some(ClaimStatus::Pass), "{v}");
    let relaxed = Policy {
        forbid_migrate_ma: false,
        ..policy()
    };
    let v = verify(&b, &relaxed);
    assert!(v.is_trusted(), "{v}");
    assert!(v.claim("policy.migrate_ma").unwrap().detail.contains("SET"));
}

/// The real Milan chain: a CRL that names AMD's ARK as issuer but is signed
/// by another key is refused, and `require_crl` rejects the real evidence,
/// which comes with no CRL.
#[test]
fn real_milan_evidence_refuses_a_crl_not_signed_by_amd() {
    let report = milan_report();
    let chain_pem = String::from_utf8(read("sev/cert_chain_milan")).unwrap();
    let pems: Vec<&str> = chain_pem
        .split_inclusive("-----END CERTIFICATE-----")
        .map(str::trim)
        .filter(|s| s.starts_with("-----BEGIN"))
        .collect();
    let ark_der = {
        let body: String = pems[1]
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap()
    };
    let ark = Certificate::from_der(&ark_der).unwrap();
    let vcek = read("sev/vcek_milan.der");
    let (nb, na) = txnchain_tee::verify::certificate_validity(&vcek).unwrap();
    let now = nb + (na - nb) / 2;
    let real = EvidenceBundle {
        version: 1,
        platform: EvidencePlatform::SevSnp,
        evidence: report.clone(),
        identity_public_key: None,
        nonce: None,
        measurement: None,
        endorsements: Endorsements {
            vcek: Some(encode_cert_der(&vcek)),
            ask: Some(pems[0].to_string()),
            ark: Some(pems[1].to_string()),
            ..Default::default()
        },
        insecure: false,
        service_identity: None,
        service_statement: None,
    };
    let o = VerifyOptions::new(
        now,
        ExpectedReportData::Raw(report[0x50..0x90].try_into().unwrap()),
    );
    assert!(verify_bundle(&real, &policy(), &o).is_trusted());
    let strict = Policy {
        require_crl: true,
        ..policy()
    };
    let v = verify_bundle(&real, &strict, &o);
    assert_rejected(&v, FailureKind::CollateralMissing, "policy.crl");

    let forged = crl(CrlSpec {
        issuer: &ark.tbs_certificate.subject,
        key: &chain().other_key,
        this_update: now - DAY,
        next_update: Some(now + DAY),
        revoked: &[],
    });
    let mut with_crl = real.clone();
    with_crl.endorsements.crl = Some(encode_cert_der(&forged));
    let v = verify_bundle(&with_crl, &policy(), &o);
    assert_rejected(&v, FailureKind::Signature, "snp.crl");
    // The same CRL as PEM is read the same way.
    let pem = {
        use base64::Engine as _;
        format!(
            "-----BEGIN X509 CRL-----\n{}\n-----END X509 CRL-----\n",
            base64::engine::general_purpose::STANDARD.encode(&forged)
        )
    };
    with_crl.endorsements.crl = Some(pem);
    let v = verify_bundle(&with_crl, &policy(), &o);
    assert_rejected(&v, FailureKind::Signature, "snp.crl");
}
