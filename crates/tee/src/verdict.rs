//! The result of a verification: every claim checked, and the first failure.

use serde::Serialize;

/// Broad class of a failure, for callers that only need to know where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureCategory {
    /// The evidence or bundle could not be parsed or is of an unsupported kind.
    Evidence,
    /// A signature over the evidence or its endorsements does not verify.
    Signature,
    /// A certificate chain does not lead to the trusted root.
    Chain,
    /// Endorsement collateral is missing, expired, or does not fit the evidence.
    Collateral,
    /// The evidence is authentic but our policy rejects it.
    Policy,
}

/// The specific reason a verification failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The evidence or bundle is malformed.
    Malformed,
    /// The evidence is of a kind or version this verifier does not support.
    Unsupported,
    /// A signature does not verify (report, quote, QE report, collateral).
    Signature,
    /// A certificate chain does not verify up to the trusted root (for TDX / SGX this includes
    /// a PCK certificate revoked by Intel's CRLs, which dcap-qvl reports as a chain error).
    Chain,
    /// SEV-SNP: the ASK / ASVK or the VCEK / VLEK serial number is listed in AMD's CRL.
    CertificateRevoked,
    /// Collateral (certificates, TCB info, CRLs) is needed but absent.
    CollateralMissing,
    /// `now` is outside the validity window of the collateral or a certificate.
    CollateralExpired,
    /// The collateral does not describe this evidence (wrong FMSPC, no TCB level, wrong QE identity).
    CollateralMismatch,
    /// SEV-SNP: the VCEK's TCB extensions differ from the report's REPORTED_TCB.
    TcbMismatch,
    /// SEV-SNP: the VCEK's hwID differs from the report's CHIP_ID.
    ChipIdMismatch,
    /// Intel reports the platform's TCB as revoked.
    TcbRevoked,
    /// `virtual` evidence and the policy does not set `allow_insecure_virtual`.
    InsecurePlatform,
    /// report_data differs from the expected value.
    ReportDataMismatch,
    /// The measurement is not in the allow-list.
    MeasurementNotAllowed,
    /// The host data / MRCONFIGID is not in the allow-list.
    HostDataNotAllowed,
    /// TCB or SVN below the policy minimum.
    TcbBelowMinimum,
    /// The debug attribute is set and `allow_debug` is false.
    DebugEnabled,
    /// A TD / enclave attribute the verifier never accepts (migratable, reserved bits, ...).
    Attributes,
    /// SEV-SNP: the report was requested from a VMPL above the policy's `max_vmpl`.
    VmplNotAllowed,
    /// SEV-SNP: the guest policy allows a migration agent (MIGRATE_MA) and the policy
    /// sets `forbid_migrate_ma`.
    MigrationAgentAllowed,
    /// The TCB status is not in `accepted_tcb_statuses`.
    TcbStatusNotAccepted,
    /// An advisory in `rejected_advisories` applies.
    AdvisoryRejected,
    /// Freshness cannot be established as the policy requires.
    NotFresh,
}

impl FailureKind {
    /// The broad class of this failure.
    pub fn category(self) -> FailureCategory {
        use FailureKind::*;
        match self {
            Malformed | Unsupported => FailureCategory::Evidence,
            Signature => FailureCategory::Signature,
            Chain | CertificateRevoked => FailureCategory::Chain,
            CollateralMissing | CollateralExpired | CollateralMismatch | TcbMismatch
            | ChipIdMismatch => FailureCategory::Collateral,
            TcbRevoked
            | InsecurePlatform
            | ReportDataMismatch
            | MeasurementNotAllowed
            | HostDataNotAllowed
            | TcbBelowMinimum
            | DebugEnabled
            | Attributes
            | VmplNotAllowed
            | MigrationAgentAllowed
            | TcbStatusNotAccepted
            | AdvisoryRejected
            | NotFresh => FailureCategory::Policy,
        }
    }
}

/// Outcome of one claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClaimStatus {
    /// Checked and holds.
    Pass,
    /// Checked and does not hold.
    Fail,
    /// Does not apply to this platform or is not configured in the policy.
    NotApplicable,
}

