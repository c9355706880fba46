//! Stored records → alloy RPC types.

use alloy_consensus::transaction::Recovered;
use alloy_consensus::{Eip658Value, Receipt, ReceiptEnvelope, ReceiptWithBloom, TxType};
use alloy_primitives::{B256, U256};
use alloy_rpc_types_eth::{Block, BlockTransactions, Header, Log, Transaction, TransactionReceipt};
use txnchain_primitives::{RecoveredTx, SealedHeader, StoredReceipt};

/// Where a transaction sits in a committed block.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Position {
    pub block_hash: B256,
    pub block_number: u64,
    pub index: u64,
    pub base_fee: u64,
    pub timestamp: u64,
}

impl Position {
    pub(crate) fn of(header: &SealedHeader, index: u64) -> Self {
        Position {
            block_hash: header.hash,
            block_number: header.header.number,
            index,
            base_fee: header.header.base_fee_per_gas.unwrap_or_default(),
            timestamp: header.header.timestamp,
        }
    }
}

pub(crate) fn header(h: &SealedHeader) -> Header {
    let size = h.rlp().len();
    Header {
        hash: h.hash,
        inner: h.header.clone(),
        total_difficulty: Some(U256::ZERO),
        size: Some(U256::from(size)),
    }
}

pub(crate) fn transaction(tx: &RecoveredTx, pos: Option<Position>) -> Transaction {
    Transaction {
        inner: Recovered::new_unchecked(tx.envelope().clone(), tx.sender()),
        block_hash: pos.map(|p| p.block_hash),
        block_number: pos.map(|p| p.block_number),
        transaction_index: pos.map(|p| p.index),
        effective_gas_price: pos.map(|p| tx.effective_gas_price(p.base_fee)),
        block_timestamp: pos.map(|p| p.timestamp),
    }
}

pub(crate) fn logs(r: &StoredReceipt, tx_hash: B256, pos: Position) -> Vec<Log> {
    r.logs
        .iter()
        .enumerate()
        .map(|(i, l)| Log {
            inner: l.clone(),
            block_hash: Some(pos.block_hash),
            block_number: Some(pos.block_number),
            block_timestamp: Some(pos.timestamp),
            transaction_hash: Some(tx_hash),
            transaction_index: Some(pos.index),
            log_index: Some(r.first_log_index + i as u64),
            removed: false,
        })
        .collect()
}

pub(crate) fn receipt(r: &StoredReceipt, tx_hash: B256, pos: Position) -> TransactionReceipt {
    let bloom = r.envelope().logs_bloom().to_owned();
    let with_bloom = ReceiptWithBloom {
        receipt: Receipt {
            status: Eip658Value::Eip658(r.success),
            cumulative_gas_used: r.cumulative_gas_used,
            logs: logs(r, tx_hash, pos),
        },
        logs_bloom: bloom,
    };
    let inner = match TxType::try_from(r.tx_type).unwrap_or(TxType::Legacy) {
        TxType::Legacy => ReceiptEnvelope::Legacy(with_bloom),
        TxType::Eip2930 => ReceiptEnvelope::Eip2930(with_bloom),
        TxType::Eip1559 => ReceiptEnvelope::Eip1559(with_bloom),
        TxType::Eip4844 => ReceiptEnvelope::Eip4844(with_bloom),
        TxType::Eip7702 => ReceiptEnvelope::Eip7702(with_bloom),
    };
    TransactionReceipt {
        inner,
        transaction_hash: tx_hash,
        transaction_index: Some(pos.index),
        block_hash: Some(pos.block_hash),
        block_number: Some(pos.block_number),
        gas_used: r.gas_used,
        effective_gas_price: r.effective_gas_price,
        blob_gas_used: None,
        blob_gas_price: None,
        from: r.from,
        to: r.to(),
        contract_address: r.contract_address(),
    }
}

pub(crate) fn block(h: &SealedHeader, txs: &[RecoveredTx], full: bool) -> Block {
    let transactions = if full {
        BlockTransactions::Full(
            txs.iter()
                .enumerate()
                .map(|(i, t)| transaction(t, Some(Position::of(h, i as u64))))
                .collect(),
        )
    } else {
        BlockTransactions::Hashes(
            txs.iter()
                .map(txnchain_primitives::RecoveredTx::hash)
                .collect(),
        )
    };
    Block {
        header: header(h),
        uncles: vec![],
        transactions,
        withdrawals: Some(Default::default()),
    }
}
