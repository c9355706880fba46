//! The uniform-price call auction that clears one market at the close of a batch.
//!
//! Every order of the market's book takes part: a buy of `q` lots at limit `b` ticks is willing
//! to trade at any price `p ≤ b`, a sell of `q` lots at limit `a` at any `p ≥ a`. For a price `p`
//! the demand is `D(p) = Σ q` over buys with `b ≥ p`, the supply `S(p) = Σ q` over sells with
//! `a ≤ p`, and the volume that can trade is `V(p) = min(D(p), S(p))`.
//!
//! # The clearing price
//!
//! Only the limit prices present in the book are candidates (between two adjacent limits `D`
//! only falls and `S` only rises, so no price in between trades more). Among them, in order:
//!
//! 1. the largest volume `V(p)`; no price is chosen when it is zero (the book does not cross);
//! 2. then the smallest imbalance `|D(p) − S(p)|`;
//! 3. then, if buyers are left over at every remaining candidate (`D > S`), the highest of them;
//!    if sellers are left over at every one (`S > D`), the lowest; otherwise the lower median of
//!    the remaining candidates in price order.
//!
//! This is the rule of the continental call auctions (Euronext's and Xetra's opening auctions:
//! maximum volume, minimum surplus, market pressure), with the median standing in for their
//! reference price, which a batch does not have.
//!
//! # Allocation
//!
//! Every fill trades at the one clearing price. On each side, the orders that can trade are
//! filled in price priority — buys from the highest limit down, sells from the lowest up — and
//! every price level better than the marginal one fills completely. The marginal level, where the
//! remaining volume `R` is less than the level's `Q` lots, is shared **pro rata**: order `i` of
//! `q_i` lots gets `⌊R·q_i / Q⌋`, and the `R − Σ⌊…⌋` lots left over (fewer than the number of
//! orders at the level) go one each to the largest remainders `R·q_i mod Q`, ties broken by
//! `keccak256(seed ‖ order id)` ascending, where the caller passes the batch's seed. Arrival order
//! inside a batch decides nothing.
//!
//! The cost is `O(n log n)` in the number of orders of the market (one sort, one prefix sum).

use alloy_primitives::{B256, U256, keccak256};

/// One side of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    /// Buys base, pays quote.
    Buy,
    /// Sells base, receives quote.
    Sell,
}

/// An order as the auction sees it: who it is (for the fills), where it stands and how much.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuctionOrder {
    /// The order's identifier.
    pub id: B256,
    /// Buy or sell.
    pub side: Side,
    /// The limit price, in ticks.
    pub limit: u64,
    /// The lots still open (at least one).
    pub lots: u64,
}

/// The outcome of one market's auction when the book crosses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clearing {
    /// The clearing price, in ticks: every fill trades at it.
    pub price: u64,
    /// The lots that trade (bought = sold).
    pub volume: u128,
    /// Demand at the clearing price.
    pub demand: u128,
    /// Supply at the clearing price.
    pub supply: u128,
    /// `(order id, lots filled)` for every order that trades, buys and sells, in the order of
    /// the input.
    pub fills: Vec<(B256, u64)>,
}

/// Clears one market's book. `None` when no price trades a lot (the book does not cross).
///
/// `seed` breaks the ties of the pro-rata rounding: pass a value the orders cannot choose (the
/// engine uses the batch number and the market).
pub fn clear(orders: &[AuctionOrder], seed: B256) -> Option<Clearing> {
    let price = clearing_price(orders)?;
    let demand = total(orders, |o| o.side == Side::Buy && o.limit >= price.price);
    let supply = total(orders, |o| o.side == Side::Sell && o.limit <= price.price);
    let volume = demand.min(supply);

    let mut filled = vec![0u64; orders.len()];
    allocate(orders, Side::Buy, price.price, volume, seed, &mut filled);
    allocate(orders, Side::Sell, price.price, volume, seed, &mut filled);
    let fills = orders
        .iter()
        .zip(filled)
        .filter(|(_, lots)| *lots > 0)
        .map(|(order, lots)| (order.id, lots))
        .collect();
    Some(Clearing {
        price: price.price,
        volume,
        demand,
        supply,
        fills,
    })
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    price: u64,
    demand: u128,
    supply: u128,
}

