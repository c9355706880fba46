//! The read side of the ledger: what clients outside execution (the JSON-RPC, the REST API,
//! the in-process x402 chain adapter) may read, from one consistent snapshot, with the
//! confidentiality rule of `specs/confidential.md` §3 applied here rather than at each call
//! site (reth's `StateProvider` is the model).
//!
//! - Blocks, transactions, receipts (whose private logs were removed at execution), sealed
//!   results, accounts (balance, nonce, code hash) and code are public by design and read
//!   straight through.
//! - Storage and storage proofs go through [`LedgerReader::guard`]: a confidential contract's
//!   storage is refused with [`LedgerError::Confidential`].
//! - Execution (calls, gas estimates, traces) runs on [`LedgerReader::execution_state`]; its
//!   output is the caller's to seal or refuse, and [`LedgerReader::unsigned_sender`] gives
//!   the sender an unsigned call runs with.

use alloy_primitives::{Address, B256, Bytes, U256};
use txnchain_executor::confidential::{REGISTRY, registry_slot};
use txnchain_executor::state::StateSource;
use txnchain_executor::{BlockContext, SnapshotState};
use txnchain_primitives::{ChainSpec, RecoveredTx, SealedHeader, StoredReceipt};
use txnchain_storage::{AccountRecord, Snapshot, TxLocation};

use std::sync::Arc;

use crate::{BlockClock, LedgerError};

/// One consistent read of committed state.
pub struct LedgerReader {
    snap: Snapshot,
    clock: Arc<BlockClock>,
    receipts: Arc<crate::receipts::ReceiptCache>,
}

impl LedgerReader {
    pub(crate) fn new(
        snap: Snapshot,
        clock: Arc<BlockClock>,
        receipts: Arc<crate::receipts::ReceiptCache>,
    ) -> Self {
        Self {
            snap,
            clock,
            receipts,
        }
    }

    pub(crate) fn receipt_cache(&self) -> &crate::receipts::ReceiptCache {
        &self.receipts
    }

    pub(crate) fn snapshot(&self) -> &Snapshot {
        &self.snap
    }

    /// The last applied block (0 before any).
    pub fn latest(&self) -> Result<u64, LedgerError> {
        Ok(self.snap.last_applied()?.unwrap_or(0))
    }

    /// The oldest block whose state is retained.
    pub fn oldest_state(&self) -> Result<u64, LedgerError> {
        Ok(self.snap.oldest_state()?)
    }

    /// Header of block `number`.
    pub fn header(&self, number: u64) -> Result<Option<SealedHeader>, LedgerError> {
        Ok(self.snap.header(number)?)
    }

    /// Number of the block with `hash`.
    pub fn block_number(&self, hash: B256) -> Result<Option<u64>, LedgerError> {
        Ok(self.snap.block_number(hash)?)
    }

    /// Hashes of the transactions of block `number`, in order.
    pub fn block_tx_hashes(&self, number: u64) -> Result<Vec<B256>, LedgerError> {
        Ok(self.snap.block_tx_hashes(number)?)
    }

    /// A committed transaction and where it is.
    pub fn transaction(
        &self,
        hash: B256,
    ) -> Result<Option<(TxLocation, RecoveredTx)>, LedgerError> {
        Ok(self.snap.transaction(hash)?)
    }

    /// The transactions of block `number`.
    pub fn block_transactions(&self, number: u64) -> Result<Vec<RecoveredTx>, LedgerError> {
        Ok(self.snap.block_transactions(number)?)
    }

    /// The receipts of block `number` (public logs only).
    pub fn block_receipts(&self, number: u64) -> Result<Option<Vec<StoredReceipt>>, LedgerError> {
        Ok(self.snap.block_receipts(number)?)
    }

    /// The sealed result of an enveloped transaction (ciphertext for its sender).
    pub fn sealed_result(&self, hash: B256) -> Result<Option<Bytes>, LedgerError> {
        Ok(self.snap.sealed_result(hash)?)
    }

    /// The context the next block will have (what a call "now" runs in).
    pub fn next_block_context(&self, chain: &ChainSpec) -> Result<BlockContext, LedgerError> {
        crate::builder::next_block_context(chain, &self.snap, &self.clock)
    }

    /// Whether `address` is a confidential contract. The flag never changes once set, so the
    /// latest state answers for every block.
    pub fn is_confidential(&self, address: Address) -> Result<bool, LedgerError> {
        Ok(!self
            .snap
            .storage(REGISTRY, registry_slot(address))?
            .is_zero())
    }

