//! AMD's certificate revocation lists for SEV-SNP.
//!
//! AMD's KDS serves one CRL per product line at `/vcek/v1/{product}/crl`
//! (and `/vlek/v1/{product}/crl`): DER, issued and signed by the ARK with
//! RSASSA-PSS / SHA-384 (MGF1 SHA-384, 48-byte salt). [`check_crl`] accepts a
//! CRL only if
//!
//! 1. it parses, and its signature algorithm is RSASSA-PSS with SHA-384 and
//!    MGF1-SHA-384, the same in the signed part and outside it;
//! 2. its issuer is the trusted ARK's subject, and its signature over the
//!    exact `tbsCertList` bytes verifies with the ARK's public key;
//! 3. `thisUpdate <= now <= nextUpdate` (a CRL without `nextUpdate` is
//!    refused: it cannot be known to be current);
//!
//! and then reports any of the given certificates whose serial number it lists.
//! The caller passes only certificates the ARK issued (the ASK / ASVK): serial
//! numbers are unique per issuer, so an ARK-signed list says nothing about the
//! ASK-issued VCEK / VLEK. Pure: the time is a parameter.

use rsa::pkcs8::DecodePublicKey as _;
use rsa::signature::Verifier as _;
use sha2::Sha384;
use x509_cert::crl::CertificateList;
use x509_cert::der::asn1::BitString;
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::{Decode as _, Encode as _, Reader as _, SliceReader};
use x509_cert::spki::AlgorithmIdentifierOwned;

use crate::time::format_utc;
use crate::verdict::FailureKind;

const OID_RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const OID_MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");
const OID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");

/// Why a CRL was not accepted, or what it revokes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CrlProblem {
    /// Not a DER CRL, or missing a required field.
    #[error("malformed CRL: {0}")]
    Malformed(String),
    /// Not issued by the trusted ARK.
    #[error("CRL issuer is not the trusted ARK: {0}")]
    Issuer(String),
    /// Wrong algorithm, or the signature does not verify with the ARK's key.
    #[error("CRL signature: {0}")]
    Signature(String),
    /// `now` is outside thisUpdate..nextUpdate.
    #[error("CRL is valid {this_update} .. {next_update}, not at {now}")]
    Dates {
        /// thisUpdate, ISO 8601.
        this_update: String,
        /// nextUpdate, ISO 8601.
        next_update: String,
        /// The verification time, ISO 8601.
        now: String,
    },
    /// A certificate of the chain is revoked.
    #[error("the {certificate} (serial {serial}) is revoked since {since}")]
    Revoked {
        /// Which certificate (ASK, VCEK, ...).
        certificate: String,
        /// Its serial number, hex.
        serial: String,
        /// The revocation date, ISO 8601.
        since: String,
    },
}

impl CrlProblem {
    /// The verdict failure kind for this problem.
    pub(crate) fn kind(&self) -> FailureKind {
        match self {
            Self::Malformed(_) => FailureKind::Malformed,
            Self::Issuer(_) => FailureKind::Chain,
            Self::Signature(_) => FailureKind::Signature,
            Self::Dates { .. } => FailureKind::CollateralExpired,
            Self::Revoked { .. } => FailureKind::CertificateRevoked,
        }
    }
}

/// A CRL that verified and lists none of the checked certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CheckedCrl {
    /// thisUpdate, Unix seconds.
    pub this_update: u64,
    /// nextUpdate, Unix seconds.
    pub next_update: u64,
    /// Number of revoked certificates it lists.
    pub entries: usize,
}

/// The exact bytes of the `tbsCertList` (the signed part) of a DER CRL.
fn tbs_bytes(der: &[u8]) -> Result<&[u8], x509_cert::der::Error> {
    let mut reader = SliceReader::new(der)?;
    let tbs = reader.sequence(|r| {
        let tbs = r.tlv_bytes()?;
        AlgorithmIdentifierOwned::decode(r)?;
        BitString::decode(r)?;
        Ok(tbs)
    })?;
    reader.finish(tbs)
}

/// The salt length of RSASSA-PSS parameters that use SHA-384 and MGF1-SHA-384.
fn pss_sha384_salt_len(alg: &AlgorithmIdentifierOwned) -> Result<usize, String> {
    if alg.oid != OID_RSASSA_PSS {
        return Err(format!(
            "algorithm {} is not RSASSA-PSS ({OID_RSASSA_PSS})",
            alg.oid
        ));
    }
    let params = alg
        .parameters
        .as_ref()
        .ok_or("RSASSA-PSS without parameters (SHA-1 defaults are not accepted)")?;
    let der = params.to_der().map_err(|e| e.to_string())?;
    let params = rsa::pkcs1::RsaPssParams::try_from(der.as_slice())
        .map_err(|e| format!("RSASSA-PSS parameters: {e}"))?;
    if params.hash.oid != OID_SHA384 {
        return Err(format!("hash {} is not SHA-384", params.hash.oid));
    }
    let mgf_hash = params.mask_gen.parameters.as_ref().map(|p| p.oid);
    if params.mask_gen.oid != OID_MGF1 || mgf_hash != Some(OID_SHA384) {
        return Err("mask generation is not MGF1 with SHA-384".to_string());
    }
    Ok(usize::from(params.salt_len))
}

