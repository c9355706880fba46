//! Intel TDX quotes through configfs-tsm.

use std::path::PathBuf;

use super::configfs::{ConfigfsTsm, PROVIDER_TDX};
use super::{Platform, PlatformEvidence};
use crate::TeeError;
use crate::evidence::{Endorsements, EvidencePlatform};

/// TDX through configfs-tsm. The quote carries its PCK chain; the rest of
/// the collateral is added from the configured directory when present
/// (verifiers can also use their own collateral cache).
#[derive(Debug)]
pub struct TdxPlatform {
    tsm: ConfigfsTsm,
    collateral_dir: Option<PathBuf>,
}

impl TdxPlatform {
    /// Use configfs-tsm at `tsm`; fails unless its provider is `tdx_guest`.
    pub fn open(tsm: ConfigfsTsm, collateral_dir: Option<PathBuf>) -> Result<Self, TeeError> {
        let provider = tsm.provider()?;
        if provider != PROVIDER_TDX {
            return Err(TeeError::WrongProvider {
                requested: "tdx",
                expected: PROVIDER_TDX,
                found: provider,
            });
        }
        Ok(Self {
            tsm,
            collateral_dir,
        })
    }
}

impl Platform for TdxPlatform {
    fn kind(&self) -> EvidencePlatform {
        EvidencePlatform::Tdx
    }

    fn attest(&self, report_data: &[u8; 64]) -> Result<PlatformEvidence, TeeError> {
        let r = self.tsm.request(report_data)?;
        if r.provider != PROVIDER_TDX {
            return Err(TeeError::WrongProvider {
                requested: "tdx",
                expected: PROVIDER_TDX,
                found: r.provider,
            });
        }
        match crate::verify::quote_report_data(&r.outblob) {
            None => return Err(TeeError::malformed("TDX quote", "does not parse")),
            Some(rd) if &rd != report_data => return Err(TeeError::ReportDataMismatch),
            Some(_) => {}
        }
        let collateral = self
            .collateral_dir
            .as_deref()
            .and_then(|dir| crate::verify::find_collateral(dir, &r.outblob, "tdx"));
        Ok(PlatformEvidence {
            evidence: r.outblob,
            endorsements: Endorsements {
                collateral,
                ..Endorsements::default()
            },
        })
    }
}
