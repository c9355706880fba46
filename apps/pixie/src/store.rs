//! Where the exchange keeps its state: 32-byte storage slots of the exchange's account, the
//! same slots the EVM journal holds, so that the state is part of the state root, reverts with
//! its transaction, is replicated with the block and is encrypted at rest like every
//! confidential contract's storage.
//!
//! [`Slots`] is the seam: the node implements it over the journal of the transaction (or of the
//! end-of-block system call), [`MemorySlots`] is an in-memory map for tests and tools.
//!
//! # Layout
//!
//! Every slot is `keccak256(tag ‖ fields…)`, plus a small offset for records of several slots;
//! integers are big-endian, packed from the slot's first byte. A slot that was never written
//! reads as zero, and every record has a non-zero field or flag, so "absent" and "zero" agree.
//!
//! | tag | key | slots |
//! |---|---|---|
//! | `0x01` | — | the batch: `number u64 ‖ opened_at u64 ‖ open u8` |
//! | `0x02` | — | number of listed markets (`u32`) |
//! | `0x03` | `i u32` | the `i`-th listed market's id |
//! | `0x04` | `market u32` | market, 4 slots: `base ‖ fee_bps u16 ‖ listed u8`, `quote`, `lot_size u128 ‖ tick_size u128`, `fee_recipient` |
//! | `0x05` | `trader ‖ token` | balance: `free u128 ‖ locked u128` |
//! | `0x06` | `token` | the exchange's total of the token (`u128`) |
//! | `0x07` | `trader ‖ nonce u64` | 1 when the nonce is used |
//! | `0x08` | `order id` | open order, 4 slots (below) |
//! | `0x09` / `0x0a` | `market u32` / `‖ i u32` | the market's open orders: count, and the `i`-th id |
//! | `0x0b` / `0x0c` | `trader` / `‖ i u32` | the trader's open orders: count, and the `i`-th id |
//! | `0x0d` | `trader` | the trader's fill history: `start u64 ‖ len u64` |
//! | `0x0e` | `trader ‖ i u32` | fill `i` of the ring, 4 slots (below) |
//! | `0x0f` | `market u32` | clearings recorded so far (`u64`; the last 256 are kept) |
//! | `0x10` | `market u32 ‖ i u32` | clearing `i mod 256`, 2 slots: `batch u64 ‖ price u64 ‖ closed_at u64`, `lots u128 ‖ base_volume u128` |
//!
//! An open order: `trader ‖ market u32 ‖ flags u8` (1 buy, 2 immediate-or-cancel, 4 open),
//! `price u64 ‖ lots u64 ‖ expiry u64 ‖ clientId u64`, `nonce u64 ‖ remaining u64 ‖ batch u64 ‖
//! market position u32 ‖ trader position u32`, `locked u128`. A fill: `order id`,
//! `batch u64 ‖ market u32 ‖ side u8 ‖ price u64 ‖ lots u64`, `base u128 ‖ quote u128`,
//! `fee u128`.
//!
//! The lists are unordered (removal swaps the last entry in); nothing the engine decides depends
//! on their order.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, U256, keccak256};

/// A failure of the slots underneath (the node's journal or database), passed through as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("exchange storage: {0}")]
pub struct StoreError(pub String);

/// The exchange account's storage.
pub trait Slots {
    /// Reads a slot (zero when never written).
    fn load(&mut self, slot: B256) -> Result<B256, StoreError>;
    /// Writes a slot (zero clears it).
    fn store(&mut self, slot: B256, value: B256) -> Result<(), StoreError>;
}

/// Slots in memory; a zero value is not kept, so equal states compare equal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemorySlots(BTreeMap<B256, B256>);

impl MemorySlots {
    /// The slots that hold something.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no slot holds anything.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every slot that holds something, in slot order (e.g. to write a genesis account).
    pub fn iter(&self) -> impl Iterator<Item = (&B256, &B256)> {
        self.0.iter()
    }

    /// A slot's value, without a mutable borrow.
    pub fn get(&self, slot: B256) -> B256 {
        self.0.get(&slot).copied().unwrap_or_default()
    }
}

impl Slots for MemorySlots {
    fn load(&mut self, slot: B256) -> Result<B256, StoreError> {
        Ok(self.0.get(&slot).copied().unwrap_or_default())
    }

    fn store(&mut self, slot: B256, value: B256) -> Result<(), StoreError> {
        if value.is_zero() {
            self.0.remove(&slot);
        } else {
            self.0.insert(slot, value);
        }
        Ok(())
    }
}

