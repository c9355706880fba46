//! Step 8, revocation: every AMD CRL available — the bundle's, then the collateral
//! directory's `snp/<prefix><product>.der` — must be signed by the chain's ARK, be current at
//! `now`, and not list the ASK (or ASVK) the ARK issued ([`super::super::amd_crl`]). Records
//! `snp.crl`: pass, not applicable when no CRL is available (revocation unchecked), or the
//! failure.

use x509_cert::der::Decode as _;

use crate::evidence::{Endorsements, decode_cert};
use crate::time::format_utc;
use crate::verdict::{FailureKind, Verdict};
use crate::verify::amd_crl::check_crl;
use crate::verify::{AmdRoot, Revocation, VerifyOptions};

/// The CRLs to check: the bundle's, then the collateral directory's
/// `snp/<prefix><product>.der` (product as in the root, or lower case).
fn crl_candidates(
    end: &Endorsements,
    opts: &VerifyOptions,
    product: &str,
    prefix: &str,
    v: &mut Verdict,
) -> Option<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    if let Some(text) = &end.crl {
        match decode_cert(text) {
            Ok(der) => out.push(("bundle".to_string(), der)),
            Err(e) => {
                v.fail(
                    FailureKind::Malformed,
                    "snp.crl",
                    format!("the bundle's CRL: {e}"),
                );
                return None;
            }
        }
    }
    if let Some(dir) = &opts.collateral_dir {
        let names = [
            format!("{prefix}{product}.der"),
            format!("{prefix}{}.der", product.to_ascii_lowercase()),
        ];
        for name in names {
            let path = dir.join("snp").join(name);
            match std::fs::read(&path) {
                Ok(der) => {
                    out.push((path.display().to_string(), der));
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    v.fail(
                        FailureKind::CollateralMissing,
                        "snp.crl",
                        format!("{}: {e}", path.display()),
                    );
                    return None;
                }
            }
        }
    }
    Some(out)
}

/// Checks the available CRLs and records `snp.crl`; `prefix` is `crl-` for a VCEK's chain,
/// `crl-vlek-` for a VLEK's.
pub(super) fn check(
    end: &Endorsements,
    opts: &VerifyOptions,
    root: &AmdRoot,
    ask_der: &[u8],
    key_name: &str,
    prefix: &str,
    v: &mut Verdict,
) -> Option<Revocation> {
    let crls = crl_candidates(end, opts, &root.product, prefix, v)?;
    if crls.is_empty() {
        v.not_applicable(
            "snp.crl",
            format!(
                "no AMD CRL in the bundle or at snp/{prefix}{}.der in the collateral directory: \
                 revocation not checked",
                root.product
            ),
        );
        return Some(Revocation::Unavailable);
    }
    let parsed = x509_cert::Certificate::from_der(&root.ark_der)
        .and_then(|ark| x509_cert::Certificate::from_der(ask_der).map(|ask| (ark, ask)));
    let (ark, ask) = match parsed {
        Ok(pair) => pair,
        Err(e) => {
            v.fail(FailureKind::Malformed, "snp.crl", format!("ARK / ASK: {e}"));
            return None;
        }
    };
    let ask_name = if key_name == "VLEK" { "ASVK" } else { "ASK" };
    let mut checked = Vec::new();
    for (source, der) in &crls {
        // The ARK's CRL lists certificates the ARK issued: the ASK (or ASVK). Serial numbers are
        // unique per issuer only, so the VCEK/VLEK (issued by the ASK) is not looked up in it.
        match check_crl(der, &ark, opts.now, &[(ask_name, &ask)]) {
            Ok(c) => checked.push(format!(
                "{source} CRL (signed by the AMD {} ARK, valid {} .. {}, {} entries)",
                root.product,
                format_utc(c.this_update),
                format_utc(c.next_update),
                c.entries
            )),
            Err(problem) => {
                v.fail(
                    problem.kind(),
                    "snp.crl",
                    format!("{source} CRL: {problem}"),
                );
                return None;
            }
        }
    }
    let detail = format!(
        "{ask_name} and {key_name} not revoked in {}",
        checked.join("; ")
    );
    v.pass("snp.crl", detail.clone());
    Some(Revocation::Checked(detail))
}
