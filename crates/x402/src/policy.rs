//! The payer's spend policy: maximum per request, maximum per UTC day (persisted in a JSON
//! file), allowed networks, assets and recipients. A refused payment is never signed.
//!
//! - The check and the count are one step ([`SpendPolicy::reserve`]): concurrent requests
//!   cannot each pass the daily cap.
//! - A signed authorization counts until it is provably unusable. A server that answers 402
//!   to the paid retry may still settle it later, so no refund follows from what a server
//!   says: the authorization is kept as *outstanding* (persisted) and refunded only when the
//!   chain shows it can never be used ([`SpendPolicy::reconcile`]: expired and unused, or
//!   cancelled with `cancelAuthorization`).
//!
//! Amounts are atomic token units.

use std::collections::HashSet;
use std::path::PathBuf;
use std::str::FromStr;

use alloy_primitives::{Address, B256, U256};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::{PaymentRequirements, PolicyRefusal, X402Error};

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

/// A signed authorization not yet known to be settled or unusable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outstanding {
    /// CAIP-2 network.
    pub network: String,
    /// Token.
    pub asset: Address,
    /// Payer.
    pub from: Address,
    /// EIP-3009 nonce.
    pub nonce: B256,
    /// Atomic amount counted for it.
    pub amount: String,
    /// Unix seconds after which it can no longer be used.
    pub valid_before: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DayLedger {
    day: u64,
    spent: String,
    #[serde(default)]
    outstanding: Vec<Outstanding>,
}

#[derive(Debug, Clone)]
struct State {
    day: u64,
    spent: U256,
    outstanding: Vec<Outstanding>,
}

/// A policy with its persisted daily ledger.
#[derive(Debug)]
pub struct SpendPolicy {
    limits: SpendLimits,
    ledger_path: Option<PathBuf>,
    state: Mutex<State>,
}

fn today() -> u64 {
    crate::now_secs() / 86_400
}

/// What the chain says about an outstanding authorization ([`SpendPolicy::reconcile`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizationFate {
    /// Used (settled): it stays counted.
    Used,
    /// Can never be used: expired unused, or cancelled. Its amount is given back.
    Unusable,
    /// Still valid and unused: it may yet be settled.
    Open,
}

