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

pub mod abi;
pub mod auction;
mod error;
pub mod exchange;
pub mod order;
pub mod store;

pub use auction::Side;
pub use error::PixieError;
pub use exchange::{
    Balance, BatchOutcome, BooksMismatch, CLEARING_HISTORY, ClearingRecord, Config, Exchange, Fill,
    Limits, MarketClearing, NonceCancel, OpenOrder,
};
pub use order::{Market, Order};
pub use store::{MemorySlots, Slots, StoreError};

/// The harness of the `pixie_call` fuzz target: calldata from the network, as the exchange
/// receives it in (enveloped) transactions and calls.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    use alloy_primitives::{Address, address};

    use crate::abi::{Failure, execute};
    use crate::{Config, Exchange, Limits, Market, MemorySlots};

    /// The block time of the harness's first block.
    pub const T0: u64 = 1_000_000;

    /// The harness's callers: the addresses of the keys `0x42 00…00 n` for `n` = 1, 2, 3 (the
    /// seeds' orders are signed with them), then address zero (an unsigned call).
    pub const CALLERS: [Address; 4] = [
        address!("8572fd50e802852cd896132AeA562A7e3fd55299"),
        address!("599148c2B8D2AC2aFD2e6C40a24F745d30Bf35c7"),
        address!("902bdd50e3A5773383cEf10cF0b928916112E39f"),
        Address::ZERO,
    ];

    /// A market's tokens and fee recipient in the harness.
    pub const BASE: Address = Address::new([0xbb; 20]);
    /// The quote token.
    pub const QUOTE: Address = Address::new([0xcc; 20]);
    /// The fee recipient.
    pub const FEES: Address = Address::new([0xfe; 20]);

    /// The exchange the harness starts from: market 1 (lot 1,000, tick 10, 30 bps) and every
    /// caller funded with both tokens.
    pub fn exchange(callers: &[Address]) -> Exchange<MemorySlots> {
        let mut ex = Exchange::new(
            Config {
                chain_id: 424_242,
                exchange: Address::new([0x0c; 20]),
                batch_interval: 1,
                limits: Limits {
                    max_orders_per_trader: 8,
                    max_orders_per_market: 32,
                    fill_history: 4,
                    ..Limits::default()
                },
            },
            MemorySlots::default(),
        );
        let listed = ex.list_market(Market {
            id: 1,
            base: BASE,
            quote: QUOTE,
            lot_size: 1_000,
            tick_size: 10,
            fee_bps: 30,
            fee_recipient: FEES,
        });
        assert!(listed.is_ok());
        for &who in callers {
            assert!(ex.deposit(who, BASE, 1_000_000).is_ok());
            assert!(ex.deposit(who, QUOTE, 10_000_000).is_ok());
        }
        ex
    }

    /// Runs `data` as a sequence of calls, each `caller u8 ‖ flags u8 ‖ len u16 ‖ calldata`
    /// (flags: 1 static, 2 end the block after it, which advances the clock a second), at most
    /// 32 of them. Panics if the engine faults, if a refused call changed anything, or if the
    /// books stop agreeing.
    pub fn calls(data: &[u8], callers: &[Address]) {
        let mut ex = exchange(callers);
        let mut parties = callers.to_vec();
        parties.push(FEES);
        let mut now = T0;
        let mut rest = data;
        for _ in 0..32 {
            let [who, flags, hi, lo, tail @ ..] = rest else {
                break;
            };
            let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
            let (calldata, next) = tail.split_at(len);
            rest = next;
            let caller = callers
                .get(usize::from(*who) % callers.len().max(1))
                .copied()
                .unwrap_or(Address::ZERO);
            let before = ex.clone();
            match execute(&mut ex, caller, calldata, now, flags & 1 != 0) {
                Ok(_) => {}
                Err(Failure::Revert(_)) => assert!(ex == before, "a refused call wrote"),
                Err(Failure::Fault(e)) => panic!("engine fault: {e}"),
            }
            if flags & 2 != 0 {
                now += 1;
                assert!(ex.end_of_block(now).is_ok(), "batch close failed");
            }
            if let Err(e) = ex.verify_books(&parties) {
                panic!("books disagree: {e}");
            }
        }
    }
}
