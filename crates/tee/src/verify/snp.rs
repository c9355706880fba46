//! SEV-SNP: report signature and ARK → ASK → VCEK/VLEK chain with the `sev`
//! crate, then our own checks that the `sev` crate does not do: certificate
//! validity at `now`, the VEK's TCB extensions against REPORTED_TCB, the
//! VCEK's hwID against CHIP_ID, and revocation of the ASK and VCEK/VLEK in
//! AMD's CRL when one is available ([`super::amd_crl`]).

use sev::certs::snp::{Certificate, Chain, Verifiable, ca};
use sev::firmware::guest::AttestationReport;
use sev::parser::ByteParser;
use x509_cert::der::Decode as _;
use x509_cert::der::oid::ObjectIdentifier;

use super::amd_crl::check_crl;
use super::{Attested, Revocation, SnpGuestFacts, SnpTcb, TcbFacts, VerifyOptions};
use crate::evidence::{Endorsements, decode_cert};
use crate::policy::Measured;
use crate::time::format_utc;
use crate::verdict::{FailureKind, Verdict};

/// Size of an SEV-SNP attestation report.
pub(crate) const REPORT_LEN: usize = 1184;
/// The signed part of the report.
const SIGNED_LEN: usize = 0x2A0;

const OID_PRODUCT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.2");
const OID_BL_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.1");
const OID_TEE_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.2");
const OID_SNP_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.3");
const OID_UCODE_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.8");
const OID_FMC_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.9");
const OID_HWID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.4");

/// `(not_before, not_after)` of a DER certificate, Unix seconds.
pub fn certificate_validity(der: &[u8]) -> Result<(u64, u64), String> {
    let cert = x509_cert::Certificate::from_der(der).map_err(|e| e.to_string())?;
    Ok(validity(&cert))
}

fn validity(cert: &x509_cert::Certificate) -> (u64, u64) {
    let v = &cert.tbs_certificate.validity;
    (
        v.not_before.to_unix_duration().as_secs(),
        v.not_after.to_unix_duration().as_secs(),
    )
}

fn extension<'a>(cert: &'a x509_cert::Certificate, oid: &ObjectIdentifier) -> Option<&'a [u8]> {
    cert.tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| &e.extn_id == oid)
        .map(|e| e.extn_value.as_bytes())
}

/// Content of a DER TLV with one of `tags` and a short-form or one/two-byte long-form length.
fn der_content<'a>(bytes: &'a [u8], tags: &[u8]) -> Option<&'a [u8]> {
    let (&tag, rest) = bytes.split_first()?;
    if !tags.contains(&tag) {
        return None;
    }
    let (&len0, rest) = rest.split_first()?;
    let (len, rest) = match len0 {
        0..=0x7f => (usize::from(len0), rest),
        0x81 => (usize::from(*rest.first()?), rest.get(1..)?),
        0x82 => (
            usize::from(*rest.first()?) << 8 | usize::from(*rest.get(1)?),
            rest.get(2..)?,
        ),
        _ => return None,
    };
    if rest.len() != len {
        return None;
    }
    Some(rest)
}

fn ext_u8(cert: &x509_cert::Certificate, oid: &ObjectIdentifier) -> Option<u8> {
    let content = der_content(extension(cert, oid)?, &[0x02])?;
    // A non-negative INTEGER up to 255: one byte, or 0x00 followed by one byte.
    match content {
        [b] if *b < 0x80 => Some(*b),
        [0, b] if *b >= 0x80 => Some(*b),
        _ => None,
    }
}

fn product_name(cert: &x509_cert::Certificate) -> Option<String> {
    let raw = extension(cert, &OID_PRODUCT_NAME)?;
    let content = der_content(raw, &[0x16, 0x0c, 0x13]).unwrap_or(raw);
    let name = std::str::from_utf8(content).ok()?;
    Some(name.split('-').next().unwrap_or(name).to_string())
}

