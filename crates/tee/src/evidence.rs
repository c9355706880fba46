//! The evidence bundle: what a node hands out (`GET /node/attestation`) and
//! what `txnchain attest verify --file` reads.
//!
//! The JSON format is specified field by field in `docs/attestation.md`. All
//! fields other than `platform` and `evidence` are optional on input.
//! Nothing in a bundle is trusted: `measurement` and `insecure` are
//! informational copies, and verification re-derives everything from
//! `evidence` and the endorsements.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::TeeError;

/// Which kind of evidence a bundle carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvidencePlatform {
    /// The development platform: a JSON claim set with no hardware behind it.
    Virtual,
    /// An AMD SEV-SNP attestation report (1184 bytes).
    SevSnp,
    /// An Intel TDX DCAP quote (v4 or v5).
    Tdx,
    /// An Intel SGX DCAP quote (v3). Verified, never produced by a node.
    Sgx,
}

impl EvidencePlatform {
    /// The name used in JSON, policies and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Virtual => "virtual",
            Self::SevSnp => "sev-snp",
            Self::Tdx => "tdx",
            Self::Sgx => "sgx",
        }
    }

    /// Only `virtual` is insecure.
    pub fn is_insecure(self) -> bool {
        matches!(self, Self::Virtual)
    }
}

impl std::fmt::Display for EvidencePlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Certificates and collateral that endorse the evidence.
///
/// Certificates are strings holding either PEM text or base64 of DER.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Endorsements {
    /// SEV-SNP: the VCEK certificate (signs reports when KEY_INFO.SIGNING_KEY = 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcek: Option<String>,
    /// SEV-SNP: the VLEK certificate (signs reports when KEY_INFO.SIGNING_KEY = 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlek: Option<String>,
    /// SEV-SNP: the ASK (for a VCEK) or ASVK (for a VLEK). Optional for a VCEK:
    /// the built-in ASK of the product is used when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ask: Option<String>,
    /// SEV-SNP: the ARK. Never trusted: if present it must equal the built-in root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ark: Option<String>,
    /// SEV-SNP: AMD's certificate revocation list for the product, as AMD's KDS
    /// serves it at `/vcek/v1/{product}/crl` (or `/vlek/v1/{product}/crl`):
    /// DER as base64, or PEM (`-----BEGIN X509 CRL-----`). Untrusted until it
    /// verifies against the trusted ARK.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl: Option<String>,
    /// TDX / SGX: Intel DCAP collateral (PCK CRL chain, CRLs, TCB info, QE
    /// identity, optional PCK chain), in the JSON shape dcap-qvl and PCCS
    /// clients use (byte fields as hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collateral: Option<dcap_qvl::QuoteCollateralV3>,
}

impl Endorsements {
    /// True when nothing is carried.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// An evidence bundle. Also the JSON body of `GET /node/attestation`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceBundle {
    /// Format version, currently 1.
    #[serde(default = "default_version")]
    pub version: u32,
    /// The kind of evidence.
    pub platform: EvidencePlatform,
    /// The raw evidence (report, quote, or virtual claim-set JSON), base64 in JSON.
    #[serde(with = "b64")]
    pub evidence: Vec<u8>,
    /// The node identity public key (DER SubjectPublicKeyInfo), base64 in JSON.
    #[serde(default, with = "opt_b64", skip_serializing_if = "Option::is_none")]
    pub identity_public_key: Option<Vec<u8>>,
    /// The verifier nonce the evidence was requested with, hex in JSON.
    #[serde(default, with = "opt_hex", skip_serializing_if = "Option::is_none")]
    pub nonce: Option<Vec<u8>>,
    /// Informational copy of the measurement (untrusted; hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measurement: Option<String>,
    /// Certificates and collateral.
    #[serde(default)]
    pub endorsements: Endorsements,
    /// True for `virtual` evidence: it proves nothing about hardware.
    #[serde(default)]
    pub insecure: bool,
    /// The network's service identity (Ed25519 public key, `0x`-hex of 32 bytes) that this
    /// node holds; see [`EvidenceBundle::verify_service_statement`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_identity: Option<String>,
    /// The node identity key's signature over `"txnchain-service-identity-v1" ‖
    /// service_identity` (Ed25519, or DER ECDSA P-384/SHA-384), base64 in JSON.
    #[serde(default, with = "opt_b64", skip_serializing_if = "Option::is_none")]
    pub service_statement: Option<Vec<u8>>,
}

