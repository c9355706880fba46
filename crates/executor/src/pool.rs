//! A fixed set of worker threads for execution that is not block production: `eth_call`,
//! gas estimation, traces and log scans for RPC clients, simulations for the x402
//! facilitator. It keeps that work off the async runtime and off the threads that build and
//! apply blocks, and shares the workers fairly between clients.
//!
//! Each client (any key, e.g. an IP address) has its own queue, bounded; workers take one
//! job from each client with work in turn (round robin), so a client that queues a hundred
//! slow calls delays another client's call by at most one job per worker, not a hundred. A
//! full queue refuses at once ([`PoolError::Busy`]) instead of growing. A job whose caller
//! has gone away (timed out, disconnected) before it starts is skipped.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};
use tokio::sync::oneshot;

/// Why a job was not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// The caller's queue (or the whole pool's) is full.
    #[error("too many requests queued (limit {limit}{})", if *.per_client { " per client" } else { "" })]
    Busy {
        /// The limit that was hit.
        limit: usize,
        /// Whether it is the per-client limit.
        per_client: bool,
    },
    /// The job panicked or the pool is shutting down.
    #[error("execution failed")]
    Failed,
}

/// Sizes of an [`ExecPool`].
#[derive(Debug, Clone, Copy)]
pub struct PoolLimits {
    /// Worker threads.
    pub threads: usize,
    /// Jobs one client may have queued (not yet running).
    pub max_queued_per_client: usize,
    /// Jobs queued over all clients.
    pub max_queued: usize,
}

impl PoolLimits {
    /// One worker per core but one (so block production keeps a core), at least one; 64
    /// queued jobs per client, 4,096 in all.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        PoolLimits {
            threads: cores.saturating_sub(1).max(1),
            max_queued_per_client: 64,
            max_queued: 4096,
        }
    }
}

type Job = Box<dyn FnOnce() + Send>;

struct State<K> {
    queues: HashMap<K, VecDeque<Job>>,
    /// Clients with queued jobs, in serving order.
    ring: VecDeque<K>,
    queued: usize,
    running: usize,
    stopped: bool,
}

struct Shared<K> {
    state: Mutex<State<K>>,
    work: Condvar,
    limits: PoolLimits,
}

/// The pool; dropping the last handle stops the workers once their current job ends.
pub struct ExecPool<K> {
    shared: Arc<Shared<K>>,
    name: &'static str,
}

impl<K> std::fmt::Debug for ExecPool<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecPool")
            .field("name", &self.name)
            .field("limits", &self.shared.limits)
            .finish()
    }
}

impl<K: Hash + Eq + Copy + Send + 'static> ExecPool<K> {
    /// Starts `limits.threads` workers named `txnchain-<name>-<i>`.
    pub fn new(name: &'static str, limits: PoolLimits) -> Result<Self, std::io::Error> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queues: HashMap::new(),
                ring: VecDeque::new(),
                queued: 0,
                running: 0,
                stopped: false,
            }),
            work: Condvar::new(),
            limits,
        });
        for i in 0..limits.threads.max(1) {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("txnchain-{name}-{i}"))
                .spawn(move || worker(&shared))?;
        }
        Ok(ExecPool { shared, name })
    }

    /// Runs `f` on a worker for `client` and returns its result.
    pub async fn run<T, F>(&self, client: K, f: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            if tx.is_closed() {
                return; // the caller gave up before the job started
            }
            if let Ok(v) = catch_unwind(AssertUnwindSafe(f)) {
                let _ = tx.send(v);
            }
        });
        self.submit(client, job)?;
        rx.await.map_err(|_| PoolError::Failed)
    }

    fn submit(&self, client: K, job: Job) -> Result<(), PoolError> {
        let limits = self.shared.limits;
        let mut st = self.shared.state.lock();
        if st.stopped {
            return Err(PoolError::Failed);
        }
        if st.queued >= limits.max_queued {
            return Err(PoolError::Busy {
                limit: limits.max_queued,
                per_client: false,
            });
        }
        let queue = st.queues.entry(client).or_default();
        if queue.len() >= limits.max_queued_per_client {
            return Err(PoolError::Busy {
                limit: limits.max_queued_per_client,
                per_client: true,
            });
        }
        let was_idle = queue.is_empty();
        queue.push_back(job);
        st.queued += 1;
        if was_idle {
            st.ring.push_back(client);
        }
        drop(st);
        self.shared.work.notify_one();
        Ok(())
    }

    /// Jobs queued and running now.
    pub fn load(&self) -> (usize, usize) {
        let st = self.shared.state.lock();
        (st.queued, st.running)
    }
}

