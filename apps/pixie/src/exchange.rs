//! The exchange's state and every operation on it: markets, private balances, the books, and
//! the close of a sealed batch.
//!
//! Everything is kept in ordered maps and every decision is a function of the state and the
//! operation's inputs (the block's timestamp among them), so every replica that applies the same
//! operations in the same order holds the same state. An operation that returns an error has
//! changed nothing.
//!
//! # Balances
//!
//! Each trader has, per token, a **free** balance (withdrawable) and a **locked** one (held by
//! open orders). A buy of `q` lots at limit `b` locks `notional(q, b) + fee(notional(q, b))`
//! quote; a sell locks `q · lot_size` base. At the batch close a buyer pays the notional at the
//! clearing price plus its fee, and gets back what it locked beyond that (the price improvement)
//! as soon as the order completes; a seller receives the notional minus its fee.
//!
//! # Batches
//!
//! A batch opens with the first order placed after the previous close and closes at the end of
//! the first block whose timestamp is at least `batch_interval` seconds after the block it
//! opened in. At the close: orders past their expiry leave the book, every market with orders is
//! cleared ([`crate::auction`]) and settled, and immediate-or-cancel orders that are left leave
//! the book. An expired order's funds come back at the next close or when it is cancelled.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use alloy_primitives::{Address, B256, keccak256};
use alloy_sol_types::Eip712Domain;

use crate::auction::{self, AuctionOrder, Side};
use crate::error::PixieError;
use crate::order::{self, Market, Order};

/// The limits that bound what one trader can make the engine hold or compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Open orders per trader.
    pub max_orders_per_trader: usize,
    /// Open orders per market (the clearing of a market is `O(n log n)` in them).
    pub max_orders_per_market: usize,
    /// Lots in one order.
    pub max_lots: u64,
    /// Fills remembered per trader (the oldest are forgotten first).
    pub fill_history: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_orders_per_trader: 64,
            max_orders_per_market: 20_000,
            max_lots: 1 << 48,
            fill_history: 256,
        }
    }
}

/// How an exchange is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The chain's id (the orders' EIP-712 domain).
    pub chain_id: u64,
    /// The exchange's address (the domain's `verifyingContract`).
    pub exchange: Address,
    /// Seconds of block time a batch stays open (at least 1 is sensible; 0 closes every batch
    /// at the end of the block it opened in).
    pub batch_interval: u64,
    /// The limits.
    pub limits: Limits,
}

/// A trader's balance of one token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Balance {
    /// Withdrawable.
    pub free: u128,
    /// Held by open orders.
    pub locked: u128,
}

/// An order in the book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOrder {
    /// Its identifier (the EIP-712 signing hash).
    pub id: B256,
    /// What the trader signed.
    pub order: Order,
    /// Lots not yet filled.
    pub remaining: u64,
    /// What it still holds of the trader's balance (quote for a buy, base for a sell).
    pub locked: u128,
    /// The batch it was placed in.
    pub batch: u64,
}

/// One order's trade in one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fill {
    /// The batch.
    pub batch: u64,
    /// The market.
    pub market: u32,
    /// The order.
    pub order: B256,
    /// Its trader.
    pub trader: Address,
    /// Its side.
    pub side: Side,
    /// The batch's clearing price, in ticks.
    pub price: u64,
    /// Lots traded.
    pub lots: u64,
    /// Base units traded.
    pub base: u128,
    /// Quote units traded (the notional, before fees).
    pub quote: u128,
    /// The fee this side paid, in quote units.
    pub fee: u128,
}

/// One market's result in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketClearing {
    /// The market.
    pub market: u32,
    /// The clearing price, in ticks.
    pub price: u64,
    /// Lots traded.
    pub lots: u128,
    /// Base units traded (what `BatchCleared` publishes with the price).
    pub base_volume: u128,
    /// Every order's fill, buys and sells.
    pub fills: Vec<Fill>,
}

