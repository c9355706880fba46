//! The node identity key and the `report_data` that binds it to evidence.
//!
//! Every process start generates a fresh key pair ([`NodeIdentity::generate`]);
//! nothing about it is persisted. Its public key, as a DER `SubjectPublicKeyInfo`,
//! goes into the hardware report through
//!
//! ```text
//! report_data = SHA-256("txnchain-node-v1" ‖ SPKI DER ‖ nonce) ‖ 32 zero bytes
//! ```
//!
//! where `nonce` is the verifier's nonce, or empty. The SPKI DER encoding is
//! self-delimiting (it starts with its own length), so the concatenation is
//! unambiguous. Both algorithms are accepted by rustls as certificate keys
//! (Ed25519 and ECDSA P-384 with SHA-384): [`NodeIdentity::private_key_pkcs8_der`]
//! is what a TLS certificate for the node-to-node channels is made from.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::TeeError;

/// The domain-separation prefix of `report_data`.
pub const REPORT_DATA_DOMAIN: &[u8] = b"txnchain-node-v1";

/// Longest verifier nonce accepted, in bytes.
pub const MAX_NONCE_LEN: usize = 64;

/// `SHA-256("txnchain-node-v1" ‖ spki_der ‖ nonce)`, zero-padded to the 64
/// bytes of a hardware report's `report_data` field.
pub fn report_data_for(spki_der: &[u8], nonce: Option<&[u8]>) -> [u8; 64] {
    let mut hasher = Sha256::new();
    hasher.update(REPORT_DATA_DOMAIN);
    hasher.update(spki_der);
    if let Some(nonce) = nonce {
        hasher.update(nonce);
    }
    let digest = hasher.finalize();
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&digest);
    out
}

