//! Traders with real keys, a dev-like market, and order signing for the engine's tests.

#![allow(dead_code, unreachable_pub)]

use alloy_primitives::{Address, B256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use txnchain_pixie::{Config, Exchange, Limits, Market, Order, order};

pub const CHAIN_ID: u64 = 424_242;
pub const EXCHANGE: Address = Address::new([0x0c; 20]);
pub const BASE: Address = Address::new([0xbb; 20]);
pub const QUOTE: Address = Address::new([0xcc; 20]);
pub const FEES: Address = Address::new([0xfe; 20]);
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

pub fn exchange(fee_bps: u16) -> Exchange {
    exchange_with(fee_bps, Limits::default())
}

pub fn exchange_with(fee_bps: u16, limits: Limits) -> Exchange {
    let mut ex = Exchange::new(Config {
        chain_id: CHAIN_ID,
        exchange: EXCHANGE,
        batch_interval: 1,
        limits,
    });
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
    ex
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

pub fn sign(ex: &Exchange, signer: &PrivateKeySigner, order: &Order) -> Vec<u8> {
    let hash = order::order_id(order, ex.domain());
    signer.sign_hash_sync(&hash).unwrap().as_bytes().to_vec()
}

/// Signs and places `order` at `now`.
pub fn place(ex: &mut Exchange, signer: &PrivateKeySigner, order: Order, now: u64) -> B256 {
    let signature = sign(ex, signer, &order);
    ex.place(order, &signature, now).unwrap()
}

/// Funds a trader with `base` and `quote` units.
pub fn fund(ex: &mut Exchange, signer: &PrivateKeySigner, base: u128, quote: u128) {
    if base > 0 {
        ex.deposit(signer.address(), BASE, base).unwrap();
    }
    if quote > 0 {
        ex.deposit(signer.address(), QUOTE, quote).unwrap();
    }
}
