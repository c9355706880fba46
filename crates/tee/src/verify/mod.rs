//! Offline, deterministic verification of evidence bundles.
//!
//! [`verify_bundle`] never touches the network or the clock: the time is the
//! `now` in [`VerifyOptions`], certificates and collateral come from the
//! bundle or from a local collateral directory, and the trust anchors are
//! built in ([`TrustRoots::builtin`]) unless replaced.
//!
//! It runs in two stages. The platform stage checks what the hardware
//! vendor's signatures prove (SEV-SNP with the `sev` crate plus our VCEK
//! TCB / hwID checks; TDX and SGX with `dcap-qvl`; `virtual` only parses).
//! The policy stage, the same code for every platform, then checks
//! report_data, measurement, host data, minimum TCB, debug, SEV-SNP VMPL and
//! MIGRATE_MA, revocation (`require_crl`), TCB status, advisories and
//! freshness. The verdict lists every claim; its failure names
//! the first that failed.

mod amd_crl;
mod dcap;
mod snp;
mod virt;

use std::path::PathBuf;

use crate::evidence::{EvidenceBundle, EvidencePlatform};
use crate::identity::report_data_for;
use crate::policy::{Measured, Policy};
use crate::time::format_utc;
use crate::verdict::{FailureKind, Verdict};

pub use dcap::{CollateralWindow, collateral_window};
pub use snp::certificate_validity;

pub(crate) use dcap::{find_collateral, report_data_of as quote_report_data};
pub(crate) use snp::REPORT_LEN as SNP_REPORT_LEN;

/// The measurement in a piece of evidence, parsed but NOT verified (for
/// display, e.g. the `measurement` field of `/node/attestation`).
pub fn measurement_of(platform: EvidencePlatform, evidence: &[u8]) -> Option<String> {
    match platform {
        EvidencePlatform::Virtual => virt::parse(evidence)
            .ok()
            .map(|(_, m, _, _)| hex::encode(m)),
        EvidencePlatform::SevSnp => (evidence.len() == SNP_REPORT_LEN)
            .then(|| snp::measurement_hex(evidence))
            .flatten(),
        EvidencePlatform::Tdx | EvidencePlatform::Sgx => dcap::measurement_string(evidence),
    }
}

/// An AMD root of trust for one product line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmdRoot {
    /// Product name as in the VCEK's productName extension before the dash
    /// (`Milan`, `Genoa`, `Turin`).
    pub product: String,
    /// The ARK certificate, DER. This is the trust anchor.
    pub ark_der: Vec<u8>,
    /// The ASK certificate, DER, used for a VCEK when the bundle carries none.
    pub ask_der: Vec<u8>,
}

/// The trust anchors used by verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustRoots {
    /// AMD ARKs (with their ASKs).
    pub amd: Vec<AmdRoot>,
    /// The Intel SGX Root CA, DER; `None` uses the production root built into dcap-qvl.
    pub intel_root_der: Option<Vec<u8>>,
}

impl Default for TrustRoots {
    fn default() -> Self {
        Self::builtin()
    }
}

impl TrustRoots {
    /// AMD's Milan, Genoa and Turin roots (as shipped in the `sev` crate) and
    /// Intel's SGX Root CA (as shipped in `dcap-qvl`).
    pub fn builtin() -> Self {
        use sev::certs::snp::builtin::{genoa, milan, turin};
        let mut amd = Vec::new();
        for (product, ark, ask) in [
            ("Milan", milan::ARK, milan::ASK),
            ("Genoa", genoa::ARK, genoa::ASK),
            ("Turin", turin::ARK, turin::ASK),
        ] {
            let pem = |b: &[u8]| {
                std::str::from_utf8(b)
                    .map_err(|e| e.to_string())
                    .and_then(crate::evidence::split_pem)
            };
            match (pem(ark), pem(ask)) {
                (Ok(mut ark), Ok(mut ask)) if !ark.is_empty() && !ask.is_empty() => {
                    amd.push(AmdRoot {
                        product: product.to_string(),
                        ark_der: ark.swap_remove(0),
                        ask_der: ask.swap_remove(0),
                    });
                }
                _ => tracing::error!(product, "built-in AMD root does not decode; skipped"),
            }
        }
        Self {
            amd,
            intel_root_der: None,
        }
    }
}

