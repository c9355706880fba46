//! Property tests: random traders, orders, cancels, withdrawals and batch closes, checked

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! after every step against the engine's invariants and an independent model of the auction.

mod common;

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256};
use alloy_signer_local::PrivateKeySigner;
use common::*;
use proptest::prelude::*;
use txnchain_pixie::{OpenOrder, Order, Side};

const TRADERS: usize = 4;
const BASE_FUNDS: u128 = 500 * LOT;
const QUOTE_FUNDS: u128 = 2_000_000;

#[derive(Debug, Clone)]
enum Op {
    Place {
        trader: usize,
        market: u32,
        buy: bool,
        price: u64,
        lots: u64,
        ioc: bool,
        lifetime: Option<u64>,
    },
    Cancel {
        trader: usize,
        pick: usize,
    },
    Withdraw {
        trader: usize,
        base: bool,
        amount: u128,
    },
    Block {
        advance: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..TRADERS, 1u32..=2, any::<bool>(), 95u64..=105, 1u64..=40, prop::bool::weighted(0.15),
              prop::option::weighted(0.2, 1u64..=6))
            .prop_map(|(trader, market, buy, price, lots, ioc, lifetime)| Op::Place {
                trader, market, buy, price, lots, ioc, lifetime,
            }),
        1 => (0..TRADERS, 0usize..8).prop_map(|(trader, pick)| Op::Cancel { trader, pick }),
        1 => (0..TRADERS, any::<bool>(), 1u128..=300_000)
            .prop_map(|(trader, base, amount)| Op::Withdraw { trader, base, amount }),
        3 => (0u64..=2).prop_map(|advance| Op::Block { advance }),
    ]
}

/// The largest volume any price trades in `book`, by brute force over every tick in range.
fn best_volume(book: &[OpenOrder]) -> u128 {
    let Some(lo) = book.iter().map(|o| o.order.price).min() else {
        return 0;
    };
    let hi = book.iter().map(|o| o.order.price).max().unwrap_or(lo);
    (lo..=hi)
        .map(|p| {
            let demand: u128 = book
                .iter()
                .filter(|o| o.order.buy && o.order.price >= p)
                .map(|o| u128::from(o.remaining))
                .sum();
            let supply: u128 = book
                .iter()
                .filter(|o| !o.order.buy && o.order.price <= p)
                .map(|o| u128::from(o.remaining))
                .sum();
            demand.min(supply)
        })
        .max()
        .unwrap_or(0)
}

fn holdings(ex: &Ex, who: Address, token: Address) -> i128 {
    let b = ex.balance(who, token);
    i128::try_from(b.free + b.locked).unwrap()
}

struct Run {
    ex: Ex,
    traders: Vec<PrivateKeySigner>,
    now: u64,
    nonce: u64,
}

impl Run {
    fn new(fee_bps: u16) -> Self {
        let traders: Vec<_> = (1..=u8::try_from(TRADERS).unwrap()).map(trader).collect();
        let mut ex = exchange(fee_bps);
        // A second market on the same quote token, with its own grid, fee and fee recipient:
        // one close clears both, and a trader's quote serves orders in both.
        ex.list_market(txnchain_pixie::Market {
            id: 2,
            base: BASE2,
            quote: QUOTE,
            lot_size: 500,
            tick_size: 7,
            fee_bps: 50,
            fee_recipient: FEES2,
        })
        .unwrap();
        for t in &traders {
            fund(&mut ex, t, BASE_FUNDS, QUOTE_FUNDS);
            ex.deposit(t.address(), BASE2, BASE_FUNDS).unwrap();
        }
        Self {
            ex,
            traders,
            now: T0,
            nonce: 0,
        }
    }

    fn every_party(&self) -> Vec<Address> {
        let mut all: Vec<Address> = self.traders.iter().map(PrivateKeySigner::address).collect();
        all.push(FEES);
        all.push(FEES2);
        all
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let before = self.ex.clone();
        match *op {
            Op::Place {
                trader,
                market,
                buy,
                price,
                lots,
                ioc,
                lifetime,
            } => {
                self.nonce += 1;
                let signer = &self.traders[trader];
                let order = Order {
                    market,
                    immediateOrCancel: ioc,
                    expiry: lifetime.map_or(u64::MAX, |l| self.now + l),
                    ..order(signer, buy, price, lots, self.nonce)
                };
                let signature = sign(&self.ex, signer, &order);
                if self.ex.place(order, &signature, self.now).is_err() {
                    prop_assert_eq!(&self.ex, &before);
                }
            }
            Op::Cancel { trader, pick } => {
                let who = self.traders[trader].address();
                let ids: Vec<B256> = self.ex.open_orders(who).iter().map(|o| o.id).collect();
                if let Some(&id) = ids.get(pick) {
                    self.ex
                        .cancel(who, id)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert!(self.ex.order(&id).is_none());
                } else {
                    let missing = B256::repeat_byte(0xee);
                    prop_assert!(self.ex.cancel(who, missing).is_err());
                    prop_assert_eq!(&self.ex, &before);
                }
            }
            Op::Withdraw {
                trader,
                base,
                amount,
            } => {
                let who = self.traders[trader].address();
                let token = if base { BASE } else { QUOTE };
                let free = self.ex.balance(who, token).free;
                match self.ex.withdraw(who, token, amount) {
                    Ok(()) => prop_assert_eq!(self.ex.balance(who, token).free, free - amount),
                    Err(_) => {
                        prop_assert!(amount > free);
                        prop_assert_eq!(&self.ex, &before);
                    }
                }
            }
            Op::Block { advance } => {
                self.now += advance;
                if let Some(outcome) = self.ex.end_of_block(self.now) {
                    self.check_close(&before, &outcome)?;
                } else {
                    prop_assert_eq!(&self.ex, &before);
                }
            }
        }
        self.ex
            .verify_books()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        Ok(())
    }