/// What the close of a batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    /// The batch's number.
    pub batch: u64,
    /// The timestamp of the block it closed in.
    pub closed_at: u64,
    /// The markets whose book crossed, in market order.
    pub cleared: Vec<MarketClearing>,
    /// Orders removed because they expired.
    pub expired: Vec<B256>,
    /// Immediate-or-cancel orders removed with what was left of them.
    pub cancelled: Vec<B256>,
}

/// What a cancel by nonce did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCancel {
    /// The open order with that nonce left the book.
    Cancelled(B256),
    /// No order used the nonce yet: it is now used, so an order signed with it never trades.
    Voided,
}

/// The exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    config: Config,
    domain: Eip712Domain,
    markets: BTreeMap<u32, Market>,
    balances: BTreeMap<(Address, Address), Balance>,
    totals: BTreeMap<Address, u128>,
    orders: BTreeMap<B256, OpenOrder>,
    by_trader: BTreeMap<Address, BTreeSet<B256>>,
    by_market: BTreeMap<u32, BTreeSet<B256>>,
    used_nonces: BTreeSet<(Address, u64)>,
    fills: BTreeMap<Address, VecDeque<Fill>>,
    batch: u64,
    opened_at: Option<u64>,
}

impl Exchange {
    /// An exchange with no markets, balances or orders; batch 0 not yet open.
    pub fn new(config: Config) -> Self {
        let domain = order::domain(config.chain_id, config.exchange);
        Self {
            config,
            domain,
            markets: BTreeMap::new(),
            balances: BTreeMap::new(),
            totals: BTreeMap::new(),
            orders: BTreeMap::new(),
            by_trader: BTreeMap::new(),
            by_market: BTreeMap::new(),
            used_nonces: BTreeSet::new(),
            fills: BTreeMap::new(),
            batch: 0,
            opened_at: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The EIP-712 domain orders are signed under.
    pub fn domain(&self) -> &Eip712Domain {
        &self.domain
    }

    /// Lists a market.
    pub fn list_market(&mut self, market: Market) -> Result<(), PixieError> {
        market.validate()?;
        if self.markets.contains_key(&market.id) {
            return Err(PixieError::MarketExists(market.id));
        }
        self.markets.insert(market.id, market);
        Ok(())
    }

    /// Sets a market's fee.
    pub fn set_fee(
        &mut self,
        market: u32,
        fee_bps: u16,
        fee_recipient: Address,
    ) -> Result<(), PixieError> {
        let current = self
            .markets
            .get(&market)
            .ok_or(PixieError::UnknownMarket(market))?;
        let updated = Market {
            fee_bps,
            fee_recipient,
            ..current.clone()
        };
        updated.validate()?;
        self.markets.insert(market, updated);
        Ok(())
    }

    /// The listed markets, in market order.
    pub fn markets(&self) -> impl Iterator<Item = &Market> {
        self.markets.values()
    }

    /// One market.
    pub fn market(&self, id: u32) -> Option<&Market> {
        self.markets.get(&id)
    }

    /// A trader's balance of a token.
    pub fn balance(&self, trader: Address, token: Address) -> Balance {
        self.balances
            .get(&(trader, token))
            .copied()
            .unwrap_or_default()
    }

    /// Everything the exchange holds of a token (what its token balance must cover).
    pub fn total(&self, token: Address) -> u128 {
        self.totals.get(&token).copied().unwrap_or(0)
    }

    /// A trader's open orders, by identifier.
    pub fn open_orders(&self, trader: Address) -> Vec<&OpenOrder> {
        self.by_trader
            .get(&trader)
            .into_iter()
            .flatten()
            .filter_map(|id| self.orders.get(id))
            .collect()
    }

    /// One open order.
    pub fn order(&self, id: &B256) -> Option<&OpenOrder> {
        self.orders.get(id)
    }

    /// A trader's most recent fills, oldest first.
    pub fn fills(&self, trader: Address) -> impl Iterator<Item = &Fill> {
        self.fills.get(&trader).into_iter().flatten()
    }

    /// Whether the trader has used `nonce`.
    pub fn nonce_used(&self, trader: Address, nonce: u64) -> bool {
        self.used_nonces.contains(&(trader, nonce))
    }

    /// The batch orders placed now go into.
    pub fn current_batch(&self) -> u64 {
        self.batch
    }

    /// The timestamp of the block the current batch opened in, if it holds an order yet.
    pub fn batch_opened_at(&self) -> Option<u64> {
        self.opened_at
    }

    /// Credits a deposit of `amount` of `token` (the caller has moved the tokens in). Refused
    /// when the exchange's total of the token would pass `u128`.
    pub fn deposit(
        &mut self,
        trader: Address,
        token: Address,
        amount: u128,
    ) -> Result<(), PixieError> {
        if amount == 0 {
            return Err(PixieError::ZeroDeposit);
        }
        let total = self
            .total(token)
            .checked_add(amount)
            .ok_or(PixieError::Overflow)?;
        // Every balance is at most the total, so it cannot overflow either.
        let mut balance = self.balance(trader, token);
        balance.free += amount;
        self.balances.insert((trader, token), balance);
        self.totals.insert(token, total);
        Ok(())
    }

    /// Debits a withdrawal of `amount` of `token` from the free balance (the caller then moves
    /// the tokens out).
    pub fn withdraw(
        &mut self,
        trader: Address,
        token: Address,
        amount: u128,
    ) -> Result<(), PixieError> {
        if amount == 0 {
            return Err(PixieError::ZeroDeposit);
        }
        let mut balance = self.balance(trader, token);
        if balance.free < amount {
            return Err(PixieError::InsufficientBalance {
                token,
                available: balance.free,
                needed: amount,
            });
        }
        balance.free -= amount;
        self.store_balance(trader, token, balance);
        let total = self.total(token) - amount;
        self.totals.insert(token, total);
        Ok(())
    }

    /// Places a signed order at block time `now`; returns its identifier.
    ///
    /// Checked in this order: the market exists, the signature recovers to the order's trader,
    /// price and lots are positive and within the limit, the expiry is after `now`, the nonce is
    /// unused, the amounts fit, the trader and the market are below their order limits, and the
    /// trader's free balance covers what the order locks.
    pub fn place(&mut self, order: Order, signature: &[u8], now: u64) -> Result<B256, PixieError> {
        let market = self
            .markets
            .get(&order.market)
            .ok_or(PixieError::UnknownMarket(order.market))?;
        let id = order::order_id(&order, &self.domain);
        let recovered = order::recover_signer(id, signature)?;
        if recovered != order.trader {
            return Err(PixieError::WrongSigner {
                recovered,
                trader: order.trader,
            });
        }
        if order.price == 0 || order.lots == 0 {
            return Err(PixieError::ZeroAmount);
        }
        if order.lots > self.config.limits.max_lots {
            return Err(PixieError::TooLarge {
                lots: order.lots,
                max: self.config.limits.max_lots,
            });
        }
        if order.expiry <= now {
            return Err(PixieError::Expired {
                expiry: order.expiry,
                now,
            });
        }
        if self.nonce_used(order.trader, order.nonce) {
            return Err(PixieError::NonceUsed(order.nonce));
        }
        let side = order.side();
        let lock = match side {
            Side::Buy => market.buy_lock(order.lots, order.price),
            Side::Sell => market.base_amount(order.lots),
        }
        .ok_or(PixieError::Overflow)?;
        let per_trader = self.by_trader.get(&order.trader).map_or(0, BTreeSet::len);
        if per_trader >= self.config.limits.max_orders_per_trader {
            return Err(PixieError::TooManyOrders(
                self.config.limits.max_orders_per_trader,
            ));
        }
        let per_market = self.by_market.get(&order.market).map_or(0, BTreeSet::len);
        if per_market >= self.config.limits.max_orders_per_market {
            return Err(PixieError::BookFull(
                self.config.limits.max_orders_per_market,
            ));
        }
        let token = market.locked_token(side);
        let mut balance = self.balance(order.trader, token);
        if balance.free < lock {
            return Err(PixieError::InsufficientBalance {
                token,
                available: balance.free,
                needed: lock,
            });
        }

        balance.free -= lock;
        balance.locked += lock;
        self.balances.insert((order.trader, token), balance);
        self.used_nonces.insert((order.trader, order.nonce));
        self.by_trader.entry(order.trader).or_default().insert(id);
        self.by_market.entry(order.market).or_default().insert(id);
        self.orders.insert(
            id,
            OpenOrder {
                id,
                remaining: order.lots,
                order,
                locked: lock,
                batch: self.batch,
            },
        );
        self.opened_at.get_or_insert(now);
        Ok(id)
    }

    /// Cancels `trader`'s open order `id`; what it locked becomes free.
    pub fn cancel(&mut self, trader: Address, id: B256) -> Result<(), PixieError> {
        match self.orders.get(&id) {
            Some(open) if open.order.trader == trader => {
                self.remove_order(id);
                Ok(())
            }
            _ => Err(PixieError::UnknownOrder(id)),
        }
    }

    /// Cancels `trader`'s open order with `nonce`, or, if none used it yet, uses the nonce so
    /// that an order signed with it can never be placed.
    pub fn cancel_nonce(&mut self, trader: Address, nonce: u64) -> Result<NonceCancel, PixieError> {
        let open = self
            .by_trader
            .get(&trader)
            .into_iter()
            .flatten()
            .find(|id| self.orders.get(*id).is_some_and(|o| o.order.nonce == nonce))
            .copied();
        if let Some(id) = open {
            self.remove_order(id);
            return Ok(NonceCancel::Cancelled(id));
        }
        if !self.used_nonces.insert((trader, nonce)) {
            return Err(PixieError::NonceUsed(nonce));
        }
        Ok(NonceCancel::Voided)
    }

    /// Called at the end of every block: closes the open batch when the block's `timestamp` is
    /// at least `batch_interval` after the block it opened in.
    pub fn end_of_block(&mut self, timestamp: u64) -> Option<BatchOutcome> {
        let opened = self.opened_at?;
        if timestamp < opened.saturating_add(self.config.batch_interval) {
            return None;
        }
        Some(self.close_batch(timestamp))
    }

    fn close_batch(&mut self, timestamp: u64) -> BatchOutcome {
        let batch = self.batch;
        let expired: Vec<B256> = self
            .orders
            .values()
            .filter(|o| o.order.expiry < timestamp)
            .map(|o| o.id)
            .collect();
        for &id in &expired {
            self.remove_order(id);
        }

        let markets: Vec<u32> = self
            .by_market
            .iter()
            .filter(|(_, ids)| !ids.is_empty())
            .map(|(&market, _)| market)
            .collect();
        let mut cleared = Vec::new();
        for market in markets {
            if let Some(clearing) = self.clear_market(batch, market) {
                cleared.push(clearing);
            }
        }

        let cancelled: Vec<B256> = self
            .orders
            .values()
            .filter(|o| o.order.immediateOrCancel)
            .map(|o| o.id)
            .collect();
        for &id in &cancelled {
            self.remove_order(id);
        }

        self.batch += 1;
        self.opened_at = None;
        BatchOutcome {
            batch,
            closed_at: timestamp,
            cleared,
            expired,
            cancelled,
        }
    }

    /// Clears and settles one market; `None` (and nothing changed) when its book does not
    /// cross or the settlement would not fit the engine's amounts.
    fn clear_market(&mut self, batch: u64, market_id: u32) -> Option<MarketClearing> {
        let market = self.markets.get(&market_id)?.clone();
        let book: Vec<AuctionOrder> = self
            .by_market
            .get(&market_id)?
            .iter()
            .filter_map(|id| self.orders.get(id))
            .map(|o| AuctionOrder {
                id: o.id,
                side: o.order.side(),
                limit: o.order.price,
                lots: o.remaining,
            })
            .collect();
        let mut seed = [0u8; 12];
        seed[..8].copy_from_slice(&batch.to_be_bytes());
        seed[8..].copy_from_slice(&market_id.to_be_bytes());
        let clearing = auction::clear(&book, keccak256(seed))?;
        let settlement = self.settlement(&market, batch, &clearing)?;
        let base_volume = clearing.volume.checked_mul(market.lot_size)?;

        for (key, delta) in &settlement.deltas {
            let mut balance = self.balances.get(key).copied().unwrap_or_default();
            balance.locked -= delta.unlock;
            balance.free += delta.credit;
            let (trader, token) = *key;
            self.store_balance(trader, token, balance);
        }
        for &(id, lots, take) in &settlement.orders {
            let Some(open) = self.orders.get_mut(&id) else {
                continue;
            };
            open.remaining -= lots;
            open.locked -= take;
            if open.remaining == 0 {
                // What is left of a completed buy's lock is its price improvement.
                self.remove_order(id);
            }
        }
        for fill in &settlement.fills {
            let history = self.fills.entry(fill.trader).or_default();
            history.push_back(fill.clone());
            while history.len() > self.config.limits.fill_history {
                history.pop_front();
            }
        }
        Some(MarketClearing {
            market: market_id,
            price: clearing.price,
            lots: clearing.volume,
            base_volume,
            fills: settlement.fills,
        })
    }

    /// Computes every balance change of a clearing and checks that it applies; nothing is
    /// changed here.
    fn settlement(
        &self,
        market: &Market,
        batch: u64,
        clearing: &auction::Clearing,
    ) -> Option<Settlement> {
        let mut deltas: BTreeMap<(Address, Address), Delta> = BTreeMap::new();
        let mut orders = Vec::with_capacity(clearing.fills.len());
        let mut fills = Vec::with_capacity(clearing.fills.len());
        let mut fees = 0u128;
        for &(id, lots) in &clearing.fills {
            let open = self.orders.get(&id)?;
            let trader = open.order.trader;
            let side = open.order.side();
            let notional = market.notional(lots, clearing.price)?;
            let fee = market.fee(notional)?;
            let base = market.base_amount(lots)?;
            let take = match side {
                Side::Buy => {
                    let take = if lots == open.remaining {
                        open.locked
                    } else {
                        market.buy_lock(lots, open.order.price)?
                    };
                    let cost = notional.checked_add(fee)?;
                    let refund = take.checked_sub(cost)?;
                    deltas
                        .entry((trader, market.quote))
                        .or_default()
                        .add(take, refund)?;
                    deltas
                        .entry((trader, market.base))
                        .or_default()
                        .add(0, base)?;
                    take
                }
                Side::Sell => {
                    deltas
                        .entry((trader, market.base))
                        .or_default()
                        .add(base, 0)?;
                    deltas
                        .entry((trader, market.quote))
                        .or_default()
                        .add(0, notional.checked_sub(fee)?)?;
                    base
                }
            };
            if take > open.locked {
                return None;
            }
            fees = fees.checked_add(fee)?;
            orders.push((id, lots, take));
            fills.push(Fill {
                batch,
                market: market.id,
                order: id,
                trader,
                side,
                price: clearing.price,
                lots,
                base,
                quote: notional,
                fee,
            });
        }
        if fees > 0 {
            deltas
                .entry((market.fee_recipient, market.quote))
                .or_default()
                .add(0, fees)?;
        }
        // Every change must apply: no lock released that is not held, no free balance past u128.
        for (key, delta) in &deltas {
            let balance = self.balances.get(key).copied().unwrap_or_default();
            if balance.locked < delta.unlock || balance.free.checked_add(delta.credit).is_none() {
                return None;
            }
        }
        Some(Settlement {
            deltas,
            orders,
            fills,
        })
    }

    /// Removes an order from the book and frees what it still locks.
    fn remove_order(&mut self, id: B256) {
        let Some(open) = self.orders.remove(&id) else {
            return;
        };
        let trader = open.order.trader;
        if let Some(ids) = self.by_trader.get_mut(&trader) {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_trader.remove(&trader);
            }
        }
        if let Some(ids) = self.by_market.get_mut(&open.order.market) {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_market.remove(&open.order.market);
            }
        }
        if open.locked > 0
            && let Some(market) = self.markets.get(&open.order.market)
        {
            let token = market.locked_token(open.order.side());
            let mut balance = self.balance(trader, token);
            // The lock is part of `balance.locked` (the books are kept together).
            balance.locked = balance.locked.saturating_sub(open.locked);
            balance.free = balance.free.saturating_add(open.locked);
            self.store_balance(trader, token, balance);
        }
    }

