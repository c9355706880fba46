//! Signed transactions with their recovered sender.
//!
//! Decoding follows EIP-2718; the sender is recovered with libsecp256k1 (the `secp256k1`
//! crate), the dominant per-transaction cost at admission.

use alloy_consensus::{Transaction, TxEnvelope, transaction::SignerRecoverable};
use alloy_eips::{Decodable2718, Encodable2718};
use alloy_primitives::{Address, B256, Bytes, keccak256};

use crate::TxRejection;

/// A decoded, signature-checked transaction.
///
/// The fields are private: a `RecoveredTx` is made only by recovering the sender from the
/// signature ([`RecoveredTx::decode`], [`RecoveredTx::from_envelope`]) or, for records this
/// node wrote itself and reads back authenticated, [`RecoveredTx::from_trusted`]. No code can
/// pair a transaction with a sender it did not sign (the model is alloy's `Recovered<T>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredTx {
    envelope: TxEnvelope,
    sender: Address,
    hash: B256,
    encoded: Bytes,
}

/// Recovers the address that signed `prehash` with `sig`, using libsecp256k1.
pub fn recover_signer(
    sig: &alloy_primitives::Signature,
    prehash: &B256,
) -> Result<Address, TxRejection> {
    let invalid = |reason| TxRejection::InvalidSignature { reason };
    if sig.normalize_s().is_some() {
        // EIP-2: signatures with s in the upper half of the curve order are invalid.
        return Err(invalid("invalid transaction v, r, s values"));
    }
    let rsig = sig
        .to_secp256k1()
        .map_err(|_| invalid("malformed signature"))?;
    let msg = secp256k1::Message::from_digest(prehash.0);
    let pk = secp256k1::SECP256K1
        .recover_ecdsa(msg, &rsig)
        .map_err(|_| invalid("the signature does not recover to a key"))?;
    let uncompressed = pk.serialize_uncompressed();
    Ok(Address::from_slice(&keccak256(&uncompressed[1..])[12..]))
}

impl RecoveredTx {
    /// Decodes EIP-2718 bytes and recovers the sender. Blob transactions are refused
    /// ("transaction type not supported") and so are unknown types.
    pub fn decode(raw: &[u8]) -> Result<Self, TxRejection> {
        if raw.is_empty() {
            return Err(TxRejection::TooShort);
        }
        if raw[0] == 3 || (raw[0] > 4 && raw[0] < 0x7f) {
            return Err(TxRejection::TypeNotSupported);
        }
        let mut buf = raw;
        let envelope = TxEnvelope::decode_2718(&mut buf).map_err(|e| TxRejection::Rlp {
            reason: e.to_string(),
        })?;
        if !buf.is_empty() {
            return Err(TxRejection::TrailingBytes);
        }
        Self::from_envelope(envelope)
    }

    /// Recovers the sender of an already decoded envelope.
    pub fn from_envelope(envelope: TxEnvelope) -> Result<Self, TxRejection> {
        if envelope.is_eip4844() {
            return Err(TxRejection::TypeNotSupported);
        }
        let sender = recover_signer(envelope.signature(), &envelope.signature_hash())?;
        let encoded: Bytes = envelope.encoded_2718().into();
        let hash = keccak256(&encoded);
        Ok(RecoveredTx {
            envelope,
            sender,
            hash,
            encoded,
        })
    }

    /// The transaction as signed.
    pub fn envelope(&self) -> &TxEnvelope {
        &self.envelope
    }

    /// The sender recovered from the signature.
    pub fn sender(&self) -> Address {
        self.sender
    }

    /// The transaction hash (keccak256 of the EIP-2718 encoding).
    pub fn hash(&self) -> B256 {
        self.hash
    }

    /// The EIP-2718 encoding, kept so it is never re-encoded on the hot path.
    pub fn encoded(&self) -> &Bytes {
        &self.encoded
    }

    /// Builds from an envelope and a sender that this node recovered itself earlier and reads
    /// back from its own authenticated storage. Never call it with a sender from the network.
    pub fn from_trusted(envelope: TxEnvelope, sender: Address) -> Self {
        let encoded: Bytes = envelope.encoded_2718().into();
        let hash = keccak256(&encoded);
        RecoveredTx {
            envelope,
            sender,
            hash,
            encoded,
        }
    }

    /// An unsigned transaction of a simulation (`eth_simulateV1`), with the sender the request
    /// named: rendered in the answer, never admitted, executed for real or stored.
    pub fn simulated(envelope: TxEnvelope, sender: Address) -> Self {
        Self::from_trusted(envelope, sender)
    }

