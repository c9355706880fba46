//! The `virtual` platform: development on ordinary machines.

use sha2::{Digest, Sha384};

use super::{Platform, PlatformEvidence};
use crate::TeeError;
use crate::evidence::{Endorsements, EvidencePlatform, VirtualClaims};

/// Produces unsigned claim sets. It gives no protection: the operator can
/// read all memory, change the code, and forge this evidence at will.
#[derive(Debug, Clone)]
pub struct VirtualPlatform {
    measurement: [u8; 48],
    host_data: [u8; 32],
}

/// SHA-384 of the running executable, or zeros if it cannot be read.
pub(crate) fn current_exe_measurement() -> [u8; 48] {
    let bytes = std::env::current_exe().and_then(std::fs::read);
    match bytes {
        Ok(b) => Sha384::digest(&b).into(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot hash the running executable; virtual measurement is zero");
            [0; 48]
        }
    }
}

impl VirtualPlatform {
    /// A virtual platform claiming `measurement` (default: SHA-384 of the
    /// running executable) and `host_data`. [`crate::log_startup`] warns that it is insecure.
    pub fn new(measurement: Option<[u8; 48]>, host_data: [u8; 32]) -> Self {
        Self {
            measurement: measurement.unwrap_or_else(current_exe_measurement),
            host_data,
        }
    }

    /// The measurement this platform claims.
    pub fn measurement(&self) -> [u8; 48] {
        self.measurement
    }
}

impl Platform for VirtualPlatform {
    fn kind(&self) -> EvidencePlatform {
        EvidencePlatform::Virtual
    }

    fn attest(&self, report_data: &[u8; 64]) -> Result<PlatformEvidence, TeeError> {
        let claims = VirtualClaims {
            platform: "virtual".to_string(),
            measurement: hex::encode(self.measurement),
            report_data: hex::encode(report_data),
            host_data: hex::encode(self.host_data),
            timestamp: crate::verify::now_unix(),
            debug: false,
            insecure: true,
        };
        let evidence =
            serde_json::to_vec(&claims).map_err(|e| TeeError::malformed("virtual claim set", e))?;
        Ok(PlatformEvidence {
            evidence,
            endorsements: Endorsements::default(),
        })
    }
}
