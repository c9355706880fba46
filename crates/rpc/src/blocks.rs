//! Blocks, transactions and receipts.

use std::time::Duration;

use alloy_eips::BlockNumberOrTag;
use alloy_primitives::{B256, Bytes};
use alloy_rpc_types_eth::{Block, BlockTransactions, Transaction, TransactionReceipt};
use std::sync::Arc;

use tokio::sync::broadcast;
use txnchain_jsonrpc::RpcError;
use txnchain_ledger::{CommittedBlock, LedgerReader};

use crate::api::EthApi;
use crate::convert::{self, Position};
use crate::errors;

/// Default and largest wait of `eth_sendRawTransactionSync`.
const SYNC_DEFAULT: Duration = Duration::from_secs(10);
const SYNC_MAX: Duration = Duration::from_secs(60);

impl EthApi {
    fn block_at(
        &self,
        snap: &LedgerReader,
        number: u64,
        full: bool,
    ) -> Result<Option<Block>, RpcError> {
        let Some(header) = snap.header(number).map_err(errors::ledger)? else {
            return Ok(None);
        };
        if full {
            let txs = snap.block_transactions(number).map_err(errors::ledger)?;
            Ok(Some(convert::block(&header, &txs, true)))
        } else {
            let hashes = snap.block_tx_hashes(number).map_err(errors::ledger)?;
            let mut b = convert::block(&header, &[], false);
            b.transactions = BlockTransactions::Hashes(hashes);
            Ok(Some(b))
        }
    }

    pub(crate) fn block_by_number(
        &self,
        tag: BlockNumberOrTag,
        full: bool,
    ) -> Result<Option<Block>, RpcError> {
        let snap = self.snapshot()?;
        match self.resolve_opt(&snap, tag)? {
            Some(n) => self.block_at(&snap, n, full),
            None => Ok(None),
        }
    }

    pub(crate) fn block_by_hash(&self, hash: B256, full: bool) -> Result<Option<Block>, RpcError> {
        let snap = self.snapshot()?;
        match snap.block_number(hash).map_err(errors::ledger)? {
            Some(n) => self.block_at(&snap, n, full),
            None => Ok(None),
        }
    }

    pub(crate) fn number_of(
        &self,
        snap: &LedgerReader,
        id: BlockRef,
    ) -> Result<Option<u64>, RpcError> {
        match id {
            BlockRef::Tag(t) => self.resolve_opt(snap, t),
            BlockRef::Hash(h) => snap.block_number(h).map_err(errors::ledger),
        }
    }

    pub(crate) fn tx_count(&self, id: BlockRef) -> Result<Option<u64>, RpcError> {
        let snap = self.snapshot()?;
        match self.number_of(&snap, id)? {
            Some(n) => Ok(Some(
                snap.block_tx_hashes(n).map_err(errors::ledger)?.len() as u64
            )),
            None => Ok(None),
        }
    }

    /// The hash of the transaction at `index` in block `id`, if both exist.
    fn tx_hash_at(&self, id: BlockRef, index: u64) -> Result<Option<B256>, RpcError> {
        let snap = self.snapshot()?;
        let Some(n) = self.number_of(&snap, id)? else {
            return Ok(None);
        };
        let hashes = snap.block_tx_hashes(n).map_err(errors::ledger)?;
        Ok(usize::try_from(index)
            .ok()
            .and_then(|i| hashes.get(i))
            .copied())
    }

    pub(crate) fn tx_by_block_and_index(
        &self,
        id: BlockRef,
        index: u64,
    ) -> Result<Option<Transaction>, RpcError> {
        match self.tx_hash_at(id, index)? {
            Some(h) => self.transaction_by_hash(h),
            None => Ok(None),
        }
    }

    /// `eth_getRawTransactionByBlock{Number,Hash}AndIndex`: the transaction's EIP-2718 bytes.
    pub(crate) fn raw_tx_by_block_and_index(
        &self,
        id: BlockRef,
        index: u64,
    ) -> Result<Option<Bytes>, RpcError> {
        match self.tx_hash_at(id, index)? {
            Some(h) => self.raw_transaction_by_hash(h),
            None => Ok(None),
        }
    }