fn hw_id(cert: &x509_cert::Certificate) -> Option<&[u8]> {
    let raw = extension(cert, &OID_HWID)?;
    // DER OCTET STRING in current VCEKs; raw 64 bytes in early ones.
    der_content(raw, &[0x04]).or(Some(raw))
}

fn load_cert(
    what: &'static str,
    text: Option<&String>,
    v: &mut Verdict,
) -> Option<(Vec<u8>, x509_cert::Certificate)> {
    let text = text?;
    let der = match decode_cert(text) {
        Ok(d) => d,
        Err(e) => {
            v.fail(
                FailureKind::Malformed,
                "snp.certificates",
                format!("{what}: {e}"),
            );
            return None;
        }
    };
    match x509_cert::Certificate::from_der(&der) {
        Ok(c) => Some((der, c)),
        Err(e) => {
            v.fail(
                FailureKind::Malformed,
                "snp.certificates",
                format!("{what}: {e}"),
            );
            None
        }
    }
}

fn sev_cert(der: &[u8]) -> Result<Certificate, String> {
    Certificate::from_der(der).map_err(|e| e.to_string())
}

pub(crate) fn verify(
    raw: &[u8],
    end: &Endorsements,
    opts: &VerifyOptions,
    v: &mut Verdict,
) -> Option<Attested> {
    // Parse.
    if raw.len() != REPORT_LEN {
        v.fail(
            FailureKind::Malformed,
            "snp.parse",
            format!("report is {} bytes, expected {REPORT_LEN}", raw.len()),
        );
        return None;
    }
    let report = match AttestationReport::from_bytes(raw) {
        Ok(r) => r,
        Err(e) => {
            v.fail(FailureKind::Unsupported, "snp.parse", format!("sev: {e}"));
            return None;
        }
    };
    // The sev crate verifies the signature over its own re-encoding of the
    // report; insist that this is exactly the bytes we were given.
    match report.to_bytes() {
        Ok(again) if again.get(..SIGNED_LEN) == raw.get(..SIGNED_LEN) => {}
        _ => {
            v.fail(
                FailureKind::Malformed,
                "snp.parse",
                "report has non-zero reserved bytes in its signed part",
            );
            return None;
        }
    }
    let signing_key = report.key_info.signing_key();
    let vlek = match signing_key {
        0 => false,
        1 => true,
        other => {
            v.fail(
                FailureKind::Unsupported,
                "snp.parse",
                format!("report is not signed by a VCEK or VLEK (SIGNING_KEY = {other})"),
            );
            return None;
        }
    };
    if report.sig_algo != 1 {
        v.fail(
            FailureKind::Unsupported,
            "snp.parse",
            format!(
                "signature algorithm {} (only 1 = ECDSA P-384/SHA-384)",
                report.sig_algo
            ),
        );
        return None;
    }
    let reported = SnpTcb {
        bootloader: report.reported_tcb.bootloader,
        tee: report.reported_tcb.tee,
        snp: report.reported_tcb.snp,
        microcode: report.reported_tcb.microcode,
        fmc: report.reported_tcb.fmc,
    };
    v.pass(
        "snp.parse",
        format!(
            "report v{}, VMPL {}, signed by {}, REPORTED_TCB {reported}",
            report.version,
            report.vmpl,
            if vlek { "VLEK" } else { "VCEK" }
        ),
    );

    // The endorsement key certificate: bundle, then collateral directory.
    let key_name = if vlek { "VLEK" } else { "VCEK" };
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
                    hex::encode(report.chip_id),
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

    // Chain: trusted ARK → ASK (bundle, or the built-in one) → VEK.
    let product = product_name(&vek);
    let candidates: Vec<&super::AmdRoot> = opts
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
    let vek_sev = match sev_cert(&vek_der) {
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
        let ask_der = match &bundle_ask {
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
    if let Some((ark_der, _)) = &bundle_ark
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
            if bundle_ask.is_some() {
                "ASK (bundle)"
            } else {
                "ASK (built in)"
            },
            root.product
        ),
    );

    // Report signature.
    if let Err(e) = (&vek_sev, &report).verify() {
        v.fail(
            FailureKind::Signature,
            "snp.signature",
            format!("report signature does not verify with the {key_name}: {e}"),
        );
        return None;
    }
    v.pass(
        "snp.signature",
        format!("report signed by the {key_name} (ECDSA P-384/SHA-384)"),
    );

    // Certificate validity at `now`.
    let now = opts.now;
    let mut dates = Vec::new();
    for (name, der) in [
        ("ARK", &root.ark_der),
        ("ASK", &ask_der),
        (key_name, &vek_der),
    ] {
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

    // The VEK certifies one TCB: it must be the one the report claims.
    match check_vek_tcb(&vek, &reported) {
        Ok(()) => v.pass(
            "snp.vek_tcb",
            format!("{key_name} TCB extensions equal REPORTED_TCB ({reported})"),
        ),
        Err(e) => {
            v.fail(
                FailureKind::TcbMismatch,
                "snp.vek_tcb",
                format!("{key_name} TCB extensions do not match REPORTED_TCB: {e}"),
            );
            return None;
        }
    }

    // hwID (VCEK only; a VLEK is not chip-specific).
    if vlek {
        v.not_applicable("snp.chip_id", "VLEK-signed: not bound to one chip");
    } else if let Err(e) = check_chip_id(&vek, &report.chip_id) {
        v.fail(FailureKind::ChipIdMismatch, "snp.chip_id", e);
        return None;
    } else {
        v.pass("snp.chip_id", "VCEK hwID equals CHIP_ID");
    }

    // Revocation: every AMD CRL available must verify, be current, and not list the ASK
    // (or ASVK) the ARK issued.
    let revocation = check_revocation(
        end,
        opts,
        root,
        &ask_der,
        key_name,
        if vlek { "crl-vlek-" } else { "crl-" },
        v,
    )?;

    Some(Attested {
        measured: Measured::SevSnp(report.measurement),
        report_data: report.report_data,
        host_data: Some(report.host_data.to_vec()),
        debug: report.policy.debug_allowed(),
        snp_guest: Some(SnpGuestFacts {
            vmpl: report.vmpl,
            migrate_ma: report.policy.migrate_ma_allowed(),
        }),
        revocation,
        tcb: TcbFacts::Snp {
            reported,
            guest_svn: report.guest_svn,
        },
        tcb_status: None,
        advisories: Vec::new(),
        collateral_issued: None,
        timestamp: None,
    })
}

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

fn check_revocation(
    end: &Endorsements,
    opts: &VerifyOptions,
    root: &super::AmdRoot,
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

/// The VEK's TCB extensions must equal REPORTED_TCB.
fn check_vek_tcb(vek: &x509_cert::Certificate, reported: &SnpTcb) -> Result<(), String> {
    let mut mismatches = Vec::new();
    for (n, oid, have) in [
        ("blSPL", OID_BL_SPL, reported.bootloader),
        ("teeSPL", OID_TEE_SPL, reported.tee),
        ("snpSPL", OID_SNP_SPL, reported.snp),
        ("ucodeSPL", OID_UCODE_SPL, reported.microcode),
    ] {
        match ext_u8(vek, &oid) {
            Some(c) if c == have => {}
            Some(c) => mismatches.push(format!("{n}: certificate {c}, report {have}")),
            None => mismatches.push(format!("{n}: missing or malformed in the certificate")),
        }
    }
    if let Some(have) = reported.fmc {
        match ext_u8(vek, &OID_FMC_SPL) {
            Some(c) if c == have => {}
            Some(c) => mismatches.push(format!("fmcSPL: certificate {c}, report {have}")),
            None => mismatches.push("fmcSPL: missing in the certificate".to_string()),
        }
    }
    if mismatches.is_empty() {
        Ok(())
    } else {
        Err(mismatches.join("; "))
    }
}

/// The VCEK's hwID must equal CHIP_ID (64 bytes; Turin VCEKs carry the first 8).
fn check_chip_id(vcek: &x509_cert::Certificate, chip: &[u8; 64]) -> Result<(), String> {
    if chip.iter().all(|b| *b == 0) {
        return Err("CHIP_ID is masked (all zero): the VCEK cannot be bound to the chip".into());
    }
    match hw_id(vcek) {
        Some(id)
            if !id.is_empty()
                && chip.get(..id.len()) == Some(id)
                && chip
                    .get(id.len()..)
                    .is_some_and(|rest| rest.iter().all(|b| *b == 0)) =>
        {
            Ok(())
        }
        Some(id) => Err(format!(
            "VCEK hwID {} differs from CHIP_ID {}",
            hex::encode(id),
            hex::encode(chip)
        )),
        None => Err("the VCEK has no hwID extension".into()),
    }
}

/// The raw REPORTED_TCB field (offset 0x180).
fn tcb_bytes(raw: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    if let Some(b) = raw.get(0x180..0x188) {
        out.copy_from_slice(b);
    }
    out
}

/// Parse-only access for the node: measurement of a report, hex.
pub(crate) fn measurement_hex(raw: &[u8]) -> Option<String> {
    raw.get(0x90..0xC0).map(hex::encode)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTORS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/attestation-vectors"
    );

    fn milan() -> (x509_cert::Certificate, SnpTcb, [u8; 64]) {
        let der = std::fs::read(format!("{VECTORS}/sev/vcek_milan.der")).unwrap();
        let text = std::fs::read_to_string(format!("{VECTORS}/sev/report_milan.hex")).unwrap();
        let raw = hex::decode(text.trim()).unwrap();
        let report = AttestationReport::from_bytes(&raw).unwrap();
        let t = report.reported_tcb;
        let tcb = SnpTcb {
            bootloader: t.bootloader,
            tee: t.tee,
            snp: t.snp,
            microcode: t.microcode,
            fmc: t.fmc,
        };
        (
            x509_cert::Certificate::from_der(&der).unwrap(),
            tcb,
            report.chip_id,
        )
    }

    #[test]
    fn real_vcek_binds_tcb_and_chip_id() {
        let (vcek, tcb, chip) = milan();
        assert_eq!(product_name(&vcek).as_deref(), Some("Milan"));
        check_vek_tcb(&vcek, &tcb).unwrap();
        check_chip_id(&vcek, &chip).unwrap();
        // Each component is compared.
        for i in 0..4 {
            let mut t = tcb;
            match i {
                0 => t.bootloader += 1,
                1 => t.tee += 1,
                2 => t.snp = t.snp.wrapping_sub(1),
                _ => t.microcode += 1,
            }
            let e = check_vek_tcb(&vcek, &t).unwrap_err();
            assert!(
                e.contains(["blSPL", "teeSPL", "snpSPL", "ucodeSPL"][i]),
                "{e}"
            );
        }
        // A Turin-style report with an FMC component the Milan VCEK lacks.
        let turin = SnpTcb {
            fmc: Some(1),
            ..tcb
        };
        assert!(check_vek_tcb(&vcek, &turin).unwrap_err().contains("fmcSPL"));
        let mut other = chip;
        other[63] ^= 1;
        assert!(
            check_chip_id(&vcek, &other)
                .unwrap_err()
                .contains("differs")
        );
        assert!(
            check_chip_id(&vcek, &[0; 64])
                .unwrap_err()
                .contains("masked")
        );
    }

    #[test]
    fn der_helpers() {
        assert_eq!(der_content(&[0x02, 0x01, 0x05], &[0x02]), Some(&[5u8][..]));
        assert_eq!(der_content(&[0x02, 0x02, 0x05], &[0x02]), None);
        assert_eq!(
            der_content(&[0x04, 0x81, 0x01, 9], &[0x04]),
            Some(&[9u8][..])
        );
        assert_eq!(der_content(&[0x04], &[0x04]), None);
        assert_eq!(der_content(&[], &[0x04]), None);
        assert_eq!(der_content(&[0x16, 0x01, 9], &[0x04]), None);
    }
}
