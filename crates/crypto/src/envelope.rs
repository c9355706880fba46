//! The confidential envelope (`specs/confidential.md` §2).
//!
//! ```text
//! envelope = 0x00 ‖ "TXN" ‖ 0x01 ‖ u64be(epoch) ‖ enc(32) ‖ ct
//! info     = "txnchain-envelope-v1" ‖ u64be(chainId) ‖ u64be(epoch)
//! aad (tx) = "tx"   ‖ sender(20) ‖ to(20, zeros for creation) ‖ u64be(nonce)
//! aad(call)= "call" ‖ from(20, zeros when absent) ‖ to(20)
//! ```
//!
//! HPKE base mode, DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20Poly1305 (RFC 9180),
//! through the `hpke` crate. The result key is `Export("txnchain-result-v1", 32)` of the same
//! context, on both sides.

use alloy_primitives::Address;
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use zeroize::Zeroizing;

use crate::keys::{EpochKeyPair, EpochPublicKey};
use crate::result::ResultKey;
use crate::{CryptoError, EnvelopeError};

type Aead = hpke::aead::ChaCha20Poly1305;
type Kdf = hpke::kdf::HkdfSha256;
pub(crate) type Kem = hpke::kem::X25519HkdfSha256;

/// The four bytes every TxnChain confidential payload starts with: `0x00 ‖ "TXN"`.
pub const MAGIC: [u8; 4] = [0x00, b'T', b'X', b'N'];
/// Version byte of an envelope.
pub const VERSION_ENVELOPE: u8 = 0x01;
/// Version byte of a signed query.
pub const VERSION_SIGNED_QUERY: u8 = 0x02;
/// Version byte of a sealed result.
pub const VERSION_SEALED_RESULT: u8 = 0x03;
/// Length of the HPKE encapsulated key (an X25519 public key).
pub const ENC_LEN: usize = 32;
/// Length of the ChaCha20-Poly1305 tag.
pub const TAG_LEN: usize = 16;
/// Bytes before the ciphertext: magic, version, epoch, encapsulated key.
pub const HEADER_LEN: usize = MAGIC.len() + 1 + 8 + ENC_LEN;
/// The shortest envelope: a header and the ciphertext of one byte.
pub const MIN_LEN: usize = HEADER_LEN + TAG_LEN + 1;

const INFO_DOMAIN: &[u8] = b"txnchain-envelope-v1";
const RESULT_EXPORT: &[u8] = b"txnchain-result-v1";

/// What calldata is, judged from its first five bytes only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// Ordinary calldata.
    Plain,
    /// `MAGIC ‖ 0x01`: an envelope.
    Envelope,
    /// `MAGIC ‖ 0x02`: a signed query (calls only).
    SignedQuery,
}

/// Classifies calldata: anything not starting with `MAGIC ‖ 0x01` or `MAGIC ‖ 0x02` is plain.
pub fn classify(data: &[u8]) -> Payload {
    match data {
        [a, b, c, d, v, ..] if [*a, *b, *c, *d] == MAGIC => match *v {
            VERSION_ENVELOPE => Payload::Envelope,
            VERSION_SIGNED_QUERY => Payload::SignedQuery,
            _ => Payload::Plain,
        },
        _ => Payload::Plain,
    }
}

/// What an envelope is bound to (its HPKE associated data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// A transaction: its sender, recipient (`None` for contract creation) and nonce.
    Tx {
        /// The transaction's signer.
        sender: Address,
        /// The recipient, `None` for a contract creation.
        to: Option<Address>,
        /// The transaction nonce.
        nonce: u64,
    },
    /// An `eth_call` / `eth_estimateGas`.
    Call {
        /// The call's `from`, `None` when absent.
        from: Option<Address>,
        /// The call's recipient.
        to: Address,
    },
}

