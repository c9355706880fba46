//! The network's secrets and what is derived from them.
//!
//! - **Ledger secret**: 32 random bytes created inside the TEE when the network is created.
//!   Every other symmetric or KEM key is derived from it with HKDF-SHA256 (RFC 5869):
//!
//!   ```text
//!   prk                = HKDF-Extract(salt = "txnchain-ledger-secret-v1", ikm = ledger secret)
//!   epoch key ikm      = HKDF-Expand(prk, "txnchain-epoch-key-v1" ‖ u64be(chainId) ‖ u64be(epoch), 32)
//!   (sk, pk) of epoch  = DHKEM(X25519).DeriveKeyPair(epoch key ikm)            (RFC 9180 §7.1.3)
//!   at-rest AEAD key   = HKDF-Expand(prk, "txnchain-at-rest-aead-v2" ‖ table name, 32)
//!   at-rest key hash   = HKDF-Expand(prk, "txnchain-at-rest-key-hash-v2" ‖ table name, 32)
//!   ```
//!
//!   so every node holding the same ledger secret derives the same keys, and keys for
//!   different purposes, epochs and tables are independent.
//! - **Service identity**: an Ed25519 key pair, the identity clients pin. It signs epoch
//!   encryption keys (`"txnchain-encryption-key-v1" ‖ u64be(chainId) ‖ u64be(epoch) ‖ pk`).

use ed25519_dalek::Signer as _;
use hkdf::Hkdf;
use hpke::{Deserializable, Serializable};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::CryptoError;
use crate::envelope::Kem;

const LEDGER_SALT: &[u8] = b"txnchain-ledger-secret-v1";
const EPOCH_KEY_INFO: &[u8] = b"txnchain-epoch-key-v1";
pub(crate) const AT_REST_AEAD_INFO: &[u8] = b"txnchain-at-rest-aead-v2";
pub(crate) const AT_REST_KEY_HASH_INFO: &[u8] = b"txnchain-at-rest-key-hash-v2";
/// Domain of the encryption-key signature.
pub const ENCRYPTION_KEY_DOMAIN: &[u8] = b"txnchain-encryption-key-v1";

/// 32 bytes from the operating system's RNG.
pub(crate) fn random32() -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    use rand::TryRngCore;
    let mut out = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng
        .try_fill_bytes(out.as_mut())
        .map_err(|_| CryptoError::Rng)?;
    Ok(out)
}

/// The ledger secret: the root of every derived key. Zeroized on drop; `Debug` prints nothing.
pub struct LedgerSecret {
    prk: Hkdf<Sha256>,
    raw: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for LedgerSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LedgerSecret(<redacted>)")
    }
}

impl LedgerSecret {
    /// A fresh secret from the operating system's RNG.
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self::from_bytes(random32()?))
    }

    /// The secret from its 32 bytes (as unsealed).
    pub fn from_bytes(raw: Zeroizing<[u8; 32]>) -> Self {
        let prk = Hkdf::<Sha256>::new(Some(LEDGER_SALT), raw.as_ref());
        LedgerSecret { prk, raw }
    }

    /// The 32 bytes, to be sealed. Never log or write them anywhere else.
    pub fn expose_for_sealing(&self) -> &[u8; 32] {
        &self.raw
    }

    /// `HKDF-Expand(prk, info parts concatenated, 32)`.
    pub(crate) fn expand(&self, parts: &[&[u8]]) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF-SHA256's 8,160-byte limit: expand cannot fail.
        if self.prk.expand_multi_info(parts, out.as_mut()).is_err() {
            out.as_mut().fill(0);
        }
        out
    }

    /// The X25519 key pair of key epoch `epoch` on chain `chain_id`.
    pub fn epoch_key(&self, chain_id: u64, epoch: u64) -> EpochKeyPair {
        let ikm = self.expand(&[
            EPOCH_KEY_INFO,
            &chain_id.to_be_bytes(),
            &epoch.to_be_bytes(),
        ]);
        EpochKeyPair::derive(&ikm)
    }
}

/// An X25519 public key that envelopes are sealed to.
#[derive(Clone, PartialEq, Eq)]
pub struct EpochPublicKey(<Kem as hpke::Kem>::PublicKey);

impl std::fmt::Debug for EpochPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EpochPublicKey(0x{})", hex::encode(self.to_bytes()))
    }
}

impl EpochPublicKey {
    /// From 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        <Kem as hpke::Kem>::PublicKey::from_bytes(bytes)
            .map(EpochPublicKey)
            .map_err(|_| CryptoError::Key {
                what: "epoch public key",
                reason: "not a 32-byte X25519 public key",
            })
    }

    /// The 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(&self.0.to_bytes());
        out
    }

    pub(crate) fn inner(&self) -> &<Kem as hpke::Kem>::PublicKey {
        &self.0
    }
}

/// An epoch's X25519 key pair. The secret half never leaves the process.
#[derive(Clone)]
pub struct EpochKeyPair {
    secret: <Kem as hpke::Kem>::PrivateKey,
    public: EpochPublicKey,
}

impl std::fmt::Debug for EpochKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochKeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl EpochKeyPair {
    /// `DeriveKeyPair(ikm)` of DHKEM(X25519, HKDF-SHA256).
    pub fn derive(ikm: &[u8; 32]) -> Self {
        let (secret, public) = <Kem as hpke::Kem>::derive_keypair(ikm);
        EpochKeyPair {
            secret,
            public: EpochPublicKey(public),
        }
    }

    /// The public key.
    pub fn public(&self) -> &EpochPublicKey {
        &self.public
    }