/// What report_data the evidence must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpectedReportData {
    /// Derive it from the bundle's `identity_public_key` and `nonce`. This proves
    /// that the presented key is bound to the evidence, but not freshness: the
    /// nonce came from the bundle, not from this verifier.
    FromBundle,
    /// Derive it from a key and, when the verifier chose one, its nonce.
    Identity {
        /// The identity key, DER SubjectPublicKeyInfo.
        spki_der: Vec<u8>,
        /// The nonce this verifier sent, if any.
        nonce: Option<Vec<u8>>,
    },
    /// A raw 64-byte value (e.g. for evidence not made by a TxnChain node).
    Raw([u8; 64]),
}

/// Inputs of a verification other than the evidence and the policy.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The verification time, Unix seconds. Never read from the clock here.
    pub now: u64,
    /// The report_data expectation.
    pub expected: ExpectedReportData,
    /// Trust anchors.
    pub trust: TrustRoots,
    /// A local collateral directory used when the bundle lacks endorsements:
    /// TDX/SGX `<fmspc>-tdx.json`, `<fmspc>-sgx.json` or `<fmspc>.json`
    /// (dcap-qvl collateral JSON); SEV-SNP `snp/vcek-<chip_id>-<reported_tcb>.der`
    /// (lower-case hex, reported_tcb as 16 hex digits, little-endian u64).
    /// SEV-SNP CRLs are read from here too, in addition to one in the bundle:
    /// `snp/crl-<product>.der` for VCEK-signed reports and
    /// `snp/crl-vlek-<product>.der` for VLEK-signed ones (`product` as in the
    /// VCEK, e.g. `Milan`; a lower-case name is also tried).
    pub collateral_dir: Option<PathBuf>,
}

impl VerifyOptions {
    /// Options with the built-in trust roots and no collateral directory.
    pub fn new(now: u64, expected: ExpectedReportData) -> Self {
        Self {
            now,
            expected,
            trust: TrustRoots::builtin(),
            collateral_dir: None,
        }
    }
}

/// The current time in Unix seconds, for callers that verify "now".
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// SEV-SNP REPORTED_TCB components.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SnpTcb {
    pub bootloader: u8,
    pub tee: u8,
    pub snp: u8,
    pub microcode: u8,
    pub fmc: Option<u8>,
}

impl std::fmt::Display for SnpTcb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "bootloader={} tee={} snp={} microcode={}",
            self.bootloader, self.tee, self.snp, self.microcode
        )?;
        if let Some(fmc) = self.fmc {
            write!(f, " fmc={fmc}")?;
        }
        Ok(())
    }
}

/// Platform-specific TCB facts the policy compares with its minimums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TcbFacts {
    Virtual,
    Snp { reported: SnpTcb, guest_svn: u32 },
    Tdx { tee_tcb_svn: [u8; 16] },
    Sgx { isv_svn: u16 },
}

/// SEV-SNP facts from the report that the policy checks beyond measurement and TCB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SnpGuestFacts {
    /// The VMPL the report was requested from (0 = most privileged).
    pub vmpl: u32,
    /// Guest policy bit 18: a migration agent may be associated with the guest.
    pub migrate_ma: bool,
}

/// Whether the platform stage could check certificate revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Revocation {
    /// The platform has no certificates (virtual).
    NotApplicable,
    /// Revocation lists were checked; what was checked, in words.
    Checked(String),
    /// No revocation list was available, so revocation was not checked.
    Unavailable,
}

/// What the platform stage established, in a platform-neutral form.
#[derive(Debug, Clone)]
pub(crate) struct Attested {
    pub measured: Measured,
    pub report_data: [u8; 64],
    pub host_data: Option<Vec<u8>>,
    pub debug: bool,
    /// SEV-SNP only.
    pub snp_guest: Option<SnpGuestFacts>,
    pub revocation: Revocation,
    pub tcb: TcbFacts,
    pub tcb_status: Option<String>,
    pub advisories: Vec<String>,
    /// Newest issue date of the collateral (TDX / SGX).
    pub collateral_issued: Option<u64>,
    /// Claim-set timestamp (virtual only).
    pub timestamp: Option<u64>,
}

