//! TEE platforms: where evidence comes from.
//!
//! Three implementations of [`Platform`]:
//! - [`VirtualPlatform`]: development only; an unsigned JSON claim set,
//!   loudly marked insecure everywhere it appears.
//! - [`SevSnpPlatform`] and [`TdxPlatform`]: reports and quotes from Linux
//!   configfs-tsm ([`ConfigfsTsm`]).
//!
//! [`select_platform`] implements `--tee auto|virtual|sev-snp|tdx`. `auto`
//! picks the hardware platform the kernel offers and never falls back to
//! `virtual`.

mod configfs;
mod snp;
mod tdx;
mod virt;

use std::path::PathBuf;
use std::sync::Arc;

pub use configfs::{
    ConfigfsTsm, DEFAULT_CONFIGFS_TSM_ROOT, PROVIDER_SEV, PROVIDER_TDX, TsmEmulator, TsmReport,
};
pub use snp::{SevSnpPlatform, parse_snp_cert_table};
pub use tdx::TdxPlatform;
pub use virt::VirtualPlatform;

use crate::evidence::{Endorsements, EvidencePlatform};
use crate::sealing::SealingConfig;
use crate::{INSECURE_VIRTUAL_WARNING, TeeError};

/// Evidence as produced by a platform, before it is wrapped in a bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformEvidence {
    /// Raw report / quote / virtual claim-set JSON.
    pub evidence: Vec<u8>,
    /// Certificates and collateral available locally.
    pub endorsements: Endorsements,
}

/// A source of attestation evidence.
pub trait Platform: Send + Sync + std::fmt::Debug {
    /// Which evidence this platform produces.
    fn kind(&self) -> EvidencePlatform;

    /// True only for `virtual`.
    fn is_insecure(&self) -> bool {
        self.kind().is_insecure()
    }

    /// Produce fresh evidence carrying `report_data`. On hardware this asks
    /// the secure processor every time (callers should rate-limit).
    fn attest(&self, report_data: &[u8; 64]) -> Result<PlatformEvidence, TeeError>;
}

/// The `--tee` choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TeeChoice {
    /// The hardware platform the kernel offers; never `virtual`.
    #[default]
    Auto,
    /// The insecure development platform.
    Virtual,
    /// AMD SEV-SNP through configfs-tsm.
    SevSnp,
    /// Intel TDX through configfs-tsm.
    Tdx,
}

impl std::str::FromStr for TeeChoice {
    type Err = TeeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "virtual" => Ok(Self::Virtual),
            "sev-snp" | "snp" | "sev_snp" => Ok(Self::SevSnp),
            "tdx" => Ok(Self::Tdx),
            other => Err(TeeError::UnknownPlatform(other.to_string())),
        }
    }
}

impl std::fmt::Display for TeeChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Virtual => "virtual",
            Self::SevSnp => "sev-snp",
            Self::Tdx => "tdx",
        })
    }
}

/// Configuration of the platforms.
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    /// The configfs-tsm report directory (default [`DEFAULT_CONFIGFS_TSM_ROOT`]).
    pub configfs_root: PathBuf,
    /// SEV-SNP: directory with the VCEK (and optionally ASK/ARK) when the host
    /// does not supply certificates in `auxblob`: `vcek-<chip_id>-<reported_tcb>.der`
    /// or `vcek.der`, `ask.der`, `ark.der` (DER or PEM); and AMD's CRL,
    /// `crl.der` (DER or PEM), which is added to every bundle when present.
    pub snp_cert_dir: Option<PathBuf>,
    /// TDX: directory with DCAP collateral to include in bundles:
    /// `<fmspc>-tdx.json`, `<fmspc>.json` or `collateral.json`.
    pub tdx_collateral_dir: Option<PathBuf>,
    /// `virtual`: the measurement to claim; default SHA-384 of the running executable.
    pub virtual_measurement: Option<[u8; 48]>,
    /// `virtual`: the host data to claim.
    pub virtual_host_data: [u8; 32],
    /// Sealing: for SEV-SNP, the VMPL and the minimum TCB keys are derived at
    /// (normally from the verification policy, [`SealingConfig::from_policy`]).
    pub sealing: SealingConfig,
}

impl Default for PlatformConfig {
    fn default() -> Self {
        Self {
            configfs_root: PathBuf::from(DEFAULT_CONFIGFS_TSM_ROOT),
            snp_cert_dir: None,
            tdx_collateral_dir: None,
            virtual_measurement: None,
            virtual_host_data: [0; 32],
            sealing: SealingConfig::default(),
        }
    }
}

/// Build the platform for a `--tee` choice.
pub fn select_platform(
    choice: TeeChoice,
    config: &PlatformConfig,
) -> Result<Arc<dyn Platform>, TeeError> {
    match choice {
        TeeChoice::Virtual => Ok(Arc::new(VirtualPlatform::new(
            config.virtual_measurement,
            config.virtual_host_data,
        ))),
        TeeChoice::SevSnp => Ok(Arc::new(SevSnpPlatform::open(
            ConfigfsTsm::new(&config.configfs_root),
            config.snp_cert_dir.clone(),
        )?)),
        TeeChoice::Tdx => Ok(Arc::new(TdxPlatform::open(
            ConfigfsTsm::new(&config.configfs_root),
            config.tdx_collateral_dir.clone(),
        )?)),
        TeeChoice::Auto => select_auto(ConfigfsTsm::new(&config.configfs_root), config),
    }
}

/// `auto` on a given configfs-tsm handle (the root may be a prepared tree).
pub fn select_auto(
    tsm: ConfigfsTsm,
    config: &PlatformConfig,
) -> Result<Arc<dyn Platform>, TeeError> {
    let provider = tsm.provider().map_err(|e| TeeError::NoHardwareTee {
        detail: e.to_string(),
    })?;
    match provider.as_str() {
        PROVIDER_SEV => Ok(Arc::new(SevSnpPlatform::open(
            tsm,
            config.snp_cert_dir.clone(),
        )?)),
        PROVIDER_TDX => Ok(Arc::new(TdxPlatform::open(
            tsm,
            config.tdx_collateral_dir.clone(),
        )?)),
        other => Err(TeeError::NoHardwareTee {
            detail: format!("configfs-tsm provider `{other}` is not supported"),
        }),
    }
}

/// Log the platform at node start-up: an info line for hardware, a loud
/// warning for `virtual`.
pub fn log_startup(platform: &dyn Platform) {
    if platform.is_insecure() {
        tracing::warn!("{INSECURE_VIRTUAL_WARNING}");
        tracing::warn!("TEE platform: virtual (INSECURE, development only)");
    } else {
        tracing::info!(platform = %platform.kind(), "TEE platform");
    }
}