    pub(crate) fn secret(&self) -> &<Kem as hpke::Kem>::PrivateKey {
        &self.secret
    }
}

/// `"txnchain-encryption-key-v1" ‖ u64be(chainId) ‖ u64be(epoch) ‖ publicKey`.
pub fn encryption_key_message(chain_id: u64, epoch: u64, public_key: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(ENCRYPTION_KEY_DOMAIN.len() + 48);
    m.extend_from_slice(ENCRYPTION_KEY_DOMAIN);
    m.extend_from_slice(&chain_id.to_be_bytes());
    m.extend_from_slice(&epoch.to_be_bytes());
    m.extend_from_slice(public_key);
    m
}

/// Verifies an epoch key's signature against a pinned service identity.
pub fn verify_encryption_key(
    identity: &[u8; 32],
    chain_id: u64,
    epoch: u64,
    public_key: &[u8; 32],
    signature: &[u8],
) -> Result<(), CryptoError> {
    let vk = ed25519_dalek::VerifyingKey::from_bytes(identity).map_err(|_| CryptoError::Key {
        what: "service identity",
        reason: "not an Ed25519 public key",
    })?;
    let sig = ed25519_dalek::Signature::from_slice(signature).map_err(|_| CryptoError::Key {
        what: "encryption key signature",
        reason: "not a 64-byte Ed25519 signature",
    })?;
    vk.verify_strict(&encryption_key_message(chain_id, epoch, public_key), &sig)
        .map_err(|_| CryptoError::BadSignature("encryption key"))
}

/// The network's Ed25519 service identity key. Zeroized on drop; `Debug` shows the public key.
pub struct ServiceIdentity(ed25519_dalek::SigningKey);

impl std::fmt::Debug for ServiceIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServiceIdentity(0x{})", hex::encode(self.public()))
    }
}

impl ServiceIdentity {
    /// A fresh key from the operating system's RNG.
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self::from_seed(&*random32()?))
    }

    /// From its 32-byte seed (as unsealed).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        ServiceIdentity(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The seed, to be sealed. Never log or write it anywhere else.
    pub fn expose_seed_for_sealing(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The 32-byte public key: the network's identity.
    pub fn public(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    /// Signs an epoch's encryption key.
    pub fn sign_encryption_key(
        &self,
        chain_id: u64,
        epoch: u64,
        public_key: &[u8; 32],
    ) -> [u8; 64] {
        self.0
            .sign(&encryption_key_message(chain_id, epoch, public_key))
            .to_bytes()
    }

    /// Signs an arbitrary message with the service key (receipts, ledger signatures).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

/// An epoch's public key as served to clients, signed by the service identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedEncryptionKey {
    /// The chain.
    pub chain_id: u64,
    /// The key epoch.
    pub epoch: u64,
    /// The X25519 public key.
    pub public_key: [u8; 32],
    /// The service identity that signed it.
    pub service_identity: [u8; 32],
    /// Ed25519 over [`encryption_key_message`].
    pub signature: [u8; 64],
}

/// Epoch key pairs kept derived (a few around the current epoch are all that is ever used).
const EPOCH_CACHE: usize = 8;

/// The network's keys as one node holds them: the service identity, the ledger secret, and
/// the epoch key pairs derived from it (cached).
pub struct NetworkKeys {
    chain_id: u64,
    service: ServiceIdentity,
    ledger: LedgerSecret,
    epochs: std::sync::Mutex<Vec<(u64, EpochKeyPair)>>,
}

impl std::fmt::Debug for NetworkKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkKeys")
            .field("chain_id", &self.chain_id)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl NetworkKeys {
    /// The keys of chain `chain_id`.
    pub fn new(chain_id: u64, service: ServiceIdentity, ledger: LedgerSecret) -> Self {
        NetworkKeys {
            chain_id,
            service,
            ledger,
            epochs: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The chain these keys are for.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The service identity's public key.
    pub fn service_identity(&self) -> [u8; 32] {
        self.service.public()
    }

    /// The service identity key.
    pub fn service(&self) -> &ServiceIdentity {
        &self.service
    }

    /// The ledger secret.
    pub fn ledger(&self) -> &LedgerSecret {
        &self.ledger
    }

    /// The key pair of `epoch`.
    pub fn epoch_key(&self, epoch: u64) -> EpochKeyPair {
        let mut cache = self
            .epochs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, k)) = cache.iter().find(|(e, _)| *e == epoch) {
            return k.clone();
        }
        let k = self.ledger.epoch_key(self.chain_id, epoch);
        if cache.len() >= EPOCH_CACHE {
            cache.remove(0);
        }
        cache.push((epoch, k.clone()));
        k
    }

    /// The signed public key of `epoch`.
    pub fn encryption_key(&self, epoch: u64) -> SignedEncryptionKey {
        let public_key = self.epoch_key(epoch).public().to_bytes();
        SignedEncryptionKey {
            chain_id: self.chain_id,
            epoch,
            public_key,
            service_identity: self.service.public(),
            signature: self
                .service
                .sign_encryption_key(self.chain_id, epoch, &public_key),
        }
    }
}

const UNOPENED_RESULT_INFO: &[u8] = b"txnchain-unopened-result-v1";

impl NetworkKeys {
    /// The key a result is sealed with when the transaction's envelope did not open:
    /// derived from the ledger secret and the transaction hash, so every replica seals the
    /// same bytes and no client can open them.
    pub fn unopened_result_key(&self, tx_hash: &[u8]) -> crate::result::ResultKey {
        crate::result::ResultKey::from_secret(self.ledger.expand(&[UNOPENED_RESULT_INFO, tx_hash]))
    }
}
