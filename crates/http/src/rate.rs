//! Token-bucket rate limiting per client, with an optional global bucket.
//!
//! The per-client map is bounded: a bucket that has refilled to its burst carries no
//! information (a fresh bucket would behave the same), so when the map is full such buckets are
//! dropped first; if every bucket is still in use, new clients share one overflow bucket
//! rather than growing the map. An attacker rotating addresses therefore costs at most
//! `max_clients` entries and only throttles itself and other newcomers, never known clients.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::ClientKey;

/// Rates of a [`RateLimiter`].
#[derive(Debug, Clone, Copy)]
pub struct RateConfig {
    /// Sustained requests per second per client.
    pub per_client_per_sec: f64,
    /// Requests a client may make at once.
    pub per_client_burst: f64,
    /// Sustained requests per second over all clients (`None`: no global limit).
    pub global_per_sec: Option<f64>,
    /// Requests all clients together may make at once (with [`RateConfig::global_per_sec`]).
    pub global_burst: f64,
    /// Clients tracked at most.
    pub max_clients: usize,
}

impl RateConfig {
    /// `per_sec` per client with a burst of twice that, no global limit, 100,000 clients.
    pub fn per_client(per_sec: u32) -> Self {
        let per_sec = f64::from(per_sec.max(1));
        RateConfig::new(per_sec, per_sec * 2.0)
    }

    /// `per_sec` per client (fractions allowed: 0.5 is one request every 2 s) after a burst
    /// of `burst`, no global limit, 100,000 clients.
    pub fn new(per_sec: f64, burst: f64) -> Self {
        RateConfig {
            per_client_per_sec: positive(per_sec),
            per_client_burst: burst.max(1.0),
            global_per_sec: None,
            global_burst: 0.0,
            max_clients: 100_000,
        }
    }

    /// With a global limit of `per_sec` (burst: twice that).
    pub fn with_global(self, per_sec: Option<u32>) -> Self {
        match per_sec {
            Some(r) => {
                let r = f64::from(r.max(1));
                self.with_global_rate(r, r * 2.0)
            }
            None => RateConfig {
                global_per_sec: None,
                ..self
            },
        }
    }

    /// With a global limit of `per_sec` after a burst of `burst`, for all clients together.
    pub fn with_global_rate(mut self, per_sec: f64, burst: f64) -> Self {
        self.global_per_sec = Some(positive(per_sec));
        self.global_burst = burst.max(1.0);
        self
    }

    /// Track at most `max_clients` clients (at least 1).
    pub fn with_max_clients(mut self, max_clients: usize) -> Self {
        self.max_clients = max_clients.max(1);
        self
    }
}

/// A rate that is finite and above zero (1 per second otherwise).
fn positive(rate: f64) -> f64 {
    if rate.is_finite() && rate > 0.0 {
        rate
    } else {
        1.0
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Self {
        Bucket {
            tokens: burst,
            at: now,
        }
    }

    fn refill(&mut self, rate: f64, burst: f64, now: Instant) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + dt * rate).min(burst);
        self.at = now;
    }

    /// Takes a token, or says how long until one is there.
    fn take(&mut self, rate: f64) -> Result<(), Duration> {
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate))
        }
    }
}

struct Buckets<K> {
    clients: HashMap<K, Bucket>,
    overflow: Bucket,
    global: Bucket,
}

/// A refused request: retry after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limit exceeded; retry after {} s", retry_after_secs(*.0))]
pub struct RateLimited(pub Duration);

impl RateLimited {
    /// Whole seconds for a `Retry-After` header (at least 1).
    pub fn retry_after_secs(&self) -> u64 {
        retry_after_secs(self.0)
    }
}

fn retry_after_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0).max(u64::from(d.as_secs() == 0))
}

/// Token buckets per client (by default per [`ClientKey`]; any key works, e.g. a payer's
/// address).
pub struct RateLimiter<K = ClientKey> {
    config: RateConfig,
    buckets: Mutex<Buckets<K>>,
}

