//! TDX and SGX DCAP quotes, verified with `dcap-qvl` (pure Rust backend).
//!
//! dcap-qvl checks the PCK chain, CRLs, TCB info and QE identity signatures,
//! the QE report, the quote signature and the TCB level. We run it with no
//! policy of its own (debug allowed, every status returned) so that our
//! policy layer decides, and we check the collateral's validity window at
//! `now` first so that an expired collateral is reported as such.

use std::path::{Path, PathBuf};

use dcap_qvl::QuoteCollateralV3;
use dcap_qvl::configs::RustCryptoConfig;
use dcap_qvl::policy::{Policy as DcapPolicy, QuoteClaims};
use dcap_qvl::quote::{Quote, Report};
use dcap_qvl::tcb_info::{TcbInfo, TcbStatus};
use dcap_qvl::verify::QuoteVerifier;
use x509_cert::der::Decode as _;

use super::{Attested, Revocation, TcbFacts, VerifyOptions};
use crate::evidence::{Endorsements, EvidencePlatform};
use crate::policy::{Measured, TCB_NOT_SUPPORTED};
use crate::time::{format_utc, parse_rfc3339};
use crate::verdict::{FailureKind, Verdict};

const TEE_TYPE_SGX: u32 = 0x0000_0000;
const TEE_TYPE_TDX: u32 = 0x0000_0081;

/// The validity window of a DCAP collateral set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollateralWindow {
    /// Latest of the TCB info / QE identity issue dates and CRL thisUpdate.
    pub not_before: u64,
    /// Earliest of the TCB info / QE identity nextUpdate and CRL nextUpdate.
    pub not_after: u64,
}

fn json_dates(json: &str, what: &str) -> Result<(u64, u64), String> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("{what}: {e}"))?;
    let date = |k: &str| {
        value
            .get(k)
            .and_then(|d| d.as_str())
            .and_then(parse_rfc3339)
            .ok_or_else(|| format!("{what}: missing or invalid {k}"))
    };
    Ok((date("issueDate")?, date("nextUpdate")?))
}

fn crl_dates(der: &[u8], what: &str) -> Result<(u64, Option<u64>), String> {
    let crl = x509_cert::crl::CertificateList::from_der(der).map_err(|e| format!("{what}: {e}"))?;
    Ok((
        crl.tbs_cert_list.this_update.to_unix_duration().as_secs(),
        crl.tbs_cert_list
            .next_update
            .map(|t| t.to_unix_duration().as_secs()),
    ))
}

/// The window in which a collateral set is valid (certificate lifetimes,
/// which are much longer, are checked by dcap-qvl).
pub fn collateral_window(c: &QuoteCollateralV3) -> Result<CollateralWindow, String> {
    let (tcb_issue, tcb_next) = json_dates(&c.tcb_info, "TCB info")?;
    let (qe_issue, qe_next) = json_dates(&c.qe_identity, "QE identity")?;
    let mut w = CollateralWindow {
        not_before: tcb_issue.max(qe_issue),
        not_after: tcb_next.min(qe_next),
    };
    for (der, what) in [(&c.root_ca_crl, "root CA CRL"), (&c.pck_crl, "PCK CRL")] {
        let (this, next) = crl_dates(der, what)?;
        w.not_before = w.not_before.max(this);
        if let Some(next) = next {
            w.not_after = w.not_after.min(next);
        }
    }
    Ok(w)
}

/// Accept everything: dcap-qvl does the cryptography, our policy decides.
struct NoDcapPolicy;

impl DcapPolicy for NoDcapPolicy {
    fn validate(&self, _data: &QuoteClaims) -> anyhow::Result<()> {
        Ok(())
    }
}

const NO_MATCHING_LEVEL: &str = "No matching TCB level found";

/// Add a level below every listed one, with all SVNs zero, so that a platform
/// older than the oldest listed level matches it and dcap-qvl finishes its
/// checks. `Revoked` stays revoked (and is rejected as such); anything else
/// becomes `OutOfDate` here only so that dcap-qvl accepts the level: the
/// status we report for it is [`TCB_NOT_SUPPORTED`] (see [`floor_status`]).
/// It keeps the oldest level's advisories and date.
fn add_floor_level(mut info: TcbInfo) -> TcbInfo {
    let oldest = info
        .tcb_levels
        .iter()
        .min_by(|a, b| {
            a.tcb
                .sgx_components
                .cmp(&b.tcb.sgx_components)
                .then(a.tcb.pce_svn.cmp(&b.tcb.pce_svn))
                .then(a.tcb.tdx_components.cmp(&b.tcb.tdx_components))
        })
        .cloned();
    if let Some(mut floor) = oldest {
        for c in floor
            .tcb
            .sgx_components
            .iter_mut()
            .chain(floor.tcb.tdx_components.iter_mut())
        {
            c.svn = 0;
        }
        floor.tcb.pce_svn = 0;
        if floor.tcb_status != TcbStatus::Revoked {
            floor.tcb_status = TcbStatus::OutOfDate;
        }
        info.tcb_levels.push(floor);
    }
    info
}

