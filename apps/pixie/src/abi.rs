//! The exchange's Solidity ABI (`contracts/src/IPixieDex.sol`) and the dispatch of calls to it.
//!
//! The node calls [`execute`] for every call to the exchange's address, with the caller the EVM
//! sees (the envelope's or signed query's sender; zero for an unsigned call) and the block's
//! timestamp. A deposit or withdrawal also needs a token transfer, which only the EVM can make:
//! [`Executed::token_move`] names it, and the node must make it in the same frame and revert the
//! call — the engine's writes with it — if it fails. Refusals are the interface's custom errors,
//! so viem and ethers decode them; malformed calldata reverts with no data, like a Solidity
//! contract without a fallback.

use alloy_primitives::{Address, B256, LogData, U256};
use alloy_sol_types::{SolCall, SolError, SolEvent, SolInterface};

use crate::error::PixieError;
use crate::exchange::{BatchOutcome, Exchange, Fill, OpenOrder};
use crate::store::Slots;
use crate::{Market, Side};

alloy_sol_types::sol! {
    /// A limit order, signed by its trader with EIP-712 (see [`crate::order`]). `price` is in
    /// ticks, `lots` in lots; it may trade in batches that close at a timestamp `≤ expiry`
    /// (`type(uint64).max`: until cancelled); `immediateOrCancel` orders take part in one batch
    /// and never rest.
    #[derive(Debug, PartialEq, Eq)]
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

    /// A market as the ABI returns it.
    #[derive(Debug, PartialEq, Eq)]
    struct MarketInfo {
        uint32 id;
        address base;
        address quote;
        uint128 lotSize;
        uint128 tickSize;
        uint16 feeBps;
        address feeRecipient;
    }

    /// A balance as the ABI returns it.
    #[derive(Debug, PartialEq, Eq)]
    struct BalanceInfo {
        uint128 free;
        uint128 locked;
    }

    /// An open order as the ABI returns it.
    #[derive(Debug, PartialEq, Eq)]
    struct OpenOrderInfo {
        bytes32 id;
        Order order;
        uint64 remaining;
        uint128 locked;
        uint64 batch;
    }

    /// A fill as the ABI returns it.
    #[derive(Debug, PartialEq, Eq)]
    struct FillInfo {
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

    /// A market's public result of one batch.
    #[derive(Debug, PartialEq, Eq)]
    struct ClearingInfo {
        uint64 batch;
        uint64 closedAt;
        uint64 price;
        uint128 lots;
        uint128 baseVolume;
    }

    /// The exchange's interface (the Solidity file names the structs `Market`, `Balance`,
    /// `OpenOrder`, `Fill` and `Clearing`; the ABI is the same).
    #[derive(Debug, PartialEq, Eq)]
    interface IPixieDex {
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

        function deposit(address token, uint256 amount) external;
        function depositWithPermit(address token, uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external;
        function withdraw(address token, uint256 amount) external;
        function placeOrder(Order calldata order, bytes calldata signature) external returns (bytes32 id);
        function cancelOrder(bytes32 id) external;
        function cancelNonce(uint64 nonce) external returns (bool cancelledOpenOrder);
        function markets() external view returns (MarketInfo[] memory);
        function balanceOf(address token) external view returns (BalanceInfo memory);
        function openOrders() external view returns (OpenOrderInfo[] memory);
        function fills() external view returns (FillInfo[] memory);
        function nonceUsed(uint64 nonce) external view returns (bool);
        function currentBatch() external view returns (uint64 batch, bool open, uint64 openedAt);
        function clearings(uint32 market) external view returns (ClearingInfo[] memory);
    }
}

use IPixieDex::IPixieDexCalls as Call;

/// An EIP-2612 permit to use before pulling a deposit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permit {
    /// The permit's deadline.
    pub deadline: U256,
    /// Signature `v`.
    pub v: u8,
    /// Signature `r`.
    pub r: B256,
    /// Signature `s`.
    pub s: B256,
}

/// A token transfer the node must make for a call, in the same frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenMove {
    /// `token.transferFrom(from, exchange, amount)`, after `token.permit(from, exchange,
    /// amount, deadline, v, r, s)` when a permit is given.
    Pull {
        /// The token.
        token: Address,
        /// The depositor.
        from: Address,
        /// How much.
        amount: U256,
        /// The permit, for `depositWithPermit`.
        permit: Option<Permit>,
    },
    /// `token.transfer(to, amount)` from the exchange.
    Push {
        /// The token.
        token: Address,
        /// The withdrawer.
        to: Address,
        /// How much.
        amount: U256,
    },
}

