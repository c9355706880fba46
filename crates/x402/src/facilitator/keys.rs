//! The settlement keys: a small pool, used in turn, each with its own nonce sequence.
//!
//! A key's next nonce is kept in memory (so settlements pipeline) and re-read from the chain
//! (`pending` nonce: committed plus contiguous pooled) after any failure or whenever a
//! transaction of the key may have left the pool, so a gap is refilled by the next settlement
//! instead of holding every later one back.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use parking_lot::Mutex;

use crate::chain::{Chain, ChainError};

/// One settlement key.
pub(crate) struct KeySlot {
    signer: PrivateKeySigner,
    next_nonce: tokio::sync::Mutex<Option<u64>>,
    /// Set when a transaction of this key may have been dropped: re-read the nonce first.
    resync: AtomicBool,
    /// Last known ETH balance (`U256::MAX` until read).
    pub(crate) balance_wei: Mutex<U256>,
}

/// A signed settlement transaction, kept so it can be resubmitted or replaced.
#[derive(Clone, Debug)]
pub(crate) struct Sent {
    pub(crate) hash: B256,
    pub(crate) nonce: u64,
    pub(crate) raw: Bytes,
    pub(crate) max_fee_per_gas: u128,
}

impl KeySlot {
    fn new(signer: PrivateKeySigner) -> Self {
        KeySlot {
            signer,
            next_nonce: tokio::sync::Mutex::new(None),
            resync: AtomicBool::new(false),
            balance_wei: Mutex::new(U256::MAX),
        }
    }

    /// The key's address.
    pub(crate) fn address(&self) -> Address {
        self.signer.address()
    }

    /// Asks for the nonce to be re-read from the chain before the next submission.
    pub(crate) fn resync(&self) {
        self.resync.store(true, Ordering::Relaxed);
    }

    fn sign(&self, tx: TxEip1559) -> Result<(B256, Bytes), ChainError> {
        let sig = self
            .signer
            .sign_hash_sync(&tx.signature_hash())
            .map_err(|e| ChainError::Signing(e.to_string()))?;
        let envelope: TxEnvelope = tx.into_signed(sig).into();
        Ok((*envelope.tx_hash(), envelope.encoded_2718().into()))
    }

    /// Signs and submits a call of `to` with `input`, at this key's next nonce.
    pub(crate) async fn submit<C: Chain>(
        &self,
        chain: &C,
        to: Address,
        input: Bytes,
        gas_limit: u64,
    ) -> Result<Sent, ChainError> {
        let max_fee = chain.max_fee_per_gas().await?;
        let mut next = self.next_nonce.lock().await;
        if self.resync.swap(false, Ordering::Relaxed) {
            *next = None;
        }
        let nonce = match *next {
            Some(n) => n,
            None => chain.pending_nonce(self.address()).await?,
        };
        let tx = TxEip1559 {
            chain_id: chain.chain_id(),
            nonce,
            gas_limit,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: 0,
            to: TxKind::Call(to),
            value: U256::ZERO,
            access_list: Default::default(),
            input,
        };
        let (hash, raw) = self.sign(tx)?;
        match chain.submit(raw.clone()).await {
            Ok(_) => {
                *next = nonce.checked_add(1);
                Ok(Sent {
                    hash,
                    nonce,
                    raw,
                    max_fee_per_gas: max_fee,
                })
            }
            Err(e) => {
                // Resynchronise from the chain next time.
                *next = None;
                Err(e)
            }
        }
    }

    /// Replaces `sent` in the pool with a transaction that does nothing (a zero-value
    /// transfer to the key itself at the same nonce, with the fee bumped past the pool's
    /// replacement rule), so that `sent` can no longer commit. Returns the replacement's hash.
    pub(crate) async fn cancel<C: Chain>(
        &self,
        chain: &C,
        sent: &Sent,
    ) -> Result<B256, ChainError> {
        let bumped = sent
            .max_fee_per_gas
            .saturating_mul(2)
            .max(chain.max_fee_per_gas().await?);
        let tx = TxEip1559 {
            chain_id: chain.chain_id(),
            nonce: sent.nonce,
            gas_limit: 21_000,
            max_fee_per_gas: bumped,
            // The pool's replacement rule bumps the tip too: from 0, any tip will do.
            max_priority_fee_per_gas: 1,
            to: TxKind::Call(self.address()),
            value: U256::ZERO,
            access_list: Default::default(),
            input: Bytes::new(),
        };
        let (hash, raw) = self.sign(tx)?;
        chain.submit(raw).await?;
        Ok(hash)
    }
}

/// The keys, used in turn.
pub(crate) struct KeyPool {
    slots: Vec<KeySlot>,
    next: AtomicUsize,
}

impl KeyPool {
    /// A pool of `keys` (at least one).
    pub(crate) fn new(keys: &[PrivateKeySigner]) -> Self {
        KeyPool {
            slots: keys.iter().cloned().map(KeySlot::new).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// The next key in turn.
    pub(crate) fn pick(&self) -> &KeySlot {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len().max(1);
        &self.slots[i]
    }

    /// Every key.
    pub(crate) fn slots(&self) -> &[KeySlot] {
        &self.slots
    }

    /// The first key's address (the `from` of simulations).
    pub(crate) fn first(&self) -> Address {
        self.slots.first().map(KeySlot::address).unwrap_or_default()
    }
}