impl Candidate {
    fn volume(&self) -> u128 {
        self.demand.min(self.supply)
    }

    fn imbalance(&self) -> u128 {
        self.demand.abs_diff(self.supply)
    }
}

fn clearing_price(orders: &[AuctionOrder]) -> Option<Candidate> {
    let mut prices: Vec<u64> = orders.iter().map(|o| o.limit).collect();
    prices.sort_unstable();
    prices.dedup();
    if prices.is_empty() {
        return None;
    }

    // Lots per candidate price and side, then supply as a running sum from below and demand as
    // a running sum from above.
    let mut buys = vec![0u128; prices.len()];
    let mut sells = vec![0u128; prices.len()];
    for order in orders {
        // Every limit is one of `prices`.
        let Ok(at) = prices.binary_search(&order.limit) else {
            continue;
        };
        match order.side {
            Side::Buy => buys[at] += u128::from(order.lots),
            Side::Sell => sells[at] += u128::from(order.lots),
        }
    }
    let mut candidates: Vec<Candidate> = prices
        .iter()
        .map(|&price| Candidate {
            price,
            demand: 0,
            supply: 0,
        })
        .collect();
    let mut supply = 0u128;
    for (candidate, sold) in candidates.iter_mut().zip(&sells) {
        supply += sold;
        candidate.supply = supply;
    }
    let mut demand = 0u128;
    for (candidate, bought) in candidates.iter_mut().zip(&buys).rev() {
        demand += bought;
        candidate.demand = demand;
    }

    let best_volume = candidates.iter().map(Candidate::volume).max()?;
    if best_volume == 0 {
        return None;
    }
    candidates.retain(|c| c.volume() == best_volume);
    let least_imbalance = candidates.iter().map(Candidate::imbalance).min()?;
    candidates.retain(|c| c.imbalance() == least_imbalance);

    // Still in ascending price order.
    if candidates.iter().all(|c| c.demand > c.supply) {
        candidates.last().copied()
    } else if candidates.iter().all(|c| c.supply > c.demand) {
        candidates.first().copied()
    } else {
        candidates.get((candidates.len() - 1) / 2).copied()
    }
}

fn total(orders: &[AuctionOrder], take: impl Fn(&AuctionOrder) -> bool) -> u128 {
    orders
        .iter()
        .filter(|o| take(o))
        .map(|o| u128::from(o.lots))
        .sum()
}

/// Fills `volume` lots of `side` at `price` into `filled` (indexed like `orders`).
fn allocate(
    orders: &[AuctionOrder],
    side: Side,
    price: u64,
    volume: u128,
    seed: B256,
    filled: &mut [u64],
) {
    // The orders that can trade, best limit first.
    let mut eligible: Vec<usize> = (0..orders.len())
        .filter(|&i| {
            let o = &orders[i];
            o.side == side
                && match side {
                    Side::Buy => o.limit >= price,
                    Side::Sell => o.limit <= price,
                }
        })
        .collect();
    eligible.sort_by(|&a, &b| match side {
        Side::Buy => orders[b].limit.cmp(&orders[a].limit),
        Side::Sell => orders[a].limit.cmp(&orders[b].limit),
    });

    let mut remaining = volume;
    let mut level_start = 0;
    while level_start < eligible.len() && remaining > 0 {
        let limit = orders[eligible[level_start]].limit;
        let level_end = eligible[level_start..]
            .iter()
            .position(|&i| orders[i].limit != limit)
            .map_or(eligible.len(), |n| level_start + n);
        let level = &eligible[level_start..level_end];
        let level_lots: u128 = level.iter().map(|&i| u128::from(orders[i].lots)).sum();
        if level_lots <= remaining {
            for &i in level {
                filled[i] = orders[i].lots;
            }
            remaining -= level_lots;
        } else {
            pro_rata(orders, level, remaining, level_lots, seed, filled);
            remaining = 0;
        }
        level_start = level_end;
    }
}

