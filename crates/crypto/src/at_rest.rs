//! The at-rest codec: how storage writes the tables it marks confidential.
//!
//! Storage classifies every table as public (headers, block hashes, block transaction-hash
//! lists, metadata: written as they are) or confidential (everything else: written through a
//! [`TableCodec`]). The codec sees the table name and the stored key of every value:
//!
//! - **keys** are built from parts ([`TableCodec::key_part`]); [`AtRestCodec`] replaces each
//!   part by `keccak256(key_hash_key(table) ‖ part)` (Keccak is a sponge: a key prefix makes
//!   it a PRF, the construction KMAC standardises), so storage can still append a plaintext
//!   block number to a hashed entity and range-scan history, and scan a hashed trie namespace;
//! - **values** are sealed with XChaCha20-Poly1305 under `aead_key(table)` with a random
//!   24-byte nonce, stored as `nonce ‖ ciphertext ‖ tag`, with associated data
//!   `table name ‖ 0x00 ‖ stored key`: a value moved to another key or table, or tampered
//!   with, fails to open. Random nonces never enter any root (roots are computed from
//!   plaintext before sealing).
//!
//! What this does not stop: a host that replaces the whole database, or one value by an older
//! value of the same key (rollback). Replicas and the replicated log are the defence there.

use std::borrow::Cow;
use std::collections::HashMap;

use alloy_primitives::Keccak256;
use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::CodecError;
use crate::keys::{AT_REST_AEAD_INFO, AT_REST_KEY_HASH_INFO, LedgerSecret};

/// Nonce length of XChaCha20-Poly1305.
pub const NONCE_LEN: usize = 24;
/// Tag length.
pub const TAG_LEN: usize = 16;

/// Encodes keys and values of confidential tables.
pub trait TableCodec: Send + Sync + 'static {
    /// Appends the encoding of one key part (an address, an address ‖ slot, a trie namespace,
    /// a trie path, a code hash) to `out`. Equal parts encode equally; the identity codec
    /// appends the part itself.
    fn key_part(&self, table: &'static str, part: &[u8], out: &mut Vec<u8>);
    /// Seals `value` stored under `key` (the already encoded key) in `table`.
    fn seal<'a>(
        &self,
        table: &'static str,
        key: &[u8],
        value: &'a [u8],
    ) -> Result<Cow<'a, [u8]>, CodecError>;
    /// Opens a value read from `key` in `table`.
    fn open<'a>(
        &self,
        table: &'static str,
        key: &[u8],
        value: &'a [u8],
    ) -> Result<Cow<'a, [u8]>, CodecError>;
}

/// The identity codec: everything stored as it is. Used only where there is nothing to
/// protect (tools that build throwaway databases); nodes use [`AtRestCodec`].
#[derive(Debug, Default, Clone, Copy)]
pub struct PlainCodec;

impl TableCodec for PlainCodec {
    fn key_part(&self, _table: &'static str, part: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(part);
    }
    fn seal<'a>(
        &self,
        _table: &'static str,
        _key: &[u8],
        value: &'a [u8],
    ) -> Result<Cow<'a, [u8]>, CodecError> {
        Ok(Cow::Borrowed(value))
    }
    fn open<'a>(
        &self,
        _table: &'static str,
        _key: &[u8],
        value: &'a [u8],
    ) -> Result<Cow<'a, [u8]>, CodecError> {
        Ok(Cow::Borrowed(value))
    }
}

struct TableKeys {
    aead: XChaCha20Poly1305,
    key_hash: Zeroizing<[u8; 32]>,
}

impl TableKeys {
    fn derive(secret: &LedgerSecret, table: &str) -> Self {
        let aead_key = secret.expand(&[AT_REST_AEAD_INFO, table.as_bytes()]);
        TableKeys {
            aead: XChaCha20Poly1305::new(&(*aead_key).into()),
            key_hash: secret.expand(&[AT_REST_KEY_HASH_INFO, table.as_bytes()]),
        }
    }
}

/// Bytes of one encoded key part: the first 128 bits of the keyed hash. Keys are addresses,
/// not commitments: an accidental collision needs ~2^64 keys, and nobody without the table's
/// key can search for one. Half the length of the hash keeps redb's pages twice as dense.
pub const KEY_PART_LEN: usize = 16;

/// Keyed-hash keys and XChaCha20-Poly1305 values, keys derived per table from the ledger
/// secret (see [`crate::keys`]).
pub struct AtRestCodec {
    tables: HashMap<&'static str, TableKeys>,
}