/// Verify an RSASSA-PSS / SHA-384 signature made by the key of `signer`.
fn verify_pss(
    signer: &x509_cert::Certificate,
    alg: &AlgorithmIdentifierOwned,
    message: &[u8],
    signature: &BitString,
) -> Result<(), String> {
    let salt_len = pss_sha384_salt_len(alg)?;
    let spki = signer
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| e.to_string())?;
    let key = rsa::RsaPublicKey::from_public_key_der(&spki)
        .map_err(|e| format!("the ARK's key is not an RSA key: {e}"))?;
    let sig = signature
        .as_bytes()
        .ok_or("signature BIT STRING has unused bits")?;
    let sig = rsa::pss::Signature::try_from(sig).map_err(|e| e.to_string())?;
    rsa::pss::VerifyingKey::<Sha384>::new_with_salt_len(key, salt_len)
        .verify(message, &sig)
        .map_err(|_| "does not verify with the ARK's public key".to_string())
}

/// Check a DER CRL against the trusted ARK at `now`, and look up `certs`
/// (name, certificate) in it. See the module documentation.
pub(crate) fn check_crl(
    der: &[u8],
    ark: &x509_cert::Certificate,
    now: u64,
    certs: &[(&str, &x509_cert::Certificate)],
) -> Result<CheckedCrl, CrlProblem> {
    let crl = CertificateList::from_der(der).map_err(|e| CrlProblem::Malformed(e.to_string()))?;
    let tbs = tbs_bytes(der).map_err(|e| CrlProblem::Malformed(e.to_string()))?;
    let list = &crl.tbs_cert_list;

    if list.signature != crl.signature_algorithm {
        return Err(CrlProblem::Signature(
            "the signed and the outer signature algorithms differ".to_string(),
        ));
    }
    if list.issuer != ark.tbs_certificate.subject {
        return Err(CrlProblem::Issuer(format!(
            "issued by `{}`, the ARK is `{}`",
            list.issuer, ark.tbs_certificate.subject
        )));
    }
    verify_pss(ark, &crl.signature_algorithm, tbs, &crl.signature)
        .map_err(CrlProblem::Signature)?;

    let this_update = list.this_update.to_unix_duration().as_secs();
    let next_update = list
        .next_update
        .ok_or_else(|| CrlProblem::Malformed("no nextUpdate".to_string()))?
        .to_unix_duration()
        .as_secs();
    if now < this_update || now > next_update {
        return Err(CrlProblem::Dates {
            this_update: format_utc(this_update),
            next_update: format_utc(next_update),
            now: format_utc(now),
        });
    }

    let revoked = list.revoked_certificates.as_deref().unwrap_or_default();
    for (name, cert) in certs {
        let serial = &cert.tbs_certificate.serial_number;
        if let Some(entry) = revoked.iter().find(|r| &r.serial_number == serial) {
            return Err(CrlProblem::Revoked {
                certificate: (*name).to_string(),
                serial: hex::encode(serial.as_bytes()),
                since: format_utc(entry.revocation_date.to_unix_duration().as_secs()),
            });
        }
    }
    Ok(CheckedCrl {
        this_update,
        next_update,
        entries: revoked.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_malformed_and_kinds_are_specific() {
        let chain = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/attestation-vectors/sev/cert_chain_milan"
        ))
        .unwrap();
        let ders = crate::evidence::split_pem(&chain).unwrap();
        let ark = x509_cert::Certificate::from_der(&ders[1]).unwrap();
        for bad in [&b""[..], b"\x30\x00", b"not a crl"] {
            let e = check_crl(bad, &ark, 0, &[]).unwrap_err();
            assert_eq!(e.kind(), FailureKind::Malformed, "{e}");
        }
        let revoked = CrlProblem::Revoked {
            certificate: "ASK".into(),
            serial: "01".into(),
            since: format_utc(0),
        };
        assert_eq!(revoked.kind(), FailureKind::CertificateRevoked);
        assert_eq!(
            FailureKind::CertificateRevoked.category(),
            crate::FailureCategory::Chain
        );
    }
}