    /// The policy hook: refuses `method` when it would expose `address` and `address` is a
    /// confidential contract (`confidential contract 0x…: <method> is not available`).
    pub fn guard(&self, address: Address, method: &str) -> Result<(), LedgerError> {
        if self.is_confidential(address)? {
            return Err(LedgerError::Confidential {
                address,
                method: method.to_string(),
            });
        }
        Ok(())
    }

    /// [`LedgerReader::guard`] for each of `addresses`.
    pub fn guard_all(
        &self,
        addresses: impl IntoIterator<Item = Address>,
        method: &str,
    ) -> Result<(), LedgerError> {
        for a in addresses {
            self.guard(a, method)?;
        }
        Ok(())
    }

    /// The latest account at `address` (public for every contract).
    pub fn account(&self, address: Address) -> Result<Option<AccountRecord>, LedgerError> {
        Ok(self.snap.account(address)?)
    }

    /// The account at `address` after block `number` (public for every contract).
    pub fn account_at(
        &self,
        address: Address,
        number: u64,
    ) -> Result<Option<AccountRecord>, LedgerError> {
        Ok(self.execution_state(number)?.account(address)?)
    }

    /// Code by hash (public for every contract).
    pub fn code(&self, hash: B256) -> Result<Option<Bytes>, LedgerError> {
        Ok(self.snap.code(hash)?)
    }

    /// A storage slot of `address` after block `number`, refused for a confidential contract
    /// in the name of `method`.
    pub fn storage_at(
        &self,
        address: Address,
        slot: U256,
        number: u64,
        method: &str,
    ) -> Result<U256, LedgerError> {
        self.guard(address, method)?;
        Ok(self.execution_state(number)?.storage(address, slot)?)
    }

    /// The latest account and its proof (public for every contract).
    pub fn account_proof(
        &self,
        address: Address,
    ) -> Result<(Option<AccountRecord>, Vec<Bytes>), LedgerError> {
        Ok(self.snap.account_proof(address)?)
    }

    /// The latest value of a slot and its proof, refused for a confidential contract.
    pub fn storage_proof(
        &self,
        address: Address,
        slot: U256,
        method: &str,
    ) -> Result<(U256, Vec<Bytes>), LedgerError> {
        self.guard(address, method)?;
        Ok(self.snap.storage_proof(address, slot)?)
    }

    /// The tries of the state after a past block `number`, rebuilt in memory for proofs
    /// (`None` when the data directory kept no key lists for the blocks after it).
    pub fn past_tries(
        &self,
        number: u64,
        max_keys: usize,
    ) -> Result<Option<txnchain_storage::PastTries>, LedgerError> {
        Ok(self.snap.past_tries(number, max_keys)?)
    }

    /// The account and its proof at the block of `tries` (public for every contract).
    pub fn account_proof_in(
        &self,
        tries: &txnchain_storage::PastTries,
        address: Address,
    ) -> Result<(Option<AccountRecord>, Vec<Bytes>), LedgerError> {
        Ok(self.snap.account_proof_in(tries, address)?)
    }

    /// A slot and its proof at the block of `tries`, refused for a confidential contract.
    pub fn storage_proof_in(
        &self,
        tries: &txnchain_storage::PastTries,
        address: Address,
        slot: U256,
        method: &str,
    ) -> Result<(U256, Vec<Bytes>), LedgerError> {
        self.guard(address, method)?;
        Ok(self.snap.storage_proof_in(tries, address, slot)?)
    }

    /// The sender an unsigned call from `from` to `to` runs with: zero when `to` is a
    /// confidential contract (only a signed query runs with a real sender).
    pub fn unsigned_sender(
        &self,
        to: Option<Address>,
        from: Address,
    ) -> Result<Address, LedgerError> {
        Ok(match to {
            Some(to) if self.is_confidential(to)? => Address::ZERO,
            _ => from,
        })
    }

    /// The state root the latest state would have with `changes` applied (computed, not
    /// written: `eth_simulateV1`'s simulated blocks).
    pub fn state_root_with(
        &self,
        changes: &txnchain_storage::StateChanges,
    ) -> Result<B256, LedgerError> {
        Ok(self.snap.prepare_state(changes)?.state_root)
    }

    /// The state after block `number` for execution inside the node (calls, estimates,
    /// traces): its output must be sealed or guarded by the caller. Refused for a block older
    /// than the retained history.
    pub fn execution_state(&self, number: u64) -> Result<SnapshotState<'_>, LedgerError> {
        let latest = self.latest()?;
        if number >= latest {
            // The head: the latest tables, without a history lookup per read.
            return Ok(SnapshotState::latest(&self.snap));
        }
        let oldest = self.oldest_state()?;
        if number < oldest {
            return Err(LedgerError::StatePruned { number, oldest });
        }
        Ok(SnapshotState::at(&self.snap, number))
    }
}