/// Domain of the node's statement over the service identity.
pub const SERVICE_IDENTITY_DOMAIN: &[u8] = b"txnchain-service-identity-v1";

/// `"txnchain-service-identity-v1" ‖ identity`: what the node identity key signs.
pub fn service_statement_message(identity: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SERVICE_IDENTITY_DOMAIN.len() + 32);
    m.extend_from_slice(SERVICE_IDENTITY_DOMAIN);
    m.extend_from_slice(identity);
    m
}

fn default_version() -> u32 {
    1
}

impl EvidenceBundle {
    /// Checks the node's statement over the service identity against the bundle's
    /// `identity_public_key` (the key the evidence's `report_data` binds; verify the evidence
    /// too, or the statement proves nothing). `Ok(None)` when the bundle carries neither field.
    pub fn verify_service_statement(&self) -> Result<Option<[u8; 32]>, TeeError> {
        let (identity, statement) = match (&self.service_identity, &self.service_statement) {
            (None, None) => return Ok(None),
            (Some(i), Some(s)) => (i, s),
            _ => {
                return Err(TeeError::malformed(
                    "service statement",
                    "service_identity and service_statement come together",
                ));
            }
        };
        let hex_text = identity.strip_prefix("0x").unwrap_or(identity);
        let bytes =
            hex::decode(hex_text).map_err(|e| TeeError::malformed("service_identity", e))?;
        let identity: [u8; 32] = bytes
            .try_into()
            .map_err(|_| TeeError::malformed("service_identity", "not 32 bytes"))?;
        let spki = self.identity_public_key.as_deref().ok_or_else(|| {
            TeeError::malformed("service statement", "the bundle has no identity_public_key")
        })?;
        crate::identity::verify_with_spki(spki, &service_statement_message(&identity), statement)
            .map_err(|e| TeeError::malformed("service_statement", e))?;
        Ok(Some(identity))
    }

    /// Parse a bundle from JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Self, TeeError> {
        let bundle: Self =
            serde_json::from_slice(bytes).map_err(|e| TeeError::malformed("evidence bundle", e))?;
        if bundle.version != 1 {
            return Err(TeeError::malformed(
                "evidence bundle",
                format!("unsupported version {}", bundle.version),
            ));
        }
        Ok(bundle)
    }

    /// Serialize as pretty JSON.
    pub fn to_json_pretty(&self) -> String {
        // Serializing plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// The claim set that is the evidence of the `virtual` platform.
///
/// It is JSON signed by nothing: anyone can write one. It exists so the
/// development path runs the same verification and policy code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualClaims {
    /// Always `"virtual"`.
    pub platform: String,
    /// 48-byte measurement, hex.
    pub measurement: String,
    /// 64-byte report_data, hex.
    pub report_data: String,
    /// 32-byte host data, hex.
    pub host_data: String,
    /// Unix seconds when the claim set was made.
    pub timestamp: u64,
    /// Whether the node runs a debug build (rejected unless `allow_debug`).
    #[serde(default)]
    pub debug: bool,
    /// Always true.
    pub insecure: bool,
}

/// Decode a certificate given as PEM text or base64 DER, returning DER.
pub(crate) fn decode_cert(text: &str) -> Result<Vec<u8>, String> {
    let t = text.trim();
    if t.starts_with("-----BEGIN") {
        let body: String = t
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .flat_map(|l| l.chars())
            .filter(|c| !c.is_whitespace())
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| format!("PEM body: {e}"))
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(t)
            .map_err(|e| format!("base64 DER: {e}"))
    }
}

/// Split a PEM text holding several certificates into DER blobs.
pub(crate) fn split_pem(text: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("-----BEGIN") {
            current = Some(String::new());
        } else if line.starts_with("-----END") {
            if let Some(body) = current.take() {
                out.push(
                    base64::engine::general_purpose::STANDARD
                        .decode(body)
                        .map_err(|e| format!("PEM body: {e}"))?,
                );
            }
        } else if let Some(body) = current.as_mut() {
            body.push_str(line);
        }
    }
    Ok(out)
}

