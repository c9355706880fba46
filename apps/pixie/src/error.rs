//! Why the engine refused an operation. A refused operation changes nothing.

use alloy_primitives::{Address, B256};

/// Why the engine refused an operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PixieError {
    /// No market has this number.
    #[error("unknown market {0}")]
    UnknownMarket(u32),
    /// A market with this number is already listed.
    #[error("market {0} is already listed")]
    MarketExists(u32),
    /// The market's parameters are not acceptable.
    #[error("invalid market: {0}")]
    InvalidMarket(&'static str),
    /// The signature is not a valid 65-byte secp256k1 signature.
    #[error("invalid order signature")]
    BadSignature,
    /// The order was signed by someone else than its trader.
    #[error("order signed by {recovered}, not by its trader {trader}")]
    WrongSigner {
        /// Who signed it.
        recovered: Address,
        /// Whom the order names.
        trader: Address,
    },
    /// Price or lots is zero.
    #[error("price and lots must be positive")]
    ZeroAmount,
    /// The order is above the market's size limit.
    #[error("order of {lots} lots is above the limit of {max}")]
    TooLarge {
        /// The order's lots.
        lots: u64,
        /// The limit.
        max: u64,
    },
    /// The order's expiry is not after the block's timestamp.
    #[error("order expired at {expiry} (block time {now})")]
    Expired {
        /// The order's expiry.
        expiry: u64,
        /// The block's timestamp.
        now: u64,
    },
    /// The trader already used this nonce (an order, or a cancel by nonce).
    #[error("nonce {0} already used")]
    NonceUsed(u64),
    /// The order's value does not fit the engine's 128-bit amounts.
    #[error("amount overflows")]
    Overflow,
    /// The trader's free balance does not cover what the operation needs.
    #[error("insufficient free balance of {token}: {available} available, {needed} needed")]
    InsufficientBalance {
        /// The token.
        token: Address,
        /// The free balance.
        available: u128,
        /// What the operation needs.
        needed: u128,
    },
    /// The trader has as many open orders as allowed.
    #[error("too many open orders for this trader (limit {0})")]
    TooManyOrders(usize),
    /// The market's book is full.
    #[error("the market's book is full (limit {0})")]
    BookFull(usize),
    /// No open order has this identifier, or it belongs to someone else.
    #[error("no open order {0} of this trader")]
    UnknownOrder(B256),
    /// The amount is zero.
    #[error("amount must be positive")]
    ZeroDeposit,
    /// The slots underneath failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The stored state is not one the engine writes.
    #[error("exchange state is corrupt: {0}")]
    Corrupt(&'static str),
}
