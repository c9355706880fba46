//! Certificate decoding shared by the steps: PEM/DER → `x509_cert` and `sev` certificates,
//! validity dates, and the AMD X.509 extensions (product name, hwID, one-byte SPL values).
//! Records no claims itself except `snp.certificates` failures in [`load_cert`].

use sev::certs::snp::Certificate;
use x509_cert::der::Decode as _;
use x509_cert::der::oid::ObjectIdentifier;

use crate::evidence::decode_cert;
use crate::verdict::{FailureKind, Verdict};

const OID_PRODUCT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.2");
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
pub(super) fn der_content<'a>(bytes: &'a [u8], tags: &[u8]) -> Option<&'a [u8]> {
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

/// A one-byte INTEGER extension (the SPL values of the TCB).
pub(super) fn ext_u8(cert: &x509_cert::Certificate, oid: &ObjectIdentifier) -> Option<u8> {
    let content = der_content(extension(cert, oid)?, &[0x02])?;
    // A non-negative INTEGER up to 255: one byte, or 0x00 followed by one byte.
    match content {
        [b] if *b < 0x80 => Some(*b),
        [0, b] if *b >= 0x80 => Some(*b),
        _ => None,
    }
}

/// The product line (`Milan`, `Genoa`, …) named in the productName extension, stepping suffix removed.
pub(super) fn product_name(cert: &x509_cert::Certificate) -> Option<String> {
    let raw = extension(cert, &OID_PRODUCT_NAME)?;
    let content = der_content(raw, &[0x16, 0x0c, 0x13]).unwrap_or(raw);
    let name = std::str::from_utf8(content).ok()?;
    Some(name.split('-').next().unwrap_or(name).to_string())
}

/// The hwID extension of a VCEK.
pub(super) fn hw_id(cert: &x509_cert::Certificate) -> Option<&[u8]> {
    let raw = extension(cert, &OID_HWID)?;
    // DER OCTET STRING in current VCEKs; raw 64 bytes in early ones.
    der_content(raw, &[0x04]).or(Some(raw))
}

/// A bundle certificate (PEM or base64 DER), decoded and parsed; a `snp.certificates`
/// failure when it is malformed, `None` without a claim when `text` is absent.
pub(super) fn load_cert(
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

/// The `sev` crate's view of a DER certificate, for its chain and signature checks.
pub(super) fn sev_cert(der: &[u8]) -> Result<Certificate, String> {
    Certificate::from_der(der).map_err(|e| e.to_string())
}