/// Encode DER as base64 for an [`Endorsements`] field.
pub fn encode_cert_der(der: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(der)
}

mod b64 {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .map_err(serde::de::Error::custom)
    }
}

mod opt_b64 {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v)),
            None => s.serialize_none(),
        }
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| {
            base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}

mod opt_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&hex::encode(v)),
            None => s.serialize_none(),
        }
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| hex::decode(s.trim()).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_statement_verifies_for_both_key_types_and_nothing_else() {
        for alg in [
            crate::IdentityAlgorithm::Ed25519,
            crate::IdentityAlgorithm::P384,
        ] {
            let node = crate::NodeIdentity::generate(alg).unwrap();
            let service = [0x5a; 32];
            let mut b = EvidenceBundle {
                version: 1,
                platform: EvidencePlatform::Virtual,
                evidence: vec![],
                identity_public_key: Some(node.public_key_spki_der().to_vec()),
                nonce: None,
                measurement: None,
                endorsements: Endorsements::default(),
                insecure: true,
                service_identity: None,
                service_statement: None,
            };
            assert_eq!(b.verify_service_statement().unwrap(), None);
            b.service_identity = Some(format!("0x{}", hex::encode(service)));
            assert!(
                b.verify_service_statement().is_err(),
                "{alg:?}: identity alone"
            );
            b.service_statement = Some(node.sign(&service_statement_message(&service)));
            assert_eq!(b.verify_service_statement().unwrap(), Some(service));
            // Another identity under the same statement, or another node's key: refused.
            b.service_identity = Some(format!("0x{}", hex::encode([0x5b; 32])));
            assert!(
                b.verify_service_statement().is_err(),
                "{alg:?}: other identity"
            );
            b.service_identity = Some(format!("0x{}", hex::encode(service)));
            let other = crate::NodeIdentity::generate(alg).unwrap();
            b.identity_public_key = Some(other.public_key_spki_der().to_vec());
            assert!(
                b.verify_service_statement().is_err(),
                "{alg:?}: other node key"
            );
        }
    }

    #[test]
    fn bundle_round_trips_and_rejects_garbage() {
        let b = EvidenceBundle {
            version: 1,
            platform: EvidencePlatform::SevSnp,
            evidence: vec![1, 2, 3],
            identity_public_key: Some(vec![9; 4]),
            nonce: Some(vec![0xab]),
            measurement: Some("00".into()),
            endorsements: Endorsements {
                vcek: Some(encode_cert_der(&[5, 6])),
                ..Default::default()
            },
            insecure: false,
            service_identity: None,
            service_statement: None,
        };
        let json = b.to_json_pretty();
        assert!(json.contains("\"platform\": \"sev-snp\""), "{json}");
        assert!(json.contains("\"evidence\": \"AQID\""), "{json}");
        assert!(json.contains("\"nonce\": \"ab\""), "{json}");
        assert_eq!(EvidenceBundle::from_json(json.as_bytes()).unwrap(), b);
        assert!(EvidenceBundle::from_json(b"{").is_err());
        assert!(EvidenceBundle::from_json(br#"{"platform":"sev-snp","evidence":"!!"}"#).is_err());
        assert!(EvidenceBundle::from_json(br#"{"platform":"x","evidence":""}"#).is_err());
        assert!(
            EvidenceBundle::from_json(br#"{"version":2,"platform":"tdx","evidence":""}"#).is_err()
        );
        let minimal =
            EvidenceBundle::from_json(br#"{"platform":"tdx","evidence":"AA=="}"#).unwrap();
        assert_eq!(minimal.evidence, vec![0]);
        assert!(minimal.endorsements.is_empty());
    }

    #[test]
    fn pem_and_der_certificates_decode() {
        let pem = "-----BEGIN CERTIFICATE-----\nAQID\nBA==\n-----END CERTIFICATE-----\n";
        assert_eq!(decode_cert(pem).unwrap(), vec![1, 2, 3, 4]);
        assert_eq!(decode_cert("AQIDBA==").unwrap(), vec![1, 2, 3, 4]);
        assert!(decode_cert("***").is_err());
        let two = format!("{pem}{pem}");
        assert_eq!(split_pem(&two).unwrap().len(), 2);
    }
}
