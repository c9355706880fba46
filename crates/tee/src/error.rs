//! The crate's error type.

use std::path::PathBuf;

use crate::sealing::SnpTcbVersion;

fn describe_sealed_tcb(tcb: &Option<SnpTcbVersion>) -> String {
    match tcb {
        Some(t) => format!("TCB {t}"),
        None => "no TCB (a version 1 blob, derivable by any firmware)".to_string(),
    }
}

/// Errors from producing evidence, loading policies and bundles, sealing, and
/// choosing a platform.
///
/// Verification failures are not errors of this type: a verification always
/// produces a [`crate::Verdict`], whose [`crate::Failure`] names the first
/// claim that failed with a [`crate::FailureKind`].
#[derive(Debug, thiserror::Error)]
pub enum TeeError {
    /// `--tee auto` found no hardware TEE. It never falls back to `virtual`.
    #[error(
        "no hardware TEE found: {detail}. `--tee auto` never falls back to the insecure \
         `virtual` platform; for development pass `--tee virtual` explicitly (as `txnchain dev` does)"
    )]
    NoHardwareTee {
        /// What was probed and why it did not qualify.
        detail: String,
    },
    /// A platform name that is not `auto`, `virtual`, `sev-snp` or `tdx`.
    #[error("unknown TEE platform `{0}` (expected auto, virtual, sev-snp or tdx)")]
    UnknownPlatform(String),
    /// The configfs-tsm report interface is missing or unusable.
    #[error("configfs-tsm at {path}: {detail}")]
    Configfs {
        /// The path that failed.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The `generation` counter moved by more than our own write: another
    /// writer changed the request between our write and our read.
    #[error(
        "configfs-tsm generation mismatch at {path}: expected {expected}, found {found} \
         (another process wrote to the same report entry; the report was discarded)"
    )]
    GenerationMismatch {
        /// The entry directory.
        path: PathBuf,
        /// The generation our single write should have produced.
        expected: u64,
        /// The generation found after reading the report.
        found: u64,
    },
    /// configfs-tsm is served by a different provider than the one requested.
    #[error("configfs-tsm provider is `{found}`, but platform {requested} needs `{expected}`")]
    WrongProvider {
        /// The platform that was requested.
        requested: &'static str,
        /// The provider name that platform needs.
        expected: &'static str,
        /// The provider name the kernel reported.
        found: String,
    },
    /// The hardware returned evidence that does not carry the report_data we asked for.
    #[error("the secure processor returned a report for different report_data (discarded)")]
    ReportDataMismatch,
    /// A device node (such as `/dev/sev-guest`) is absent or unusable.
    #[error("{device} is not available: {detail}")]
    DeviceUnavailable {
        /// The device path.
        device: &'static str,
        /// Why it could not be used.
        detail: String,
    },
    /// The platform has no sealing; the message says where secrets come from instead.
    #[error("sealing is not supported on {platform}: {reason}")]
    SealingUnsupported {
        /// The platform name.
        platform: &'static str,
        /// Why, and what to use instead.
        reason: &'static str,
    },
    /// A sealed blob could not be opened (wrong key, wrong label, tampered or truncated).
    #[error("unseal failed: {0}")]
    Unseal(String),
    /// SEV-SNP sealing: the platform's committed TCB is below the configured
    /// minimum, so it neither seals nor unseals.
    #[error(
        "SEV-SNP sealing refused: the platform's committed TCB ({committed}) is below the \
         minimum TCB ({minimum}); firmware below the minimum must not seal or unseal"
    )]
    SealingTcbBelowMinimum {
        /// The platform's committed TCB.
        committed: SnpTcbVersion,
        /// The configured minimum.
        minimum: SnpTcbVersion,
    },
    /// A sealed blob is bound to a TCB below the configured minimum: firmware
    /// at that TCB could have made or read it.
    #[error(
        "sealed blob refused: it is bound to {}, below the minimum TCB ({minimum})",
        describe_sealed_tcb(sealed)
    )]
    SealedTcbBelowMinimum {
        /// The blob's TCB (`None`: a version 1 blob).
        sealed: Option<SnpTcbVersion>,
        /// The configured minimum.
        minimum: SnpTcbVersion,
    },
    /// A sealed blob is bound to a TCB the platform cannot derive keys at (a
    /// component above the committed TCB, or another chip generation's
    /// layout): firmware was rolled back, or the blob is from elsewhere. It is
    /// never re-sealed downward.
    #[error(
        "sealed blob is bound to TCB {sealed}, which this platform's committed TCB \
         ({committed}) does not reach (firmware rolled back?); it is not re-sealed downward"
    )]
    SealedTcbNotDerivable {
        /// The blob's TCB.
        sealed: SnpTcbVersion,
        /// The platform's committed TCB.
        committed: SnpTcbVersion,
    },
    /// An evidence bundle, certificate or other input is malformed.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// What was being parsed.
        what: &'static str,
        /// The parser's complaint.
        detail: String,
    },
    /// A policy file is invalid.
    #[error("invalid policy: {0}")]
    Policy(String),
    /// A nonce is not valid hex or is too long.
    #[error("invalid nonce: {0}")]
    Nonce(String),
    /// Generating or encoding the identity key failed.
    #[error("identity key: {0}")]
    Identity(String),
    /// An I/O error with the path it happened on.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl TeeError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TeeError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn malformed(what: &'static str, detail: impl ToString) -> Self {
        TeeError::Malformed {
            what,
            detail: detail.to_string(),
        }
    }
}