/// The status we report for a platform that matched only the floor level of
/// [`add_floor_level`]: never the `OutOfDate` dcap-qvl saw, but
/// [`TCB_NOT_SUPPORTED`], which a policy has to name to accept. (`Revoked`
/// never gets here: dcap-qvl rejects it.)
fn floor_status(matched: &TcbStatus) -> String {
    match matched {
        TcbStatus::Revoked => matched.to_string(),
        _ => TCB_NOT_SUPPORTED.to_string(),
    }
}

/// Map a dcap-qvl error message to our failure kind and claim name.
fn classify(msg: &str) -> (FailureKind, &'static str) {
    let m = msg.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| m.contains(n));
    if has(&["tcb status is invalid: revoked"]) {
        (FailureKind::TcbRevoked, "dcap.tcb_level")
    } else if has(&["failed to decode tcbinfo", "failed to decode qeidentity"]) {
        (FailureKind::Malformed, "dcap.collateral")
    } else if has(&[
        "expired",
        "in the future",
        "notvalidyet",
        "not valid yet",
        "certnotvalid",
    ]) {
        (FailureKind::CollateralExpired, "dcap.collateral_dates")
    } else if has(&[
        "certificate chain",
        "root ca",
        "root certificate",
        "unknownissuer",
        "revoked",
        "crl",
        "trust anchor",
    ]) {
        (FailureKind::Chain, "dcap.chain")
    } else if has(&["signature", "hash mismatch"]) {
        (FailureKind::Signature, "dcap.signature")
    } else if has(&[
        "debug mode",
        "profiling",
        "migration",
        "sept_ve",
        "servtd",
        "service td",
        "reserved bits",
    ]) {
        (FailureKind::Attributes, "dcap.attributes")
    } else if has(&["decode", "unsupported", "invalid tee type", "quote version"]) {
        (FailureKind::Unsupported, "dcap.parse")
    } else {
        (FailureKind::CollateralMismatch, "dcap.tcb_level")
    }
}

fn collateral_from_dir(
    dir: &Path,
    quote: &Quote,
    tee: &str,
) -> Result<(QuoteCollateralV3, PathBuf), String> {
    let fmspc = dcap_qvl::intel::quote_fmspc_with::<RustCryptoConfig>(quote)
        .map_err(|e| format!("cannot read the FMSPC from the quote's PCK certificate: {e}"))?;
    let fmspc = hex::encode(fmspc);
    let candidates = [
        dir.join(format!("{fmspc}-{tee}.json")),
        dir.join(format!("{fmspc}.json")),
    ];
    for path in &candidates {
        if let Ok(bytes) = std::fs::read(path) {
            let c =
                serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
            return Ok((c, path.clone()));
        }
    }
    Err(format!(
        "no collateral in the bundle, nor at {} or {}",
        candidates[0].display(),
        candidates[1].display()
    ))
}

