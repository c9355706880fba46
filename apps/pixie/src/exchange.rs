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

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, keccak256};
use alloy_sol_types::Eip712Domain;

use crate::auction::{self, AuctionOrder, Side};
use crate::error::PixieError;
use crate::order::{self, Market, Order};
use crate::store::{self, Key, Pack, Slots, Unpack};

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

/// A market's public result of one batch, as the exchange keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClearingRecord {
    /// The batch.
    pub batch: u64,
    /// The timestamp of the block it closed in.
    pub closed_at: u64,
    /// The clearing price, in ticks.
    pub price: u64,
    /// Lots traded.
    pub lots: u128,
    /// Base units traded.
    pub base_volume: u128,
}

/// How many clearings per market the exchange keeps (the oldest are forgotten first).
pub const CLEARING_HISTORY: u64 = 256;

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

/// The exchange: its rules over its account's storage slots ([`crate::store`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange<S> {
    config: Config,
    domain: Eip712Domain,
    slots: S,
}

/// An open order as stored, with its places in the two lists.
struct Stored {
    open: OpenOrder,
    market_pos: u32,
    trader_pos: u32,
}

impl Stored {
    /// Its place in `list`.
    fn position(&self, list: List) -> u32 {
        match list {
            List::Market(_) => self.market_pos,
            List::Trader(_) => self.trader_pos,
        }
    }

    fn set_position(&mut self, list: List, pos: u32) {
        match list {
            List::Market(_) => self.market_pos = pos,
            List::Trader(_) => self.trader_pos = pos,
        }
    }
}

const BUY: u8 = 1;
const IOC: u8 = 2;
const OPEN: u8 = 4;

