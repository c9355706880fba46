//! Step 2, endorsement: the certificates the chain needs. The VCEK or VLEK comes from the
//! bundle, else (VCEK only) from the collateral directory's
//! `snp/vcek-<CHIP_ID>-<REPORTED_TCB>.der`; the ASK (or a VLEK's ASVK) and ARK from the bundle
//! when present. A VLEK requires its ASVK in the bundle. Records no pass; a missing or
//! malformed certificate fails `snp.certificates`.

use x509_cert::der::Decode as _;

use super::cert::load_cert;
use super::parse::Parsed;
use crate::evidence::Endorsements;
use crate::verdict::{FailureKind, Verdict};
use crate::verify::VerifyOptions;

/// A DER certificate and its parse.
pub(super) type Cert = (Vec<u8>, x509_cert::Certificate);

/// The certificates found by [`load`].
pub(super) struct Endorsement {
    /// The VCEK or VLEK, DER.
    pub(super) vek_der: Vec<u8>,
    /// The VCEK or VLEK.
    pub(super) vek: x509_cert::Certificate,
    /// The bundle's ASK (ASVK for a VLEK), if any.
    pub(super) bundle_ask: Option<Cert>,
    /// The bundle's ARK, if any.
    pub(super) bundle_ark: Option<Cert>,
}

/// Finds and parses the endorsement key certificate and the bundle's ASK and ARK.
pub(super) fn load(
    parsed: &Parsed,
    raw: &[u8],
    end: &Endorsements,
    opts: &VerifyOptions,
    v: &mut Verdict,
) -> Option<Endorsement> {
    let vlek = parsed.vlek;
    let key_name = parsed.key_name();
    // The endorsement key certificate: bundle, then collateral directory.
    let from_bundle = if vlek {
        end.vlek.as_ref()
    } else {
        end.vcek.as_ref()
    };
    let (vek_der, vek) = if from_bundle.is_some() {
        load_cert(key_name, from_bundle, v)?
    } else {
        let cached = (!vlek)
            .then_some(opts.collateral_dir.as_ref())
            .flatten()
            .map(|dir| {
                dir.join("snp").join(format!(
                    "vcek-{}-{:016x}.der",
                    hex::encode(parsed.report.chip_id),
                    u64::from_le_bytes(tcb_bytes(raw))
                ))
            });
        match cached.as_ref().and_then(|p| std::fs::read(p).ok()) {
            Some(der) => match x509_cert::Certificate::from_der(&der) {
                Ok(c) => (der, c),
                Err(e) => {
                    v.fail(
                        FailureKind::Malformed,
                        "snp.certificates",
                        format!("{key_name}: {e}"),
                    );
                    return None;
                }
            },
            None => {
                v.fail(
                    FailureKind::CollateralMissing,
                    "snp.certificates",
                    format!(
                        "no {key_name} certificate in the bundle{}",
                        match &cached {
                            Some(p) => format!(" or at {}", p.display()),
                            None => String::new(),
                        }
                    ),
                );
                return None;
            }
        }
    };
    let bundle_ask = match &end.ask {
        Some(_) => Some(load_cert("ASK", end.ask.as_ref(), v)?),
        None => None,
    };
    let bundle_ark = match &end.ark {
        Some(_) => Some(load_cert("ARK", end.ark.as_ref(), v)?),
        None => None,
    };
    if vlek && bundle_ask.is_none() {
        v.fail(
            FailureKind::CollateralMissing,
            "snp.certificates",
            "a VLEK needs its ASVK in the bundle's `ask` field",
        );
        return None;
    }
    Some(Endorsement {
        vek_der,
        vek,
        bundle_ask,
        bundle_ark,
    })
}

/// The raw REPORTED_TCB field (offset 0x180).
fn tcb_bytes(raw: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    if let Some(b) = raw.get(0x180..0x188) {
        out.copy_from_slice(b);
    }
    out
}
