//! Admission: the checks a transaction must pass before it enters the pool, with geth's
//! messages (viem and ethers classify errors by their prefixes). A refused transaction changes
//! nothing.
//!
//! Refusing a max fee below the fixed base fee at admission (rather than queueing it, as geth
//! does when the base fee may fall) is TxnChain's choice: the base fee never changes, so such a
//! transaction could never be included.

use alloy_consensus::Transaction;
use alloy_primitives::B256;
use revm_context_interface::cfg::gas::calculate_initial_tx_gas_for_tx;
use txnchain_executor::env::{spec_id, tx_env};
use txnchain_primitives::RecoveredTx;

use crate::mempool::SenderState;
use crate::{Ledger, LedgerError};

/// Largest accepted transaction (geth's txMaxSize).
pub const MAX_TX_SIZE: usize = 128 * 1024;
/// Largest init code (EIP-3860).
pub const MAX_INITCODE_SIZE: usize = 49_152;

fn reject(msg: impl Into<String>) -> LedgerError {
    LedgerError::Rejected(msg.into())
}

impl Ledger {
    /// Checks that need no state.
    pub fn check_stateless(&self, tx: &RecoveredTx, next_block: u64) -> Result<(), LedgerError> {
        let chain = self.chain();
        if tx.encoded.len() > MAX_TX_SIZE {
            return Err(reject(format!(
                "oversized data: transaction size {}, limit {MAX_TX_SIZE}",
                tx.encoded.len()
            )));
        }
        if tx.is_unprotected() {
            return Err(reject(
                "only replay-protected (EIP-155) transactions allowed over RPC",
            ));
        }
        if let Some(id) = tx.envelope.chain_id()
            && id != chain.chain_id
        {
            return Err(reject(format!(
                "invalid sender: invalid chain id for signer: have {id} want {}",
                chain.chain_id
            )));
        }
        if tx.gas_limit() > chain.block_gas_limit {
            return Err(reject("exceeds block gas limit"));
        }
        let fork = chain.fork_at(next_block);
        if let Some(cap) = fork.tx_gas_limit_cap()
            && tx.gas_limit() > cap
        {
            return Err(reject(format!(
                "transaction gas limit too high (cap: {cap}, tx: {})",
                tx.gas_limit()
            )));
        }
        if tx.envelope.kind().is_create() && tx.envelope.input().len() > MAX_INITCODE_SIZE {
            return Err(reject(format!(
                "max initcode size exceeded: code size {}, limit {MAX_INITCODE_SIZE}",
                tx.envelope.input().len()
            )));
        }
        if let Some(tip) = tx.envelope.max_priority_fee_per_gas()
            && tip > tx.max_fee_per_gas()
        {
            return Err(reject(format!(
                "max priority fee per gas higher than max fee per gas: address {}, maxPriorityFeePerGas: {tip}, maxFeePerGas: {}",
                tx.sender,
                tx.max_fee_per_gas()
            )));
        }
        if tx.max_fee_per_gas() < chain.base_fee as u128 {
            return Err(reject(format!(
                "max fee per gas less than block base fee: address {}, maxFeePerGas: {}, baseFee: {}",
                tx.sender,
                tx.max_fee_per_gas(),
                chain.base_fee
            )));
        }
        if tx.envelope.is_eip7702()
            && tx
                .envelope
                .authorization_list()
                .is_none_or(|l| l.is_empty())
        {
            return Err(reject("EIP-7702 transaction with empty auth list"));
        }
        let gas = calculate_initial_tx_gas_for_tx(tx_env(tx), spec_id(fork), None);
        let intrinsic = gas.initial_regular_gas + gas.initial_state_gas;
        if tx.gas_limit() < intrinsic {
            return Err(reject(format!(
                "intrinsic gas too low: gas {}, minimum needed {intrinsic}",
                tx.gas_limit()
            )));
        }
        if fork.has_floor_data_gas() && tx.gas_limit() < gas.floor_gas {
            return Err(reject(format!(
                "insufficient gas for floor data gas cost: gas {}, minimum needed {}",
                tx.gas_limit(),
                gas.floor_gas
            )));
        }
        Ok(())
    }

    /// Admits a decoded transaction into the pool after every check. Returns its hash.
    pub fn submit(&self, tx: RecoveredTx) -> Result<B256, LedgerError> {
        self.admit(tx, false)
    }

    /// [`submit`](Self::submit) for a transaction the node signs itself (x402 settlements):
    /// the pool never evicts it to make room for another.
    pub fn submit_local(&self, tx: RecoveredTx) -> Result<B256, LedgerError> {
        self.admit(tx, true)
    }

    fn admit(&self, tx: RecoveredTx, local: bool) -> Result<B256, LedgerError> {
        let snap = self.store().snapshot()?;
        let next_block = snap.last_applied()?.unwrap_or(0) + 1;
        self.check_stateless(&tx, next_block)?;
        let account = snap.account(tx.sender)?;
        if let Some(acc) = account
            && acc.code_hash != alloy_primitives::KECCAK256_EMPTY
        {
            let code = snap.code(acc.code_hash)?.unwrap_or_default();
            // EIP-3607, relaxed by EIP-7702 for delegated accounts.
            if !code.starts_with(&[0xef, 0x01, 0x00]) {
                return Err(reject(format!("sender not an eoa: address {}", tx.sender)));
            }
        }
        let state = SenderState {
            nonce: account.map(|a| a.nonce).unwrap_or(0),
            balance: account.map(|a| a.balance).unwrap_or_default(),
        };
        let hash = tx.hash;
        if local {
            self.pool().add_local(tx, state)?;
        } else {
            self.pool().add(tx, state)?;
        }
        Ok(hash)
    }
}
