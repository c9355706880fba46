//! Deterministic keys and fast transaction signing (libsecp256k1, on every core).

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::Encodable2718;
use alloy_primitives::{Address, B256, Signature, keccak256};
use anyhow::Context;
use secp256k1::{Message, PublicKey, SECP256K1, SecretKey};

/// A signing key and its address.
#[derive(Clone)]
pub(super) struct Key {
    sk: SecretKey,
    pub address: Address,
}

impl Key {
    /// A key from 32 secret bytes.
    pub(super) fn from_bytes(bytes: [u8; 32]) -> anyhow::Result<Self> {
        let sk = SecretKey::from_byte_array(bytes).context("invalid secp256k1 secret key")?;
        let pk = PublicKey::from_secret_key_global(&sk).serialize_uncompressed();
        let address = Address::from_slice(&keccak256(&pk[1..])[12..]);
        Ok(Key { sk, address })
    }

    /// A key from a hex string (with or without `0x`).
    pub(super) fn from_hex(s: &str) -> anyhow::Result<Self> {
        let bytes = hex::decode(s.trim().trim_start_matches("0x")).context("key is not hex")?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("key must be 32 bytes"))?;
        Self::from_bytes(arr)
    }

    /// The `index`-th benchmark sender: keccak256("txnchain-bench/sender/" ‖ index ‖ counter),
    /// bumping the counter in the (astronomically unlikely) case of an invalid scalar.
    pub(super) fn derived(index: u32) -> Self {
        let mut counter = 0u32;
        loop {
            let mut seed = b"txnchain-bench/sender/".to_vec();
            seed.extend_from_slice(&index.to_be_bytes());
            seed.extend_from_slice(&counter.to_be_bytes());
            if let Ok(k) = Self::from_bytes(keccak256(&seed).0) {
                return k;
            }
            counter += 1;
        }
    }

    /// Signs an EIP-1559 transaction; returns its hash and EIP-2718 encoding.
    pub(super) fn sign(&self, tx: TxEip1559) -> (B256, Vec<u8>) {
        let sighash = tx.signature_hash();
        let sig = SECP256K1.sign_ecdsa_recoverable(Message::from_digest(sighash.0), &self.sk);
        let (rid, bytes) = sig.serialize_compact();
        let sig = Signature::from_bytes_and_parity(&bytes, i32::from(rid) == 1);
        let raw = TxEnvelope::from(tx.into_signed(sig)).encoded_2718();
        (keccak256(&raw), raw)
    }
}

/// A recipient that nobody holds a key for: keccak256("txnchain-bench/recipient/" ‖ index).
pub(super) fn recipient(index: u32) -> Address {
    let mut seed = b"txnchain-bench/recipient/".to_vec();
    seed.extend_from_slice(&index.to_be_bytes());
    Address::from_slice(&keccak256(&seed)[12..])
}

/// Signs every `(key index, transaction)` on all cores, keeping the order.
pub(super) fn sign_all(keys: &[Key], jobs: Vec<(usize, TxEip1559)>) -> Vec<(B256, Vec<u8>)> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .max(1);
    let chunk = jobs.len().div_ceil(threads).max(1);
    let mut jobs = jobs;
    let mut parts = Vec::new();
    while !jobs.is_empty() {
        let rest = jobs.split_off(chunk.min(jobs.len()));
        parts.push(std::mem::replace(&mut jobs, rest));
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| {
                s.spawn(move || {
                    part.into_iter()
                        .map(|(k, tx)| keys[k].sign(tx))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_recoverably() {
        let key =
            Key::from_hex("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
                .unwrap();
        assert_eq!(
            key.address.to_string(),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
        let (hash, raw) = key.sign(TxEip1559 {
            chain_id: 424242,
            nonce: 3,
            gas_limit: 21_000,
            max_fee_per_gas: 2_000_000_000,
            to: alloy_primitives::TxKind::Call(recipient(1)),
            value: alloy_primitives::U256::from(1),
            ..Default::default()
        });
        let tx = txnchain_primitives::RecoveredTx::decode(&raw).unwrap();
        assert_eq!(tx.sender(), key.address);
        assert_eq!(tx.hash(), hash);
        let jobs = (0..5)
            .map(|n| {
                (
                    0,
                    TxEip1559 {
                        chain_id: 1,
                        nonce: n,
                        gas_limit: 21_000,
                        ..Default::default()
                    },
                )
            })
            .collect();
        let signed = sign_all(std::slice::from_ref(&key), jobs);
        assert_eq!(signed.len(), 5);
        let nonces: Vec<u64> = signed
            .iter()
            .map(|(_, raw)| {
                txnchain_primitives::RecoveredTx::decode(raw)
                    .unwrap()
                    .nonce()
            })
            .collect();
        assert_eq!(nonces, vec![0, 1, 2, 3, 4]);
    }
}
