//! Types shared by every TxnChain crate: the chain specification (chain id, pinned fork
//! schedule, fees, limits), geth-style genesis handling, the dev accounts, and the block,
//! transaction and receipt types that flow through the pipeline
//! (mempool → builder → log → apply → notification).
//!
//! Nothing here does I/O; everything is deterministic so that every node derives the same
//! values from the same inputs.

pub mod block;
pub mod chain;
pub mod dev;
pub mod error;
pub mod genesis;
pub mod receipt;
pub mod rejection;
pub mod tx;

pub use alloy_consensus::Header;
pub use alloy_primitives::{Address, B256, Bloom, Bytes, U256, keccak256};
pub use block::{SealedBlock, SealedHeader};
pub use chain::{ChainSpec, Fork, ForkSchedule};
pub use error::PrimitivesError;
pub use genesis::{GenesisAccount, GenesisConfig};
pub use receipt::{StoredLog, StoredReceipt};
pub use rejection::TxRejection;
pub use tx::RecoveredTx;