pub(crate) fn verify(
    platform: EvidencePlatform,
    raw: &[u8],
    end: &Endorsements,
    opts: &VerifyOptions,
    v: &mut Verdict,
) -> Option<Attested> {
    let quote = match Quote::parse(raw) {
        Ok(q) => q,
        Err(e) => {
            v.fail(
                FailureKind::Malformed,
                "dcap.parse",
                format!("quote: {e:#}"),
            );
            return None;
        }
    };
    let (want_tee, tee) = match platform {
        EvidencePlatform::Sgx => (TEE_TYPE_SGX, "sgx"),
        _ => (TEE_TYPE_TDX, "tdx"),
    };
    if quote.header.tee_type != want_tee {
        v.fail(
            FailureKind::Malformed,
            "dcap.parse",
            format!(
                "the bundle says {platform} but the quote's TEE type is {:#x}",
                quote.header.tee_type
            ),
        );
        return None;
    }
    let body = match &quote.report {
        Report::SgxEnclave(_) => "SGX enclave report",
        Report::TD10(_) => "TDX 1.0 TD report",
        Report::TD15(_) => "TDX 1.5 TD report",
        Report::TD15Ex(_) => "TDX 1.5ex TD report",
    };
    v.pass(
        "dcap.parse",
        format!("quote v{}, {body}", quote.header.version),
    );

    // Collateral: bundle, then directory.
    let collateral = match (&end.collateral, &opts.collateral_dir) {
        (Some(c), _) => {
            v.pass("dcap.collateral", "carried in the bundle");
            c.clone()
        }
        (None, Some(dir)) => match collateral_from_dir(dir, &quote, tee) {
            Ok((c, path)) => {
                v.pass("dcap.collateral", format!("from {}", path.display()));
                c
            }
            Err(e) => {
                v.fail(FailureKind::CollateralMissing, "dcap.collateral", e);
                return None;
            }
        },
        (None, None) => {
            v.fail(
                FailureKind::CollateralMissing,
                "dcap.collateral",
                "no collateral in the bundle and no collateral directory configured",
            );
            return None;
        }
    };
    let window = match collateral_window(&collateral) {
        Ok(w) => w,
        Err(e) => {
            v.fail(FailureKind::Malformed, "dcap.collateral_dates", e);
            return None;
        }
    };
    if opts.now < window.not_before || opts.now > window.not_after {
        v.fail(
            FailureKind::CollateralExpired,
            "dcap.collateral_dates",
            format!(
                "collateral is valid {} .. {}, not at {}",
                format_utc(window.not_before),
                format_utc(window.not_after),
                format_utc(opts.now)
            ),
        );
        return None;
    }
    v.pass(
        "dcap.collateral_dates",
        format!(
            "at {}: TCB info, QE identity and CRLs valid {} .. {}",
            format_utc(opts.now),
            format_utc(window.not_before),
            format_utc(window.not_after)
        ),
    );

    let verifier = match &opts.trust.intel_root_der {
        Some(root) => QuoteVerifier::<RustCryptoConfig>::new_with_config(root.clone()),
        None => QuoteVerifier::new_prod().with_config::<RustCryptoConfig>(),
    }
    .allow_debug(true);
    let mut below_all_levels = false;
    let result = match verifier.verify_with_policy(raw, collateral.clone(), opts.now, &NoDcapPolicy)
    {
        Err(e) if format!("{e:#}").contains(NO_MATCHING_LEVEL) => {
            // Every signature has verified by now (dcap-qvl matches the TCB
            // level last); the platform is older than every level Intel lists.
            below_all_levels = true;
            verifier.dangerous_verify_claims_with_tcb_override(
                raw,
                collateral,
                opts.now,
                add_floor_level,
            )
        }
        other => other,
    };
    let claims = match result {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("{e:#}");
            let (kind, claim) = classify(&msg);
            v.fail(kind, claim, format!("dcap-qvl: {msg}"));
            return None;
        }
    };
    v.pass(
        "dcap.chain",
        "PCK certificate, TCB info and QE identity signers chain to the Intel SGX Root CA; CRLs checked",
    );
    v.pass(
        "dcap.signature",
        "QE report signed by the PCK key and bound to the attestation key; quote signed by the attestation key",
    );
    let status = if below_all_levels {
        floor_status(&claims.tcb.status)
    } else {
        claims.tcb.status.to_string()
    };
    let advisories = if claims.tcb.advisory_ids.is_empty() {
        String::new()
    } else {
        format!(" ({})", claims.tcb.advisory_ids.join(", "))
    };
    if below_all_levels {
        v.pass(
            "dcap.tcb_level",
            format!(
                "platform TCB is below every level in the TCB info (Intel QVL: TCB not \
                 supported); reported as {status}{}",
                if advisories.is_empty() {
                    String::new()
                } else {
                    format!(" with the oldest level's advisories{advisories}")
                }
            ),
        );
    } else {
        v.pass(
            "dcap.tcb_level",
            format!("TCB level matched: {status}{advisories}"),
        );
    }
    v.pass(
        "dcap.attributes",
        "no migratable TD, reserved attribute bits clear, SEPT_VE_DISABLE set (TDX)",
    );

    let (measured, report_data, host_data, debug, tcb) = match &claims.report {
        Report::SgxEnclave(r) => (
            Measured::Sgx {
                mrenclave: r.mr_enclave,
                mrsigner: r.mr_signer,
            },
            r.report_data,
            None,
            r.attributes[0] & 0x02 != 0,
            TcbFacts::Sgx { isv_svn: r.isv_svn },
        ),
        other => {
            let Some(td) = other.as_td10() else {
                v.fail(
                    FailureKind::Unsupported,
                    "dcap.parse",
                    "unknown report body",
                );
                return None;
            };
            (
                Measured::Tdx {
                    mrtd: td.mr_td,
                    rtmr: [td.rt_mr0, td.rt_mr1, td.rt_mr2, td.rt_mr3],
                },
                td.report_data,
                Some(td.mr_config_id.to_vec()),
                // TUD bits: DEBUG (bit 0) and the profiling bits; any set means
                // the host can observe the TD.
                td.td_attributes[0] != 0,
                TcbFacts::Tdx {
                    tee_tcb_svn: td.tee_tcb_svn,
                },
            )
        }
    };
    Some(Attested {
        measured,
        report_data,
        host_data,
        debug,
        snp_guest: None,
        revocation: Revocation::Checked(
            "Intel root CA and PCK CRLs from the DCAP collateral, checked by dcap-qvl".to_string(),
        ),
        tcb,
        tcb_status: Some(status),
        advisories: claims.tcb.advisory_ids.clone(),
        collateral_issued: Some(window.not_before),
        timestamp: None,
    })
}

