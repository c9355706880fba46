//! What the node serves at `GET /node/attestation`.
//!
//! The response body is an [`EvidenceBundle`] (`{platform, evidence,
//! identity_public_key, measurement, endorsements, insecure, nonce, version}`),
//! so `txnchain attest verify --file` reads a saved response as is.
//! Without `?nonce=` the node returns the evidence it made at start-up; with
//! `?nonce=<hex>` it asks the platform for a fresh report bound to that nonce,
//! which costs a round trip to the secure processor and is rate-limited
//! ([`RateLimiter`]: per client IP, IPv6 by /64, under a global cap).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::evidence::EvidenceBundle;
use crate::identity::{NodeIdentity, parse_nonce_hex};
use crate::platform::Platform;
use crate::verify::measurement_of;
use crate::{MAX_NONCE_LEN, TeeError};

/// The JSON body of `GET /node/attestation`.
pub type AttestationResponse = EvidenceBundle;

/// Produce an attestation response: fresh evidence from `platform` binding
/// `identity` (and `nonce`, if given).
pub fn attestation_response(
    platform: &dyn Platform,
    identity: &NodeIdentity,
    nonce: Option<&[u8]>,
) -> Result<AttestationResponse, TeeError> {
    if let Some(n) = nonce
        && (n.is_empty() || n.len() > MAX_NONCE_LEN)
    {
        return Err(TeeError::Nonce(format!(
            "{} bytes; 1 to {MAX_NONCE_LEN} allowed",
            n.len()
        )));
    }
    let report_data = identity.report_data(nonce);
    let produced = platform.attest(&report_data)?;
    let kind = platform.kind();
    Ok(EvidenceBundle {
        version: 1,
        platform: kind,
        measurement: measurement_of(kind, &produced.evidence),
        evidence: produced.evidence,
        identity_public_key: Some(identity.public_key_spki_der().to_vec()),
        nonce: nonce.map(<[u8]>::to_vec),
        endorsements: produced.endorsements,
        insecure: platform.is_insecure(),
        service_identity: None,
        service_statement: None,
    })
}

/// One token bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Self {
        Self {
            tokens: burst,
            last: now,
        }
    }

    /// The bucket refilled up to `now` (never backwards in time).
    fn refilled(self, rate: &Rate, now: Instant) -> Self {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        Self {
            tokens: (self.tokens + elapsed * rate.per_second).min(rate.burst),
            last: if now > self.last { now } else { self.last },
        }
    }

    /// Milliseconds until a token is available (at least 1).
    fn wait_ms(self, rate: &Rate) -> u64 {
        let wait = Duration::from_secs_f64(((1.0 - self.tokens) / rate.per_second).max(0.0));
        u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1)
    }
}

/// `burst` requests at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy)]
struct Rate {
    burst: f64,
    per_second: f64,
}

impl Rate {
    fn new(burst: u32, per_second: f64) -> Self {
        Self {
            burst: f64::from(burst.max(1)),
            per_second: if per_second.is_finite() && per_second > 0.0 {
                per_second
            } else {
                1.0
            },
        }
    }

    /// How long an untouched bucket takes to refill completely: after that it
    /// is the same as a new one and can be dropped.
    fn idle_after(&self) -> Duration {
        Duration::from_secs_f64((self.burst / self.per_second).min(86_400.0))
    }
}

/// Default number of clients the limiter tracks at once.
pub const DEFAULT_MAX_CLIENTS: usize = 4096;

/// The rate-limiting key of a client address: an IPv4 address as is (also
/// when written IPv4-mapped, `::ffff:a.b.c.d`), an IPv6 address collapsed to
/// its /64 prefix, since one host or site usually holds a whole /64.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[derive(Debug)]
struct LimiterState {
    global: Bucket,
    clients: HashMap<IpAddr, Bucket>,
    last_sweep: Instant,
}

/// The limiter for fresh (nonce) reports: a token bucket per client
/// ([`client_key`]: the IP, IPv6 by /64) and one global bucket that caps all
/// clients together, since every fresh report reaches the secure processor.
///
/// A request takes a token from its client's bucket and from the global one,
/// or from neither. The map of client buckets is bounded: buckets that have
/// refilled completely (idle clients) are dropped, and when
/// `max_clients` distinct clients are busy at once, the least recently
/// seen one is dropped to make room (the global bucket still bounds the total).
#[derive(Debug)]
pub struct RateLimiter {
    client: Rate,
    global: Rate,
    max_clients: usize,
    state: Mutex<LimiterState>,
}