impl SpendPolicy {
    /// A policy; the daily total and outstanding authorizations are read from (and written
    /// to) `ledger_path` when given.
    pub fn new(limits: SpendLimits, ledger_path: Option<PathBuf>) -> Result<Self, X402Error> {
        let mut state = State {
            day: today(),
            spent: U256::ZERO,
            outstanding: Vec::new(),
        };
        if let Some(p) = &ledger_path
            && let Ok(text) = std::fs::read_to_string(p)
        {
            let d: DayLedger =
                serde_json::from_str(&text).map_err(|e| X402Error::LedgerCorrupt {
                    path: p.clone(),
                    reason: e.to_string(),
                })?;
            if d.day == state.day {
                state.spent = U256::from_str(&d.spent).map_err(|_| X402Error::LedgerCorrupt {
                    path: p.clone(),
                    reason: "the total is not a number".into(),
                })?;
                state.outstanding = d.outstanding;
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

    /// Spent today (atomic units), outstanding authorizations included.
    pub fn spent_today(&self) -> U256 {
        let s = self.state.lock();
        if s.day == today() {
            s.spent
        } else {
            U256::ZERO
        }
    }

    /// Outstanding authorizations of today.
    pub fn outstanding(&self) -> Vec<Outstanding> {
        let s = self.state.lock();
        if s.day == today() {
            s.outstanding.clone()
        } else {
            Vec::new()
        }
    }

    /// Why `req` may not be paid, or its amount (nothing is counted).
    pub fn admits(&self, req: &PaymentRequirements) -> Result<U256, PolicyRefusal> {
        let amount = self.static_checks(req)?;
        let spent = self.spent_today();
        self.check_day(spent, amount)?;
        Ok(amount)
    }

    fn static_checks(&self, req: &PaymentRequirements) -> Result<U256, PolicyRefusal> {
        let l = &self.limits;
        let malformed = |field, value: &str, expected| PolicyRefusal::Malformed {
            field,
            value: value.to_string(),
            expected,
        };
        if !l.networks.is_empty() && !l.networks.contains(&req.network) {
            return Err(PolicyRefusal::Network(req.network.clone()));
        }
        let asset = Address::from_str(&req.asset)
            .map_err(|_| malformed("asset", &req.asset, "an address"))?;
        if !l.assets.is_empty() && !l.assets.contains(&asset) {
            return Err(PolicyRefusal::Asset(asset));
        }
        let to = Address::from_str(&req.pay_to)
            .map_err(|_| malformed("payTo", &req.pay_to, "an address"))?;
        if !l.recipients.is_empty() && !l.recipients.contains(&to) {
            return Err(PolicyRefusal::Recipient(to));
        }
        let amount = U256::from_str_radix(&req.amount, 10)
            .map_err(|_| malformed("amount", &req.amount, "a decimal integer"))?;
        if let Some(max) = l.max_per_request
            && amount > max
        {
            return Err(PolicyRefusal::OverPerRequest { amount, max });
        }
        Ok(amount)
    }

    fn check_day(&self, spent: U256, amount: U256) -> Result<(), PolicyRefusal> {
        if let Some(max) = self.limits.max_per_day {
            let after = spent.saturating_add(amount);
            if after > max {
                return Err(PolicyRefusal::OverPerDay { amount, after, max });
            }
        }
        Ok(())
    }

    /// Checks `req` and counts its amount in one step, persisting the new total; returns the
    /// amount. Concurrent callers cannot both pass a cap that only one of them fits under.
    pub fn reserve(&self, req: &PaymentRequirements) -> Result<U256, X402Error> {
        let refused = |r: PolicyRefusal| X402Error::Policy(vec![r.into()]);
        let amount = self.static_checks(req).map_err(refused)?;
        self.update(|s| {
            self.check_day(s.spent, amount).map_err(refused)?;
            s.spent = s.spent.saturating_add(amount);
            Ok(())
        })?;
        Ok(amount)
    }

    /// Remembers a signed authorization (after [`reserve`](Self::reserve), before sending).
    pub fn add_outstanding(&self, o: Outstanding) -> Result<(), X402Error> {
        self.update(|s| {
            s.outstanding.push(o);
            Ok(())
        })
    }

    /// The authorization was settled: it stays counted and is no longer outstanding.
    pub fn settled(&self, nonce: B256) -> Result<(), X402Error> {
        self.update(|s| {
            s.outstanding.retain(|o| o.nonce != nonce);
            Ok(())
        })
    }

    /// Applies what the chain says about outstanding authorizations: used ones stay counted,
    /// unusable ones are given back, open ones stay outstanding. `fate` is asked for each.
    pub async fn reconcile<F, Fut>(&self, mut fate: F) -> Result<U256, X402Error>
    where
        F: FnMut(Outstanding) -> Fut,
        Fut: Future<Output = Result<AuthorizationFate, X402Error>>,
    {
        let mut refunded = U256::ZERO;
        for o in self.outstanding() {
            match fate(o.clone()).await? {
                AuthorizationFate::Open => {}
                AuthorizationFate::Used => self.settled(o.nonce)?,
                AuthorizationFate::Unusable => {
                    let amount = U256::from_str(&o.amount).unwrap_or_default();
                    self.update(|s| {
                        if let Some(i) = s.outstanding.iter().position(|x| x.nonce == o.nonce) {
                            s.outstanding.swap_remove(i);
                            s.spent = s.spent.saturating_sub(amount);
                        }
                        Ok(())
                    })?;
                    refunded = refunded.saturating_add(amount);
                }
            }
        }
        Ok(refunded)
    }

    /// Applies `f` to today's state under the lock and persists the result; nothing changes
    /// when `f` fails.
    fn update(&self, f: impl FnOnce(&mut State) -> Result<(), X402Error>) -> Result<(), X402Error> {
        let mut s = self.state.lock();
        // Other processes (several `txnchain pay` at once) share the ledger file: hold its
        // lock, and start from what is on disk, for the whole check-and-write.
        let _file_lock = self.lock_ledger()?;
        if let Some(on_disk) = self.read_ledger()? {
            *s = on_disk;
        }
        let d = today();
        if s.day != d {
            *s = State {
                day: d,
                spent: U256::ZERO,
                outstanding: Vec::new(),
            };
        }
        let mut next = s.clone();
        f(&mut next)?;
        self.persist(&next)?;
        *s = next;
        Ok(())
    }

    /// An exclusive lock on `<ledger>.lock` (released when dropped); `None` without a ledger.
    fn lock_ledger(&self) -> Result<Option<std::fs::File>, X402Error> {
        let Some(p) = &self.ledger_path else {
            return Ok(None);
        };
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(p.with_extension("lock"))?;
        f.lock()?;
        Ok(Some(f))
    }

    /// Today's state as the ledger file holds it (`None`: no file, or another day).
    fn read_ledger(&self) -> Result<Option<State>, X402Error> {
        let Some(p) = &self.ledger_path else {
            return Ok(None);
        };
        let text = match std::fs::read_to_string(p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let d: DayLedger = serde_json::from_str(&text).map_err(|e| X402Error::LedgerCorrupt {
            path: p.clone(),
            reason: e.to_string(),
        })?;
        if d.day != today() {
            return Ok(None);
        }
        let spent = U256::from_str(&d.spent).map_err(|_| X402Error::LedgerCorrupt {
            path: p.clone(),
            reason: "the total is not a number".into(),
        })?;
        Ok(Some(State {
            day: d.day,
            spent,
            outstanding: d.outstanding,
        }))
    }

    fn persist(&self, s: &State) -> Result<(), X402Error> {
        let Some(p) = &self.ledger_path else {
            return Ok(());
        };
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_string(&DayLedger {
            day: s.day,
            spent: s.spent.to_string(),
            outstanding: s.outstanding.clone(),
        })
        .map_err(X402Error::json("spend ledger"))?;
        let tmp = p.with_extension("tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, p)?;
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

    fn outstanding(nonce: u8, amount: u64) -> Outstanding {
        Outstanding {
            network: "eip155:424242".into(),
            asset: Address::repeat_byte(4),
            from: Address::repeat_byte(1),
            nonce: B256::repeat_byte(nonce),
            amount: amount.to_string(),
            valid_before: 0,
        }
    }

    #[test]
    fn limits_and_persistence() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("spend.json");
        let limits = SpendLimits {
            max_per_request: Some(U256::from(50_000)),
            max_per_day: Some(U256::from(60_000)),
            networks: ["eip155:424242".to_string()].into(),
            ..Default::default()
        };
        let p = SpendPolicy::new(limits.clone(), Some(path.clone()))?;
        assert!(p.admits(&req("60000")).is_err());
        assert_eq!(p.admits(&req("40000")), Ok(U256::from(40_000)));
        assert_eq!(p.reserve(&req("40000"))?, U256::from(40_000));
        assert!(p.admits(&req("30000")).is_err());
        assert!(p.reserve(&req("30000")).is_err());
        // Persisted across restarts.
        let p2 = SpendPolicy::new(limits, Some(path.clone()))?;
        assert_eq!(p2.spent_today(), U256::from(40_000));
        assert!(p2.admits(&req("30000")).is_err());
        let mut other = req("1");
        other.network = "eip155:1".into();
        assert!(p2.admits(&other).is_err());
        Ok(())
    }

    #[test]
    fn concurrent_reservations_cannot_both_pass_the_daily_cap() {
        let limits = SpendLimits {
            max_per_day: Some(U256::from(100)),
            ..Default::default()
        };
        let p = std::sync::Arc::new(SpendPolicy::new(limits, None).unwrap());
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let p = p.clone();
                std::thread::spawn(move || p.reserve(&req("30")).is_ok())
            })
            .collect();
        let passed = threads
            .into_iter()
            .map(|t| t.join().unwrap_or(false))
            .filter(|ok| *ok)
            .count();
        assert_eq!(passed, 3);
        assert_eq!(p.spent_today(), U256::from(90));
    }

    #[test]
    fn policies_sharing_a_ledger_file_share_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spend.json");
        let limits = SpendLimits {
            max_per_day: Some(U256::from(100)),
            ..Default::default()
        };
        // As several `txnchain pay` processes would: each its own policy on the same file.
        let threads: Vec<_> = (0..12)
            .map(|_| {
                let (limits, path) = (limits.clone(), path.clone());
                std::thread::spawn(move || {
                    let p = SpendPolicy::new(limits, Some(path)).unwrap();
                    p.reserve(&req("30")).is_ok()
                })
            })
            .collect();
        let passed = threads
            .into_iter()
            .map(|t| t.join().unwrap_or(false))
            .filter(|ok| *ok)
            .count();
        assert_eq!(passed, 3);
        let p = SpendPolicy::new(limits, Some(path)).unwrap();
        assert_eq!(p.spent_today(), U256::from(90));
    }

    #[tokio::test]
    async fn only_proven_unusable_authorizations_are_given_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spend.json");
        let p = SpendPolicy::new(SpendLimits::default(), Some(path.clone())).unwrap();
        for (n, amount) in [(1u8, 10u64), (2, 20), (3, 40)] {
            p.reserve(&req(&amount.to_string())).unwrap();
            p.add_outstanding(outstanding(n, amount)).unwrap();
        }
        assert_eq!(p.spent_today(), U256::from(70));
        let refunded = p
            .reconcile(|o| async move {
                Ok(match o.nonce[0] {
                    1 => AuthorizationFate::Used,
                    2 => AuthorizationFate::Unusable,
                    _ => AuthorizationFate::Open,
                })
            })
            .await
            .unwrap();
        assert_eq!(refunded, U256::from(20));
        assert_eq!(p.spent_today(), U256::from(50));
        let left: Vec<u8> = p.outstanding().iter().map(|o| o.nonce[0]).collect();
        assert_eq!(left, [3]);
        // Persisted: a restart sees the same.
        let again = SpendPolicy::new(SpendLimits::default(), Some(path)).unwrap();
        assert_eq!(again.spent_today(), U256::from(50));
        assert_eq!(again.outstanding().len(), 1);
    }
}