/// Collateral for a quote from a directory (attester side): `<fmspc>-<tee>.json`,
/// `<fmspc>.json`, then `collateral.json`.
pub(crate) fn find_collateral(dir: &Path, raw: &[u8], tee: &str) -> Option<QuoteCollateralV3> {
    let quote = Quote::parse(raw).ok()?;
    if let Ok((c, _)) = collateral_from_dir(dir, &quote, tee) {
        return Some(c);
    }
    let bytes = std::fs::read(dir.join("collateral.json")).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Parse-only access for the node: the measurement of a quote, as shown in verdicts.
pub(crate) fn measurement_string(raw: &[u8]) -> Option<String> {
    let quote = Quote::parse(raw).ok()?;
    let m = match &quote.report {
        Report::SgxEnclave(r) => Measured::Sgx {
            mrenclave: r.mr_enclave,
            mrsigner: r.mr_signer,
        },
        other => {
            let td = other.as_td10()?;
            Measured::Tdx {
                mrtd: td.mr_td,
                rtmr: [td.rt_mr0, td.rt_mr1, td.rt_mr2, td.rt_mr3],
            }
        }
    };
    Some(m.to_string())
}

/// report_data of a quote (parse only; used to check what the hardware returned).
pub(crate) fn report_data_of(raw: &[u8]) -> Option<[u8; 64]> {
    let quote = Quote::parse(raw).ok()?;
    match &quote.report {
        Report::SgxEnclave(r) => Some(r.report_data),
        other => other.as_td10().map(|td| td.report_data),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let cases = [
            ("TCB status is invalid: Revoked", FailureKind::TcbRevoked),
            (
                "Failed to decode TcbInfo: unknown variant `X`, expected `Revoked`",
                FailureKind::Malformed,
            ),
            ("TCBInfo expired", FailureKind::CollateralExpired),
            (
                "Failed to verify certificate chain: CertExpired { .. }",
                FailureKind::CollateralExpired,
            ),
            (
                "Failed to parse root CA CRL: InvalidCrlSignatureForPublicKey",
                FailureKind::Chain,
            ),
            (
                "Failed to verify certificate chain: UnknownIssuer",
                FailureKind::Chain,
            ),
            (
                "ISV enclave report signature is invalid",
                FailureKind::Signature,
            ),
            (
                "Signature is invalid for qe_report in quote",
                FailureKind::Signature,
            ),
            ("QE report hash mismatch", FailureKind::Signature),
            ("TD migration is enabled", FailureKind::Attributes),
            ("Fmspc mismatch", FailureKind::CollateralMismatch),
            (
                "No matching TCB level found",
                FailureKind::CollateralMismatch,
            ),
            ("Unsupported DCAP quote version", FailureKind::Unsupported),
        ];
        for (msg, kind) in cases {
            assert_eq!(classify(msg).0, kind, "{msg}");
        }
    }

    #[test]
    fn a_platform_below_every_level_is_not_supported_not_out_of_date() {
        for matched in [
            TcbStatus::OutOfDate,
            TcbStatus::UpToDate,
            TcbStatus::OutOfDateConfigurationNeeded,
            TcbStatus::SWHardeningNeeded,
        ] {
            assert_eq!(floor_status(&matched), TCB_NOT_SUPPORTED, "{matched:?}");
        }
        assert_eq!(floor_status(&TcbStatus::Revoked), "Revoked");
        assert!(crate::policy::KNOWN_TCB_STATUSES.contains(&TCB_NOT_SUPPORTED));
    }
}
