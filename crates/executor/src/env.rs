//! revm environments from TxnChain types.

use alloy_consensus::{Transaction, TxEnvelope};
use alloy_primitives::{Address, B256, TxKind, U256};
use revm::context::{BlockEnv, CfgEnv, TxEnv};
use revm::context_interface::block::BlobExcessGasAndPrice;
use revm::primitives::hardfork::SpecId;
use txnchain_primitives::{ChainSpec, Fork, RecoveredTx};

/// The revm spec for a TxnChain fork.
pub fn spec_id(fork: Fork) -> SpecId {
    match fork {
        Fork::Prague => SpecId::PRAGUE,
        Fork::Osaka => SpecId::OSAKA,
    }
}

/// The configuration environment for block `number`.
pub fn cfg_env(chain: &ChainSpec, number: u64) -> CfgEnv {
    let fork = chain.fork_at(number);
    let mut cfg = CfgEnv::new_with_spec(spec_id(fork));
    cfg.chain_id = chain.chain_id;
    cfg.tx_gas_limit_cap = fork.tx_gas_limit_cap();
    cfg
}

/// The block-level inputs of execution; everything in it is fixed by the sealed header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockContext {
    /// Block number.
    pub number: u64,
    /// Block timestamp (seconds).
    pub timestamp: u64,
    /// Fee recipient.
    pub beneficiary: Address,
    /// PREVRANDAO value (the header's mixHash).
    pub prevrandao: B256,
    /// Block gas limit.
    pub gas_limit: u64,
    /// Base fee per gas.
    pub base_fee: u64,
    /// Parent block hash.
    pub parent_hash: B256,
}

impl BlockContext {
    /// The revm block environment.
    pub fn block_env(&self) -> BlockEnv {
        BlockEnv {
            number: U256::from(self.number),
            timestamp: U256::from(self.timestamp),
            beneficiary: self.beneficiary,
            prevrandao: Some(self.prevrandao),
            difficulty: U256::ZERO,
            gas_limit: self.gas_limit,
            basefee: self.base_fee,
            blob_excess_gas_and_price: Some(BlobExcessGasAndPrice::new(0, 1)),
            ..Default::default()
        }
    }

    /// PREVRANDAO for a child of `parent_hash`: keccak256("txnchain-prevrandao" ‖ parent hash).
    /// Deterministic and public; contracts must not use it as a source of secret randomness.
    pub fn derive_prevrandao(parent_hash: B256) -> B256 {
        let mut buf = Vec::with_capacity(51);
        buf.extend_from_slice(b"txnchain-prevrandao");
        buf.extend_from_slice(parent_hash.as_slice());
        alloy_primitives::keccak256(buf)
    }
}

/// The revm transaction environment of a signed transaction.
pub fn tx_env(tx: &RecoveredTx) -> TxEnv {
    let env = tx.envelope();
    let mut t = TxEnv {
        tx_type: env.tx_type() as u8,
        caller: tx.sender(),
        gas_limit: env.gas_limit(),
        kind: env.kind(),
        value: env.value(),
        data: env.input().clone(),
        nonce: env.nonce(),
        chain_id: env.chain_id(),
        access_list: env.access_list().cloned().unwrap_or_default(),
        ..Default::default()
    };
    match env {
        TxEnvelope::Legacy(_) | TxEnvelope::Eip2930(_) => {
            t.gas_price = env.gas_price().unwrap_or_default();
            t.gas_priority_fee = None;
        }
        _ => {
            t.gas_price = env.max_fee_per_gas();
            t.gas_priority_fee = env.max_priority_fee_per_gas();
        }
    }
    if let Some(list) = env.authorization_list() {
        t.authorization_list = list
            .iter()
            .cloned()
            .map(revm::context::either::Either::Left)
            .collect();
    }
    t
}

/// Fields of an unsigned call (`eth_call`, `eth_estimateGas`).
#[derive(Debug, Clone, Default)]
pub struct CallInput {
    /// `from` (zero address when absent).
    pub from: Address,
    /// Target, or `None` for a create.
    pub to: Option<Address>,
    /// Gas limit.
    pub gas: u64,
    /// Legacy gas price, if given.
    pub gas_price: Option<u128>,
    /// EIP-1559 max fee, if given.
    pub max_fee_per_gas: Option<u128>,
    /// EIP-1559 priority fee, if given.
    pub max_priority_fee_per_gas: Option<u128>,
    /// Value.
    pub value: U256,
    /// Input data.
    pub data: alloy_primitives::Bytes,
    /// Nonce, if given (otherwise the account's current nonce is used).
    pub nonce: Option<u64>,
    /// Access list.
    pub access_list: revm::context::transaction::AccessList,
    /// EIP-7702 authorizations.
    pub authorization_list: Vec<alloy_eips::eip7702::SignedAuthorization>,
    /// The opened envelope's plaintext, when `data` is an envelope: the top frame runs it,
    /// while gas is charged on `data` (as for the transaction that would carry it).
    pub plaintext: Option<alloy_primitives::Bytes>,
}

/// The revm transaction environment of a call.
pub fn call_env(input: &CallInput, chain_id: u64, nonce: u64) -> TxEnv {
    let mut t = TxEnv {
        caller: input.from,
        gas_limit: input.gas,
        kind: match input.to {
            Some(a) => TxKind::Call(a),
            None => TxKind::Create,
        },
        value: input.value,
        data: input.data.clone(),
        nonce: input.nonce.unwrap_or(nonce),
        chain_id: Some(chain_id),
        access_list: input.access_list.clone(),
        ..Default::default()
    };
    if !input.authorization_list.is_empty() {
        t.tx_type = 4;
        t.authorization_list = input
            .authorization_list
            .iter()
            .cloned()
            .map(revm::context::either::Either::Left)
            .collect();
        t.gas_price = input.max_fee_per_gas.unwrap_or(0);
        t.gas_priority_fee = input.max_priority_fee_per_gas;
    } else if input.max_fee_per_gas.is_some() || input.max_priority_fee_per_gas.is_some() {
        t.tx_type = 2;
        t.gas_price = input.max_fee_per_gas.unwrap_or(0);
        t.gas_priority_fee = input.max_priority_fee_per_gas;
    } else {
        t.tx_type = if input.access_list.0.is_empty() { 0 } else { 1 };
        t.gas_price = input.gas_price.unwrap_or(0);
    }
    t
}