impl<S: Slots> Exchange<S> {
    /// The exchange whose state is in `slots` (empty slots: no markets, balances or orders,
    /// batch 0 not yet open).
    pub fn new(config: Config, slots: S) -> Self {
        let domain = order::domain(config.chain_id, config.exchange);
        Self {
            config,
            domain,
            slots,
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

    /// The slots underneath.
    pub fn slots(&self) -> &S {
        &self.slots
    }

    /// Gives the slots back.
    pub fn into_slots(self) -> S {
        self.slots
    }

    // ------------------------------------------------------------------ reads

    fn batch_state(&mut self) -> Result<(u64, Option<u64>), PixieError> {
        let mut u = Unpack::new(self.slots.load(Key::new(store::BATCH).slot())?);
        let (number, opened_at, open) = (u.u64(), u.u64(), u.u8());
        Ok((number, (open != 0).then_some(opened_at)))
    }

    fn set_batch_state(&mut self, number: u64, opened_at: Option<u64>) -> Result<(), PixieError> {
        let value = Pack::default()
            .u64(number)
            .u64(opened_at.unwrap_or(0))
            .u8(u8::from(opened_at.is_some()))
            .done();
        self.slots.store(Key::new(store::BATCH).slot(), value)?;
        Ok(())
    }

    /// The batch orders placed now go into.
    pub fn current_batch(&mut self) -> Result<u64, PixieError> {
        Ok(self.batch_state()?.0)
    }

    /// The timestamp of the block the current batch opened in, if it holds an order yet.
    pub fn batch_opened_at(&mut self) -> Result<Option<u64>, PixieError> {
        Ok(self.batch_state()?.1)
    }

    /// One market.
    pub fn market(&mut self, id: u32) -> Result<Option<Market>, PixieError> {
        let key = Key::new(store::MARKET).u32(id);
        let mut head = Unpack::new(self.slots.load(key.at(0))?);
        let (base, fee_bps, listed) = (head.address(), head.u16(), head.u8());
        if listed == 0 {
            return Ok(None);
        }
        let quote = Unpack::new(self.slots.load(key.at(1))?).address();
        let mut sizes = Unpack::new(self.slots.load(key.at(2))?);
        let (lot_size, tick_size) = (sizes.u128(), sizes.u128());
        let fee_recipient = Unpack::new(self.slots.load(key.at(3))?).address();
        Ok(Some(Market {
            id,
            base,
            quote,
            lot_size,
            tick_size,
            fee_bps,
            fee_recipient,
        }))
    }

    fn write_market(&mut self, market: &Market) -> Result<(), PixieError> {
        let key = Key::new(store::MARKET).u32(market.id);
        let head = Pack::default()
            .address(market.base)
            .u16(market.fee_bps)
            .u8(1)
            .done();
        self.slots.store(key.at(0), head)?;
        self.slots
            .store(key.at(1), Pack::default().address(market.quote).done())?;
        let sizes = Pack::default()
            .u128(market.lot_size)
            .u128(market.tick_size)
            .done();
        self.slots.store(key.at(2), sizes)?;
        self.slots.store(
            key.at(3),
            Pack::default().address(market.fee_recipient).done(),
        )?;
        Ok(())
    }

    fn market_or_err(&mut self, id: u32) -> Result<Market, PixieError> {
        self.market(id)?.ok_or(PixieError::UnknownMarket(id))
    }

    /// The listed markets, in listing order.
    pub fn markets(&mut self) -> Result<Vec<Market>, PixieError> {
        let count = self.load_u32(Key::new(store::MARKET_COUNT).slot())?;
        let mut markets = Vec::new();
        for i in 0..count {
            let id = self.load_u32(Key::new(store::MARKET_AT).u32(i).slot())?;
            markets.push(
                self.market(id)?
                    .ok_or(PixieError::Corrupt("a listed market has no record"))?,
            );
        }
        Ok(markets)
    }

    /// A trader's balance of a token.
    pub fn balance(&mut self, trader: Address, token: Address) -> Result<Balance, PixieError> {
        let mut u = Unpack::new(self.slots.load(balance_key(trader, token))?);
        Ok(Balance {
            free: u.u128(),
            locked: u.u128(),
        })
    }

    fn store_balance(
        &mut self,
        trader: Address,
        token: Address,
        balance: Balance,
    ) -> Result<(), PixieError> {
        let value = Pack::default()
            .u128(balance.free)
            .u128(balance.locked)
            .done();
        self.slots.store(balance_key(trader, token), value)?;
        Ok(())
    }

    /// Everything the exchange holds of a token (what its token balance must cover).
    pub fn total(&mut self, token: Address) -> Result<u128, PixieError> {
        let slot = self
            .slots
            .load(Key::new(store::TOTAL).address(token).slot())?;
        Ok(Unpack::new(slot).u128())
    }

    fn set_total(&mut self, token: Address, total: u128) -> Result<(), PixieError> {
        let slot = Key::new(store::TOTAL).address(token).slot();
        self.slots.store(slot, Pack::default().u128(total).done())?;
        Ok(())
    }

    /// Whether the trader has used `nonce`.
    pub fn nonce_used(&mut self, trader: Address, nonce: u64) -> Result<bool, PixieError> {
        let slot = Key::new(store::NONCE).address(trader).u64(nonce).slot();
        Ok(!self.slots.load(slot)?.is_zero())
    }

    fn use_nonce(&mut self, trader: Address, nonce: u64) -> Result<(), PixieError> {
        let slot = Key::new(store::NONCE).address(trader).u64(nonce).slot();
        self.slots.store(slot, Pack::default().u8(1).done())?;
        Ok(())
    }

    fn load_u32(&mut self, slot: B256) -> Result<u32, PixieError> {
        Ok(Unpack::new(self.slots.load(slot)?).u32())
    }

    fn load_stored(&mut self, id: B256) -> Result<Option<Stored>, PixieError> {
        let key = Key::new(store::ORDER).hash(id);
        let mut head = Unpack::new(self.slots.load(key.at(0))?);
        let (trader, market, flags) = (head.address(), head.u32(), head.u8());
        if flags & OPEN == 0 {
            return Ok(None);
        }
        let mut terms = Unpack::new(self.slots.load(key.at(1))?);
        let (price, lots, expiry, client_id) = (terms.u64(), terms.u64(), terms.u64(), terms.u64());
        let mut state = Unpack::new(self.slots.load(key.at(2))?);
        let (nonce, remaining, batch, market_pos, trader_pos) = (
            state.u64(),
            state.u64(),
            state.u64(),
            state.u32(),
            state.u32(),
        );
        let locked = Unpack::new(self.slots.load(key.at(3))?).u128();
        Ok(Some(Stored {
            open: OpenOrder {
                id,
                order: Order {
                    trader,
                    market,
                    buy: flags & BUY != 0,
                    price,
                    lots,
                    expiry,
                    clientId: client_id,
                    nonce,
                    immediateOrCancel: flags & IOC != 0,
                },
                remaining,
                locked,
                batch,
            },
            market_pos,
            trader_pos,
        }))
    }

    fn write_stored(&mut self, stored: &Stored) -> Result<(), PixieError> {
        let open = &stored.open;
        let o = &open.order;
        let key = Key::new(store::ORDER).hash(open.id);
        let flags = OPEN | if o.buy { BUY } else { 0 } | if o.immediateOrCancel { IOC } else { 0 };
        let head = Pack::default()
            .address(o.trader)
            .u32(o.market)
            .u8(flags)
            .done();
        let terms = Pack::default()
            .u64(o.price)
            .u64(o.lots)
            .u64(o.expiry)
            .u64(o.clientId)
            .done();
        let state = Pack::default()
            .u64(o.nonce)
            .u64(open.remaining)
            .u64(open.batch)
            .u32(stored.market_pos)
            .u32(stored.trader_pos)
            .done();
        self.slots.store(key.at(0), head)?;
        self.slots.store(key.at(1), terms)?;
        self.slots.store(key.at(2), state)?;
        self.slots
            .store(key.at(3), Pack::default().u128(open.locked).done())?;
        Ok(())
    }

    fn delete_stored(&mut self, id: B256) -> Result<(), PixieError> {
        let key = Key::new(store::ORDER).hash(id);
        for k in 0..4 {
            self.slots.store(key.at(k), B256::ZERO)?;
        }
        Ok(())
    }

    /// An order a list names, which must be open.
    fn load_listed(&mut self, id: B256) -> Result<Stored, PixieError> {
        self.load_stored(id)?
            .ok_or(PixieError::Corrupt("a listed order is not open"))
    }

    /// One open order.
    pub fn order(&mut self, id: &B256) -> Result<Option<OpenOrder>, PixieError> {
        Ok(self.load_stored(*id)?.map(|s| s.open))
    }

    fn list_ids(&mut self, list: List) -> Result<Vec<B256>, PixieError> {
        let count = self.load_u32(list.count())?;
        let mut ids = Vec::new();
        for i in 0..count {
            ids.push(self.slots.load(list.at(i))?);
        }
        Ok(ids)
    }

    fn open_in(&mut self, list: List) -> Result<Vec<OpenOrder>, PixieError> {
        let mut orders = Vec::new();
        for id in self.list_ids(list)? {
            let stored = self.load_listed(id)?;
            orders.push(stored.open);
        }
        orders.sort_by_key(|o| o.id);
        Ok(orders)
    }

    /// A trader's open orders, by identifier.
    pub fn open_orders(&mut self, trader: Address) -> Result<Vec<OpenOrder>, PixieError> {
        self.open_in(List::Trader(trader))
    }

    /// A market's open orders, by identifier.
    pub fn book(&mut self, market: u32) -> Result<Vec<OpenOrder>, PixieError> {
        self.open_in(List::Market(market))
    }

    /// A trader's most recent fills (at most `fill_history`), oldest first.
    pub fn fills(&mut self, trader: Address) -> Result<Vec<Fill>, PixieError> {
        let cap = self.fill_capacity();
        let (start, len) = self.fill_ring(trader)?;
        let mut fills = Vec::new();
        if cap == 0 {
            return Ok(fills);
        }
        for k in 0..len.min(cap) {
            let at =
                u32::try_from((start + k) % cap).map_err(|_| PixieError::Corrupt("fill ring"))?;
            let key = Key::new(store::FILL_AT).address(trader).u32(at);
            let order = self.slots.load(key.at(0))?;
            let mut terms = Unpack::new(self.slots.load(key.at(1))?);
            let (batch, market, side, price, lots) = (
                terms.u64(),
                terms.u32(),
                terms.u8(),
                terms.u64(),
                terms.u64(),
            );
            let mut amounts = Unpack::new(self.slots.load(key.at(2))?);
            let (base, quote) = (amounts.u128(), amounts.u128());
            let fee = Unpack::new(self.slots.load(key.at(3))?).u128();
            fills.push(Fill {
                batch,
                market,
                order,
                trader,
                side: if side == 0 { Side::Buy } else { Side::Sell },
                price,
                lots,
                base,
                quote,
                fee,
            });
        }
        Ok(fills)
    }

    /// A market's most recent clearings (at most [`CLEARING_HISTORY`]), oldest first: the
    /// public outcome of its batches.
    pub fn clearings(&mut self, market: u32) -> Result<Vec<ClearingRecord>, PixieError> {
        let count = Unpack::new(
            self.slots
                .load(Key::new(store::CLEARINGS).u32(market).slot())?,
        )
        .u64();
        let first = count.saturating_sub(CLEARING_HISTORY);
        let mut out = Vec::new();
        for n in first..count {
            let key = clearing_key(market, n);
            let mut head = Unpack::new(self.slots.load(key.at(0))?);
            let (batch, price, closed_at) = (head.u64(), head.u64(), head.u64());
            let mut volume = Unpack::new(self.slots.load(key.at(1))?);
            out.push(ClearingRecord {
                batch,
                closed_at,
                price,
                lots: volume.u128(),
                base_volume: volume.u128(),
            });
        }
        Ok(out)
    }

    fn record_clearing(&mut self, market: u32, record: &ClearingRecord) -> Result<(), PixieError> {
        let count_slot = Key::new(store::CLEARINGS).u32(market).slot();
        let count = Unpack::new(self.slots.load(count_slot)?).u64();
        let key = clearing_key(market, count);
        let head = Pack::default()
            .u64(record.batch)
            .u64(record.price)
            .u64(record.closed_at)
            .done();
        self.slots.store(key.at(0), head)?;
        let volume = Pack::default()
            .u128(record.lots)
            .u128(record.base_volume)
            .done();
        self.slots.store(key.at(1), volume)?;
        self.slots.store(
            count_slot,
            Pack::default().u64(count.saturating_add(1)).done(),
        )?;
        Ok(())
    }

    fn fill_capacity(&self) -> u64 {
        u64::try_from(self.config.limits.fill_history)
            .unwrap_or(u64::MAX)
            .min(u64::from(u32::MAX))
    }

    fn fill_ring(&mut self, trader: Address) -> Result<(u64, u64), PixieError> {
        let mut u = Unpack::new(
            self.slots
                .load(Key::new(store::FILLS).address(trader).slot())?,
        );
        Ok((u.u64(), u.u64()))
    }

    fn record_fill(&mut self, fill: &Fill) -> Result<(), PixieError> {
        let cap = self.fill_capacity();
        if cap == 0 {
            return Ok(());
        }
        let (mut start, mut len) = self.fill_ring(fill.trader)?;
        start %= cap;
        let at = if len < cap {
            len += 1;
            (start + len - 1) % cap
        } else {
            let at = start;
            start = (start + 1) % cap;
            at
        };
        let at = u32::try_from(at).map_err(|_| PixieError::Corrupt("fill ring"))?;
        let key = Key::new(store::FILL_AT).address(fill.trader).u32(at);
        let side = match fill.side {
            Side::Buy => 0,
            Side::Sell => 1,
        };
        self.slots.store(key.at(0), fill.order)?;
        let terms = Pack::default()
            .u64(fill.batch)
            .u32(fill.market)
            .u8(side)
            .u64(fill.price)
            .u64(fill.lots)
            .done();
        self.slots.store(key.at(1), terms)?;
        self.slots.store(
            key.at(2),
            Pack::default().u128(fill.base).u128(fill.quote).done(),
        )?;
        self.slots
            .store(key.at(3), Pack::default().u128(fill.fee).done())?;
        let ring = Pack::default().u64(start).u64(len).done();
        self.slots
            .store(Key::new(store::FILLS).address(fill.trader).slot(), ring)?;
        Ok(())
    }

    // ------------------------------------------------------------------ lists

    fn list_push(&mut self, list: List, id: B256) -> Result<u32, PixieError> {
        let count = self.load_u32(list.count())?;
        self.slots.store(list.at(count), id)?;
        let next = count
            .checked_add(1)
            .ok_or(PixieError::Corrupt("list length"))?;
        self.slots
            .store(list.count(), Pack::default().u32(next).done())?;
        Ok(count)
    }

    /// Removes entry `pos`, moving the last entry into its place; returns the moved id.
    fn list_remove(&mut self, list: List, pos: u32) -> Result<Option<B256>, PixieError> {
        let count = self.load_u32(list.count())?;
        let last = count
            .checked_sub(1)
            .ok_or(PixieError::Corrupt("remove from an empty list"))?;
        if pos > last {
            return Err(PixieError::Corrupt("list position"));
        }
        let moved = if pos == last {
            None
        } else {
            let id = self.slots.load(list.at(last))?;
            self.slots.store(list.at(pos), id)?;
            Some(id)
        };
        self.slots.store(list.at(last), B256::ZERO)?;
        self.slots
            .store(list.count(), Pack::default().u32(last).done())?;
        Ok(moved)
    }

    // ------------------------------------------------------------------ operations

    /// Lists a market.
    pub fn list_market(&mut self, market: Market) -> Result<(), PixieError> {
        market.validate()?;
        if self.market(market.id)?.is_some() {
            return Err(PixieError::MarketExists(market.id));
        }
        let count_slot = Key::new(store::MARKET_COUNT).slot();
        let count = self.load_u32(count_slot)?;
        let next = count
            .checked_add(1)
            .ok_or(PixieError::Corrupt("market count"))?;
        self.write_market(&market)?;
        self.slots.store(
            Key::new(store::MARKET_AT).u32(count).slot(),
            Pack::default().u32(market.id).done(),
        )?;
        self.slots
            .store(count_slot, Pack::default().u32(next).done())?;
        Ok(())
    }

    /// Sets a market's fee.
    pub fn set_fee(
        &mut self,
        market: u32,
        fee_bps: u16,
        fee_recipient: Address,
    ) -> Result<(), PixieError> {
        let current = self.market_or_err(market)?;
        let updated = Market {
            fee_bps,
            fee_recipient,
            ..current
        };
        updated.validate()?;
        self.write_market(&updated)
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
            .total(token)?
            .checked_add(amount)
            .ok_or(PixieError::Overflow)?;
        let mut balance = self.balance(trader, token)?;
        // Every balance is at most the total, so it cannot overflow either.
        balance.free = balance
            .free
            .checked_add(amount)
            .ok_or(PixieError::Overflow)?;
        self.store_balance(trader, token, balance)?;
        self.set_total(token, total)
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
        let mut balance = self.balance(trader, token)?;
        if balance.free < amount {
            return Err(PixieError::InsufficientBalance {
                token,
                available: balance.free,
                needed: amount,
            });
        }
        let total = self
            .total(token)?
            .checked_sub(amount)
            .ok_or(PixieError::Corrupt("total below a balance"))?;
        balance.free -= amount;
        self.store_balance(trader, token, balance)?;
        self.set_total(token, total)
    }

    /// Places a signed order at block time `now`; returns its identifier.
    ///
    /// Checked in this order: the market exists, the signature recovers to the order's trader,
    /// price and lots are positive and within the limit, the expiry is after `now`, the nonce is
    /// unused, the amounts fit, the trader and the market are below their order limits, and the
    /// trader's free balance covers what the order locks. Nothing is written before every check
    /// has passed.
    pub fn place(&mut self, order: Order, signature: &[u8], now: u64) -> Result<B256, PixieError> {
        let market = self.market_or_err(order.market)?;
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
        let limits = self.config.limits;
        if order.lots > limits.max_lots {
            return Err(PixieError::TooLarge {
                lots: order.lots,
                max: limits.max_lots,
            });
        }
        if order.expiry <= now {
            return Err(PixieError::Expired {
                expiry: order.expiry,
                now,
            });
        }
        if self.nonce_used(order.trader, order.nonce)? {
            return Err(PixieError::NonceUsed(order.nonce));
        }
        let side = order.side();
        let lock = match side {
            Side::Buy => market.buy_lock(order.lots, order.price),
            Side::Sell => market.base_amount(order.lots),
        }
        .ok_or(PixieError::Overflow)?;
        let per_trader = self.load_u32(List::Trader(order.trader).count())?;
        if usize::try_from(per_trader).unwrap_or(usize::MAX) >= limits.max_orders_per_trader {
            return Err(PixieError::TooManyOrders(limits.max_orders_per_trader));
        }
        let per_market = self.load_u32(List::Market(order.market).count())?;
        if usize::try_from(per_market).unwrap_or(usize::MAX) >= limits.max_orders_per_market {
            return Err(PixieError::BookFull(limits.max_orders_per_market));
        }
        let token = market.locked_token(side);
        let mut balance = self.balance(order.trader, token)?;
        if balance.free < lock {
            return Err(PixieError::InsufficientBalance {
                token,
                available: balance.free,
                needed: lock,
            });
        }
        let (batch, opened_at) = self.batch_state()?;

        balance.free -= lock;
        balance.locked += lock;
        self.store_balance(order.trader, token, balance)?;
        self.use_nonce(order.trader, order.nonce)?;
        let market_pos = self.list_push(List::Market(order.market), id)?;
        let trader_pos = self.list_push(List::Trader(order.trader), id)?;
        self.write_stored(&Stored {
            open: OpenOrder {
                id,
                remaining: order.lots,
                order,
                locked: lock,
                batch,
            },
            market_pos,
            trader_pos,
        })?;
        if opened_at.is_none() {
            self.set_batch_state(batch, Some(now))?;
        }
        Ok(id)
    }

    /// Cancels `trader`'s open order `id`; what it locked becomes free.
    pub fn cancel(&mut self, trader: Address, id: B256) -> Result<(), PixieError> {
        match self.load_stored(id)? {
            Some(stored) if stored.open.order.trader == trader => self.remove_order(stored),
            _ => Err(PixieError::UnknownOrder(id)),
        }
    }

    /// Cancels `trader`'s open order with `nonce`, or, if none used it yet, uses the nonce so
    /// that an order signed with it can never be placed.
    pub fn cancel_nonce(&mut self, trader: Address, nonce: u64) -> Result<NonceCancel, PixieError> {
        for id in self.list_ids(List::Trader(trader))? {
            let stored = self.load_listed(id)?;
            if stored.open.order.nonce == nonce {
                self.remove_order(stored)?;
                return Ok(NonceCancel::Cancelled(id));
            }
        }
        if self.nonce_used(trader, nonce)? {
            return Err(PixieError::NonceUsed(nonce));
        }
        self.use_nonce(trader, nonce)?;
        Ok(NonceCancel::Voided)
    }

    /// The earliest block timestamp whose block closes the open batch; `None` while no batch
    /// holds an order.
    pub fn batch_closes_at(&mut self) -> Result<Option<u64>, PixieError> {
        let (_, opened_at) = self.batch_state()?;
        Ok(opened_at.map(|opened| opened.saturating_add(self.config.batch_interval)))
    }

    /// Whether the open batch closes at the end of a block at `timestamp` (what
    /// [`Exchange::end_of_block`] would do, read only).
    pub fn batch_due(&mut self, timestamp: u64) -> Result<bool, PixieError> {
        Ok(self.batch_closes_at()?.is_some_and(|at| timestamp >= at))
    }

    /// Called at the end of every block: closes the open batch when the block's `timestamp` is
    /// at least `batch_interval` after the block it opened in.
    ///
    /// On an error (of the slots underneath) the caller must discard everything written since
    /// the block's end began, as an EVM frame that fails does.
    pub fn end_of_block(&mut self, timestamp: u64) -> Result<Option<BatchOutcome>, PixieError> {
        if !self.batch_due(timestamp)? {
            return Ok(None);
        }
        let (batch, _) = self.batch_state()?;
        self.close_batch(batch, timestamp).map(Some)
    }

    fn close_batch(&mut self, batch: u64, timestamp: u64) -> Result<BatchOutcome, PixieError> {
        let mut expired = Vec::new();
        let mut cleared = Vec::new();
        let mut immediate = Vec::new();
        for market in self.markets()? {
            let mut book = Vec::new();
            for open in self.book(market.id)? {
                if open.order.expiry < timestamp {
                    expired.push(open.id);
                    self.remove_id(open.id)?;
                } else {
                    if open.order.immediateOrCancel {
                        immediate.push(open.id);
                    }
                    book.push(open);
                }
            }
            if let Some(clearing) = self.clear_market(batch, &market, &book)? {
                self.record_clearing(
                    market.id,
                    &ClearingRecord {
                        batch,
                        closed_at: timestamp,
                        price: clearing.price,
                        lots: clearing.lots,
                        base_volume: clearing.base_volume,
                    },
                )?;
                cleared.push(clearing);
            }
        }
        let mut cancelled = Vec::new();
        for id in immediate {
            if self.remove_id(id)? {
                cancelled.push(id);
            }
        }
        expired.sort_unstable();
        cancelled.sort_unstable();
        self.set_batch_state(batch + 1, None)?;
        Ok(BatchOutcome {
            batch,
            closed_at: timestamp,
            cleared,
            expired,
            cancelled,
        })
    }

    /// Clears and settles one market whose open orders are `book` (by identifier); `None` (and
    /// nothing written) when the book does not cross.
    fn clear_market(
        &mut self,
        batch: u64,
        market: &Market,
        book: &[OpenOrder],
    ) -> Result<Option<MarketClearing>, PixieError> {
        let auction: Vec<AuctionOrder> = book
            .iter()
            .map(|o| AuctionOrder {
                id: o.id,
                side: o.order.side(),
                limit: o.order.price,
                lots: o.remaining,
            })
            .collect();
        let mut seed = [0u8; 12];
        seed[..8].copy_from_slice(&batch.to_be_bytes());
        seed[8..].copy_from_slice(&market.id.to_be_bytes());
        let Some(clearing) = auction::clear(&auction, keccak256(seed)) else {
            return Ok(None);
        };
        let settlement = self.settlement(market, batch, book, &clearing)?;
        let base_volume = clearing
            .volume
            .checked_mul(market.lot_size)
            .ok_or(PixieError::Overflow)?;

        for (&(trader, token), delta) in &settlement.deltas {
            let mut balance = self.balance(trader, token)?;
            balance.locked -= delta.unlock;
            balance.free += delta.credit;
            self.store_balance(trader, token, balance)?;
        }
        for &(id, lots, take) in &settlement.orders {
            let Some(mut stored) = self.load_stored(id)? else {
                return Err(PixieError::Corrupt("a filled order is not open"));
            };
            stored.open.remaining -= lots;
            stored.open.locked -= take;
            if stored.open.remaining == 0 {
                // What is left of a completed buy's lock is its price improvement.
                self.remove_order(stored)?;
            } else {
                self.write_stored(&stored)?;
            }
        }
        for fill in &settlement.fills {
            self.record_fill(fill)?;
        }
        Ok(Some(MarketClearing {
            market: market.id,
            price: clearing.price,
            lots: clearing.volume,
            base_volume,
            fills: settlement.fills,
        }))
    }

    /// Computes every balance change of a clearing and checks that it applies; writes nothing.
    fn settlement(
        &mut self,
        market: &Market,
        batch: u64,
        book: &[OpenOrder],
        clearing: &auction::Clearing,
    ) -> Result<Settlement, PixieError> {
        let overflow = PixieError::Overflow;
        let mut deltas: BTreeMap<(Address, Address), Delta> = BTreeMap::new();
        let mut orders = Vec::with_capacity(clearing.fills.len());
        let mut fills = Vec::with_capacity(clearing.fills.len());
        let mut fees = 0u128;
        for &(id, lots) in &clearing.fills {
            let open = book
                .iter()
                .find(|o| o.id == id)
                .ok_or(PixieError::Corrupt("a fill names no order of the book"))?;
            let trader = open.order.trader;
            let side = open.order.side();
            let notional = market
                .notional(lots, clearing.price)
                .ok_or(overflow.clone())?;
            let fee = market.fee(notional).ok_or(overflow.clone())?;
            let base = market.base_amount(lots).ok_or(overflow.clone())?;
            let take = match side {
                Side::Buy => {
                    let take = if lots == open.remaining {
                        open.locked
                    } else {
                        market
                            .buy_lock(lots, open.order.price)
                            .ok_or(overflow.clone())?
                    };
                    let cost = notional.checked_add(fee).ok_or(overflow.clone())?;
                    let refund = take
                        .checked_sub(cost)
                        .ok_or(PixieError::Corrupt("a buy locks less than it pays"))?;
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
                    let proceeds = notional
                        .checked_sub(fee)
                        .ok_or(PixieError::Corrupt("a fee above its notional"))?;
                    deltas
                        .entry((trader, market.base))
                        .or_default()
                        .add(base, 0)?;
                    deltas
                        .entry((trader, market.quote))
                        .or_default()
                        .add(0, proceeds)?;
                    base
                }
            };
            if take > open.locked || lots > open.remaining {
                return Err(PixieError::Corrupt("a fill above its order"));
            }
            fees = fees.checked_add(fee).ok_or(overflow.clone())?;
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
        for (&(trader, token), delta) in &deltas {
            let balance = self.balance(trader, token)?;
            if balance.locked < delta.unlock {
                return Err(PixieError::Corrupt("a lock released that is not held"));
            }
            balance
                .free
                .checked_add(delta.credit)
                .ok_or(overflow.clone())?;
        }
        Ok(Settlement {
            deltas,
            orders,
            fills,
        })
    }

    /// Removes the open order `id` if there is one; whether there was.
    fn remove_id(&mut self, id: B256) -> Result<bool, PixieError> {
        match self.load_stored(id)? {
            Some(stored) => self.remove_order(stored).map(|()| true),
            None => Ok(false),
        }
    }

    /// Removes an order from the book and its lists, and frees what it still locks.
    fn remove_order(&mut self, stored: Stored) -> Result<(), PixieError> {
        let open = &stored.open;
        let trader = open.order.trader;
        for list in [List::Market(open.order.market), List::Trader(trader)] {
            let pos = stored.position(list);
            if let Some(moved) = self.list_remove(list, pos)? {
                let mut other = self.load_listed(moved)?;
                other.set_position(list, pos);
                self.write_stored(&other)?;
            }
        }
        self.delete_stored(open.id)?;
        if open.locked > 0 {
            let market = self.market_or_err(open.order.market)?;
            let token = market.locked_token(open.order.side());
            let mut balance = self.balance(trader, token)?;
            balance.locked = balance
                .locked
                .checked_sub(open.locked)
                .ok_or(PixieError::Corrupt("an order locks more than its trader"))?;
            balance.free = balance
                .free
                .checked_add(open.locked)
                .ok_or(PixieError::Overflow)?;
            self.store_balance(trader, token, balance)?;
        }
        Ok(())
    }

    /// Checks the exchange's books against each other for the given parties (every trader and
    /// fee recipient there is): each locked balance is what the party's open orders lock in
    /// that token, each token's total is the sum of the parties' balances, and the market and
    /// trader lists name exactly the open orders, each at its recorded position. The engine
    /// keeps these true; this is what a test or an operator's audit runs.
    pub fn verify_books(&mut self, parties: &[Address]) -> Result<(), BooksMismatch> {
        let markets = self.markets()?;
        let mut locked: BTreeMap<(Address, Address), u128> = BTreeMap::new();
        let mut by_market = 0usize;
        for market in &markets {
            let ids = self.list_ids(List::Market(market.id))?;
            for (pos, id) in ids.iter().enumerate() {
                let stored = self
                    .load_stored(*id)?
                    .ok_or(BooksMismatch::OrderIndex(*id))?;
                let o = &stored.open;
                if o.order.market != market.id
                    || usize::try_from(stored.market_pos).ok() != Some(pos)
                    || o.remaining == 0
                {
                    return Err(BooksMismatch::OrderIndex(*id));
                }
                let trader_list = self.list_ids(List::Trader(o.order.trader))?;
                let at = usize::try_from(stored.trader_pos).unwrap_or(usize::MAX);
                if trader_list.get(at) != Some(id) {
                    return Err(BooksMismatch::OrderIndex(*id));
                }
                let token = market.locked_token(o.order.side());
                *locked.entry((o.order.trader, token)).or_default() += o.locked;
            }
            by_market += ids.len();
        }
        let mut by_trader = 0usize;
        let mut tokens: Vec<Address> = markets.iter().flat_map(|m| [m.base, m.quote]).collect();
        tokens.sort_unstable();
        tokens.dedup();
        let mut totals: BTreeMap<Address, u128> = BTreeMap::new();
        for &party in parties {
            by_trader += self.list_ids(List::Trader(party))?.len();
            for &token in &tokens {
                let balance = self.balance(party, token)?;
                if balance.locked != locked.remove(&(party, token)).unwrap_or(0) {
                    return Err(BooksMismatch::Locked {
                        trader: party,
                        token,
                    });
                }
                *totals.entry(token).or_default() += balance.free + balance.locked;
            }
        }
        if let Some((&(trader, token), _)) = locked.iter().find(|(_, amount)| **amount > 0) {
            return Err(BooksMismatch::Locked { trader, token });
        }
        if by_trader != by_market {
            return Err(BooksMismatch::IndexSize);
        }
        for token in tokens {
            if self.total(token)? != totals.get(&token).copied().unwrap_or(0) {
                return Err(BooksMismatch::Total(token));
            }
        }
        Ok(())
    }
}

fn clearing_key(market: u32, n: u64) -> Key {
    // `n mod 256` fits a u32.
    Key::new(store::CLEARING_AT)
        .u32(market)
        .u32(u32::try_from(n % CLEARING_HISTORY).unwrap_or(0))
}

fn balance_key(trader: Address, token: Address) -> B256 {
    Key::new(store::BALANCE)
        .address(trader)
        .address(token)
        .slot()
}

/// The two kinds of order list.
#[derive(Debug, Clone, Copy)]
enum List {
    Market(u32),
    Trader(Address),
}

impl List {
    fn count(self) -> B256 {
        match self {
            Self::Market(m) => Key::new(store::MARKET_ORDERS).u32(m).slot(),
            Self::Trader(t) => Key::new(store::TRADER_ORDERS).address(t).slot(),
        }
    }

    fn at(self, i: u32) -> B256 {
        match self {
            Self::Market(m) => Key::new(store::MARKET_ORDER_AT).u32(m).u32(i).slot(),
            Self::Trader(t) => Key::new(store::TRADER_ORDER_AT).address(t).u32(i).slot(),
        }
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
    /// Reading the books failed.
    #[error(transparent)]
    Read(#[from] PixieError),
}

#[derive(Debug, Default, Clone, Copy)]
struct Delta {
    unlock: u128,
    credit: u128,
}

impl Delta {
    fn add(&mut self, unlock: u128, credit: u128) -> Result<(), PixieError> {
        self.unlock = self
            .unlock
            .checked_add(unlock)
            .ok_or(PixieError::Overflow)?;
        self.credit = self
            .credit
            .checked_add(credit)
            .ok_or(PixieError::Overflow)?;
        Ok(())
    }
}

struct Settlement {
    deltas: BTreeMap<(Address, Address), Delta>,
    /// `(order, lots filled, lock taken)`.
    orders: Vec<(B256, u64, u128)>,
    fills: Vec<Fill>,
}