/// Verify a bundle against a policy. Pure: same inputs, same verdict.
pub fn verify_bundle(bundle: &EvidenceBundle, policy: &Policy, opts: &VerifyOptions) -> Verdict {
    let platform = bundle.platform;
    let mut verdict = Verdict::new(platform.as_str(), platform.is_insecure());
    let attested = match platform {
        EvidencePlatform::Virtual => virt::verify(&bundle.evidence, &mut verdict),
        EvidencePlatform::SevSnp => {
            snp::verify(&bundle.evidence, &bundle.endorsements, opts, &mut verdict)
        }
        EvidencePlatform::Tdx | EvidencePlatform::Sgx => dcap::verify(
            platform,
            &bundle.evidence,
            &bundle.endorsements,
            opts,
            &mut verdict,
        ),
    };
    let Some(attested) = attested else {
        return verdict;
    };
    verdict.measurement = Some(attested.measured.to_string());
    verdict.tcb_status = attested.tcb_status.clone();
    apply_policy(&attested, bundle, policy, opts, &mut verdict);
    verdict
}

fn apply_policy(
    a: &Attested,
    bundle: &EvidenceBundle,
    policy: &Policy,
    opts: &VerifyOptions,
    v: &mut Verdict,
) {
    let platform = a.measured.platform();

    // 1. Platform.
    if platform.is_insecure() {
        if policy.allow_insecure_virtual {
            v.pass(
                "policy.platform",
                "virtual accepted because allow_insecure_virtual = true (INSECURE)",
            );
        } else {
            v.fail(
                FailureKind::InsecurePlatform,
                "policy.platform",
                "virtual evidence proves nothing; the policy does not set allow_insecure_virtual",
            );
        }
    } else {
        v.pass("policy.platform", format!("hardware TEE ({platform})"));
    }

    // 2. report_data.
    let mut verifier_nonce = false;
    let expected = match &opts.expected {
        ExpectedReportData::Raw(rd) => Some((*rd, "the given raw value".to_string())),
        ExpectedReportData::Identity { spki_der, nonce } => {
            verifier_nonce = nonce.is_some();
            Some((
                report_data_for(spki_der, nonce.as_deref()),
                match nonce {
                    Some(_) => "SHA-256(domain ‖ presented key ‖ our nonce)".to_string(),
                    None => "SHA-256(domain ‖ presented key)".to_string(),
                },
            ))
        }
        ExpectedReportData::FromBundle => bundle.identity_public_key.as_ref().map(|spki| {
            (
                report_data_for(spki, bundle.nonce.as_deref()),
                "SHA-256(domain ‖ bundle identity key ‖ bundle nonce)".to_string(),
            )
        }),
    };
    match expected {
        None => v.fail(
            FailureKind::ReportDataMismatch,
            "policy.report_data",
            "no expected report_data: the bundle has no identity_public_key",
        ),
        Some((rd, how)) if rd == a.report_data => {
            v.pass("policy.report_data", format!("equals {how}"));
        }
        Some((rd, how)) => v.fail(
            FailureKind::ReportDataMismatch,
            "policy.report_data",
            format!(
                "evidence has {}, expected {} ({how})",
                hex::encode(a.report_data),
                hex::encode(rd)
            ),
        ),
    }

    // 3. Measurement.
    if policy.allow_any_measurement {
        v.pass(
            "policy.measurement",
            format!(
                "{} (not enforced: allow_any_measurement = true)",
                a.measured
            ),
        );
    } else if let Some(entry) = policy.measurements.iter().find(|m| m.matches(&a.measured)) {
        v.pass(
            "policy.measurement",
            format!("{} allowed by `{}`", a.measured, entry.label()),
        );
    } else {
        v.fail(
            FailureKind::MeasurementNotAllowed,
            "policy.measurement",
            format!("{} is not in the allow-list", a.measured),
        );
    }

    // 4. Host data.
    if policy.host_data.is_empty() {
        v.not_applicable("policy.host_data", "no host_data allow-list in the policy");
    } else {
        match &a.host_data {
            None => v.fail(
                FailureKind::HostDataNotAllowed,
                "policy.host_data",
                format!("the policy requires host_data but {platform} evidence has none"),
            ),
            Some(h) => {
                let allowed = policy
                    .host_data
                    .iter()
                    .any(|p| hex::decode(p.trim()).is_ok_and(|b| &b == h));
                if allowed {
                    v.pass("policy.host_data", format!("{} allowed", hex::encode(h)));
                } else {
                    v.fail(
                        FailureKind::HostDataNotAllowed,
                        "policy.host_data",
                        format!("{} is not in the allow-list", hex::encode(h)),
                    );
                }
            }
        }
    }

    // 5. Minimum TCB.
    check_min_tcb(a, policy, v);

    // 6. Debug.
    if !a.debug {
        v.pass("policy.debug", "debug attribute clear");
    } else if policy.allow_debug {
        v.pass(
            "policy.debug",
            "debug attribute SET, accepted by allow_debug",
        );
    } else {
        v.fail(
            FailureKind::DebugEnabled,
            "policy.debug",
            "debug attribute set: the host can read the guest's memory",
        );
    }

    // 6b. SEV-SNP VMPL and guest policy bits beyond DEBUG.
    check_snp_guest(a, policy, v);

    // 6c. Revocation.
    match &a.revocation {
        Revocation::NotApplicable => v.not_applicable(
            "policy.crl",
            format!("{platform} evidence has no certificates"),
        ),
        Revocation::Checked(how) => v.pass("policy.crl", how.clone()),
        Revocation::Unavailable if policy.require_crl => v.fail(
            FailureKind::CollateralMissing,
            "policy.crl",
            "the policy sets require_crl but no AMD CRL is available (none in the bundle's \
             endorsements or the collateral directory)",
        ),
        Revocation::Unavailable => v.not_applicable(
            "policy.crl",
            "no AMD CRL available: revocation of the ASK / VCEK was NOT checked \
             (require_crl = false)",
        ),
    }

    // 7. TCB status and advisories.
    match &a.tcb_status {
        None => v.not_applicable(
            "policy.tcb_status",
            format!("{platform} evidence has no TCB status (minimums apply instead)"),
        ),
        Some(s) if policy.accepted_tcb_statuses.iter().any(|x| x == s) => {
            v.pass("policy.tcb_status", format!("{s} is accepted"));
        }
        Some(s) => v.fail(
            FailureKind::TcbStatusNotAccepted,
            "policy.tcb_status",
            format!(
                "{s} is not accepted (accepted: {}); advisories: {}",
                policy.accepted_tcb_statuses.join(", "),
                if a.advisories.is_empty() {
                    "none".to_string()
                } else {
                    a.advisories.join(", ")
                }
            ),
        ),
    }
    if policy.rejected_advisories.is_empty() {
        v.not_applicable("policy.advisories", "no rejected advisories in the policy");
    } else {
        let hit: Vec<&String> = a
            .advisories
            .iter()
            .filter(|x| policy.rejected_advisories.contains(x))
            .collect();
        if hit.is_empty() {
            v.pass("policy.advisories", "no rejected advisory applies");
        } else {
            v.fail(
                FailureKind::AdvisoryRejected,
                "policy.advisories",
                format!("rejected advisories apply: {hit:?}"),
            );
        }
    }

    // 8. Freshness.
    check_freshness(a, policy, opts.now, verifier_nonce, v);
}