/// One checked claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claim {
    /// Stable identifier, e.g. `snp.signature`, `policy.measurement`.
    pub name: String,
    /// Whether it holds.
    pub status: ClaimStatus,
    /// What was compared, in words.
    pub detail: String,
}

/// The first failed claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The specific reason.
    pub kind: FailureKind,
    /// The name of the claim that failed.
    pub claim: String,
    /// Explanation.
    pub message: String,
}

/// The result of verifying one evidence bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// `virtual`, `sev-snp`, `tdx` or `sgx` (or `unknown` if unparseable).
    pub platform: String,
    /// True for `virtual` evidence: it proves nothing about hardware.
    pub insecure: bool,
    /// The measurement found in the evidence, if it got that far.
    pub measurement: Option<String>,
    /// The TCB status (TDX / SGX), if known.
    pub tcb_status: Option<String>,
    /// Every claim checked, in order.
    pub claims: Vec<Claim>,
    /// The first failure; `None` means trusted.
    pub failure: Option<Failure>,
}

/// The banner printed with every verdict on `virtual` evidence.
pub const INSECURE_BANNER: &str = "INSECURE: virtual platform evidence is an unsigned claim set; \
     it proves nothing about hardware, code or confidentiality";

impl Verdict {
    pub(crate) fn new(platform: &str, insecure: bool) -> Self {
        Self {
            platform: platform.to_string(),
            insecure,
            measurement: None,
            tcb_status: None,
            claims: Vec::new(),
            failure: None,
        }
    }

    /// True when every claim holds.
    pub fn is_trusted(&self) -> bool {
        self.failure.is_none()
    }

    /// The failure kind, if any.
    pub fn failure_kind(&self) -> Option<FailureKind> {
        self.failure.as_ref().map(|f| f.kind)
    }

    /// The claim with this name, if it was checked.
    pub fn claim(&self, name: &str) -> Option<&Claim> {
        self.claims.iter().find(|c| c.name == name)
    }

    pub(crate) fn pass(&mut self, name: &str, detail: impl Into<String>) {
        self.claims.push(Claim {
            name: name.to_string(),
            status: ClaimStatus::Pass,
            detail: detail.into(),
        });
    }

    pub(crate) fn not_applicable(&mut self, name: &str, detail: impl Into<String>) {
        self.claims.push(Claim {
            name: name.to_string(),
            status: ClaimStatus::NotApplicable,
            detail: detail.into(),
        });
    }

    /// Record a failed claim; the first one recorded becomes the verdict's failure.
    pub(crate) fn fail(&mut self, kind: FailureKind, name: &str, detail: impl Into<String>) {
        let detail = detail.into();
        if self.failure.is_none() {
            self.failure = Some(Failure {
                kind,
                claim: name.to_string(),
                message: detail.clone(),
            });
        }
        self.claims.push(Claim {
            name: name.to_string(),
            status: ClaimStatus::Fail,
            detail,
        });
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.insecure {
            writeln!(f, "!!! {INSECURE_BANNER} !!!")?;
        }
        writeln!(f, "platform:    {}", self.platform)?;
        if let Some(m) = &self.measurement {
            writeln!(f, "measurement: {m}")?;
        }
        if let Some(s) = &self.tcb_status {
            writeln!(f, "tcb status:  {s}")?;
        }
        writeln!(f, "claims:")?;
        for c in &self.claims {
            let mark = match c.status {
                ClaimStatus::Pass => "PASS",
                ClaimStatus::Fail => "FAIL",
                ClaimStatus::NotApplicable => "n/a ",
            };
            writeln!(f, "  [{mark}] {:<24} {}", c.name, c.detail)?;
        }
        match &self.failure {
            None if self.insecure => {
                write!(f, "verdict: TRUSTED BY POLICY, BUT INSECURE (virtual)")
            }
            None => write!(f, "verdict: TRUSTED"),
            Some(fl) => write!(
                f,
                "verdict: REJECTED ({:?} error, kind {:?}) at {}: {}",
                fl.kind.category(),
                fl.kind,
                fl.claim,
                fl.message
            ),
        }
    }
}
