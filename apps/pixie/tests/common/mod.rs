//! Traders with real keys, a dev-like market, and order signing for the engine's tests.

#![allow(dead_code, unreachable_pub)]

use std::ops::{Deref, DerefMut};

use alloy_primitives::{Address, B256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use txnchain_pixie::{
    Balance, BatchOutcome, Config, Exchange, Fill, Limits, Market, MemorySlots, OpenOrder, Order,
    Slots, StoreError, order,
};

pub const CHAIN_ID: u64 = 424_242;
pub const EXCHANGE: Address = Address::new([0x0c; 20]);
pub const BASE: Address = Address::new([0xbb; 20]);
pub const QUOTE: Address = Address::new([0xcc; 20]);
pub const FEES: Address = Address::new([0xfe; 20]);
/// Market 2's base token and fee recipient (the property tests' second market).
pub const BASE2: Address = Address::new([0xb2; 20]);
pub const FEES2: Address = Address::new([0xf2; 20]);
/// Base units per lot.
pub const LOT: u128 = 1_000;
/// Quote units per lot per tick.
pub const TICK: u128 = 10;
/// A block time before every expiry.
pub const T0: u64 = 1_000_000;

pub fn trader(n: u8) -> PrivateKeySigner {
    let mut key = [0u8; 32];
    key[31] = n;
    key[0] = 0x42;
    PrivateKeySigner::from_bytes(&B256::from(key)).unwrap()
}

/// Every party the tests use: traders 1..=9 and the fee recipient.
pub fn parties() -> Vec<Address> {
    let mut all: Vec<Address> = (1..=9).map(|n| trader(n).address()).collect();
    all.push(FEES);
    all.push(FEES2);
    all
}

/// Reads of a state in memory without a mutable borrow (writes are refused).
pub struct Frozen<'a>(&'a MemorySlots);

impl Slots for Frozen<'_> {
    fn load(&mut self, slot: B256) -> Result<B256, StoreError> {
        Ok(self.0.get(slot))
    }

    fn store(&mut self, _: B256, _: B256) -> Result<(), StoreError> {
        Err(StoreError("frozen".into()))
    }
}

/// An exchange in memory whose reads answer plain values (the tests' view of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ex(pub Exchange<MemorySlots>);

impl Deref for Ex {
    type Target = Exchange<MemorySlots>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for Ex {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Ex {
    fn frozen(&self) -> Exchange<Frozen<'_>> {
        Exchange::new(self.0.config().clone(), Frozen(self.0.slots()))
    }

    pub fn balance(&self, trader: Address, token: Address) -> Balance {
        self.frozen().balance(trader, token).unwrap()
    }

    pub fn total(&self, token: Address) -> u128 {
        self.frozen().total(token).unwrap()
    }

    pub fn open_orders(&self, trader: Address) -> Vec<OpenOrder> {
        self.frozen().open_orders(trader).unwrap()
    }

    pub fn order(&self, id: &B256) -> Option<OpenOrder> {
        self.frozen().order(id).unwrap()
    }

    pub fn fills(&self, trader: Address) -> Vec<Fill> {
        self.frozen().fills(trader).unwrap()
    }

    pub fn market(&self, id: u32) -> Option<Market> {
        self.frozen().market(id).unwrap()
    }

    pub fn clearings(&self, market: u32) -> Vec<txnchain_pixie::ClearingRecord> {
        self.frozen().clearings(market).unwrap()
    }

    pub fn current_batch(&self) -> u64 {
        self.frozen().current_batch().unwrap()
    }

    pub fn batch_opened_at(&self) -> Option<u64> {
        self.frozen().batch_opened_at().unwrap()
    }

    pub fn end_of_block(&mut self, timestamp: u64) -> Option<BatchOutcome> {
        self.0.end_of_block(timestamp).unwrap()
    }

    /// The books agree for every party the tests use.
    pub fn verify_books(&self) -> Result<(), txnchain_pixie::BooksMismatch> {
        self.frozen().verify_books(&parties())
    }

    /// What a trader or an auditor can observe, independent of how the lists are ordered.
    pub fn observable(&self) -> Vec<String> {
        let mut out = vec![format!(
            "batch {} {:?}",
            self.current_batch(),
            self.batch_opened_at()
        )];
        for p in parties() {
            for token in [BASE, QUOTE] {
                out.push(format!("{p} {token} {:?}", self.balance(p, token)));
            }
            out.push(format!("{p} orders {:?}", self.open_orders(p)));
            out.push(format!("{p} fills {:?}", self.fills(p)));
        }
        out
    }
}

pub fn exchange(fee_bps: u16) -> Ex {
    exchange_with(fee_bps, Limits::default())
}

pub fn exchange_with(fee_bps: u16, limits: Limits) -> Ex {
    let mut ex = Exchange::new(
        Config {
            chain_id: CHAIN_ID,
            exchange: EXCHANGE,
            batch_interval: 1,
            limits,
        },
        MemorySlots::default(),
    );
    ex.list_market(Market {
        id: 1,
        base: BASE,
        quote: QUOTE,
        lot_size: LOT,
        tick_size: TICK,
        fee_bps,
        fee_recipient: FEES,
    })
    .unwrap();
    Ex(ex)
}

/// An order of `signer` on market 1, good until cancelled, nonce `nonce`.
pub fn order(signer: &PrivateKeySigner, buy: bool, price: u64, lots: u64, nonce: u64) -> Order {
    Order {
        trader: signer.address(),
        market: 1,
        buy,
        price,
        lots,
        expiry: u64::MAX,
        clientId: 0,
        nonce,
        immediateOrCancel: false,
    }
}

pub fn sign<S: Slots>(ex: &Exchange<S>, signer: &PrivateKeySigner, order: &Order) -> Vec<u8> {
    let hash = order::order_id(order, ex.domain());
    signer.sign_hash_sync(&hash).unwrap().as_bytes().to_vec()
}

/// Signs and places `order` at `now`.
pub fn place(ex: &mut Ex, signer: &PrivateKeySigner, order: Order, now: u64) -> B256 {
    let signature = sign(ex, signer, &order);
    ex.place(order, &signature, now).unwrap()
}

/// Funds a trader with `base` and `quote` units.
pub fn fund(ex: &mut Ex, signer: &PrivateKeySigner, base: u128, quote: u128) {
    if base > 0 {
        ex.deposit(signer.address(), BASE, base).unwrap();
    }
    if quote > 0 {
        ex.deposit(signer.address(), QUOTE, quote).unwrap();
    }
}
