//! Step 5, validity: the ARK, ASK and VCEK/VLEK of the chain are each within their
//! notBefore .. notAfter at `now`, checked in that order (the `sev` crate does not check
//! dates). Records `snp.cert_validity` (pass, or the failure).

use super::cert::certificate_validity;
use crate::time::format_utc;
use crate::verdict::{FailureKind, Verdict};

/// Checks the certificates' dates at `now` and records `snp.cert_validity`.
pub(super) fn check(chain: [(&str, &[u8]); 3], now: u64, v: &mut Verdict) -> Option<()> {
    let mut dates = Vec::new();
    for (name, der) in chain {
        match certificate_validity(der) {
            Ok((nb, na)) => {
                if now < nb || now > na {
                    v.fail(
                        FailureKind::CollateralExpired,
                        "snp.cert_validity",
                        format!(
                            "{name} is valid {} .. {}, not at {}",
                            format_utc(nb),
                            format_utc(na),
                            format_utc(now)
                        ),
                    );
                    return None;
                }
                dates.push(format!("{name} until {}", format_utc(na)));
            }
            Err(e) => {
                v.fail(
                    FailureKind::Malformed,
                    "snp.cert_validity",
                    format!("{name}: {e}"),
                );
                return None;
            }
        }
    }
    v.pass(
        "snp.cert_validity",
        format!("at {}: {}", format_utc(now), dates.join(", ")),
    );
    Some(())
}