impl std::fmt::Debug for AtRestCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtRestCodec")
            .field("tables", &self.tables.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Calls `f` with the associated data `table ‖ 0x00 ‖ key`, built on the stack when it fits.
fn with_aad<T>(table: &str, key: &[u8], f: impl FnOnce(&[u8]) -> T) -> T {
    let len = table.len() + 1 + key.len();
    let mut stack = [0u8; 160];
    let mut heap = Vec::new();
    let buf: &mut [u8] = if len <= stack.len() {
        &mut stack[..len]
    } else {
        heap.resize(len, 0);
        &mut heap
    };
    buf[..table.len()].copy_from_slice(table.as_bytes());
    buf[table.len()] = 0;
    buf[table.len() + 1..].copy_from_slice(key);
    f(buf)
}

impl AtRestCodec {
    /// Derives the keys of `tables` (the confidential tables storage will use).
    pub fn new(secret: &LedgerSecret, tables: &[&'static str]) -> Self {
        AtRestCodec {
            tables: tables
                .iter()
                .map(|t| (*t, TableKeys::derive(secret, t)))
                .collect(),
        }
    }

    fn keys(&self, table: &'static str) -> Result<&TableKeys, CodecError> {
        // A table the codec was not built for is a programming error of storage; refuse to
        // write it rather than fall back to plaintext.
        self.tables
            .get(table)
            .ok_or(CodecError::Authentication { table })
    }
}

impl TableCodec for AtRestCodec {
    fn key_part(&self, table: &'static str, part: &[u8], out: &mut Vec<u8>) {
        let mut h = Keccak256::new();
        match self.tables.get(table) {
            Some(k) => h.update(k.key_hash.as_ref()),
            // Unknown table: hash with a key nobody else uses; its values cannot be sealed
            // anyway (see `keys`).
            None => h.update(b"txnchain-unknown-table"),
        }
        h.update(part);
        out.extend_from_slice(&h.finalize()[..KEY_PART_LEN]);
    }

    fn seal<'a>(
        &self,
        table: &'static str,
        key: &[u8],
        value: &'a [u8],
    ) -> Result<Cow<'a, [u8]>, CodecError> {
        let keys = self.keys(table)?;
        // One buffer: nonce ‖ plaintext, encrypted in place, then the tag.
        let mut out = Vec::with_capacity(NONCE_LEN + value.len() + TAG_LEN);
        out.resize(NONCE_LEN, 0);
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut out[..NONCE_LEN]);
        out.extend_from_slice(value);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&out[..NONCE_LEN]);
        let tag = with_aad(table, key, |aad| {
            keys.aead.encrypt_inout_detached(
                &XNonce::from(nonce),
                aad,
                (&mut out[NONCE_LEN..]).into(),
            )
        })
        .map_err(|_| CodecError::Seal {
            table,
            len: value.len(),
        })?;
        out.extend_from_slice(&tag);
        Ok(Cow::Owned(out))
    }

    fn open<'a>(
        &self,
        table: &'static str,
        key: &[u8],
        value: &'a [u8],
    ) -> Result<Cow<'a, [u8]>, CodecError> {
        let keys = self.keys(table)?;
        if value.len() < NONCE_LEN + TAG_LEN {
            return Err(CodecError::Truncated {
                table,
                len: value.len(),
            });
        }
        let (nonce, rest) = value.split_at(NONCE_LEN);
        let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
        let mut n = [0u8; NONCE_LEN];
        n.copy_from_slice(nonce);
        let mut t = [0u8; TAG_LEN];
        t.copy_from_slice(tag);
        let mut out = ct.to_vec();
        with_aad(table, key, |aad| {
            keys.aead.decrypt_inout_detached(
                &XNonce::from(n),
                aad,
                (&mut out[..]).into(),
                &t.into(),
            )
        })
        .map_err(|_| CodecError::Authentication { table })?;
        Ok(Cow::Owned(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec(byte: u8) -> AtRestCodec {
        AtRestCodec::new(
            &LedgerSecret::from_bytes(Zeroizing::new([byte; 32])),
            &["accounts", "storage"],
        )
    }

    fn key(c: &AtRestCodec, table: &'static str, part: &[u8]) -> Vec<u8> {
        let mut k = Vec::new();
        c.key_part(table, part, &mut k);
        k
    }

    #[test]
    fn round_trip_hides_key_and_value() {
        let c = codec(1);
        let k = key(&c, "accounts", b"alice-address-canary");
        assert_eq!(k.len(), KEY_PART_LEN);
        assert_eq!(k, key(&c, "accounts", b"alice-address-canary"));
        assert_ne!(k, key(&c, "storage", b"alice-address-canary"));
        assert_ne!(k, key(&codec(2), "accounts", b"alice-address-canary"));
        let sealed = c.seal("accounts", &k, b"balance-canary").unwrap();
        assert!(!sealed.windows(14).any(|w| w == b"balance-canary"));
        assert_eq!(sealed.len(), NONCE_LEN + 14 + TAG_LEN);
        let again = c.seal("accounts", &k, b"balance-canary").unwrap();
        assert_ne!(sealed, again, "fresh nonce per seal");
        assert_eq!(
            c.open("accounts", &k, &sealed).unwrap().as_ref(),
            b"balance-canary"
        );
    }

    #[test]
    fn tamper_move_and_wrong_secret_fail() {
        let c = codec(1);
        let k = key(&c, "accounts", b"a");
        let sealed = c.seal("accounts", &k, b"value").unwrap().into_owned();
        let fresh = codec(1);
        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 1;
            assert_eq!(
                fresh.open("accounts", &k, &t),
                Err(CodecError::Authentication { table: "accounts" }),
                "flipped byte {i}"
            );
        }
        let other = key(&c, "accounts", b"b");
        assert!(c.open("accounts", &other, &sealed).is_err(), "moved key");
        assert!(c.open("storage", &k, &sealed).is_err(), "moved table");
        assert!(
            fresh.open("accounts", &other, &sealed).is_err(),
            "moved key, cold"
        );
        assert_eq!(c.open("accounts", &k, &sealed).unwrap().as_ref(), b"value");
        assert_eq!(
            fresh.open("accounts", &k, &sealed).unwrap().as_ref(),
            b"value"
        );
        assert!(
            codec(2).open("accounts", &k, &sealed).is_err(),
            "other secret"
        );
        assert_eq!(
            c.open("accounts", &k, &sealed[..NONCE_LEN + TAG_LEN - 1]),
            Err(CodecError::Truncated {
                table: "accounts",
                len: NONCE_LEN + TAG_LEN - 1
            })
        );
        assert!(
            c.seal("unknown", &k, b"x").is_err(),
            "no plaintext fallback"
        );
    }
}
