//! Admission: the checks a transaction must pass before it enters the pool, each refusal a
//! typed [`TxRejection`] whose message is geth's (viem and ethers classify errors by their
//! prefixes). A refused transaction changes nothing. The pool owns its [`Validator`].
//!
//! Refusing a max fee below the fixed base fee at admission (rather than queueing it, as geth
//! does when the base fee may fall) is TxnChain's choice: the base fee never changes, so such a
//! transaction could never be included.

use alloy_consensus::Transaction;
use alloy_primitives::KECCAK256_EMPTY;
use revm_context_interface::cfg::gas::calculate_initial_tx_gas_for_tx;
use txnchain_executor::env::{spec_id, tx_env};
use txnchain_primitives::{ChainSpec, RecoveredTx, TxRejection};
use txnchain_storage::Snapshot;

use crate::LedgerError;
use crate::mempool::SenderState;

/// Largest accepted transaction (geth's txMaxSize).
pub const MAX_TX_SIZE: usize = 128 * 1024;
/// Largest init code (EIP-3860).
pub const MAX_INITCODE_SIZE: usize = 49_152;

/// The admission rules of one chain.
#[derive(Debug, Clone)]
pub struct Validator {
    chain: ChainSpec,
}

impl Validator {
    /// The rules of `chain`.
    pub fn new(chain: ChainSpec) -> Self {
        Validator { chain }
    }

    /// The chain.
    pub fn chain(&self) -> &ChainSpec {
        &self.chain
    }

    /// The checks of a confidential envelope that need no decryption (`specs/confidential.md`
    /// §2): a well-formed header naming an epoch inside the window of the block the
    /// transaction would land in (timestamp `next_timestamp`). Whether it opens is decided in
    /// execution only.
    pub fn check_envelope(&self, tx: &RecoveredTx, next_timestamp: u64) -> Result<(), TxRejection> {
        use txnchain_crypto::envelope::{Envelope, Payload, classify};
        let data = tx.envelope().input();
        match classify(data) {
            Payload::Plain => Ok(()),
            Payload::SignedQuery => Err(TxRejection::Envelope {
                reason: "a signed query is for eth_call and eth_estimateGas, not a transaction"
                    .into(),
            }),
            Payload::Envelope => {
                let env = Envelope::parse(data).map_err(|e| TxRejection::Envelope {
                    reason: e.to_string(),
                })?;
                env.check_epoch(self.chain.epoch_at(next_timestamp))
                    .map_err(|e| TxRejection::Envelope {
                        reason: e.to_string(),
                    })
            }
        }
    }

    /// Checks that need no state, for a transaction that would land in block `next_block`.
    pub fn check_stateless(&self, tx: &RecoveredTx, next_block: u64) -> Result<(), TxRejection> {
        let chain = &self.chain;
        if tx.encoded().len() > MAX_TX_SIZE {
            return Err(TxRejection::Oversized {
                size: tx.encoded().len(),
                limit: MAX_TX_SIZE,
            });
        }
        if tx.is_unprotected() {
            return Err(TxRejection::Unprotected);
        }
        if let Some(id) = tx.envelope().chain_id()
            && id != chain.chain_id
        {
            return Err(TxRejection::ChainIdMismatch {
                have: id,
                want: chain.chain_id,
            });
        }
        if tx.gas_limit() > chain.block_gas_limit {
            return Err(TxRejection::ExceedsBlockGasLimit);
        }
        let fork = chain.fork_at(next_block);
        if let Some(cap) = fork.tx_gas_limit_cap()
            && tx.gas_limit() > cap
        {
            return Err(TxRejection::GasLimitAboveCap {
                cap,
                gas: tx.gas_limit(),
            });
        }
        if tx.envelope().kind().is_create() && tx.envelope().input().len() > MAX_INITCODE_SIZE {
            return Err(TxRejection::InitCodeTooLarge {
                size: tx.envelope().input().len(),
                limit: MAX_INITCODE_SIZE,
            });
        }
        if let Some(tip) = tx.envelope().max_priority_fee_per_gas()
            && tip > tx.max_fee_per_gas()
        {
            return Err(TxRejection::TipAboveFeeCap {
                address: tx.sender(),
                tip,
                max_fee: tx.max_fee_per_gas(),
            });
        }
        if tx.max_fee_per_gas() < u128::from(chain.base_fee) {
            return Err(TxRejection::FeeCapBelowBaseFee {
                address: tx.sender(),
                max_fee: tx.max_fee_per_gas(),
                base_fee: chain.base_fee,
            });
        }
        if tx.envelope().is_eip7702()
            && tx
                .envelope()
                .authorization_list()
                .is_none_or(<[alloy_eips::eip7702::SignedAuthorization]>::is_empty)
        {
            return Err(TxRejection::EmptyAuthorizationList);
        }
        let gas = calculate_initial_tx_gas_for_tx(tx_env(tx), spec_id(fork), None);
        let intrinsic = gas
            .initial_regular_gas
            .saturating_add(gas.initial_state_gas);
        if tx.gas_limit() < intrinsic {
            return Err(TxRejection::IntrinsicGasTooLow {
                gas: tx.gas_limit(),
                needed: intrinsic,
            });
        }
        if fork.has_floor_data_gas() && tx.gas_limit() < gas.floor_gas {
            return Err(TxRejection::FloorDataGas {
                gas: tx.gas_limit(),
                needed: gas.floor_gas,
            });
        }
        Ok(())
    }

    /// Every check against committed state `snap`: the stateless ones, then the sender
    /// (EIP-3607, relaxed by EIP-7702 for delegated accounts). Returns what the pool needs to
    /// know of the sender. `clock` stamps the block the transaction would land in (for the envelope's epoch).
    pub fn check(
        &self,
        tx: &RecoveredTx,
        snap: &Snapshot,
        clock: &crate::BlockClock,
    ) -> Result<SenderState, LedgerError> {
        let last = snap.last_applied()?.unwrap_or(0);
        let next_block = last.saturating_add(1);
        self.check_stateless(tx, next_block)?;
        let parent_time = snap.header(last)?.map_or(0, |h| h.header.timestamp);
        self.check_envelope(tx, clock.next_timestamp(parent_time))?;
        let account = snap.account(tx.sender())?;
        if let Some(acc) = account
            && acc.code_hash != KECCAK256_EMPTY
        {
            let code = snap.code(acc.code_hash)?.unwrap_or_default();
            if !code.starts_with(&[0xef, 0x01, 0x00]) {
                return Err(TxRejection::SenderNotEoa {
                    address: tx.sender(),
                }
                .into());
            }
        }
        Ok(SenderState {
            nonce: account.map_or(0, |a| a.nonce),
            balance: account.map(|a| a.balance).unwrap_or_default(),
        })
    }
}
