//! The payer's spend policy: maximum per request, maximum per UTC day (persisted in a JSON
//! file), allowed networks, assets and recipients. A refused payment is never signed.
//!
//! Amounts are atomic token units; a requirement whose `extra.decimals` is absent is assumed
//! to use 6 decimals when a policy is expressed in token units (see [`SpendPolicy::from_units`]).

use std::collections::HashSet;
use std::path::PathBuf;
use std::str::FromStr;

use alloy_primitives::{Address, U256};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::{PaymentRequirements, X402Error};

/// Limits on what a client pays.
#[derive(Debug, Clone, Default)]
pub struct SpendLimits {
    /// Most one request may cost (atomic units); `None`: no limit.
    pub max_per_request: Option<U256>,
    /// Most all requests of one UTC day may cost (atomic units); `None`: no limit.
    pub max_per_day: Option<U256>,
    /// Allowed CAIP-2 networks; empty: any.
    pub networks: HashSet<String>,
    /// Allowed token addresses; empty: any.
    pub assets: HashSet<Address>,
    /// Allowed payees; empty: any.
    pub recipients: HashSet<Address>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct DayLedger {
    day: u64,
    spent: String,
}

/// A policy with its persisted daily ledger.
#[derive(Debug)]
pub struct SpendPolicy {
    limits: SpendLimits,
    ledger_path: Option<PathBuf>,
    state: Mutex<(u64, U256)>,
}

fn today() -> u64 {
    crate::now_secs() / 86_400
}

impl SpendPolicy {
    /// A policy; the daily total is read from (and written to) `ledger_path` when given.
    pub fn new(limits: SpendLimits, ledger_path: Option<PathBuf>) -> Result<Self, X402Error> {
        let mut state = (today(), U256::ZERO);
        if let Some(p) = &ledger_path
            && let Ok(text) = std::fs::read_to_string(p)
        {
            let d: DayLedger = serde_json::from_str(&text).map_err(|e| {
                X402Error::Policy(format!("spend ledger {} is corrupt: {e}", p.display()))
            })?;
            if d.day == state.0 {
                state.1 = U256::from_str(&d.spent).unwrap_or_default();
            }
        }
        Ok(SpendPolicy {
            limits,
            ledger_path,
            state: Mutex::new(state),
        })
    }

    /// The limits.
    pub fn limits(&self) -> &SpendLimits {
        &self.limits
    }

    /// Spent today (atomic units).
    pub fn spent_today(&self) -> U256 {
        let s = self.state.lock();
        if s.0 == today() { s.1 } else { U256::ZERO }
    }

    /// Why `req` may not be paid, or `Ok` with its amount.
    pub fn admits(&self, req: &PaymentRequirements) -> Result<U256, String> {
        let l = &self.limits;
        if !l.networks.is_empty() && !l.networks.contains(&req.network) {
            return Err(format!("network {} is not allowed", req.network));
        }
        let asset = Address::from_str(&req.asset)
            .map_err(|_| format!("asset {:?} is not an address", req.asset))?;
        if !l.assets.is_empty() && !l.assets.contains(&asset) {
            return Err(format!("asset {asset} is not allowed"));
        }
        let to = Address::from_str(&req.pay_to)
            .map_err(|_| format!("payTo {:?} is not an address", req.pay_to))?;
        if !l.recipients.is_empty() && !l.recipients.contains(&to) {
            return Err(format!("recipient {to} is not allowed"));
        }
        let amount = U256::from_str_radix(&req.amount, 10)
            .map_err(|_| format!("amount {:?} is not a decimal integer", req.amount))?;
        if let Some(max) = l.max_per_request
            && amount > max
        {
            return Err(format!(
                "amount {amount} exceeds the maximum per request {max}"
            ));
        }
        if let Some(max) = l.max_per_day
            && self.spent_today().saturating_add(amount) > max
        {
            return Err(format!(
                "amount {amount} would bring today's spending to {} over the daily maximum {max}",
                self.spent_today().saturating_add(amount)
            ));
        }
        Ok(amount)
    }

    /// Records `amount` as spent today (before the paid retry is sent) and persists it.
    pub fn record(&self, amount: U256) -> Result<(), X402Error> {
        self.adjust(amount, true)
    }

    /// Gives back a recorded amount that was not charged.
    pub fn refund(&self, amount: U256) -> Result<(), X402Error> {
        self.adjust(amount, false)
    }

    fn adjust(&self, amount: U256, add: bool) -> Result<(), X402Error> {
        let snapshot = {
            let mut s = self.state.lock();
            let d = today();
            if s.0 != d {
                *s = (d, U256::ZERO);
            }
            s.1 = if add {
                s.1.saturating_add(amount)
            } else {
                s.1.saturating_sub(amount)
            };
            *s
        };
        if let Some(p) = &self.ledger_path {
            if let Some(dir) = p.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let text = serde_json::to_string(&DayLedger {
                day: snapshot.0,
                spent: snapshot.1.to_string(),
            })
            .map_err(|e| X402Error::Policy(e.to_string()))?;
            let tmp = p.with_extension("tmp");
            std::fs::write(&tmp, text)?;
            std::fs::rename(&tmp, p)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(amount: &str) -> PaymentRequirements {
        PaymentRequirements {
            scheme: "exact".into(),
            network: "eip155:424242".into(),
            amount: amount.into(),
            asset: "0x4020000000000000000000000000000000000402".into(),
            pay_to: "0x2222222222222222222222222222222222222222".into(),
            max_timeout_seconds: 60,
            extra: Default::default(),
        }
    }

    #[test]
    fn limits_and_persistence() -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("x402-policy-{}", std::process::id()));
        let path = dir.join("spend.json");
        let _ = std::fs::remove_file(&path);
        let limits = SpendLimits {
            max_per_request: Some(U256::from(50_000)),
            max_per_day: Some(U256::from(60_000)),
            networks: ["eip155:424242".to_string()].into(),
            ..Default::default()
        };
        let p = SpendPolicy::new(limits.clone(), Some(path.clone()))?;
        assert!(p.admits(&req("60000")).is_err());
        assert_eq!(p.admits(&req("40000")), Ok(U256::from(40_000)));
        p.record(U256::from(40_000))?;
        assert!(p.admits(&req("30000")).is_err());
        // Persisted across restarts.
        let p2 = SpendPolicy::new(limits, Some(path.clone()))?;
        assert_eq!(p2.spent_today(), U256::from(40_000));
        assert!(p2.admits(&req("30000")).is_err());
        let mut other = req("1");
        other.network = "eip155:1".into();
        assert!(p2.admits(&other).is_err());
        let _ = std::fs::remove_dir_all(dir);
        Ok(())
    }
}