    fn store_balance(&mut self, trader: Address, token: Address, balance: Balance) {
        if balance == Balance::default() {
            self.balances.remove(&(trader, token));
        } else {
            self.balances.insert((trader, token), balance);
        }
    }

    /// Checks the exchange's books against each other: every locked balance is the sum of what
    /// the trader's open orders lock in that token, every token's total is the sum of its
    /// balances, and the indexes name exactly the open orders. The engine keeps these true;
    /// this is what a test or an operator's audit runs.
    pub fn verify_books(&self) -> Result<(), BooksMismatch> {
        let mut locked: BTreeMap<(Address, Address), u128> = BTreeMap::new();
        for open in self.orders.values() {
            let market = self
                .markets
                .get(&open.order.market)
                .ok_or(BooksMismatch::OrderIndex(open.id))?;
            let token = market.locked_token(open.order.side());
            *locked.entry((open.order.trader, token)).or_default() += open.locked;
            let indexed = self
                .by_trader
                .get(&open.order.trader)
                .is_some_and(|ids| ids.contains(&open.id))
                && self
                    .by_market
                    .get(&open.order.market)
                    .is_some_and(|ids| ids.contains(&open.id));
            if !indexed || open.remaining == 0 {
                return Err(BooksMismatch::OrderIndex(open.id));
            }
        }
        let indexed: usize = self.by_trader.values().map(BTreeSet::len).sum();
        let by_market: usize = self.by_market.values().map(BTreeSet::len).sum();
        if indexed != self.orders.len() || by_market != self.orders.len() {
            return Err(BooksMismatch::IndexSize);
        }
        let mut totals: BTreeMap<Address, u128> = BTreeMap::new();
        for (&(trader, token), balance) in &self.balances {
            if balance.locked != locked.remove(&(trader, token)).unwrap_or(0) {
                return Err(BooksMismatch::Locked { trader, token });
            }
            *totals.entry(token).or_default() += balance.free + balance.locked;
        }
        if let Some((&(trader, token), _)) = locked.iter().find(|(_, amount)| **amount > 0) {
            return Err(BooksMismatch::Locked { trader, token });
        }
        for (&token, &total) in &self.totals {
            if totals.remove(&token).unwrap_or(0) != total {
                return Err(BooksMismatch::Total(token));
            }
        }
        if let Some((&token, _)) = totals.iter().find(|(_, amount)| **amount > 0) {
            return Err(BooksMismatch::Total(token));
        }
        Ok(())
    }
}

/// Where [`Exchange::verify_books`] found the books disagreeing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BooksMismatch {
    /// A trader's locked balance of a token is not what its open orders lock.
    #[error("locked balance of {token} for {trader} differs from its open orders")]
    Locked {
        /// The trader.
        trader: Address,
        /// The token.
        token: Address,
    },
    /// A token's total is not the sum of its balances.
    #[error("total of {0} differs from the sum of its balances")]
    Total(Address),
    /// An open order is missing from an index, or is empty.
    #[error("order {0} is not indexed as open")]
    OrderIndex(B256),
    /// An index names orders that are not open.
    #[error("the order indexes name orders that are not open")]
    IndexSize,
}

#[derive(Debug, Default, Clone, Copy)]
struct Delta {
    unlock: u128,
    credit: u128,
}

impl Delta {
    fn add(&mut self, unlock: u128, credit: u128) -> Option<()> {
        self.unlock = self.unlock.checked_add(unlock)?;
        self.credit = self.credit.checked_add(credit)?;
        Some(())
    }
}

struct Settlement {
    deltas: BTreeMap<(Address, Address), Delta>,
    /// `(order, lots filled, lock taken)`.
    orders: Vec<(B256, u64, u128)>,
    fills: Vec<Fill>,
}