impl Binding {
    /// The associated data: `"tx" ‖ sender ‖ to ‖ u64be(nonce)` or `"call" ‖ from ‖ to`.
    pub fn aad(&self) -> Vec<u8> {
        match self {
            Binding::Tx { sender, to, nonce } => {
                let mut aad = Vec::with_capacity(2 + 20 + 20 + 8);
                aad.extend_from_slice(b"tx");
                aad.extend_from_slice(sender.as_slice());
                aad.extend_from_slice(to.unwrap_or(Address::ZERO).as_slice());
                aad.extend_from_slice(&nonce.to_be_bytes());
                aad
            }
            Binding::Call { from, to } => {
                let mut aad = Vec::with_capacity(4 + 20 + 20);
                aad.extend_from_slice(b"call");
                aad.extend_from_slice(from.unwrap_or(Address::ZERO).as_slice());
                aad.extend_from_slice(to.as_slice());
                aad
            }
        }
    }
}

/// The HPKE `info`: `"txnchain-envelope-v1" ‖ u64be(chainId) ‖ u64be(epoch)`.
pub fn info(chain_id: u64, epoch: u64) -> Vec<u8> {
    let mut info = Vec::with_capacity(INFO_DOMAIN.len() + 16);
    info.extend_from_slice(INFO_DOMAIN);
    info.extend_from_slice(&chain_id.to_be_bytes());
    info.extend_from_slice(&epoch.to_be_bytes());
    info
}

/// A parsed envelope header; the ciphertext is borrowed, nothing is decrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// The key epoch the sender encrypted to.
    pub epoch: u64,
    enc: &'a [u8],
    ct: &'a [u8],
}

impl<'a> Envelope<'a> {
    /// Parses the fixed header. Checks only what needs no key: magic, version, lengths.
    pub fn parse(data: &'a [u8]) -> Result<Self, EnvelopeError> {
        if data.len() < MAGIC.len() + 1 {
            return Err(EnvelopeError::TooShort {
                len: data.len(),
                min: MIN_LEN,
            });
        }
        if data[..4] != MAGIC {
            return Err(EnvelopeError::NoMagic);
        }
        if data[4] != VERSION_ENVELOPE {
            return Err(EnvelopeError::UnknownVersion(data[4]));
        }
        if data.len() < MIN_LEN {
            return Err(EnvelopeError::TooShort {
                len: data.len(),
                min: MIN_LEN,
            });
        }
        let mut epoch = [0u8; 8];
        epoch.copy_from_slice(&data[5..13]);
        Ok(Envelope {
            epoch: u64::from_be_bytes(epoch),
            enc: &data[13..HEADER_LEN],
            ct: &data[HEADER_LEN..],
        })
    }

    /// Refuses an epoch outside `current − 2 ..= current`.
    pub fn check_epoch(&self, current: u64) -> Result<(), EnvelopeError> {
        check_epoch(self.epoch, current)
    }

    /// Length of the plaintext this envelope carries.
    pub fn plaintext_len(&self) -> usize {
        self.ct.len() - TAG_LEN
    }

    /// Opens the envelope with the epoch key pair it names (the caller picks the pair for
    /// [`Envelope::epoch`]). Fails without saying why beyond "does not open": a wrong
    /// binding, key or tampered byte look the same.
    pub fn open(
        &self,
        key: &EpochKeyPair,
        chain_id: u64,
        binding: &Binding,
    ) -> Result<Opened, EnvelopeError> {
        let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(self.enc)
            .map_err(|_| EnvelopeError::BadEncappedKey)?;
        let mut ctx = hpke::setup_receiver::<Aead, Kdf, Kem>(
            &OpModeR::Base,
            key.secret(),
            &enc,
            &info(chain_id, self.epoch),
        )
        .map_err(|_| EnvelopeError::DoesNotOpen)?;
        let plaintext = Zeroizing::new(
            ctx.open(self.ct, &binding.aad())
                .map_err(|_| EnvelopeError::DoesNotOpen)?,
        );
        let mut result_key = Zeroizing::new([0u8; 32]);
        ctx.export(RESULT_EXPORT, result_key.as_mut())
            .map_err(|_| EnvelopeError::DoesNotOpen)?;
        Ok(Opened {
            plaintext,
            result_key: ResultKey::from_secret(result_key),
        })
    }
}

/// `current − 2 ≤ epoch ≤ current`, else the spec's error.
pub fn check_epoch(epoch: u64, current: u64) -> Result<(), EnvelopeError> {
    let oldest = current.saturating_sub(2);
    if epoch > current || epoch < oldest {
        return Err(EnvelopeError::Epoch {
            epoch,
            current,
            oldest,
        });
    }
    Ok(())
}

