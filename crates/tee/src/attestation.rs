//! What the node serves at `GET /node/attestation`.
//!
//! The response body is an [`EvidenceBundle`] (`{platform, evidence,
//! identity_public_key, measurement, endorsements, insecure, nonce, version}`),
//! so `txnchain attest verify --file` reads a saved response as is.
//! Without `?nonce=` the node returns the evidence it made at start-up; with
//! `?nonce=<hex>` it asks the platform for a fresh report bound to that nonce,
//! which costs a round trip to the secure processor and is rate-limited.

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
    })
}

/// A token bucket: `burst` requests at once, refilled at `per_second`.
#[derive(Debug)]
pub struct RateLimiter {
    burst: f64,
    per_second: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// A limiter allowing `burst` immediate requests and `per_second` sustained.
    pub fn new(burst: u32, per_second: f64) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            burst,
            per_second: if per_second.is_finite() && per_second > 0.0 {
                per_second
            } else {
                1.0
            },
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Take a token now, or say how long to wait.
    pub fn try_acquire(&self) -> Result<(), TeeError> {
        self.try_acquire_at(Instant::now())
    }

    /// Take a token at time `now` (monotonic; exposed for deterministic tests).
    pub fn try_acquire_at(&self, now: Instant) -> Result<(), TeeError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = *state;
        let elapsed = now.saturating_duration_since(last).as_secs_f64();
        let tokens = (tokens + elapsed * self.per_second).min(self.burst);
        let last = if now > last { now } else { last };
        if tokens >= 1.0 {
            *state = (tokens - 1.0, last);
            Ok(())
        } else {
            *state = (tokens, last);
            let wait = Duration::from_secs_f64((1.0 - tokens) / self.per_second);
            Err(TeeError::RateLimited {
                retry_after_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1),
            })
        }
    }
}

/// The node's attestation state: its platform, identity, the start-up
/// evidence, and the limiter for fresh (nonce) requests.
#[derive(Debug)]
pub struct NodeAttestation {
    platform: Arc<dyn Platform>,
    identity: Arc<NodeIdentity>,
    startup: AttestationResponse,
    limiter: RateLimiter,
}

impl NodeAttestation {
    /// Make the start-up evidence (no nonce) and keep it. Default limit for
    /// fresh reports: a burst of 5, then 1 per second.
    pub fn new(platform: Arc<dyn Platform>, identity: Arc<NodeIdentity>) -> Result<Self, TeeError> {
        let startup = attestation_response(platform.as_ref(), &identity, None)?;
        Ok(Self {
            platform,
            identity,
            startup,
            limiter: RateLimiter::new(5, 1.0),
        })
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

    /// Serve `GET /node/attestation[?nonce=<hex>]`. Errors map to HTTP as:
    /// [`TeeError::Nonce`] → 400, [`TeeError::RateLimited`] → 429 (with
    /// Retry-After), anything else → 503.
    pub fn respond(&self, nonce_hex: Option<&str>) -> Result<AttestationResponse, TeeError> {
        let Some(text) = nonce_hex else {
            return Ok(self.startup.clone());
        };
        let nonce = parse_nonce_hex(text)?;
        self.limiter.try_acquire()?;
        attestation_response(self.platform.as_ref(), &self.identity, Some(&nonce))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limiter_bursts_then_refills() {
        let l = RateLimiter::new(2, 1.0);
        let t0 = Instant::now();
        l.try_acquire_at(t0).unwrap();
        l.try_acquire_at(t0).unwrap();
        match l.try_acquire_at(t0) {
            Err(TeeError::RateLimited { retry_after_ms }) => {
                assert!((900..=1000).contains(&retry_after_ms), "{retry_after_ms}")
            }
            other => panic!("expected rate limit, got {other:?}"),
        }
        assert!(l.try_acquire_at(t0 + Duration::from_millis(500)).is_err());
        l.try_acquire_at(t0 + Duration::from_millis(1100)).unwrap();
        assert!(l.try_acquire_at(t0 + Duration::from_millis(1200)).is_err());
        // Long idle periods do not bank more than the burst.
        let later = t0 + Duration::from_secs(100);
        l.try_acquire_at(later).unwrap();
        l.try_acquire_at(later).unwrap();
        assert!(l.try_acquire_at(later).is_err());
    }
}
