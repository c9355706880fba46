//! Markets and EIP-712 signed limit orders.
//!
//! A trader signs an [`Order`] under the domain `{name: "Pixie DEX", version: "1", chainId,
//! verifyingContract: <the exchange's address>}`. The order names its trader, so anyone — the
//! trader or a relayer who pays the gas — may submit it; the engine accepts it only if the
//! signature recovers to that trader. Its identifier is its EIP-712 signing hash.
//!
//! # Units
//!
//! A market trades `base` for `quote`. Amounts are in **lots** of `lot_size` base units;
//! prices are in **ticks**, one tick being `tick_size` quote units per lot. So `lots` at
//! `price` ticks are worth `lots · price · tick_size` quote units and carry
//! `lots · lot_size` base units. Every amount that can trade is on the grid by construction.

use alloy_primitives::{Address, B256, Signature, U256};
use alloy_sol_types::{Eip712Domain, SolStruct};

use crate::auction::Side;
use crate::error::PixieError;

/// The largest fee a market may charge each side, in basis points (10 %).
pub const MAX_FEE_BPS: u16 = 1_000;

pub use crate::abi::Order;

impl Order {
    /// Buy or sell.
    pub fn side(&self) -> Side {
        if self.buy { Side::Buy } else { Side::Sell }
    }
}

/// The EIP-712 domain of the exchange at `exchange` on chain `chain_id`.
pub fn domain(chain_id: u64, exchange: Address) -> Eip712Domain {
    alloy_sol_types::eip712_domain! {
        name: "Pixie DEX",
        version: "1",
        chain_id: chain_id,
        verifying_contract: exchange,
    }
}

/// The order's identifier: its EIP-712 signing hash under `domain`.
pub fn order_id(order: &Order, domain: &Eip712Domain) -> B256 {
    order.eip712_signing_hash(domain)
}

/// Recovers the signer of `hash` from a 65-byte `r ‖ s ‖ v` signature (`v` ∈ {0, 1, 27, 28}).
pub fn recover_signer(hash: B256, signature: &[u8]) -> Result<Address, PixieError> {
    let [rs @ .., v] = signature else {
        return Err(PixieError::BadSignature);
    };
    if rs.len() != 64 {
        return Err(PixieError::BadSignature);
    }
    let parity = match v {
        0 | 27 => false,
        1 | 28 => true,
        _ => return Err(PixieError::BadSignature),
    };
    let r = U256::from_be_slice(&rs[..32]);
    let s = U256::from_be_slice(&rs[32..]);
    Signature::new(r, s, parity)
        .recover_address_from_prehash(&hash)
        .map_err(|_| PixieError::BadSignature)
}

/// A market: what it trades, its grid, and its fee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Market {
    /// The market's number (`Order.market`).
    pub id: u32,
    /// The token bought and sold.
    pub base: Address,
    /// The token prices are in.
    pub quote: Address,
    /// Base units per lot.
    pub lot_size: u128,
    /// Quote units per lot per tick.
    pub tick_size: u128,
    /// The fee each side pays on the quote amount of its fills, in basis points.
    pub fee_bps: u16,
    /// Who receives the fees.
    pub fee_recipient: Address,
}

impl Market {
    /// Checks the market's parameters.
    pub fn validate(&self) -> Result<(), PixieError> {
        if self.base == self.quote {
            return Err(PixieError::InvalidMarket(
                "base and quote are the same token",
            ));
        }
        if self.lot_size == 0 || self.tick_size == 0 {
            return Err(PixieError::InvalidMarket(
                "lot and tick sizes must be positive",
            ));
        }
        if self.fee_bps > MAX_FEE_BPS {
            return Err(PixieError::InvalidMarket("fee above 1000 basis points"));
        }
        Ok(())
    }

    /// The quote value of `lots` at `price` ticks, or `None` past `u128`.
    pub fn notional(&self, lots: u64, price: u64) -> Option<u128> {
        (u128::from(lots) * u128::from(price)).checked_mul(self.tick_size)
    }

    /// The base units in `lots`, or `None` past `u128`.
    pub fn base_amount(&self, lots: u64) -> Option<u128> {
        u128::from(lots).checked_mul(self.lot_size)
    }

    /// The fee on a quote amount (rounded down), or `None` past `u128`.
    pub fn fee(&self, notional: u128) -> Option<u128> {
        Some(notional.checked_mul(u128::from(self.fee_bps))? / 10_000)
    }

    /// What a buy of `lots` at `price` locks: the notional and the most fee it can pay.
    pub fn buy_lock(&self, lots: u64, price: u64) -> Option<u128> {
        let notional = self.notional(lots, price)?;
        notional.checked_add(self.fee(notional)?)
    }

    /// The token an order of `side` locks.
    pub fn locked_token(&self, side: Side) -> Address {
        match side {
            Side::Buy => self.quote,
            Side::Sell => self.base,
        }
    }
}