    fn check_close(
        &self,
        before: &Ex,
        outcome: &txnchain_pixie::BatchOutcome,
    ) -> Result<(), TestCaseError> {
        // Value is conserved: the exchange holds what it held.
        for token in [BASE, BASE2, QUOTE] {
            prop_assert_eq!(self.ex.total(token), before.total(token));
        }
        let parties = self.every_party();
        let book: Vec<OpenOrder> = parties
            .iter()
            .flat_map(|&p| before.open_orders(p))
            .filter(|o| o.order.expiry >= outcome.closed_at)
            .collect();
        let mut expected: BTreeMap<(Address, Address), i128> = BTreeMap::new();
        for market in [1u32, 2] {
            let (base_token, fees_to) = if market == 1 {
                (BASE, FEES)
            } else {
                (BASE2, FEES2)
            };
            let market_book: Vec<OpenOrder> = book
                .iter()
                .filter(|o| o.order.market == market)
                .cloned()
                .collect();
            let best = best_volume(&market_book);
            let Some(clearing) = outcome.cleared.iter().find(|c| c.market == market) else {
                prop_assert_eq!(best, 0, "market {} crossed but did not clear", market);
                continue;
            };
            prop_assert_eq!(clearing.lots, best, "not the maximum volume");
            let recorded = self.ex.clearings(market);
            let last = recorded.last().unwrap();
            prop_assert_eq!(
                (
                    last.batch,
                    last.closed_at,
                    last.price,
                    last.lots,
                    last.base_volume
                ),
                (
                    outcome.batch,
                    outcome.closed_at,
                    clearing.price,
                    clearing.lots,
                    clearing.base_volume
                )
            );
            prop_assert!(recorded.len() <= 256);
            let mut bought = 0u128;
            let mut sold = 0u128;
            for fill in &clearing.fills {
                prop_assert_eq!(fill.price, clearing.price);
                prop_assert_eq!(fill.market, market);
                let order = before.order(&fill.order).unwrap();
                prop_assert_eq!(order.order.market, market);
                prop_assert!(fill.lots >= 1 && fill.lots <= order.remaining);
                let base = i128::try_from(fill.base).unwrap();
                let quote = i128::try_from(fill.quote).unwrap();
                let fee = i128::try_from(fill.fee).unwrap();
                match fill.side {
                    Side::Buy => {
                        prop_assert!(fill.price <= order.order.price);
                        bought += u128::from(fill.lots);
                        *expected.entry((fill.trader, base_token)).or_default() += base;
                        *expected.entry((fill.trader, QUOTE)).or_default() -= quote + fee;
                    }
                    Side::Sell => {
                        prop_assert!(fill.price >= order.order.price);
                        sold += u128::from(fill.lots);
                        *expected.entry((fill.trader, base_token)).or_default() -= base;
                        *expected.entry((fill.trader, QUOTE)).or_default() += quote - fee;
                    }
                }
                *expected.entry((fees_to, QUOTE)).or_default() += fee;
            }
            prop_assert_eq!(bought, clearing.lots);
            prop_assert_eq!(sold, clearing.lots);
        }
        prop_assert!(outcome.cleared.len() <= 2);
        // Every party's holdings moved by its fills and fees, and nothing else.
        for &p in &parties {
            for token in [BASE, BASE2, QUOTE] {
                let moved = holdings(&self.ex, p, token) - holdings(before, p, token);
                prop_assert_eq!(
                    moved,
                    expected.get(&(p, token)).copied().unwrap_or(0),
                    "holdings of {} in {}",
                    p,
                    token
                );
            }
        }
        // Nothing expired or immediate-or-cancel is left, and the book no longer crosses.
        let after: Vec<OpenOrder> = parties
            .iter()
            .flat_map(|&p| self.ex.open_orders(p))
            .collect();
        prop_assert!(after.iter().all(|o| !o.order.immediateOrCancel));
        prop_assert!(after.iter().all(|o| o.order.expiry >= outcome.closed_at));
        for market in [1u32, 2] {
            let left: Vec<OpenOrder> = after
                .iter()
                .filter(|o| o.order.market == market)
                .cloned()
                .collect();
            prop_assert_eq!(best_volume(&left), 0, "market {} still crosses", market);
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn random_trading_keeps_every_invariant(
        fee_bps in prop::sample::select(vec![0u16, 5, 30, 1_000]),
        ops in prop::collection::vec(op(), 1..80),
    ) {
        let mut run = Run::new(fee_bps);
        for op in &ops {
            run.step(op)?;
        }
        // Close whatever is open, then cancel everything: every trader's funds are free again.
        run.step(&Op::Block { advance: 10 })?;
        for t in run.traders.clone() {
            for o in run.ex.open_orders(t.address()).iter().map(|o| o.id).collect::<Vec<_>>() {
                run.ex.cancel(t.address(), o).unwrap();
            }
        }
        for p in run.every_party() {
            for token in [BASE, BASE2, QUOTE] {
                prop_assert_eq!(run.ex.balance(p, token).locked, 0);
            }
        }
        run.ex.verify_books().map_err(|e| TestCaseError::fail(e.to_string()))?;
    }

    #[test]
    fn the_same_operations_give_the_same_state(ops in prop::collection::vec(op(), 1..60)) {
        let mut one = Run::new(5);
        let mut two = Run::new(5);
        for op in &ops {
            one.step(op)?;
            two.step(op)?;
        }
        prop_assert_eq!(one.ex, two.ex);
    }
}
