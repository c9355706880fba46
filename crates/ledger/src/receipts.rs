//! The ledger tree as clients read it (`specs/receipts.md` §2–§4): signed roots, receipts
//! with their inclusion proofs, and consistency proofs, from one consistent snapshot.

use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{B256, Bytes};
use txnchain_ledger_tree::receipt::{RECEIPT_VERSION, Receipt, SignedRoot};

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::{LedgerError, LedgerReader};

/// Blocks whose encoded receipts [`ReceiptCache`] keeps.
const CACHED_BLOCKS: usize = 16;

/// The EIP-2718 encodings of the receipts of the last few blocks receipts were asked for,
/// keyed by block hash (a block number can be reused after `evm_revert`), so serving the
/// receipts of one block's transactions decodes its stored receipts once, not once each.
#[derive(Debug, Default)]
pub struct ReceiptCache {
    blocks: Mutex<VecDeque<(B256, Arc<Vec<Bytes>>)>>,
}

impl ReceiptCache {
    fn get(&self, block: B256) -> Option<Arc<Vec<Bytes>>> {
        self.blocks
            .lock()
            .iter()
            .find(|(h, _)| *h == block)
            .map(|(_, r)| r.clone())
    }

    fn insert(&self, block: B256, receipts: Arc<Vec<Bytes>>) {
        let mut blocks = self.blocks.lock();
        if blocks.iter().any(|(h, _)| *h == block) {
            return;
        }
        if blocks.len() == CACHED_BLOCKS {
            blocks.pop_front();
        }
        blocks.push_back((block, receipts));
    }
}

/// Who signs: the network's chain id and service identity.
#[derive(Debug, Clone, Copy)]
pub struct Signer {
    /// The chain id in every signed root.
    pub chain_id: u64,
    /// The service identity's public key.
    pub service_identity: [u8; 32],
}

impl LedgerReader {
    /// Number of ledger tree leaves after the latest block.
    pub fn ledger_tree_size(&self) -> Result<u64, LedgerError> {
        Ok(self.snapshot().ledger_tree_size()?)
    }

    /// The signed root of block `number` (`None`: no such block, or block 0, which has no
    /// leaves and no signature).
    pub fn signed_root(
        &self,
        signer: Signer,
        number: u64,
    ) -> Result<Option<SignedRoot>, LedgerError> {
        let snap = self.snapshot();
        if number == 0 {
            return Ok(None);
        }
        let Some(header) = snap.header(number)? else {
            return Ok(None);
        };
        let Some(tree_size) = snap.ledger_tree_size_at(number)? else {
            return Ok(None);
        };
        let signature = snap
            .ledger_root_signature(number)?
            .ok_or(LedgerError::Unsigned(number))?;
        let root = B256::try_from(header.header.extra_data.as_ref())
            .map_err(|_| LedgerError::Unsigned(number))?;
        Ok(Some(SignedRoot {
            chain_id: signer.chain_id,
            block_number: number,
            block_hash: header.hash,
            tree_size,
            root,
            signature: Bytes::copy_from_slice(&signature),
            service_identity: B256::from(signer.service_identity),
        }))
    }

    /// The receipt of committed transaction `hash` (`None` until it is committed).
    pub fn ledger_receipt(
        &self,
        signer: Signer,
        hash: B256,
    ) -> Result<Option<Receipt>, LedgerError> {
        let snap = self.snapshot();
        let Some((loc, tx)) = snap.transaction(hash)? else {
            return Ok(None);
        };
        let Some(root) = self.signed_root(signer, loc.block)? else {
            return Ok(None);
        };
        let receipts = match self.receipt_cache().get(root.block_hash) {
            Some(r) => r,
            None => {
                let encoded: Arc<Vec<Bytes>> = Arc::new(
                    snap.block_receipts(loc.block)?
                        .unwrap_or_default()
                        .iter()
                        .map(|r| Bytes::from(r.envelope().encoded_2718()))
                        .collect(),
                );
                self.receipt_cache()
                    .insert(root.block_hash, encoded.clone());
                encoded
            }
        };
        let receipt = receipts
            .get(loc.index as usize)
            .ok_or_else(|| txnchain_storage::StorageError::Corrupt {
                table: "receipts",
                detail: format!("block {} has no receipt {}", loc.block, loc.index),
            })?
            .clone();
        let Some((_, leaf_index)) = self.ledger_position(hash)? else {
            return Ok(None);
        };
        let inclusion_proof = snap.ledger_inclusion_proof(leaf_index, root.tree_size)?;
        let sealed = snap.sealed_result(hash)?;
        Ok(Some(Receipt {
            version: RECEIPT_VERSION,
            chain_id: root.chain_id,
            transaction: tx.encoded().clone(),
            receipt,
            result_digest: B256::from(txnchain_ledger_tree::result_digest(
                sealed.as_ref().map(AsRef::as_ref),
            )),
            leaf_index,
            tree_size: root.tree_size,
            inclusion_proof,
            block_number: loc.block,
            block_hash: root.block_hash,
            root: root.root,
            signature: root.signature,
            service_identity: root.service_identity,
        }))
    }

    /// Where committed transaction `hash` is: its block and leaf index.
    pub fn ledger_position(&self, hash: B256) -> Result<Option<(u64, u64)>, LedgerError> {
        let snap = self.snapshot();
        let Some((loc, _)) = snap.transaction(hash)? else {
            return Ok(None);
        };
        let before = match loc.block.checked_sub(1) {
            Some(p) => snap.ledger_tree_size_at(p)?.unwrap_or(0),
            None => 0,
        };
        Ok(Some((loc.block, before + u64::from(loc.index))))
    }

    /// The RFC 9162 consistency proof between tree sizes `from` ≤ `to` ≤ the current size
    /// ([`LedgerError::TreeRange`] otherwise).
    pub fn ledger_consistency(&self, from: u64, to: u64) -> Result<Vec<B256>, LedgerError> {
        let size = self.ledger_tree_size()?;
        if from > to || to > size {
            return Err(LedgerError::TreeRange { from, to, size });
        }
        Ok(self.snapshot().ledger_consistency_proof(from, to)?)
    }
}