/// An opened envelope: the plaintext calldata and the key its result is sealed with.
pub struct Opened {
    /// The calldata (zeroized on drop).
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The key of the sealed result.
    pub result_key: ResultKey,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field(
                "plaintext",
                &format_args!("<{} bytes>", self.plaintext.len()),
            )
            .finish_non_exhaustive()
    }
}

/// A sealed envelope and the result key the sender keeps to open its result.
pub struct Sealed {
    /// The envelope bytes, to be sent as calldata.
    pub envelope: Vec<u8>,
    /// The key of the sealed result.
    pub result_key: ResultKey,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed")
            .field("envelope", &format_args!("<{} bytes>", self.envelope.len()))
            .finish_non_exhaustive()
    }
}

/// Seals `plaintext` to the epoch key `pk` with a fresh ephemeral key from the OS RNG.
pub fn seal(
    pk: &EpochPublicKey,
    chain_id: u64,
    epoch: u64,
    binding: &Binding,
    plaintext: &[u8],
) -> Result<Sealed, CryptoError> {
    let ikm = crate::keys::random32()?;
    seal_with_ephemeral_ikm(pk, chain_id, epoch, binding, plaintext, &ikm)
}

/// Seals with the ephemeral key pair `DeriveKeyPair(ikm)` (RFC 9180 §7.1.3). Only for test
/// vectors: reusing an `ikm` reuses the ephemeral key. Use [`seal`].
pub fn seal_with_ephemeral_ikm(
    pk: &EpochPublicKey,
    chain_id: u64,
    epoch: u64,
    binding: &Binding,
    plaintext: &[u8],
    ikm: &[u8; 32],
) -> Result<Sealed, CryptoError> {
    if plaintext.is_empty() {
        return Err(EnvelopeError::EmptyPlaintext.into());
    }
    let mut rng = FixedIkm(Some(*ikm));
    let (enc, mut ctx) = hpke::setup_sender_with_rng::<Aead, Kdf, Kem>(
        &OpModeS::Base,
        pk.inner(),
        &info(chain_id, epoch),
        &mut rng,
    )
    .map_err(|_| CryptoError::Key {
        what: "epoch public key",
        reason: "encapsulation failed",
    })?;
    let ct = ctx
        .seal(plaintext, &binding.aad())
        .map_err(|_| CryptoError::Key {
            what: "envelope",
            reason: "sealing failed",
        })?;
    let mut result_key = Zeroizing::new([0u8; 32]);
    ctx.export(RESULT_EXPORT, result_key.as_mut())
        .map_err(|_| CryptoError::Key {
            what: "result key",
            reason: "export failed",
        })?;
    let mut envelope = Vec::with_capacity(HEADER_LEN + ct.len());
    envelope.extend_from_slice(&MAGIC);
    envelope.push(VERSION_ENVELOPE);
    envelope.extend_from_slice(&epoch.to_be_bytes());
    envelope.extend_from_slice(&enc.to_bytes());
    envelope.extend_from_slice(&ct);
    Ok(Sealed {
        envelope,
        result_key: ResultKey::from_secret(result_key),
    })
}

/// An RNG that yields one fixed 32-byte block (the ephemeral IKM), then zeros. The HPKE
/// crate draws exactly 32 bytes for an X25519 ephemeral key.
struct FixedIkm(Option<[u8; 32]>);

impl Drop for FixedIkm {
    fn drop(&mut self) {
        if let Some(ikm) = self.0.as_mut() {
            zeroize::Zeroize::zeroize(ikm);
        }
    }
}

impl hpke::rand_core::TryRng for FixedIkm {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        match self.0.take() {
            Some(mut ikm) => {
                let n = dst.len().min(32);
                dst[..n].copy_from_slice(&ikm[..n]);
                dst[n..].fill(0);
                zeroize::Zeroize::zeroize(&mut ikm);
            }
            None => dst.fill(0),
        }
        Ok(())
    }
}

impl hpke::rand_core::TryCryptoRng for FixedIkm {}
