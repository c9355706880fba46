//! The write path and the read side of a TxnChain node.
//!
//! ```text
//! submit ─► Mempool ─► Builder (execute on an overlay, seal) ─► BlockLog::append
//!                                                                   │ committed
//!                     notify ◄─ Ledger::apply_committed (ONE write) ◄┘
//! ```
//!
//! - [`mempool`]: admission with geth's checks and messages, per-sender nonce ordering,
//!   fee-bump replacement, limits and eviction; a transaction leaves only when its block
//!   commits.
//! - [`builder`]: cuts blocks when there is work, executes them on an overlay and hands the
//!   sealed block to the log as a [`Proposal`], which carries the outcome so apply reuses it.
//! - [`pipeline`]: the [`BlockLog`] seam consensus implements; [`Ledger::apply_proposal`]
//!   (a block this node built) and [`Ledger::apply_committed`] (a block from elsewhere:
//!   re-executed, every root compared). Notifications fire only from apply.
//! - `opener`: admitted envelopes opened ahead of the block path on their own thread, for
//!   the builder's execution to take (see [`Ledger::with_network_keys`]).
//! - [`clock`]: the timestamps blocks get (shifted by time travel in `dev`); [`mining`]: when
//!   blocks are cut in `dev` (automine, manual `evm_mine`).
//! - [`reader`]: the read side, [`Ledger::reader`] — one snapshot for the RPC, REST and the
//!   x402 adapter, with the confidentiality policy hook on every state read.

pub mod admission;
pub mod builder;
pub mod clock;
mod error;
pub mod genesis;
pub mod mempool;
pub mod mining;
mod opener;
pub mod pipeline;
pub mod reader;
pub mod receipts;
pub mod savepoints;
pub mod status;

pub use builder::{BlockMode, Builder};
pub use clock::BlockClock;
pub use error::LedgerError;
pub use mempool::{Mempool, PoolLimits};
pub use mining::{MiningControl, MiningMode, StatePatch};
pub use pipeline::{ApplyCounts, ApplyStats, BlockLog, CommittedBlock, Ledger, LocalLog, Proposal};
pub use reader::LedgerReader;