/// What a call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    /// The ABI-encoded return data.
    pub output: Vec<u8>,
    /// The transfer the node must make (deposits and withdrawals).
    pub token_move: Option<TokenMove>,
}

/// Why a call did not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The call reverts with this data (a custom error of the interface, or nothing for
    /// calldata that is not a call of it). Nothing was written.
    Revert(Vec<u8>),
    /// The storage underneath failed or holds what the engine never writes: the node must
    /// fail the frame (and, for corruption, raise the alarm).
    Fault(PixieError),
}

impl From<PixieError> for Failure {
    fn from(error: PixieError) -> Self {
        revert_data(&error).map_or(Self::Fault(error), Self::Revert)
    }
}

/// The custom error a refusal reverts with; `None` for storage faults.
pub fn revert_data(error: &PixieError) -> Option<Vec<u8>> {
    use IPixieDex as I;
    let data = match *error {
        PixieError::UnknownMarket(market) => I::UnknownMarket { market }.abi_encode(),
        PixieError::MarketExists(market) => I::MarketExists { market }.abi_encode(),
        PixieError::InvalidMarket(reason) => I::InvalidMarket {
            reason: reason.to_owned(),
        }
        .abi_encode(),
        PixieError::BadSignature => I::BadSignature {}.abi_encode(),
        PixieError::WrongSigner { recovered, trader } => {
            I::WrongSigner { recovered, trader }.abi_encode()
        }
        PixieError::ZeroAmount | PixieError::ZeroDeposit => I::ZeroAmount {}.abi_encode(),
        PixieError::TooLarge { lots, max } => I::TooLarge { lots, max }.abi_encode(),
        PixieError::Expired { expiry, now } => I::Expired {
            expiry,
            blockTime: now,
        }
        .abi_encode(),
        PixieError::NonceUsed(nonce) => I::NonceUsed { nonce }.abi_encode(),
        PixieError::Overflow => I::AmountOverflow {}.abi_encode(),
        PixieError::InsufficientBalance {
            token,
            available,
            needed,
        } => I::InsufficientBalance {
            token,
            available,
            needed,
        }
        .abi_encode(),
        PixieError::TooManyOrders(limit) => I::TooManyOrders {
            limit: U256::from(limit),
        }
        .abi_encode(),
        PixieError::BookFull(limit) => I::BookFull {
            limit: U256::from(limit),
        }
        .abi_encode(),
        PixieError::UnknownOrder(id) => I::UnknownOrder { id }.abi_encode(),
        PixieError::Store(_) | PixieError::Corrupt(_) => return None,
    };
    Some(data)
}

