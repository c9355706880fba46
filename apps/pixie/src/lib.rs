//! The Pixie DEX trade engine: TxnChain's sealed-batch exchange, native code that runs inside
//! the node (the TEE) as part of block execution.
//!
//! This crate owns the exchange's rules and nothing else: markets ([`Market`]), EIP-712 signed
//! limit orders ([`Order`]) and their verification, the traders' private balances, the books,
//! and the close of a sealed batch, where every market is cleared as a uniform-price call
//! auction ([`auction`]) and settled atomically. It does no I/O: the node hands it operations
//! in ledger order with the block's timestamp, and the state lives in the exchange account's
//! confidential storage slots ([`store`]). Given the same operations it reaches the same state on every replica.
//!
//! ```text
//! deposit / withdraw ─┐
//! place (signed)     ─┼─► Exchange ──end_of_block(ts)──► BatchOutcome { price, volume, fills }
//! cancel             ─┘
//! ```

pub mod auction;
mod error;
pub mod exchange;
pub mod order;
pub mod store;

pub use auction::Side;
pub use error::PixieError;
pub use exchange::{
    Balance, BatchOutcome, BooksMismatch, Config, Exchange, Fill, Limits, MarketClearing,
    NonceCancel, OpenOrder,
};
pub use order::{Market, Order};
pub use store::{MemorySlots, Slots, StoreError};