/// Parse a verifier nonce given as hex (at most [`MAX_NONCE_LEN`] bytes, not empty).
pub fn parse_nonce_hex(text: &str) -> Result<Vec<u8>, TeeError> {
    let text = text.trim();
    let text = text.strip_prefix("0x").unwrap_or(text);
    let bytes = hex::decode(text).map_err(|e| TeeError::Nonce(e.to_string()))?;
    if bytes.is_empty() {
        return Err(TeeError::Nonce("empty nonce".into()));
    }
    if bytes.len() > MAX_NONCE_LEN {
        return Err(TeeError::Nonce(format!(
            "{} bytes, at most {MAX_NONCE_LEN} allowed",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// A fresh 32-byte verifier nonce from the operating system's RNG.
pub fn random_nonce() -> Result<[u8; 32], TeeError> {
    let mut nonce = [0u8; 32];
    os_random(&mut nonce)?;
    Ok(nonce)
}

/// Verifies `signature` over `message` with a node identity public key given as DER
/// `SubjectPublicKeyInfo`: Ed25519 (64-byte signature, strict verification) or ECDSA P-384
/// with SHA-384 (DER signature).
pub fn verify_with_spki(spki: &[u8], message: &[u8], signature: &[u8]) -> Result<(), String> {
    if let Some(raw) = spki.strip_prefix(&ED25519_SPKI_PREFIX[..]) {
        let raw: &[u8; 32] = raw
            .try_into()
            .map_err(|_| "Ed25519 key of the wrong length".to_string())?;
        let vk = ed25519_dalek::VerifyingKey::from_bytes(raw)
            .map_err(|_| "not an Ed25519 public key".to_string())?;
        let sig = ed25519_dalek::Signature::from_slice(signature)
            .map_err(|_| "not a 64-byte Ed25519 signature".to_string())?;
        return vk
            .verify_strict(message, &sig)
            .map_err(|_| "the signature does not verify".to_string());
    }
    use p384::pkcs8::DecodePublicKey as _;
    let vk = p384::ecdsa::VerifyingKey::from_public_key_der(spki)
        .map_err(|_| "identity key is neither Ed25519 nor P-384".to_string())?;
    let sig = p384::ecdsa::Signature::from_der(signature)
        .map_err(|_| "not a DER ECDSA signature".to_string())?;
    p384::ecdsa::signature::Verifier::verify(&vk, message, &sig)
        .map_err(|_| "the signature does not verify".to_string())
}

/// The algorithm of the node identity key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityAlgorithm {
    /// Ed25519 (RFC 8410 keys; rustls `ED25519`).
    #[default]
    Ed25519,
    /// ECDSA on P-384 with SHA-384 (rustls `ECDSA_NISTP384_SHA384`).
    P384,
}

impl std::str::FromStr for IdentityAlgorithm {
    type Err = TeeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ed25519" => Ok(Self::Ed25519),
            "p384" | "p-384" | "ecdsa-p384" => Ok(Self::P384),
            other => Err(TeeError::Identity(format!(
                "unknown identity algorithm `{other}` (expected ed25519 or p384)"
            ))),
        }
    }
}

enum Secret {
    Ed25519(ed25519_dalek::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

/// A node's identity key pair, generated fresh at every process start.
///
/// The secret key never leaves the process except as the PKCS#8 document
/// returned by [`NodeIdentity::private_key_pkcs8_der`] (zeroized on drop), and
/// it is never logged: `Debug` shows only the algorithm and public key.
pub struct NodeIdentity {
    algorithm: IdentityAlgorithm,
    spki_der: Vec<u8>,
    secret: Secret,
}

impl std::fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeIdentity")
            .field("algorithm", &self.algorithm)
            .field("spki_der", &hex::encode(&self.spki_der))
            .finish_non_exhaustive()
    }
}

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410), followed by the 32-byte key.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// DER prefix of an Ed25519 PKCS#8 v1 private key (RFC 8410), followed by the 32-byte seed.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

fn os_random(buf: &mut [u8]) -> Result<(), TeeError> {
    use rand::TryRngCore;
    rand::rngs::OsRng
        .try_fill_bytes(buf)
        .map_err(|e| TeeError::Identity(format!("operating system RNG failed: {e}")))
}

impl NodeIdentity {
    /// Generate a fresh key pair from the operating system's RNG.
    pub fn generate(algorithm: IdentityAlgorithm) -> Result<Self, TeeError> {
        match algorithm {
            IdentityAlgorithm::Ed25519 => {
                let mut seed = Zeroizing::new([0u8; 32]);
                os_random(seed.as_mut())?;
                let key = ed25519_dalek::SigningKey::from_bytes(&seed);
                let mut spki_der = ED25519_SPKI_PREFIX.to_vec();
                spki_der.extend_from_slice(key.verifying_key().as_bytes());
                Ok(Self {
                    algorithm,
                    spki_der,
                    secret: Secret::Ed25519(key),
                })
            }
            IdentityAlgorithm::P384 => {
                use p384::pkcs8::EncodePublicKey;
                // A uniformly random 48-byte string is a valid scalar except with
                // probability ~2^-190; retry a few times rather than loop forever.
                for _ in 0..8 {
                    let mut bytes = Zeroizing::new([0u8; 48]);
                    os_random(bytes.as_mut())?;
                    let Ok(key) = p384::ecdsa::SigningKey::from_slice(bytes.as_ref()) else {
                        continue;
                    };
                    let spki_der = key
                        .verifying_key()
                        .to_public_key_der()
                        .map_err(|e| TeeError::Identity(format!("SPKI encoding: {e}")))?
                        .into_vec();
                    return Ok(Self {
                        algorithm,
                        spki_der,
                        secret: Secret::P384(key),
                    });
                }
                Err(TeeError::Identity(
                    "could not draw a valid P-384 scalar".into(),
                ))
            }
        }
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> IdentityAlgorithm {
        self.algorithm
    }

    /// The public key as DER `SubjectPublicKeyInfo`.
    pub fn public_key_spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The private key as a PKCS#8 v1 DER document, for building the rustls
    /// certificate of the node-to-node channels. Zeroized when dropped.
    pub fn private_key_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, TeeError> {
        match &self.secret {
            Secret::Ed25519(key) => {
                let seed = Zeroizing::new(key.to_bytes());
                let mut der = Zeroizing::new(Vec::with_capacity(48));
                der.extend_from_slice(&ED25519_PKCS8_PREFIX);
                der.extend_from_slice(seed.as_ref());
                Ok(der)
            }
            Secret::P384(key) => {
                use p384::pkcs8::EncodePrivateKey;
                let doc = key
                    .to_pkcs8_der()
                    .map_err(|e| TeeError::Identity(format!("PKCS#8 encoding: {e}")))?;
                Ok(Zeroizing::new(doc.as_bytes().to_vec()))
            }
        }
    }

    /// Sign `message`: a 64-byte Ed25519 signature, or a DER ECDSA P-384/SHA-384
    /// signature (the encodings TLS uses).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.secret {
            Secret::Ed25519(key) => ed25519_dalek::Signer::sign(key, message)
                .to_bytes()
                .to_vec(),
            Secret::P384(key) => {
                let signature: p384::ecdsa::Signature =
                    p384::ecdsa::signature::Signer::sign(key, message);
                signature.to_der().as_bytes().to_vec()
            }
        }
    }

    /// The 64-byte `report_data` binding this key and an optional verifier nonce.
    pub fn report_data(&self, nonce: Option<&[u8]>) -> [u8; 64] {
        report_data_for(&self.spki_der, nonce)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_data_layout_and_binding() {
        let rd = report_data_for(b"spki", None);
        let mut h = Sha256::new();
        h.update(b"txnchain-node-v1spki");
        assert_eq!(rd[..32], h.finalize()[..]);
        assert_eq!(&rd[32..], &[0u8; 32]);
        assert_ne!(rd, report_data_for(b"spki", Some(b"n")));
        assert_ne!(rd, report_data_for(b"spkj", None));
        // Known answer, computed independently (Python hashlib).
        let spki: Vec<u8> = (0u8..44).collect();
        assert_eq!(
            hex::encode(&report_data_for(&spki, Some(&[1, 2]))[..32]),
            "c4e4510a868a1e712511a62c93d502753be366f4f5d2c12095eb5c7863880733"
        );
        // An empty nonce and no nonce hash the same bytes, by definition.
        assert_eq!(rd, report_data_for(b"spki", Some(b"")));
    }

    #[test]
    fn fresh_keys_differ_and_encode() {
        for alg in [IdentityAlgorithm::Ed25519, IdentityAlgorithm::P384] {
            let a = NodeIdentity::generate(alg).unwrap();
            let b = NodeIdentity::generate(alg).unwrap();
            assert_ne!(a.public_key_spki_der(), b.public_key_spki_der());
            assert_ne!(a.report_data(None), b.report_data(None));
            let pkcs8 = a.private_key_pkcs8_der().unwrap();
            assert_eq!(pkcs8[0], 0x30, "PKCS#8 is a DER SEQUENCE");
            let secret = match alg {
                IdentityAlgorithm::Ed25519 => pkcs8[16..].to_vec(),
                IdentityAlgorithm::P384 => {
                    use p384::pkcs8::DecodePrivateKey;
                    p384::SecretKey::from_pkcs8_der(&pkcs8)
                        .unwrap()
                        .to_bytes()
                        .to_vec()
                }
            };
            let shown = format!("{a:?}");
            assert!(shown.contains(&hex::encode(a.public_key_spki_der())));
            assert!(
                !shown.contains(&hex::encode(&secret[..8])),
                "Debug shows the secret"
            );
        }
    }

    #[test]
    fn ed25519_encodings_round_trip_and_sign() {
        use ed25519_dalek::Verifier;
        let id = NodeIdentity::generate(IdentityAlgorithm::Ed25519).unwrap();
        let spki = id.public_key_spki_der();
        assert_eq!(spki.len(), 44);
        let vk = ed25519_dalek::VerifyingKey::from_bytes(spki[12..].try_into().unwrap()).unwrap();
        let sig = ed25519_dalek::Signature::from_slice(&id.sign(b"msg")).unwrap();
        vk.verify(b"msg", &sig).unwrap();
        assert!(vk.verify(b"msh", &sig).is_err());
        let pkcs8 = id.private_key_pkcs8_der().unwrap();
        assert_eq!(pkcs8.len(), 48);
        let again = ed25519_dalek::SigningKey::from_bytes(pkcs8[16..].try_into().unwrap());
        assert_eq!(again.verifying_key(), vk);
    }

    #[test]
    fn p384_encodings_round_trip_and_sign() {
        use p384::ecdsa::signature::Verifier;
        use p384::pkcs8::{DecodePrivateKey, DecodePublicKey};
        let id = NodeIdentity::generate(IdentityAlgorithm::P384).unwrap();
        let vk = p384::ecdsa::VerifyingKey::from_public_key_der(id.public_key_spki_der()).unwrap();
        let sig = p384::ecdsa::Signature::from_der(&id.sign(b"msg")).unwrap();
        vk.verify(b"msg", &sig).unwrap();
        assert!(vk.verify(b"msh", &sig).is_err());
        let sk =
            p384::ecdsa::SigningKey::from_pkcs8_der(&id.private_key_pkcs8_der().unwrap()).unwrap();
        assert_eq!(sk.verifying_key(), &vk);
    }

    #[test]
    fn nonce_parsing() {
        assert_eq!(parse_nonce_hex("0x0a0B").unwrap(), vec![0x0a, 0x0b]);
        assert!(parse_nonce_hex("").is_err());
        assert!(parse_nonce_hex("zz").is_err());
        assert!(parse_nonce_hex(&"00".repeat(65)).is_err());
        assert_eq!(parse_nonce_hex(&"ab".repeat(64)).unwrap().len(), 64);
        assert_eq!(
            "P-384".parse::<IdentityAlgorithm>().unwrap(),
            IdentityAlgorithm::P384
        );
        assert!("rsa".parse::<IdentityAlgorithm>().is_err());
    }
}
