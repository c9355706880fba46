//! Sealed blocks: an Ethereum-shaped header plus its transactions, as appended to the log.

use alloy_consensus::Header;
use alloy_primitives::B256;
use alloy_rlp::Encodable;

use crate::RecoveredTx;

/// A header together with its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedHeader {
    /// The header.
    pub header: Header,
    /// keccak256 of the header's RLP encoding.
    pub hash: B256,
}

impl SealedHeader {
    /// Seals a header by hashing it.
    pub fn seal(header: Header) -> Self {
        let hash = header.hash_slow();
        SealedHeader { header, hash }
    }

    /// The header's RLP encoding.
    pub fn rlp(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(600);
        self.header.encode(&mut out);
        out
    }
}

/// A block as the builder seals it and the log carries it: complete header and transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedBlock {
    /// The sealed header.
    pub header: SealedHeader,
    /// The transactions in execution order.
    pub transactions: Vec<RecoveredTx>,
}

impl SealedBlock {
    /// The block number.
    pub fn number(&self) -> u64 {
        self.header.header.number
    }

    /// The block hash.
    pub fn hash(&self) -> B256 {
        self.header.hash
    }
}
