//! Cryptography of confidential execution, shared by the node, the CLI and the tests:
//!
//! - [`envelope`]: the HPKE envelope of `../specs/confidential.md` §2 — sealing calldata to an
//!   epoch key (clients) and opening it inside execution (the node), with the AAD that binds it
//!   to sender, recipient and nonce, and the result key exported from the HPKE context;
//! - [`result`]: sealed results (§4), the deterministic ChaCha20-Poly1305 box that only the
//!   envelope's sender can open;
//! - [`keys`]: the network's secrets — the ledger secret and everything derived from it (epoch
//!   X25519 keys, at-rest keys) — and the service identity (Ed25519) that signs epoch keys;
//! - [`at_rest`]: the [`at_rest::TableCodec`] seam through which storage writes confidential
//!   tables, and its XChaCha20-Poly1305 / keyed-hash implementation.
//!
//! Nothing here logs, and every secret type zeroizes on drop and prints no key material in
//! `Debug`.

pub mod at_rest;
pub mod envelope;
mod error;
pub mod keys;
pub mod result;

pub use error::{CodecError, CryptoError, EnvelopeError};

/// The harness of the `confidential_envelope` fuzz target (envelopes, as a node receives them
/// in calldata, and sealed results, as a client receives them): never panics, and whatever
/// opens was sealed by the harness's own key.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    use alloy_primitives::Address;

    use crate::envelope::{Binding, Envelope, classify};
    use crate::keys::LedgerSecret;
    use crate::result::{ResultKey, open_result};

    /// Classifies, parses, epoch-checks and tries to open `data` as an envelope under every
    /// binding form, and to open it as a sealed result.
    pub fn envelope(data: &[u8]) {
        let _ = classify(data);
        let keys = LedgerSecret::from_bytes(zeroize::Zeroizing::new([7; 32]));
        if let Ok(env) = Envelope::parse(data) {
            let _ = env.check_epoch(env.epoch);
            let _ = env.check_epoch(u64::MAX);
            let _ = env.check_epoch(0);
            let _ = env.plaintext_len();
            let pair = keys.epoch_key(424_242, env.epoch);
            for binding in [
                Binding::Tx {
                    sender: Address::ZERO,
                    to: None,
                    nonce: 0,
                },
                Binding::Call {
                    from: None,
                    to: Address::ZERO,
                },
            ] {
                if let Ok(opened) = env.open(&pair, 424_242, &binding) {
                    // Only a forgery of X25519 + ChaCha20-Poly1305 gets here.
                    let _ = opened.plaintext.len();
                }
            }
        }
        let _ = open_result(&ResultKey::from_bytes([9; 32]), data);
    }
}