impl RateLimiter {
    /// `per_client_burst` immediate requests and `per_client_per_second`
    /// sustained for each client; `global_burst` / `global_per_second` for
    /// all clients together; at most [`DEFAULT_MAX_CLIENTS`] client buckets.
    pub fn new(
        per_client_burst: u32,
        per_client_per_second: f64,
        global_burst: u32,
        global_per_second: f64,
    ) -> Self {
        let now = Instant::now();
        let global = Rate::new(global_burst, global_per_second);
        Self {
            client: Rate::new(per_client_burst, per_client_per_second),
            global,
            max_clients: DEFAULT_MAX_CLIENTS,
            state: Mutex::new(LimiterState {
                global: Bucket::full(global.burst, now),
                clients: HashMap::new(),
                last_sweep: now,
            }),
        }
    }

    /// Track at most `max_clients` client buckets (at least 1).
    pub fn with_max_clients(mut self, max_clients: usize) -> Self {
        self.max_clients = max_clients.max(1);
        self
    }

    /// Number of client buckets currently held.
    pub fn tracked_clients(&self) -> usize {
        self.lock().clients.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LimiterState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Take a token for `client` now, or say how long to wait.
    pub fn try_acquire(&self, client: IpAddr) -> Result<(), TeeError> {
        self.try_acquire_at(client, Instant::now())
    }

    /// Take a token for `client` at time `now` (monotonic; exposed for
    /// deterministic tests).
    pub fn try_acquire_at(&self, client: IpAddr, now: Instant) -> Result<(), TeeError> {
        let key = client_key(client);
        let mut state = self.lock();
        let idle = self.client.idle_after();
        if now.saturating_duration_since(state.last_sweep) >= idle {
            let client_rate = self.client;
            state
                .clients
                .retain(|_, b| b.refilled(&client_rate, now).tokens < client_rate.burst);
            state.last_sweep = now;
        }
        let bucket = state
            .clients
            .get(&key)
            .map_or(Bucket::full(self.client.burst, now), |b| {
                b.refilled(&self.client, now)
            });
        let global = state.global.refilled(&self.global, now);
        if bucket.tokens < 1.0 {
            state.clients.insert(key, bucket);
            return Err(TeeError::RateLimited {
                retry_after_ms: bucket.wait_ms(&self.client),
            });
        }
        if global.tokens < 1.0 {
            state.global = global;
            return Err(TeeError::RateLimited {
                retry_after_ms: global.wait_ms(&self.global),
            });
        }
        if !state.clients.contains_key(&key) && state.clients.len() >= self.max_clients {
            self.make_room(&mut state, now);
        }
        state.clients.insert(
            key,
            Bucket {
                tokens: bucket.tokens - 1.0,
                ..bucket
            },
        );
        state.global = Bucket {
            tokens: global.tokens - 1.0,
            ..global
        };
        Ok(())
    }

    /// Drop idle buckets; if none is idle, drop the least recently seen one.
    fn make_room(&self, state: &mut LimiterState, now: Instant) {
        let rate = self.client;
        state
            .clients
            .retain(|_, b| b.refilled(&rate, now).tokens < rate.burst);
        state.last_sweep = now;
        while state.clients.len() >= self.max_clients {
            let oldest = state
                .clients
                .iter()
                .min_by_key(|(_, b)| b.last)
                .map(|(k, _)| *k);
            match oldest {
                Some(k) => {
                    state.clients.remove(&k);
                }
                None => break,
            }
        }
    }
}

/// The node's attestation state: its platform, identity, the start-up
/// evidence, and the limiter for fresh (nonce) requests.
#[derive(Debug)]
pub struct NodeAttestation {
    platform: Arc<dyn Platform>,
    identity: Arc<NodeIdentity>,
    service: Option<(String, Vec<u8>)>,
    startup: AttestationResponse,
    limiter: RateLimiter,
}

impl NodeAttestation {
    /// Make the start-up evidence (no nonce) and keep it. Default limits for
    /// fresh reports: per client a burst of 5, then 1 per second; for all
    /// clients together a burst of 20, then 5 per second.
    pub fn new(platform: Arc<dyn Platform>, identity: Arc<NodeIdentity>) -> Result<Self, TeeError> {
        let startup = attestation_response(platform.as_ref(), &identity, None)?;
        Ok(Self {
            platform,
            identity,
            service: None,
            startup,
            limiter: RateLimiter::new(5, 1.0, 20, 5.0),
        })
    }