fn check_snp_guest(a: &Attested, policy: &Policy, v: &mut Verdict) {
    let Some(g) = a.snp_guest else {
        let platform = a.measured.platform();
        v.not_applicable("policy.vmpl", format!("{platform} has no VMPL"));
        v.not_applicable(
            "policy.migrate_ma",
            format!("{platform} has no SEV-SNP guest policy"),
        );
        return;
    };
    if g.vmpl <= policy.max_vmpl {
        v.pass(
            "policy.vmpl",
            format!(
                "report from VMPL {} (max_vmpl = {})",
                g.vmpl, policy.max_vmpl
            ),
        );
    } else {
        v.fail(
            FailureKind::VmplNotAllowed,
            "policy.vmpl",
            format!(
                "report from VMPL {}, above max_vmpl = {}: software at a more privileged \
                 VMPL can observe and change this guest",
                g.vmpl, policy.max_vmpl
            ),
        );
    }
    if !g.migrate_ma {
        v.pass("policy.migrate_ma", "guest policy MIGRATE_MA clear");
    } else if policy.forbid_migrate_ma {
        v.fail(
            FailureKind::MigrationAgentAllowed,
            "policy.migrate_ma",
            "guest policy MIGRATE_MA set: a migration agent may export the guest's memory \
             (forbid_migrate_ma = true)",
        );
    } else {
        v.pass(
            "policy.migrate_ma",
            "guest policy MIGRATE_MA SET, accepted by forbid_migrate_ma = false",
        );
    }
}