    /// Waits until the pooled transaction `hash` is in a committed block announced on
    /// `blocks` (subscribed before the caller last looked for it, so that block cannot be
    /// missed), at most `wait`. Answers at once: `true` when the pool no longer holds it (its
    /// block may have been applied since the caller looked), `false` when it cannot go in yet
    /// (it waits for an earlier nonce); else `true` once its block is applied.
    pub(crate) async fn await_inclusion(
        &self,
        hash: B256,
        mut blocks: broadcast::Receiver<Arc<CommittedBlock>>,
        wait: Duration,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        let Some(tx) = self.ledger.pool().get(&hash) else {
            // Committed since the caller looked (the pool lets go after the store has the
            // block) or dropped: look again.
            return true;
        };
        // Checked once: a transaction contiguous with its sender's nonces stays so.
        let committed = self
            .snapshot()
            .and_then(|s| s.account(tx.sender()).map_err(errors::ledger))
            .map_or(0, |a| a.map_or(0, |a| a.nonce));
        if tx.nonce() >= self.ledger.pool().pending_nonce(tx.sender(), committed) {
            return false; // a nonce gap: no block can take it yet
        }
        loop {
            if self.ledger.pool().get(&hash).is_none() {
                // Left the pool: committed (its block was announced before we listened) or
                // dropped; the caller looks again.
                return true;
            }
            match tokio::time::timeout_at(deadline, blocks.recv()).await {
                Ok(Ok(b)) if b.transactions.iter().any(|t| t.hash() == hash) => return true,
                Ok(Ok(_) | Err(broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => return false,
            }
        }
    }

    /// In `node` mode, the committed blocks to watch for a receipt that is not there yet
    /// (`eth_getTransactionReceipt` waits for the block of a pooled transaction); `None` in
    /// `dev`, where automine answers sends at commit and manual mining would never bring it.
    pub(crate) fn receipt_watch(&self) -> Option<broadcast::Receiver<Arc<CommittedBlock>>> {
        self.mining().is_none().then(|| self.ledger.subscribe())
    }

    pub(crate) fn transaction_by_hash(&self, hash: B256) -> Result<Option<Transaction>, RpcError> {
        let snap = self.snapshot()?;
        if let Some((loc, tx)) = snap.transaction(hash).map_err(errors::ledger)? {
            let header = self.header(&snap, loc.block)?;
            return Ok(Some(convert::transaction(
                &tx,
                Some(Position::of(&header, u64::from(loc.index))),
            )));
        }
        Ok(self
            .ledger
            .pool()
            .get(&hash)
            .map(|tx| convert::transaction(&tx, None)))
    }

    pub(crate) fn raw_transaction_by_hash(&self, hash: B256) -> Result<Option<Bytes>, RpcError> {
        let snap = self.snapshot()?;
        if let Some((_, tx)) = snap.transaction(hash).map_err(errors::ledger)? {
            return Ok(Some(tx.encoded().clone()));
        }
        Ok(self.ledger.pool().get(&hash).map(|tx| tx.encoded().clone()))
    }

    /// Only committed transactions have receipts.
    pub(crate) fn receipt(&self, hash: B256) -> Result<Option<TransactionReceipt>, RpcError> {
        let snap = self.snapshot()?;
        let Some((loc, _)) = snap.transaction(hash).map_err(errors::ledger)? else {
            return Ok(None);
        };
        let header = self.header(&snap, loc.block)?;
        let receipts = snap
            .block_receipts(loc.block)
            .map_err(errors::ledger)?
            .unwrap_or_default();
        Ok(receipts
            .get(loc.index as usize)
            .map(|r| convert::receipt(r, hash, Position::of(&header, u64::from(loc.index)))))
    }

    pub(crate) fn block_receipts(
        &self,
        id: BlockRef,
    ) -> Result<Option<Vec<TransactionReceipt>>, RpcError> {
        let snap = self.snapshot()?;
        let Some(n) = self.number_of(&snap, id)? else {
            return Ok(None);
        };
        let header = self.header(&snap, n)?;
        let receipts = snap
            .block_receipts(n)
            .map_err(errors::ledger)?
            .unwrap_or_default();
        let hashes = snap.block_tx_hashes(n).map_err(errors::ledger)?;
        Ok(Some(
            receipts
                .iter()
                .zip(hashes)
                .enumerate()
                .map(|(i, (r, h))| convert::receipt(r, h, Position::of(&header, i as u64)))
                .collect(),
        ))
    }

    /// Admits raw EIP-2718 bytes (`eth_sendRawTransaction`, `POST /v1/transactions`).
    pub fn send_raw(&self, raw: &[u8]) -> Result<B256, RpcError> {
        self.ledger.submit_raw(raw, false).map_err(errors::ledger)
    }

    /// `eth_sendRawTransactionSync` (EIP-7966): submits, then answers with the receipt once the
    /// transaction's block is committed; after the timeout, error code 4 with the hash.
    pub(crate) async fn send_raw_sync(
        &self,
        raw: &[u8],
        timeout_ms: Option<u64>,
    ) -> Result<TransactionReceipt, RpcError> {
        let mut events = self.ledger.subscribe();
        let hash = self.send_raw(raw)?;
        let timeout = timeout_ms
            .map_or(SYNC_DEFAULT, Duration::from_millis)
            .min(SYNC_MAX);
        let wait = async {
            loop {
                if let Some(r) = self.receipt(hash)? {
                    return Ok(r);
                }
                match events.recv().await {
                    Ok(b) if b.transactions.iter().any(|t| t.hash() == hash) => {}
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(e) => return Err(RpcError::internal(e.to_string())),
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(r) => r,
            Err(_) => Err(RpcError::custom(
                4,
                format!(
                    "The transaction was added to the mempool but wasn't processed in {}ms",
                    timeout.as_millis()
                ),
                Some(serde_json::Value::String(hash.to_string())),
            )),
        }
    }
}

/// A block named by tag/number or by hash.
#[derive(Debug, Clone, Copy)]
pub(crate) enum BlockRef {
    Tag(BlockNumberOrTag),
    Hash(B256),
}
