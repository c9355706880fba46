//! Counted resources with a global limit and a per-client limit: open connections, requests in
//! flight, WebSocket connections, installed filters. A [`QuotaGuard`] holds one unit and gives
//! it back when dropped, so nothing can leak a unit on an early return or a cancelled future.
//! The per-client map only holds clients that currently hold units, so it is bounded by the
//! global limit.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::ClientKey;

/// Why a unit was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    /// Every unit is in use.
    #[error("too many {what} (limit {limit})")]
    Global {
        /// What is counted.
        what: &'static str,
        /// The global limit.
        limit: usize,
    },
    /// This client holds its share.
    #[error("too many {what} from this client (limit {limit})")]
    PerClient {
        /// What is counted.
        what: &'static str,
        /// The per-client limit.
        limit: usize,
    },
}

#[derive(Default)]
struct Counts {
    total: usize,
    by_client: HashMap<ClientKey, usize>,
}

/// A resource counted globally and per client. `0` means no limit.
pub struct Quota {
    what: &'static str,
    global: usize,
    per_client: usize,
    counts: Mutex<Counts>,
}

impl std::fmt::Debug for Quota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quota")
            .field("what", &self.what)
            .field("global", &self.global)
            .field("per_client", &self.per_client)
            .field("in_use", &self.in_use())
            .finish()
    }
}

impl Quota {
    /// A quota on `what` (used in error messages, e.g. "connections").
    pub fn new(what: &'static str, global: usize, per_client: usize) -> Arc<Self> {
        Arc::new(Quota {
            what,
            global,
            per_client,
            counts: Mutex::new(Counts::default()),
        })
    }

    /// Takes one unit for `client`.
    pub fn try_acquire(self: &Arc<Self>, client: ClientKey) -> Result<QuotaGuard, QuotaError> {
        let mut c = self.counts.lock();
        if self.global != 0 && c.total >= self.global {
            return Err(QuotaError::Global {
                what: self.what,
                limit: self.global,
            });
        }
        let mine = c.by_client.get(&client).copied().unwrap_or(0);
        if self.per_client != 0 && mine >= self.per_client {
            return Err(QuotaError::PerClient {
                what: self.what,
                limit: self.per_client,
            });
        }
        c.total += 1;
        c.by_client.insert(client, mine + 1);
        Ok(QuotaGuard {
            quota: Arc::clone(self),
            client,
        })
    }

    /// Units in use.
    pub fn in_use(&self) -> usize {
        self.counts.lock().total
    }

    /// Units `client` holds.
    pub fn held_by(&self, client: ClientKey) -> usize {
        self.counts
            .lock()
            .by_client
            .get(&client)
            .copied()
            .unwrap_or(0)
    }

    /// Clients holding at least one unit.
    pub fn clients(&self) -> usize {
        self.counts.lock().by_client.len()
    }

    fn release(&self, client: ClientKey) {
        let mut c = self.counts.lock();
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.by_client.get_mut(&client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.by_client.remove(&client);
            }
        }
    }
}

/// One unit of a [`Quota`]; released on drop.
pub struct QuotaGuard {
    quota: Arc<Quota>,
    client: ClientKey,
}

impl QuotaGuard {
    /// The client holding it.
    pub fn client(&self) -> ClientKey {
        self.client
    }
}

impl std::fmt::Debug for QuotaGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QuotaGuard({} for {})", self.quota.what, self.client)
    }
}

impl Drop for QuotaGuard {
    fn drop(&mut self) {
        self.quota.release(self.client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> ClientKey {
        ClientKey::of(std::net::IpAddr::from([10, 0, 0, n]))
    }

    #[test]
    fn per_client_and_global_limits_and_release_on_drop() {
        let q = Quota::new("things", 3, 2);
        let a1 = q.try_acquire(key(1)).unwrap();
        let _a2 = q.try_acquire(key(1)).unwrap();
        assert_eq!(
            q.try_acquire(key(1)).unwrap_err(),
            QuotaError::PerClient {
                what: "things",
                limit: 2
            }
        );
        let _b1 = q.try_acquire(key(2)).unwrap();
        assert_eq!(
            q.try_acquire(key(3)).unwrap_err(),
            QuotaError::Global {
                what: "things",
                limit: 3
            }
        );
        drop(a1);
        assert_eq!(q.held_by(key(1)), 1);
        let _c = q.try_acquire(key(3)).unwrap();
        assert_eq!(q.in_use(), 3);
        assert_eq!(q.clients(), 3);
    }

    #[test]
    fn the_map_forgets_clients_that_hold_nothing() {
        let q = Quota::new("things", 0, 0);
        for i in 0..100 {
            drop(q.try_acquire(key(i)).unwrap());
        }
        assert_eq!(q.clients(), 0);
        assert_eq!(q.in_use(), 0);
    }
}
