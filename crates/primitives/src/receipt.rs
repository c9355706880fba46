//! Receipts as stored: the consensus receipt plus the fields RPC needs.

use alloy_consensus::{Eip658Value, Receipt, ReceiptEnvelope, ReceiptWithBloom, TxType};
use alloy_primitives::{Address, B256, Bytes, Log};
use alloy_rlp::{RlpDecodable, RlpEncodable};

/// A log as stored (address, topics, data).
pub type StoredLog = Log;

/// A receipt with everything `eth_getTransactionReceipt` returns apart from block fields.
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct StoredReceipt {
    /// EIP-2718 transaction type.
    pub tx_type: u8,
    /// Whether execution succeeded.
    pub success: bool,
    /// Gas used by this and all earlier transactions in the block.
    pub cumulative_gas_used: u64,
    /// Gas used by this transaction.
    pub gas_used: u64,
    /// Price paid per gas.
    pub effective_gas_price: u128,
    /// The sender.
    pub from: Address,
    /// The recipient; empty for contract creation.
    pub to: Bytes,
    /// The created contract's address; empty otherwise.
    pub contract_address: Bytes,
    /// Emitted logs.
    pub logs: Vec<Log>,
    /// Index of this transaction's first log within the block.
    pub first_log_index: u64,
}

impl StoredReceipt {
    /// The recipient, `None` for contract creation.
    pub fn to(&self) -> Option<Address> {
        (self.to.len() == 20).then(|| Address::from_slice(&self.to))
    }

    /// The created contract, if any.
    pub fn contract_address(&self) -> Option<Address> {
        (self.contract_address.len() == 20).then(|| Address::from_slice(&self.contract_address))
    }

    /// The consensus receipt envelope, as committed to by `receiptsRoot`.
    pub fn envelope(&self) -> ReceiptEnvelope {
        let receipt = Receipt {
            status: Eip658Value::Eip658(self.success),
            cumulative_gas_used: self.cumulative_gas_used,
            logs: self.logs.clone(),
        };
        let with_bloom = ReceiptWithBloom::from(receipt);
        match TxType::try_from(self.tx_type).unwrap_or(TxType::Legacy) {
            TxType::Legacy => ReceiptEnvelope::Legacy(with_bloom),
            TxType::Eip2930 => ReceiptEnvelope::Eip2930(with_bloom),
            TxType::Eip1559 => ReceiptEnvelope::Eip1559(with_bloom),
            TxType::Eip4844 => ReceiptEnvelope::Eip4844(with_bloom),
            TxType::Eip7702 => ReceiptEnvelope::Eip7702(with_bloom),
        }
    }

    /// Hash of the receipt's EIP-2718 encoding.
    pub fn hash(&self) -> B256 {
        use alloy_eips::Encodable2718;
        alloy_primitives::keccak256(self.envelope().encoded_2718())
    }
}