pub(crate) const BATCH: u8 = 0x01;
pub(crate) const MARKET_COUNT: u8 = 0x02;
pub(crate) const MARKET_AT: u8 = 0x03;
pub(crate) const MARKET: u8 = 0x04;
pub(crate) const BALANCE: u8 = 0x05;
pub(crate) const TOTAL: u8 = 0x06;
pub(crate) const NONCE: u8 = 0x07;
pub(crate) const ORDER: u8 = 0x08;
pub(crate) const MARKET_ORDERS: u8 = 0x09;
pub(crate) const MARKET_ORDER_AT: u8 = 0x0a;
pub(crate) const TRADER_ORDERS: u8 = 0x0b;
pub(crate) const TRADER_ORDER_AT: u8 = 0x0c;
pub(crate) const FILLS: u8 = 0x0d;
pub(crate) const FILL_AT: u8 = 0x0e;
pub(crate) const CLEARINGS: u8 = 0x0f;
pub(crate) const CLEARING_AT: u8 = 0x10;

/// Builds `keccak256(tag ‖ fields…)`.
pub(crate) struct Key(Vec<u8>);

impl Key {
    pub(crate) fn new(tag: u8) -> Self {
        let mut bytes = Vec::with_capacity(64);
        bytes.push(tag);
        Self(bytes)
    }

    pub(crate) fn address(mut self, a: Address) -> Self {
        self.0.extend_from_slice(a.as_slice());
        self
    }

    pub(crate) fn hash(mut self, h: B256) -> Self {
        self.0.extend_from_slice(h.as_slice());
        self
    }

    pub(crate) fn u32(mut self, n: u32) -> Self {
        self.0.extend_from_slice(&n.to_be_bytes());
        self
    }

    pub(crate) fn u64(mut self, n: u64) -> Self {
        self.0.extend_from_slice(&n.to_be_bytes());
        self
    }

    pub(crate) fn slot(&self) -> B256 {
        keccak256(&self.0)
    }

    /// Slot `k` of a record that starts at this key.
    pub(crate) fn at(&self, k: u8) -> B256 {
        B256::from(U256::from_be_bytes(self.slot().0).wrapping_add(U256::from(k)))
    }
}

/// Packs fields into one slot from its first byte.
#[derive(Default)]
pub(crate) struct Pack {
    bytes: [u8; 32],
    at: usize,
}

impl Pack {
    fn put(mut self, field: &[u8]) -> Self {
        // Every record's fields fit its slots by construction (at most 32 bytes per slot).
        let end = (self.at + field.len()).min(32);
        self.bytes[self.at..end].copy_from_slice(&field[..end - self.at]);
        self.at = end;
        self
    }

    pub(crate) fn address(self, a: Address) -> Self {
        self.put(a.as_slice())
    }

    pub(crate) fn u8(self, n: u8) -> Self {
        self.put(&[n])
    }

    pub(crate) fn u16(self, n: u16) -> Self {
        self.put(&n.to_be_bytes())
    }

    pub(crate) fn u32(self, n: u32) -> Self {
        self.put(&n.to_be_bytes())
    }

    pub(crate) fn u64(self, n: u64) -> Self {
        self.put(&n.to_be_bytes())
    }

    pub(crate) fn u128(self, n: u128) -> Self {
        self.put(&n.to_be_bytes())
    }

    pub(crate) fn done(self) -> B256 {
        B256::from(self.bytes)
    }
}

/// Reads fields of one slot from its first byte.
pub(crate) struct Unpack {
    bytes: [u8; 32],
    at: usize,
}

impl Unpack {
    pub(crate) fn new(slot: B256) -> Self {
        Self {
            bytes: slot.0,
            at: 0,
        }
    }

    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let end = (self.at + N).min(32);
        out[..end - self.at].copy_from_slice(&self.bytes[self.at..end]);
        self.at = end;
        out
    }

    pub(crate) fn address(&mut self) -> Address {
        Address::from(self.take::<20>())
    }

    pub(crate) fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }

    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.take())
    }

    pub(crate) fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.take())
    }

    pub(crate) fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.take())
    }

    pub(crate) fn u128(&mut self) -> u128 {
        u128::from_be_bytes(self.take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_fields_read_back() {
        let a = Address::repeat_byte(0x11);
        let slot = Pack::default().address(a).u32(7).u8(5).u16(9).done();
        let mut u = Unpack::new(slot);
        assert_eq!((u.address(), u.u32(), u.u8(), u.u16()), (a, 7, 5, 9));
        let slot = Pack::default().u128(u128::MAX - 1).u128(3).done();
        let mut u = Unpack::new(slot);
        assert_eq!((u.u128(), u.u128()), (u128::MAX - 1, 3));
        // Reading past the slot yields zeros, never a panic.
        assert_eq!(u.u64(), 0);
    }

    #[test]
    fn keys_are_distinct_per_tag_and_field() {
        let a = Address::repeat_byte(1);
        assert_ne!(
            Key::new(BALANCE).address(a).slot(),
            Key::new(TOTAL).address(a).slot()
        );
        let order = Key::new(ORDER).hash(B256::ZERO);
        assert_ne!(order.at(0), order.at(1));
        assert_eq!(order.at(0), order.slot());
    }
}