impl<K> Drop for ExecPool<K> {
    fn drop(&mut self) {
        self.shared.state.lock().stopped = true;
        self.shared.work.notify_all();
    }
}

fn worker<K: Hash + Eq + Copy>(shared: &Shared<K>) {
    loop {
        let job = {
            let mut st = shared.state.lock();
            loop {
                if st.stopped {
                    return;
                }
                if let Some(client) = st.ring.pop_front() {
                    let (job, more) = match st.queues.get_mut(&client) {
                        Some(q) => (q.pop_front(), !q.is_empty()),
                        None => (None, false),
                    };
                    if more {
                        st.ring.push_back(client);
                    } else {
                        st.queues.remove(&client);
                    }
                    if let Some(job) = job {
                        st.queued -= 1;
                        st.running += 1;
                        break job;
                    }
                    continue;
                }
                shared.work.wait(&mut st);
            }
        };
        job();
        shared.state.lock().running -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn pool(threads: usize, per_client: usize) -> ExecPool<u32> {
        ExecPool::new(
            "test",
            PoolLimits {
                threads,
                max_queued_per_client: per_client,
                max_queued: 1000,
            },
        )
        .unwrap()
    }

    #[tokio::test]
    async fn runs_jobs_and_returns_results() {
        let p = pool(2, 8);
        assert_eq!(p.run(1, || 40 + 2).await, Ok(42));
        // A panicking job is an error, and the worker survives it.
        assert_eq!(
            p.run(1, || -> u32 { panic!("boom") }).await,
            Err(PoolError::Failed)
        );
        assert_eq!(p.run(1, || 7).await, Ok(7));
    }

    #[tokio::test]
    async fn a_busy_client_does_not_starve_another() {
        let p = Arc::new(pool(1, 64));
        // Client 1 queues 20 jobs of 50 ms (one second of work on one worker).
        let mut hogs = Vec::new();
        for _ in 0..20 {
            let p = Arc::clone(&p);
            hogs.push(tokio::spawn(async move {
                p.run(1, || std::thread::sleep(Duration::from_millis(50)))
                    .await
            }));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Client 2's job runs after at most the hog's current job and the one it holds next.
        let started = Instant::now();
        p.run(2, || ()).await.unwrap();
        assert!(
            started.elapsed() < Duration::from_millis(300),
            "{:?}",
            started.elapsed()
        );
        for h in hogs {
            h.await.unwrap().unwrap();
        }
    }

    #[tokio::test]
    async fn a_full_client_queue_refuses_at_once() {
        let p = Arc::new(pool(1, 2));
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        // One running (blocked), two queued.
        let mut held = Vec::new();
        for _ in 0..3 {
            let p = Arc::clone(&p);
            let gate = Arc::clone(&gate);
            held.push(tokio::spawn(async move {
                p.run(1, move || {
                    let _ = gate.lock().recv();
                })
                .await
            }));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            p.run(1, || ()).await,
            Err(PoolError::Busy {
                limit: 2,
                per_client: true
            })
        );
        for _ in 0..3 {
            release.send(()).unwrap();
        }
        for h in held {
            h.await.unwrap().unwrap();
        }
        // A worker counts its job as running until the job has returned, which is just after
        // the caller has its result.
        let idle = std::time::Instant::now() + Duration::from_secs(5);
        while p.load() != (0, 0) && std::time::Instant::now() < idle {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(p.load(), (0, 0));
    }
}
