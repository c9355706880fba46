// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// A limit order, signed by its trader with EIP-712 under the domain
/// {name: "Pixie DEX", version: "1", chainId, verifyingContract: the exchange}.
/// `price` is in ticks, `lots` in lots (see `Market`); the order may trade in batches that close
/// at a block timestamp <= `expiry`; `immediateOrCancel` orders take part in one batch only.
struct Order {
    address trader;
    uint32 market;
    bool buy;
    uint64 price;
    uint64 lots;
    uint64 expiry;
    uint64 clientId;
    uint64 nonce;
    bool immediateOrCancel;
}

/// A market: `lots * lotSize` base units trade at `lots * price * tickSize` quote units; each
/// side pays `feeBps` basis points of the quote amount to `feeRecipient`.
struct Market {
    uint32 id;
    address base;
    address quote;
    uint128 lotSize;
    uint128 tickSize;
    uint16 feeBps;
    address feeRecipient;
}

/// A trader's balance of one token held by the exchange.
struct Balance {
    uint128 free;
    uint128 locked;
}

/// An order in the book.
struct OpenOrder {
    bytes32 id;
    Order order;
    uint64 remaining;
    uint128 locked;
    uint64 batch;
}

/// One order's trade in one batch, at the batch's clearing price.
struct Fill {
    uint64 batch;
    uint32 market;
    bytes32 order;
    bool buy;
    uint64 price;
    uint64 lots;
    uint128 base;
    uint128 quote;
    uint128 fee;
}

/// A market's public result of one batch: every fill traded at `price` ticks.
struct Clearing {
    uint64 batch;
    uint64 closedAt;
    uint64 price;
    uint128 lots;
    uint128 baseVolume;
}

/// Pixie DEX, TxnChain's sealed-batch exchange (docs/pixie.md). The engine is native code inside
/// the node; this is its ABI, for viem, ethers and cast. Orders, balances, books and fills are
/// private: send orders in confidential envelopes and read your own state with signed queries
/// (an unsigned call runs as address zero and sees nothing). Per batch and market, only the
/// clearing price and volume are published.
interface IPixieDex {
    /// A market's batch cleared: every fill in it traded at `price` ticks, `baseVolume` base
    /// units in all. Published through the public-log precompile.
    event BatchCleared(uint32 indexed market, uint64 indexed batch, uint64 price, uint128 baseVolume);

    error UnknownMarket(uint32 market);
    error MarketExists(uint32 market);
    error InvalidMarket(string reason);
    error BadSignature();
    error WrongSigner(address recovered, address trader);
    error ZeroAmount();
    error TooLarge(uint64 lots, uint64 max);
    error Expired(uint64 expiry, uint64 blockTime);
    error NonceUsed(uint64 nonce);
    error AmountOverflow();
    error InsufficientBalance(address token, uint128 available, uint128 needed);
    error TooManyOrders(uint256 limit);
    error BookFull(uint256 limit);
    error UnknownOrder(bytes32 id);
    error StaticCall();

    /// Moves `amount` of `token` from the caller into the exchange (the caller has approved it)
    /// and credits the caller's free balance.
    function deposit(address token, uint256 amount) external;

    /// `deposit` with an EIP-2612 permit instead of an approval.
    function depositWithPermit(address token, uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external;

    /// Debits the caller's free balance and moves `amount` of `token` to the caller.
    function withdraw(address token, uint256 amount) external;

    /// Places a signed order into the current batch; anyone may submit it. Returns its id (the
    /// EIP-712 signing hash).
    function placeOrder(Order calldata order, bytes calldata signature) external returns (bytes32 id);

    /// Cancels one of the caller's open orders; what it locked becomes free.
    function cancelOrder(bytes32 id) external;

    /// Cancels the caller's open order with `nonce`, or, if none used it yet, uses the nonce so
    /// that an order signed with it can never be placed. True when an open order was cancelled.
    function cancelNonce(uint64 nonce) external returns (bool cancelledOpenOrder);

    /// The listed markets.
    function markets() external view returns (Market[] memory);

    /// The caller's balance of `token`.
    function balanceOf(address token) external view returns (Balance memory);

    /// The caller's open orders.
    function openOrders() external view returns (OpenOrder[] memory);

    /// The caller's most recent fills, oldest first.
    function fills() external view returns (Fill[] memory);

    /// Whether `nonce` of the caller is used.
    function nonceUsed(uint64 nonce) external view returns (bool);

    /// The batch orders go into now, whether it holds an order yet, and since when.
    function currentBatch() external view returns (uint64 batch, bool open, uint64 openedAt);

    /// A market's most recent clearings (the last 256), oldest first: the public history of its
    /// batches.
    function clearings(uint32 market) external view returns (Clearing[] memory);
}