/// Shares `capacity < level_lots` lots among the orders of one price level.
fn pro_rata(
    orders: &[AuctionOrder],
    level: &[usize],
    capacity: u128,
    level_lots: u128,
    seed: B256,
    filled: &mut [u64],
) {
    let capacity_wide = U256::from(capacity);
    let level_wide = U256::from(level_lots);
    let mut given = 0u128;
    let mut remainders: Vec<(U256, B256, usize)> = Vec::with_capacity(level.len());
    for &i in level {
        let share = capacity_wide * U256::from(orders[i].lots);
        let (lots, remainder) = share.div_rem(level_wide);
        // `lots ≤ capacity · q / Q < q`, so it fits the order's u64.
        let lots = u64::try_from(lots).unwrap_or(orders[i].lots);
        filled[i] = lots;
        given += u128::from(lots);
        let mut key = [0u8; 64];
        key[..32].copy_from_slice(seed.as_slice());
        key[32..].copy_from_slice(orders[i].id.as_slice());
        remainders.push((remainder, keccak256(key), i));
    }
    // Largest remainder first; equal remainders by the seeded hash.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let left_over = capacity - given;
    for &(_, _, i) in remainders
        .iter()
        .take(usize::try_from(left_over).unwrap_or(usize::MAX))
    {
        // Each of the first `left_over` has a non-zero remainder, so its share is below `q`.
        filled[i] = filled[i].saturating_add(1).min(orders[i].lots);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(n: u8, side: Side, limit: u64, lots: u64) -> AuctionOrder {
        AuctionOrder {
            id: B256::repeat_byte(n),
            side,
            limit,
            lots,
        }
    }

    fn lots_of(clearing: &Clearing, n: u8) -> u64 {
        clearing
            .fills
            .iter()
            .find(|(id, _)| *id == B256::repeat_byte(n))
            .map_or(0, |(_, lots)| *lots)
    }

    #[test]
    fn empty_and_one_sided_books_do_not_clear() {
        assert_eq!(clear(&[], B256::ZERO), None);
        let buys = [order(1, Side::Buy, 100, 5), order(2, Side::Buy, 101, 5)];
        assert_eq!(clear(&buys, B256::ZERO), None);
        let sells = [order(1, Side::Sell, 100, 5)];
        assert_eq!(clear(&sells, B256::ZERO), None);
    }

    #[test]
    fn a_book_that_does_not_cross_does_not_clear() {
        let book = [order(1, Side::Buy, 99, 5), order(2, Side::Sell, 100, 5)];
        assert_eq!(clear(&book, B256::ZERO), None);
    }

    #[test]
    fn equal_crossing_orders_trade_at_the_median_candidate() {
        // D = S = 10 at both 100 and 104: no pressure either way, the lower median is 100.
        let book = [order(1, Side::Buy, 104, 10), order(2, Side::Sell, 100, 10)];
        let c = clear(&book, B256::ZERO).unwrap();
        assert_eq!((c.price, c.volume), (100, 10));
        assert_eq!(lots_of(&c, 1), 10);
        assert_eq!(lots_of(&c, 2), 10);
    }

    #[test]
    fn mixed_pressure_picks_the_lower_median_of_the_tied_prices() {
        // V = 10 and |D − S| = 5 at 100 (D 15, S 10), 102 (D 15, S 10) and 104 (D 10, S 15).
        let book = [
            order(1, Side::Buy, 104, 10),
            order(2, Side::Buy, 102, 5),
            order(3, Side::Sell, 100, 10),
            order(4, Side::Sell, 104, 5),
        ];
        let c = clear(&book, B256::ZERO).unwrap();
        assert_eq!((c.price, c.volume, c.demand, c.supply), (102, 10, 15, 10));
        // The buy at 104 fills first; the one at 102 gets nothing; the sell at 104 cannot trade.
        assert_eq!(
            (
                lots_of(&c, 1),
                lots_of(&c, 2),
                lots_of(&c, 3),
                lots_of(&c, 4)
            ),
            (10, 0, 10, 0)
        );
    }

    #[test]
    fn buy_pressure_picks_the_highest_price_and_sell_pressure_the_lowest() {
        // Buyers want 10, sellers have 4: V = 4 at 100 and 105, imbalance 6 at both.
        let book = [order(1, Side::Buy, 105, 10), order(2, Side::Sell, 100, 4)];
        let c = clear(&book, B256::ZERO).unwrap();
        assert_eq!((c.price, c.volume), (105, 4));
        let book = [order(1, Side::Buy, 105, 4), order(2, Side::Sell, 100, 10)];
        let c = clear(&book, B256::ZERO).unwrap();
        assert_eq!((c.price, c.volume), (100, 4));
    }
}
