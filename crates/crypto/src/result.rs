//! Sealed results (`specs/confidential.md` §4).
//!
//! ```text
//! sealed_result = MAGIC ‖ 0x03 ‖ ChaCha20Poly1305(key = result_key, nonce = 12 × 0x00,
//!                                                 aad = "txnchain-result-v1", RLP([status, output, logs]))
//! ```
//!
//! The key is exported from the envelope's HPKE context, so each envelope has its own key and
//! the box is deterministic: every replica seals the same bytes for the same execution.

use alloy_primitives::{Bytes, Log};
use alloy_rlp::{Decodable, Encodable, RlpDecodable, RlpEncodable};
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
use zeroize::Zeroizing;

use crate::CryptoError;
use crate::envelope::{MAGIC, VERSION_SEALED_RESULT};

const RESULT_AAD: &[u8] = b"txnchain-result-v1";

/// The key of one envelope's sealed result. Zeroized on drop; `Debug` prints nothing.
#[derive(Clone)]
pub struct ResultKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for ResultKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResultKey(<redacted>)")
    }
}

impl ResultKey {
    pub(crate) fn from_secret(key: Zeroizing<[u8; 32]>) -> Self {
        ResultKey(key)
    }

    /// From its 32 bytes (a client that stored the key it exported).
    pub fn from_bytes(key: [u8; 32]) -> Self {
        ResultKey(Zeroizing::new(key))
    }

    /// The 32 bytes (for a client to keep alongside its transaction).
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(&(*self.0).into())
    }
}

/// What a sealed result carries.
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct ExecutionResult {
    /// 1 success; 0 revert, halt, or an envelope that did not open.
    pub status: u8,
    /// Return data, or revert data.
    pub output: Bytes,
    /// The private logs of the execution, in order.
    pub logs: Vec<Log>,
}

impl ExecutionResult {
    /// The result of a transaction whose envelope did not open: status 0, nothing else.
    pub fn not_opened() -> Self {
        ExecutionResult {
            status: 0,
            output: Bytes::new(),
            logs: Vec::new(),
        }
    }

    /// Whether the execution succeeded.
    pub fn success(&self) -> bool {
        self.status == 1
    }
}

/// Seals `result` under `key`.
pub fn seal_result(key: &ResultKey, result: &ExecutionResult) -> Result<Vec<u8>, CryptoError> {
    let mut pt = Zeroizing::new(Vec::with_capacity(result.length()));
    result.encode(&mut *pt);
    let ct = key
        .cipher()
        .encrypt(
            &Nonce::default(),
            Payload {
                msg: &pt,
                aad: RESULT_AAD,
            },
        )
        .map_err(|_| CryptoError::SealedResult("sealing failed"))?;
    let mut out = Vec::with_capacity(5 + ct.len());
    out.extend_from_slice(&MAGIC);
    out.push(VERSION_SEALED_RESULT);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens a sealed result.
pub fn open_result(key: &ResultKey, sealed: &[u8]) -> Result<ExecutionResult, CryptoError> {
    let body = sealed
        .strip_prefix(&MAGIC)
        .and_then(|r| r.strip_prefix(&[VERSION_SEALED_RESULT]))
        .ok_or(CryptoError::SealedResult("missing MAGIC ‖ 0x03"))?;
    let pt = Zeroizing::new(
        key.cipher()
            .decrypt(
                &Nonce::default(),
                Payload {
                    msg: body,
                    aad: RESULT_AAD,
                },
            )
            .map_err(|_| CryptoError::SealedResult("does not open with this key"))?,
    );
    let mut rest = pt.as_slice();
    let result = ExecutionResult::decode(&mut rest)
        .map_err(|_| CryptoError::SealedResult("malformed RLP"))?;
    if !rest.is_empty() || result.status > 1 {
        return Err(CryptoError::SealedResult("malformed RLP"));
    }
    Ok(result)
}