impl<K> std::fmt::Debug for RateLimiter<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Copy> RateLimiter<K> {
    /// A limiter with `config`.
    pub fn new(config: RateConfig) -> Self {
        let now = Instant::now();
        let global_burst = config.global_burst;
        RateLimiter {
            buckets: Mutex::new(Buckets {
                clients: HashMap::new(),
                overflow: Bucket::full(config.per_client_burst, now),
                global: Bucket::full(global_burst, now),
            }),
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RateConfig {
        &self.config
    }

    /// Takes one request's token for `client`.
    pub fn check(&self, client: K) -> Result<(), RateLimited> {
        self.check_at(client, Instant::now())
    }

    fn check_at(&self, client: K, now: Instant) -> Result<(), RateLimited> {
        let c = &self.config;
        let (rate, burst) = (c.per_client_per_sec, c.per_client_burst);
        let mut b = self.buckets.lock();
        if let Some(g) = c.global_per_sec {
            b.global.refill(g, c.global_burst, now);
            if b.global.tokens < 1.0 {
                return Err(RateLimited(Duration::from_secs_f64(
                    (1.0 - b.global.tokens) / g,
                )));
            }
        }
        if !b.clients.contains_key(&client) && b.clients.len() >= c.max_clients {
            b.clients.retain(|_, bucket| {
                let mut bucket = *bucket;
                bucket.refill(rate, burst, now);
                bucket.tokens < burst
            });
        }
        let outcome = if b.clients.len() < c.max_clients || b.clients.contains_key(&client) {
            let bucket = b
                .clients
                .entry(client)
                .or_insert_with(|| Bucket::full(burst, now));
            bucket.refill(rate, burst, now);
            bucket.take(rate)
        } else {
            b.overflow.refill(rate, burst, now);
            b.overflow.take(rate)
        };
        outcome.map_err(RateLimited)?;
        if c.global_per_sec.is_some() {
            b.global.tokens -= 1.0;
        }
        Ok(())
    }

    /// Clients tracked now.
    pub fn tracked_clients(&self) -> usize {
        self.buckets.lock().clients.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u32) -> ClientKey {
        ClientKey::of(std::net::IpAddr::from(std::net::Ipv4Addr::from(n)))
    }

    #[test]
    fn burst_then_refill_with_retry_after() {
        let l: RateLimiter = RateLimiter::new(RateConfig::per_client(10));
        let t0 = Instant::now();
        for _ in 0..20 {
            l.check_at(key(1), t0).unwrap();
        }
        let refused = l.check_at(key(1), t0).unwrap_err();
        assert_eq!(refused.retry_after_secs(), 1);
        // Another client is unaffected.
        l.check_at(key(2), t0).unwrap();
        // After 100 ms one token is back.
        l.check_at(key(1), t0 + Duration::from_millis(100)).unwrap();
        assert!(l.check_at(key(1), t0 + Duration::from_millis(100)).is_err());
    }

    #[test]
    fn the_map_stays_bounded_and_known_clients_keep_their_bucket() {
        let mut config = RateConfig::per_client(1);
        config.max_clients = 10;
        let l: RateLimiter = RateLimiter::new(config);
        let t0 = Instant::now();
        // A known client, mid-burst.
        l.check_at(key(0), t0).unwrap();
        for i in 1..10_000 {
            let _ = l.check_at(key(i), t0);
        }
        assert!(l.tracked_clients() <= 10);
        // key(0) still has exactly one token left (burst 2, one used).
        l.check_at(key(0), t0).unwrap();
        assert!(l.check_at(key(0), t0).is_err());
        // Once their buckets are full again, the map makes room for newcomers.
        let later = t0 + Duration::from_secs(10);
        l.check_at(key(20_000), later).unwrap();
        assert!(l.tracked_clients() <= 10);
    }

    #[test]
    fn fractional_rates_a_global_burst_and_ipv6_by_64() {
        // One per second after a burst of 2 per client; 3 at once for everyone.
        let l: RateLimiter = RateLimiter::new(RateConfig::new(1.0, 2.0).with_global_rate(0.5, 3.0));
        let t0 = Instant::now();
        let v6 = |text: &str| ClientKey::of(text.parse::<std::net::IpAddr>().unwrap());
        l.check_at(v6("2001:db8::1"), t0).unwrap();
        // The same /64 is the same client ...
        l.check_at(v6("2001:db8::ffff"), t0).unwrap();
        let refused = l.check_at(v6("2001:db8::2"), t0).unwrap_err();
        assert_eq!(refused.retry_after_secs(), 1);
        // ... another /64 is not, but the global burst of 3 is then spent.
        l.check_at(v6("2001:db8:0:1::1"), t0).unwrap();
        let global = l.check_at(key(7), t0).unwrap_err();
        assert_eq!(
            global.retry_after_secs(),
            2,
            "0.5 per second: a token in 2 s"
        );
        l.check_at(key(7), t0 + Duration::from_secs(2)).unwrap();
    }

    #[test]
    fn the_global_bucket_limits_everyone() {
        let l: RateLimiter = RateLimiter::new(RateConfig::per_client(1000).with_global(Some(5)));
        let t0 = Instant::now();
        for i in 0..10 {
            l.check_at(key(i), t0).unwrap();
        }
        assert!(l.check_at(key(99), t0).is_err());
    }
}
