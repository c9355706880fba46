//! The at-rest codec: how storage writes the tables it marks confidential.
//!
//! Storage classifies every table as public (headers, block hashes, block transaction-hash
//! lists, metadata: written as they are) or confidential (everything else: written through a
//! [`TableCodec`]). The codec sees the table name and the stored key of every value:
//!
//! - **keys** are built from parts ([`TableCodec::key_part`]); [`AtRestCodec`] replaces each
//!   part by `AES-256-CMAC(key_hash_key(table), part)` (RFC 4493; CMAC is a PRF, the
//!   construction of RFC 4615), so storage can still append a plaintext block number to a
//!   hashed entity and range-scan history, and scan a hashed trie namespace;
//! - **values** are sealed with XAES-256-GCM (C2SP's extended-nonce AES-256-GCM: a subkey
//!   derived per nonce, so random 192-bit nonces are safe for any number of values) under
//!   `aead_key(table)` with a random 24-byte nonce, stored as `nonce ‖ ciphertext ‖ tag`, with
//!   associated data `table name ‖ 0x00 ‖ stored key`: a value moved to another key or table,
//!   or tampered with, fails to open. Random nonces never enter any root (roots are computed
//!   from plaintext before sealing).
//!
//! Both run on AES-NI; they replaced XChaCha20-Poly1305 and a Keccak keyed hash (at-rest
//! layout 2), which cost the write path about twice as much per value and three times as
//! much per key part.
//!
//! What this does not stop: a host that replaces the whole database, or one value by an older
//! value of the same key (rollback). Replicas and the replicated log are the defence there.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use aes::Aes256;
use cmac::{Cmac, Mac};
use xaes_256_gcm::Xaes256Gcm;
use xaes_256_gcm::aead::{AeadInOut, KeyInit};

use crate::CodecError;
use crate::keys::{AT_REST_AEAD_INFO, AT_REST_KEY_HASH_INFO, LedgerSecret};

/// Nonce length of XAES-256-GCM.
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

/// The keys of one table. Both types zeroize their key schedules on drop (the `zeroize`
/// features of `aes`, `xaes-256-gcm` and `cmac`).
struct TableKeys {
    aead: Xaes256Gcm,
    key_hash: KeyHash,
}

/// Most keyed CMAC states kept for reuse per table: one per thread that hashes at the same
/// time (the write thread, RPC and call threads); more are dropped after use.
const KEY_HASH_POOL: usize = 32;

/// AES-256-CMAC under one key. A computation needs a mutable keyed state; a state is taken
/// from a small pool and put back reset, so a hash neither expands the key nor copies and
/// zeroizes a key schedule (that was a third of its cost).
struct KeyHash {
    keyed: Cmac<Aes256>,
    pool: Mutex<Vec<Cmac<Aes256>>>,
}

impl KeyHash {
    fn derive(secret: &LedgerSecret, table: &[u8]) -> Self {
        let key = secret.expand(&[AT_REST_KEY_HASH_INFO, table]);
        KeyHash {
            keyed: <Cmac<Aes256> as cmac::KeyInit>::new(&(*key).into()),
            pool: Mutex::new(Vec::new()),
        }
    }

    fn hash(&self, part: &[u8], out: &mut Vec<u8>) {
        let taken = self
            .pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut mac = taken.unwrap_or_else(|| self.keyed.clone());
        mac.update(part);
        out.extend_from_slice(&mac.finalize_reset().into_bytes());
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.len() < KEY_HASH_POOL {
            pool.push(mac);
        }
    }
}

impl TableKeys {
    fn derive(secret: &LedgerSecret, table: &str) -> Self {
        let aead_key = secret.expand(&[AT_REST_AEAD_INFO, table.as_bytes()]);
        TableKeys {
            aead: Xaes256Gcm::new(&(*aead_key).into()),
            key_hash: KeyHash::derive(secret, table.as_bytes()),
        }
    }
}

/// Bytes of one encoded key part: the 128-bit CMAC. Keys are addresses, not commitments: an
/// accidental collision needs ~2^64 keys, and nobody without the table's key can search for
/// one. Half the length of a 256-bit hash keeps redb's pages twice as dense.
pub const KEY_PART_LEN: usize = 16;

/// Keyed-hash keys and XAES-256-GCM values, keys derived per table from the ledger secret
/// (see [`crate::keys`]).
pub struct AtRestCodec {
    tables: HashMap<&'static str, TableKeys>,
    /// Hashes the key parts of a table the codec was not built for (see `key_part`).
    unknown_key_hash: KeyHash,
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
            // Table names are ASCII: no table derives this key.
            unknown_key_hash: KeyHash::derive(secret, &[0xff]),
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
        match self.tables.get(table) {
            Some(k) => k.key_hash.hash(part, out),
            // Unknown table: hash with a key no table uses; its values cannot be sealed anyway
            // (see `keys`).
            None => self.unknown_key_hash.hash(part, out),
        }
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
                &xaes_256_gcm::Nonce::from(nonce),
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
                &xaes_256_gcm::Nonce::from(n),
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
    use zeroize::Zeroizing;

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
    fn pooled_key_hashes_agree_across_threads() {
        let c = codec(1);
        let parts: Vec<Vec<u8>> = (0u32..64)
            .map(|i| i.to_be_bytes().repeat(i as usize % 9 + 1))
            .collect();
        let expected: Vec<Vec<u8>> = parts.iter().map(|p| key(&c, "storage", p)).collect();
        // Many threads at once take, use and return states; every hash stays the same, and a
        // state put back after a long part hashes a short one as a fresh state would.
        std::thread::scope(|s| {
            for t in 0..48 {
                let (c, parts, expected) = (&c, &parts, &expected);
                s.spawn(move || {
                    for round in 0..50 {
                        let i = (t * 7 + round * 13) % parts.len();
                        assert_eq!(key(c, "storage", &parts[i]), expected[i]);
                    }
                });
            }
        });
        let pooled = c.tables["storage"].key_hash.pool.lock().unwrap().len();
        assert!(
            (1..=KEY_HASH_POOL).contains(&pooled),
            "{pooled} states pooled"
        );
        assert_eq!(
            expected,
            parts
                .iter()
                .map(|p| key(&codec(1), "storage", p))
                .collect::<Vec<_>>()
        );
        assert_ne!(key(&c, "storage", b"x"), key(&c, "unknown", b"x"));
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
