//! `virtual` evidence: an unsigned JSON claim set. Only parsed; the policy
//! stage rejects it unless the policy allows insecure virtual evidence.

use super::{Attested, Revocation, TcbFacts};
use crate::evidence::VirtualClaims;
use crate::policy::Measured;
use crate::verdict::{FailureKind, INSECURE_BANNER, Verdict};

fn fixed<const N: usize>(name: &str, hex_text: &str) -> Result<[u8; N], String> {
    let bytes = hex::decode(hex_text.trim()).map_err(|e| format!("{name}: {e}"))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("{name}: {} bytes, expected {N}", b.len()))
}

/// A parsed claim set with its fixed-size fields decoded.
pub(crate) type ParsedClaims = (VirtualClaims, [u8; 48], [u8; 64], [u8; 32]);

pub(crate) fn parse(raw: &[u8]) -> Result<ParsedClaims, String> {
    let claims: VirtualClaims = serde_json::from_slice(raw).map_err(|e| e.to_string())?;
    if claims.platform != "virtual" {
        return Err(format!(
            "platform is `{}`, expected `virtual`",
            claims.platform
        ));
    }
    if !claims.insecure {
        return Err("a virtual claim set must say insecure = true".to_string());
    }
    let m = fixed::<48>("measurement", &claims.measurement)?;
    let rd = fixed::<64>("report_data", &claims.report_data)?;
    let hd = fixed::<32>("host_data", &claims.host_data)?;
    Ok((claims, m, rd, hd))
}

pub(crate) fn verify(raw: &[u8], v: &mut Verdict) -> Option<Attested> {
    let (claims, measurement, report_data, host_data) = match parse(raw) {
        Ok(p) => p,
        Err(e) => {
            v.fail(
                FailureKind::Malformed,
                "virtual.parse",
                format!("claim set: {e}"),
            );
            return None;
        }
    };
    v.pass("virtual.parse", INSECURE_BANNER);
    Some(Attested {
        measured: Measured::Virtual(measurement),
        report_data,
        host_data: Some(host_data.to_vec()),
        debug: claims.debug,
        snp_guest: None,
        revocation: Revocation::NotApplicable,
        tcb: TcbFacts::Virtual,
        tcb_status: None,
        advisories: Vec::new(),
        collateral_issued: None,
        timestamp: Some(claims.timestamp),
    })
}
