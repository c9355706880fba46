//! The chain specification: chain id, the pinned hard-fork schedule, fee and block limits.
//!
//! The fork is never "whatever this binary's revm supports": genesis names the fork active at
//! block 0 and the block heights at which later forks activate.

use alloy_primitives::Address;
use serde::{Deserialize, Serialize};

use crate::PrimitivesError;

/// A hard fork TxnChain can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fork {
    /// Prague (Pectra): EIP-7702, EIP-7623 floor data gas, EIP-2537 BLS precompiles.
    Prague,
    /// Osaka (Fusaka): EIP-7825 transaction gas cap (2^24), EIP-7823/7883 modexp changes, CLZ.
    Osaka,
}

impl Fork {
    /// Parses a fork name as written in genesis or on the command line.
    pub fn parse(name: &str) -> Result<Self, PrimitivesError> {
        match name.to_ascii_lowercase().as_str() {
            "prague" => Ok(Fork::Prague),
            "osaka" => Ok(Fork::Osaka),
            other => Err(PrimitivesError::UnknownFork(other.to_string())),
        }
    }

    /// The per-transaction gas cap this fork imposes (EIP-7825 from Osaka), if any.
    pub fn tx_gas_limit_cap(self) -> Option<u64> {
        match self {
            Fork::Prague => None,
            Fork::Osaka => Some(1 << 24),
        }
    }

    /// Whether EIP-7623 (floor data gas) applies.
    pub fn has_floor_data_gas(self) -> bool {
        true
    }
}

/// Fork activation by block number. The first entry must activate at block 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkSchedule(pub Vec<(Fork, u64)>);

impl Default for ForkSchedule {
    fn default() -> Self {
        ForkSchedule(vec![(Fork::Prague, 0)])
    }
}

impl ForkSchedule {
    /// Builds a schedule, checking that it starts at block 0 and is ordered.
    pub fn new(mut entries: Vec<(Fork, u64)>) -> Result<Self, PrimitivesError> {
        entries.sort();
        match entries.first() {
            Some((_, 0)) => {}
            _ => {
                return Err(PrimitivesError::Genesis(
                    "the fork schedule must start at block 0".into(),
                ));
            }
        }
        if entries.windows(2).any(|w| w[0].1 > w[1].1) {
            return Err(PrimitivesError::Genesis(
                "later forks must activate at later blocks".into(),
            ));
        }
        Ok(ForkSchedule(entries))
    }

    /// The fork active at `block`.
    pub fn at(&self, block: u64) -> Fork {
        self.0
            .iter()
            .rev()
            .find(|(_, at)| *at <= block)
            .map_or(Fork::Prague, |(f, _)| *f)
    }
}

/// Everything about the chain that every node must agree on, plus local limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainSpec {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Pinned fork schedule.
    pub forks: ForkSchedule,
    /// Fixed base fee per gas, in wei.
    pub base_fee: u64,
    /// Block gas limit.
    pub block_gas_limit: u64,
    /// Maximum number of transactions in one block.
    pub max_block_txs: usize,
    /// Receives the fees of every block.
    pub beneficiary: Address,
    /// Length of a confidential key epoch in seconds (`config.txnchain.confidential.
    /// epochSeconds`): the epoch of a block is `floor(timestamp / epoch_seconds)`.
    #[serde(default = "default_epoch_seconds")]
    pub epoch_seconds: u64,
}

fn default_epoch_seconds() -> u64 {
    DEFAULT_EPOCH_SECONDS
}

/// Default key epoch: one day.
pub const DEFAULT_EPOCH_SECONDS: u64 = 86_400;

/// Default chain id of a dev chain.
pub const DEV_CHAIN_ID: u64 = 424242;
/// Default fixed base fee: 1 gwei.
pub const DEFAULT_BASE_FEE: u64 = 1_000_000_000;
/// Default block gas limit: 60M.
pub const DEFAULT_BLOCK_GAS_LIMIT: u64 = 60_000_000;
/// Default cap on transactions per block.
pub const DEFAULT_MAX_BLOCK_TXS: usize = 10_000;

impl Default for ChainSpec {
    fn default() -> Self {
        ChainSpec {
            chain_id: DEV_CHAIN_ID,
            forks: ForkSchedule::default(),
            base_fee: DEFAULT_BASE_FEE,
            block_gas_limit: DEFAULT_BLOCK_GAS_LIMIT,
            epoch_seconds: DEFAULT_EPOCH_SECONDS,
            max_block_txs: DEFAULT_MAX_BLOCK_TXS,
            beneficiary: Address::ZERO,
        }
    }
}

impl ChainSpec {
    /// The key epoch of a block with `timestamp`.
    pub fn epoch_at(&self, timestamp: u64) -> u64 {
        timestamp / self.epoch_seconds.max(1)
    }

    /// The fork active at `block`.
    pub fn fork_at(&self, block: u64) -> Fork {
        self.forks.at(block)
    }

    /// The largest gas limit one transaction may use at `block`.
    pub fn max_tx_gas(&self, block: u64) -> u64 {
        match self.fork_at(block).tx_gas_limit_cap() {
            Some(cap) => cap.min(self.block_gas_limit),
            None => self.block_gas_limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_picks_latest_active_fork() {
        let s = ForkSchedule::new(vec![(Fork::Osaka, 10), (Fork::Prague, 0)]).unwrap();
        assert_eq!(s.at(0), Fork::Prague);
        assert_eq!(s.at(9), Fork::Prague);
        assert_eq!(s.at(10), Fork::Osaka);
        assert_eq!(s.at(1_000), Fork::Osaka);
    }

    #[test]
    fn schedule_must_start_at_zero() {
        assert!(ForkSchedule::new(vec![(Fork::Prague, 5)]).is_err());
        assert!(Fork::parse("cancun").is_err());
    }

    #[test]
    fn osaka_caps_transaction_gas() {
        let mut spec = ChainSpec::default();
        assert_eq!(spec.max_tx_gas(0), DEFAULT_BLOCK_GAS_LIMIT);
        spec.forks = ForkSchedule::new(vec![(Fork::Osaka, 0)]).unwrap();
        assert_eq!(spec.max_tx_gas(0), 1 << 24);
    }
}
