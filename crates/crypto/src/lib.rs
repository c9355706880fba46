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
