//! Cryptography of confidential execution, shared by the node, the CLI and the tests:
//!
//! - [`envelope`]: the HPKE envelope of `../specs/confidential.md` §2 — sealing calldata to an
//!   epoch key (clients) and opening it inside execution (the node), with the AAD that binds it
//!   to sender, recipient and nonce, and the result key exported from the HPKE context;
//! - [`result`]: sealed results (§4), the deterministic ChaCha20-Poly1305 box that only the
//!   envelope's sender can open;
//! - [`signed_query`]: signed queries (§5) — the EIP-712 digest over the plaintext call and its
//!   block window, so a call runs with a real `msg.sender`;
//! - [`keys`]: the network's secrets — the ledger secret and everything derived from it (epoch
//!   X25519 keys, at-rest keys) — and the service identity (Ed25519) that signs epoch keys;
//! - [`at_rest`]: the [`at_rest::TableCodec`] seam through which storage writes confidential
//!   tables, and its XAES-256-GCM / AES-256-CMAC implementation.
//!
//! Nothing here logs, and every secret type zeroizes on drop and prints no key material in
//! `Debug`.

pub mod at_rest;
pub mod envelope;
mod error;
pub mod keys;
pub mod result;
pub mod signed_query;

pub use error::{CodecError, CryptoError, EnvelopeError};

/// The harness of the `confidential_envelope` fuzz target (envelopes and signed queries, as a
/// node receives them in calldata, and sealed results, as a client receives them): never panics, and whatever
/// opens was sealed by the harness's own key.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    use alloy_primitives::Address;

    use crate::envelope::{Binding, Envelope, classify};
    use crate::keys::LedgerSecret;
    use crate::result::{ResultKey, open_result};

    /// Classifies, parses, epoch-checks and tries to open `data` as an envelope under every
    /// binding form, and to open it as a sealed result; parses it as a signed query, judges
    /// its window, recovers its signer and treats its inner envelope the same way.
    pub fn envelope(data: &[u8]) {
        envelope_only(data);
        if let Ok(query) = crate::signed_query::SignedQueryEnvelope::parse(data) {
            let _ = query.check_window(u64::MAX);
            let _ = query.check_window(0);
            let call = crate::signed_query::QueriedCall {
                from: Address::ZERO,
                to: Address::ZERO,
                value: alloy_primitives::U256::ZERO,
                gas: 0,
                data: &query.envelope,
            };
            let hash = crate::signed_query::signing_hash(
                424_242,
                &call,
                query.block_number,
                query.block_hash,
                query.block_range,
            );
            let _ = crate::signed_query::verify_signer(hash, &query.signature, Address::ZERO);
            envelope_only(&query.envelope);
        }
    }

    fn envelope_only(data: &[u8]) {
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