fn check_min_tcb(a: &Attested, policy: &Policy, v: &mut Verdict) {
    let name = "policy.min_tcb";
    match &a.tcb {
        TcbFacts::Virtual => v.not_applicable(name, "virtual has no TCB"),
        TcbFacts::Snp {
            reported,
            guest_svn,
        } => {
            let Some(min) = &policy.min_tcb.sev_snp else {
                return v.not_applicable(
                    name,
                    format!("no min_tcb.sev_snp (REPORTED_TCB {reported}, guest_svn {guest_svn})"),
                );
            };
            let mut low = Vec::new();
            for (n, have, need) in [
                ("bootloader", reported.bootloader, min.bootloader),
                ("tee", reported.tee, min.tee),
                ("snp", reported.snp, min.snp),
                ("microcode", reported.microcode, min.microcode),
            ] {
                if have < need {
                    low.push(format!("{n} {have} < {need}"));
                }
            }
            if let (Some(have), Some(need)) = (reported.fmc, min.fmc)
                && have < need
            {
                low.push(format!("fmc {have} < {need}"));
            }
            if *guest_svn < min.guest_svn {
                low.push(format!("guest_svn {guest_svn} < {}", min.guest_svn));
            }
            if low.is_empty() {
                v.pass(
                    name,
                    format!("REPORTED_TCB {reported}, guest_svn {guest_svn}"),
                );
            } else {
                v.fail(FailureKind::TcbBelowMinimum, name, low.join(", "));
            }
        }
        TcbFacts::Tdx { tee_tcb_svn } => {
            let Some(min) = &policy.min_tcb.tdx else {
                return v.not_applicable(
                    name,
                    format!("no min_tcb.tdx (TEE_TCB_SVN {})", hex::encode(tee_tcb_svn)),
                );
            };
            // Validated by Policy::validate; an unparsable value fails closed.
            let need = hex::decode(min.tee_tcb_svn.trim()).unwrap_or_else(|_| vec![0xff; 16]);
            let low: Vec<String> = tee_tcb_svn
                .iter()
                .zip(need.iter())
                .enumerate()
                .filter(|(_, (h, n))| h < n)
                .map(|(i, (h, n))| format!("byte {i}: {h} < {n}"))
                .collect();
            if low.is_empty() && need.len() == 16 {
                v.pass(name, format!("TEE_TCB_SVN {}", hex::encode(tee_tcb_svn)));
            } else {
                v.fail(
                    FailureKind::TcbBelowMinimum,
                    name,
                    format!(
                        "TEE_TCB_SVN {}: {}",
                        hex::encode(tee_tcb_svn),
                        low.join(", ")
                    ),
                );
            }
        }
        TcbFacts::Sgx { isv_svn } => match &policy.min_tcb.sgx {
            None => v.not_applicable(name, format!("no min_tcb.sgx (ISVSVN {isv_svn})")),
            Some(min) if *isv_svn >= min.isv_svn => v.pass(name, format!("ISVSVN {isv_svn}")),
            Some(min) => v.fail(
                FailureKind::TcbBelowMinimum,
                name,
                format!("ISVSVN {isv_svn} < {}", min.isv_svn),
            ),
        },
    }
}

fn check_freshness(a: &Attested, policy: &Policy, now: u64, verifier_nonce: bool, v: &mut Verdict) {
    let name = "policy.freshness";
    if policy.require_nonce && !verifier_nonce {
        return v.fail(
            FailureKind::NotFresh,
            name,
            "the policy requires report_data bound to a nonce chosen by this verifier",
        );
    }
    if let (Some(max), Some(issued)) = (policy.max_collateral_age_secs, a.collateral_issued) {
        let age = now.saturating_sub(issued);
        if age > max {
            return v.fail(
                FailureKind::NotFresh,
                name,
                format!(
                    "collateral issued {} is {age} s old, more than max_collateral_age_secs = {max}",
                    format_utc(issued)
                ),
            );
        }
    }
    if let (Some(max), Some(ts)) = (policy.max_evidence_age_secs, a.timestamp) {
        let age = now.saturating_sub(ts);
        if age > max || ts > now.saturating_add(300) {
            return v.fail(
                FailureKind::NotFresh,
                name,
                format!(
                    "claim set timestamp {} is outside max_evidence_age_secs = {max}",
                    format_utc(ts)
                ),
            );
        }
    }
    let mut how = Vec::new();
    if verifier_nonce {
        how.push("bound to this verifier's nonce".to_string());
    }
    if let Some(issued) = a.collateral_issued {
        how.push(format!("collateral issued {}", format_utc(issued)));
    }
    if let Some(ts) = a.timestamp {
        how.push(format!("claim set made {} (unsigned)", format_utc(ts)));
    }
    if how.is_empty() {
        v.not_applicable(
            name,
            "no nonce from this verifier; the report itself carries no time",
        );
    } else {
        v.pass(name, how.join("; "));
    }
}
