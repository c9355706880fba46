//! Step 3, chain: the VCEK/VLEK chains to a trusted AMD ARK through the bundle's ASK (or
//! ASVK) or the root's built-in ASK, trying every trusted root of the VEK's product line; a
//! bundle ARK must be that trusted root. Records `snp.chain` (pass, or the failure), or a
//! `snp.certificates` failure when the `sev` crate cannot read the VEK.

use sev::certs::snp::{Certificate, Chain, Verifiable, ca};

use super::cert::{product_name, sev_cert};
use super::endorsement::Endorsement;
use crate::verdict::{FailureKind, Verdict};
use crate::verify::{AmdRoot, VerifyOptions};

/// What [`verify`] established.
pub(super) struct Chained<'a> {
    /// The trusted root the chain ends in.
    pub(super) root: &'a AmdRoot,
    /// The ASK (or ASVK) of the chain, DER: the bundle's, or the root's built-in one.
    pub(super) ask_der: Vec<u8>,
    /// The VEK as the `sev` crate reads it, for the report signature.
    pub(super) vek_sev: Certificate,
}

/// Verifies ARK → ASK → VEK and records `snp.chain`.
pub(super) fn verify<'a>(
    key_name: &str,
    certs: &Endorsement,
    opts: &'a VerifyOptions,
    v: &mut Verdict,
) -> Option<Chained<'a>> {
    // Chain: trusted ARK → ASK (bundle, or the built-in one) → VEK.
    let product = product_name(&certs.vek);
    let candidates: Vec<&AmdRoot> = opts
        .trust
        .amd
        .iter()
        .filter(|r| {
            product
                .as_ref()
                .is_none_or(|p| r.product.eq_ignore_ascii_case(p))
        })
        .collect();
    if candidates.is_empty() {
        v.fail(
            FailureKind::Chain,
            "snp.chain",
            format!(
                "no trusted AMD root for product {}",
                product.as_deref().unwrap_or("(unnamed)")
            ),
        );
        return None;
    }
    let vek_sev = match sev_cert(&certs.vek_der) {
        Ok(c) => c,
        Err(e) => {
            v.fail(
                FailureKind::Malformed,
                "snp.certificates",
                format!("{key_name}: {e}"),
            );
            return None;
        }
    };
    let mut chosen = None;
    let mut last_err = String::new();
    for root in &candidates {
        let ask_der = match &certs.bundle_ask {
            Some((d, _)) => d.clone(),
            None => root.ask_der.clone(),
        };
        let (ark, ask) = match (sev_cert(&root.ark_der), sev_cert(&ask_der)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                last_err = e;
                continue;
            }
        };
        let chain = Chain {
            ca: ca::Chain { ark, ask },
            vek: vek_sev.clone(),
        };
        match (&chain).verify() {
            Ok(_) => {
                chosen = Some((*root, ask_der));
                break;
            }
            Err(e) => last_err = format!("{} root: {e}", root.product),
        }
    }
    let Some((root, ask_der)) = chosen else {
        v.fail(
            FailureKind::Chain,
            "snp.chain",
            format!("{key_name} does not chain to a trusted AMD ARK: {last_err}"),
        );
        return None;
    };
    if let Some((ark_der, _)) = &certs.bundle_ark
        && ark_der != &root.ark_der
    {
        v.fail(
            FailureKind::Chain,
            "snp.chain",
            format!(
                "the bundle's ARK is not the trusted AMD {} root",
                root.product
            ),
        );
        return None;
    }
    v.pass(
        "snp.chain",
        format!(
            "{key_name} ← {} ← ARK (AMD {} root, built in or configured)",
            if certs.bundle_ask.is_some() {
                "ASK (bundle)"
            } else {
                "ASK (built in)"
            },
            root.product
        ),
    );
    Some(Chained {
        root,
        ask_der,
        vek_sev,
    })
}