/// Runs one call to the exchange from `caller` at block time `now`. In a static call
/// (`STATICCALL`, `eth_call` of a view) the state-changing functions revert with
/// `StaticCall()`.
pub fn execute<S: Slots>(
    ex: &mut Exchange<S>,
    caller: Address,
    calldata: &[u8],
    now: u64,
    is_static: bool,
) -> Result<Executed, Failure> {
    let Ok(call) = Call::abi_decode_validate(calldata) else {
        return Err(Failure::Revert(Vec::new()));
    };
    let writes = matches!(
        call,
        Call::deposit(_)
            | Call::depositWithPermit(_)
            | Call::withdraw(_)
            | Call::placeOrder(_)
            | Call::cancelOrder(_)
            | Call::cancelNonce(_)
    );
    if writes && is_static {
        return Err(Failure::Revert(IPixieDex::StaticCall {}.abi_encode()));
    }
    let returned = |output: Vec<u8>| Executed {
        output,
        token_move: None,
    };
    Ok(match call {
        Call::deposit(c) => {
            ex.deposit(caller, c.token, amount(c.amount)?)?;
            Executed {
                output: Vec::new(),
                token_move: Some(TokenMove::Pull {
                    token: c.token,
                    from: caller,
                    amount: c.amount,
                    permit: None,
                }),
            }
        }
        Call::depositWithPermit(c) => {
            ex.deposit(caller, c.token, amount(c.amount)?)?;
            Executed {
                output: Vec::new(),
                token_move: Some(TokenMove::Pull {
                    token: c.token,
                    from: caller,
                    amount: c.amount,
                    permit: Some(Permit {
                        deadline: c.deadline,
                        v: c.v,
                        r: c.r,
                        s: c.s,
                    }),
                }),
            }
        }
        Call::withdraw(c) => {
            ex.withdraw(caller, c.token, amount(c.amount)?)?;
            Executed {
                output: Vec::new(),
                token_move: Some(TokenMove::Push {
                    token: c.token,
                    to: caller,
                    amount: c.amount,
                }),
            }
        }
        Call::placeOrder(c) => {
            let id = ex.place(c.order, &c.signature, now)?;
            returned(IPixieDex::placeOrderCall::abi_encode_returns(&id))
        }
        Call::cancelOrder(c) => {
            ex.cancel(caller, c.id)?;
            returned(Vec::new())
        }
        Call::cancelNonce(c) => {
            let cancelled = matches!(
                ex.cancel_nonce(caller, c.nonce)?,
                crate::NonceCancel::Cancelled(_)
            );
            returned(IPixieDex::cancelNonceCall::abi_encode_returns(&cancelled))
        }
        Call::markets(_) => {
            let markets: Vec<MarketInfo> = ex.markets()?.iter().map(market_info).collect();
            returned(IPixieDex::marketsCall::abi_encode_returns(&markets))
        }
        Call::balanceOf(c) => {
            let b = ex.balance(caller, c.token)?;
            let info = BalanceInfo {
                free: b.free,
                locked: b.locked,
            };
            returned(IPixieDex::balanceOfCall::abi_encode_returns(&info))
        }
        Call::openOrders(_) => {
            let orders: Vec<OpenOrderInfo> =
                ex.open_orders(caller)?.into_iter().map(open_info).collect();
            returned(IPixieDex::openOrdersCall::abi_encode_returns(&orders))
        }
        Call::fills(_) => {
            let fills: Vec<FillInfo> = ex.fills(caller)?.iter().map(fill_info).collect();
            returned(IPixieDex::fillsCall::abi_encode_returns(&fills))
        }
        Call::nonceUsed(c) => {
            let used = ex.nonce_used(caller, c.nonce)?;
            returned(IPixieDex::nonceUsedCall::abi_encode_returns(&used))
        }
        Call::clearings(c) => {
            let records: Vec<ClearingInfo> = ex
                .clearings(c.market)?
                .iter()
                .map(|r| ClearingInfo {
                    batch: r.batch,
                    closedAt: r.closed_at,
                    price: r.price,
                    lots: r.lots,
                    baseVolume: r.base_volume,
                })
                .collect();
            returned(IPixieDex::clearingsCall::abi_encode_returns(&records))
        }
        Call::currentBatch(_) => {
            let batch = ex.current_batch()?;
            let opened = ex.batch_opened_at()?;
            let r = IPixieDex::currentBatchReturn {
                batch,
                open: opened.is_some(),
                openedAt: opened.unwrap_or(0),
            };
            returned(IPixieDex::currentBatchCall::abi_encode_returns(&r))
        }
    })
}

/// The public `BatchCleared` log of every market a batch close cleared, in market order.
pub fn batch_cleared_logs(outcome: &BatchOutcome) -> Vec<LogData> {
    outcome
        .cleared
        .iter()
        .map(|c| {
            IPixieDex::BatchCleared {
                market: c.market,
                batch: outcome.batch,
                price: c.price,
                baseVolume: c.base_volume,
            }
            .encode_log_data()
        })
        .collect()
}

fn amount(value: U256) -> Result<u128, PixieError> {
    u128::try_from(value).map_err(|_| PixieError::Overflow)
}

fn market_info(m: &Market) -> MarketInfo {
    MarketInfo {
        id: m.id,
        base: m.base,
        quote: m.quote,
        lotSize: m.lot_size,
        tickSize: m.tick_size,
        feeBps: m.fee_bps,
        feeRecipient: m.fee_recipient,
    }
}

fn open_info(o: OpenOrder) -> OpenOrderInfo {
    OpenOrderInfo {
        id: o.id,
        order: o.order,
        remaining: o.remaining,
        locked: o.locked,
        batch: o.batch,
    }
}

fn fill_info(f: &Fill) -> FillInfo {
    FillInfo {
        batch: f.batch,
        market: f.market,
        order: f.order,
        buy: f.side == Side::Buy,
        price: f.price,
        lots: f.lots,
        base: f.base,
        quote: f.quote,
        fee: f.fee,
    }
}