    /// Carry the network's service identity in every response, with this node's statement
    /// over it (`service_identity`, `service_statement`).
    pub fn with_service_identity(mut self, service_identity: &[u8; 32]) -> Self {
        let statement = self
            .identity
            .sign(&crate::evidence::service_statement_message(
                service_identity,
            ));
        let service = (format!("0x{}", hex::encode(service_identity)), statement);
        self.startup.service_identity = Some(service.0.clone());
        self.startup.service_statement = Some(service.1.clone());
        self.service = Some(service);
        self
    }

    /// Replace the rate limiter.
    pub fn with_limiter(mut self, limiter: RateLimiter) -> Self {
        self.limiter = limiter;
        self
    }

    /// The node identity.
    pub fn identity(&self) -> &Arc<NodeIdentity> {
        &self.identity
    }

    /// The platform.
    pub fn platform(&self) -> &Arc<dyn Platform> {
        &self.platform
    }

    /// The start-up evidence.
    pub fn startup(&self) -> &AttestationResponse {
        &self.startup
    }

    /// The limiter for fresh reports.
    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    /// Serve `GET /node/attestation[?nonce=<hex>]` to `client` (the peer's
    /// IP address; the limiter keys on it). Errors map to HTTP as:
    /// [`TeeError::Nonce`] → 400, [`TeeError::RateLimited`] → 429 with a
    /// `Retry-After` header of [`TeeError::retry_after_secs`], anything else → 503.
    pub fn respond(
        &self,
        client: IpAddr,
        nonce_hex: Option<&str>,
    ) -> Result<AttestationResponse, TeeError> {
        let Some(text) = nonce_hex else {
            return Ok(self.startup.clone());
        };
        let nonce = parse_nonce_hex(text)?;
        self.limiter.try_acquire(client)?;
        let mut bundle =
            attestation_response(self.platform.as_ref(), &self.identity, Some(&nonce))?;
        if let Some((identity, statement)) = &self.service {
            bundle.service_identity = Some(identity.clone());
            bundle.service_statement = Some(statement.clone());
        }
        Ok(bundle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn retry_ms(r: Result<(), TeeError>) -> u64 {
        match r {
            Err(TeeError::RateLimited { retry_after_ms }) => retry_after_ms,
            other => panic!("expected rate limit, got {other:?}"),
        }
    }

    #[test]
    fn rate_limiter_bursts_then_refills() {
        let l = RateLimiter::new(2, 1.0, 100, 100.0);
        let a = ip("192.0.2.1");
        let t0 = Instant::now();
        l.try_acquire_at(a, t0).unwrap();
        l.try_acquire_at(a, t0).unwrap();
        let ms = retry_ms(l.try_acquire_at(a, t0));
        assert!((900..=1000).contains(&ms), "{ms}");
        assert!(
            l.try_acquire_at(a, t0 + Duration::from_millis(500))
                .is_err()
        );
        l.try_acquire_at(a, t0 + Duration::from_millis(1100))
            .unwrap();
        assert!(
            l.try_acquire_at(a, t0 + Duration::from_millis(1200))
                .is_err()
        );
        // Long idle periods do not bank more than the burst.
        let later = t0 + Duration::from_secs(100);
        l.try_acquire_at(a, later).unwrap();
        l.try_acquire_at(a, later).unwrap();
        assert!(l.try_acquire_at(a, later).is_err());
    }

    #[test]
    fn one_client_exhausting_its_bucket_does_not_limit_another() {
        let l = RateLimiter::new(2, 0.01, 100, 100.0);
        let t0 = Instant::now();
        let (a, b) = (ip("192.0.2.1"), ip("198.51.100.7"));
        l.try_acquire_at(a, t0).unwrap();
        l.try_acquire_at(a, t0).unwrap();
        assert!(l.try_acquire_at(a, t0).is_err());
        l.try_acquire_at(b, t0).unwrap();
        l.try_acquire_at(b, t0).unwrap();
        assert!(l.try_acquire_at(b, t0).is_err());
        // An IPv4-mapped IPv6 address is the same client as the IPv4 one.
        assert!(l.try_acquire_at(ip("::ffff:192.0.2.1"), t0).is_err());
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64_prefix() {
        assert_eq!(
            client_key(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(client_key(ip("::ffff:10.1.2.3")), ip("10.1.2.3"));
        assert_eq!(client_key(ip("10.1.2.3")), ip("10.1.2.3"));
        let l = RateLimiter::new(1, 0.01, 100, 100.0);
        let t0 = Instant::now();
        l.try_acquire_at(ip("2001:db8:1:2::1"), t0).unwrap();
        // Another address in the same /64 shares the bucket ...
        assert!(l.try_acquire_at(ip("2001:db8:1:2:ffff::9"), t0).is_err());
        // ... another /64 does not.
        l.try_acquire_at(ip("2001:db8:1:3::1"), t0).unwrap();
    }

    #[test]
    fn the_global_cap_limits_all_clients_together() {
        let l = RateLimiter::new(5, 1.0, 3, 0.5);
        let t0 = Instant::now();
        for i in 0..3u8 {
            l.try_acquire_at(IpAddr::from([192, 0, 2, i]), t0).unwrap();
        }
        let ms = retry_ms(l.try_acquire_at(ip("192.0.2.200"), t0));
        assert!((1900..=2000).contains(&ms), "global refill at 0.5/s: {ms}");
        // A request refused by the global cap takes nothing from its client.
        let t1 = t0 + Duration::from_secs(2);
        l.try_acquire_at(ip("192.0.2.200"), t1).unwrap();
        assert!(l.try_acquire_at(ip("192.0.2.201"), t1).is_err());
    }

    #[test]
    fn the_client_map_is_bounded_and_idle_buckets_are_evicted() {
        let l = RateLimiter::new(2, 1.0, u32::MAX, 1e9).with_max_clients(8);
        let t0 = Instant::now();
        for i in 0..100u32 {
            let addr = IpAddr::from((0x0a00_0000 + i).to_be_bytes());
            l.try_acquire_at(addr, t0).unwrap();
            assert!(l.tracked_clients() <= 8, "{} buckets", l.tracked_clients());
        }
        // Under pressure the least recently seen bucket goes, not a busy one.
        let l = RateLimiter::new(1, 0.001, u32::MAX, 1e9).with_max_clients(2);
        let (a, b, c) = (ip("192.0.2.1"), ip("192.0.2.2"), ip("192.0.2.3"));
        l.try_acquire_at(a, t0).unwrap();
        l.try_acquire_at(b, t0 + Duration::from_millis(1)).unwrap();
        l.try_acquire_at(c, t0 + Duration::from_millis(2)).unwrap();
        assert_eq!(l.tracked_clients(), 2);
        assert!(l.try_acquire_at(b, t0 + Duration::from_millis(3)).is_err());
        // Buckets that have refilled completely are dropped by the next request.
        let l = RateLimiter::new(2, 1.0, u32::MAX, 1e9);
        for i in 0..50u32 {
            l.try_acquire_at(IpAddr::from((0x0a00_0000 + i).to_be_bytes()), t0)
                .unwrap();
        }
        assert_eq!(l.tracked_clients(), 50);
        l.try_acquire_at(ip("192.0.2.9"), t0 + Duration::from_secs(3))
            .unwrap();
        assert_eq!(l.tracked_clients(), 1);
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        for (ms, secs) in [(1, 1), (999, 1), (1000, 1), (1001, 2), (59_500, 60)] {
            let e = TeeError::RateLimited { retry_after_ms: ms };
            assert_eq!(e.retry_after_secs(), Some(secs), "{ms} ms");
        }
        assert_eq!(TeeError::Nonce("x".into()).retry_after_secs(), None);
    }
}