    /// Recovers with alloy's own recovery, used to cross-check ours in tests.
    pub fn recover_with_alloy(&self) -> Option<Address> {
        self.envelope.recover_signer().ok()
    }

    /// The sender nonce.
    pub fn nonce(&self) -> u64 {
        self.envelope.nonce()
    }

    /// The gas limit.
    pub fn gas_limit(&self) -> u64 {
        self.envelope.gas_limit()
    }

    /// The maximum fee per gas (gas price for legacy and EIP-2930).
    pub fn max_fee_per_gas(&self) -> u128 {
        self.envelope.max_fee_per_gas()
    }

    /// The price per gas this transaction pays at `base_fee`.
    pub fn effective_gas_price(&self, base_fee: u64) -> u128 {
        self.envelope.effective_gas_price(Some(base_fee))
    }

    /// The priority fee this transaction pays at `base_fee`, used to order the pool.
    pub fn effective_tip(&self, base_fee: u64) -> u128 {
        self.effective_gas_price(base_fee)
            .saturating_sub(u128::from(base_fee))
    }

    /// Whether a legacy transaction lacks EIP-155 replay protection.
    pub fn is_unprotected(&self) -> bool {
        matches!(&self.envelope, TxEnvelope::Legacy(tx) if tx.tx().chain_id.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_consensus::{SignableTransaction, TxEip1559, TxLegacy};
    use alloy_primitives::{TxKind, U256};
    use alloy_signer::SignerSync;
    use alloy_signer_local::PrivateKeySigner;

    fn signer() -> PrivateKeySigner {
        "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
            .parse()
            .unwrap()
    }

    fn sign<T>(tx: T) -> Bytes
    where
        T: SignableTransaction<alloy_primitives::Signature>,
        TxEnvelope: From<alloy_consensus::Signed<T>>,
    {
        let sig = signer().sign_hash_sync(&tx.signature_hash()).unwrap();
        TxEnvelope::from(tx.into_signed(sig)).encoded_2718().into()
    }

    #[test]
    fn recovers_sender_like_alloy() {
        let raw = sign(TxEip1559 {
            chain_id: 424242,
            nonce: 7,
            gas_limit: 21_000,
            max_fee_per_gas: 2_000_000_000,
            max_priority_fee_per_gas: 1,
            to: TxKind::Call(Address::repeat_byte(2)),
            value: U256::from(5),
            ..Default::default()
        });
        let tx = RecoveredTx::decode(&raw).unwrap();
        assert_eq!(tx.sender, signer().address());
        assert_eq!(tx.recover_with_alloy(), Some(tx.sender));
        assert_eq!(tx.nonce(), 7);
        assert_eq!(tx.hash, keccak256(&raw));
        assert!(!tx.is_unprotected());
    }

    #[test]
    fn detects_unprotected_legacy() {
        let raw = sign(TxLegacy {
            chain_id: None,
            gas_price: 1_000_000_000,
            gas_limit: 21_000,
            to: TxKind::Call(Address::ZERO),
            ..Default::default()
        });
        assert!(RecoveredTx::decode(&raw).unwrap().is_unprotected());
    }

    #[test]
    fn refuses_blob_and_garbage() {
        let err = RecoveredTx::decode(&[3, 0xc0]).unwrap_err();
        assert_eq!(err.to_string(), "transaction type not supported");
        assert!(RecoveredTx::decode(&[0xde, 0xad]).is_err());
        assert!(RecoveredTx::decode(&[]).is_err());
        let mut raw = sign(TxLegacy {
            chain_id: Some(1),
            gas_limit: 21_000,
            to: TxKind::Call(Address::ZERO),
            ..Default::default()
        })
        .to_vec();
        raw.push(0);
        assert!(RecoveredTx::decode(&raw).is_err());
    }
}

/// Fuzzing harnesses, shared by the `cargo fuzz` targets and the corpus-replay tests.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    use alloy_eips::Encodable2718;

    use super::RecoveredTx;

    /// Decodes arbitrary bytes as a raw transaction (what `eth_sendRawTransaction` receives).
    /// Never panics; whatever decodes re-encodes to exactly the input and hashes to its keccak.
    pub fn raw_transaction(data: &[u8]) {
        if let Ok(tx) = RecoveredTx::decode(data) {
            assert_eq!(
                tx.encoded.as_ref(),
                data,
                "decoded transaction re-encodes differently"
            );
            assert_eq!(tx.envelope.encoded_2718(), data);
            assert_eq!(tx.hash, alloy_primitives::keccak256(data));
        }
    }
}
