//! The accept loop every TxnChain listener runs (JSON-RPC, admin, paywall, facilitator).
//!
//! `axum::serve` runs hyper without a timer: a client that sends half a request header, or
//! never reads its response, holds a connection (and its task) forever, and accepted
//! connections are not counted. Here every connection is:
//!
//! - counted against a global cap and a per-client cap ([`ClientKey`]: IPv4 address or IPv6
//!   /64); over either, the connection gets a one-shot `503` with a JSON body and is closed;
//! - given a header deadline: the request line and headers must arrive within
//!   [`ServeLimits::header_read_timeout`], which is also how long an idle keep-alive
//!   connection may wait for its next request (hyper starts the timer when it waits for a
//!   head);
//! - given a write-stall deadline: a write that makes no progress for
//!   [`ServeLimits::write_stall_timeout`] (a client that stopped reading) closes it;
//! - limited in header size ([`ServeLimits::max_header_bytes`]);
//! - HTTP/1.1 only (with upgrades, for WebSocket): no HTTP/2 surface to defend.
//!
//! Request bodies are the handlers' business: read them with
//! [`read_limited`](crate::read_limited), which has its own size limit and deadline.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Sleep;
use tower::ServiceExt;

use crate::{ClientKey, HttpError, Quota, QuotaError};

/// Connection limits and timeouts of a listener.
#[derive(Debug, Clone)]
pub struct ServeLimits {
    /// Open connections at most (0: no limit).
    pub max_connections: usize,
    /// Open connections per client at most (0: no limit).
    pub max_connections_per_client: usize,
    /// Time to receive a request's line and headers, and the longest an idle keep-alive
    /// connection waits for the next request.
    pub header_read_timeout: Duration,
    /// A response write that makes no progress for this long closes the connection.
    pub write_stall_timeout: Duration,
    /// Largest request head (line + headers) in bytes.
    pub max_header_bytes: usize,
    /// At shutdown, how long open connections may take to finish.
    pub shutdown_grace: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            max_connections: default_max_connections(),
            max_connections_per_client: 256,
            header_read_timeout: Duration::from_secs(20),
            write_stall_timeout: Duration::from_secs(30),
            max_header_bytes: 64 * 1024,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// 4096, or three quarters of the process's open-file limit when that is lower (so that the
/// cap is reached before `accept` starts failing for everyone).
fn default_max_connections() -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<usize>().ok())
        });
    match soft {
        Some(n) => (n * 3 / 4).clamp(64, 4096),
        None => 4096,
    }
}

/// Counters of a listener, for `/metrics`.
#[derive(Debug, Default)]
pub struct ServeMetrics {
    /// Connections accepted and served.
    pub accepted: AtomicU64,
    /// Connections refused: global cap.
    pub refused_global: AtomicU64,
    /// Connections refused: per-client cap.
    pub refused_per_client: AtomicU64,
    /// Connections closed because a write stalled.
    pub write_stalls: AtomicU64,
    /// `accept` errors (e.g. out of file descriptors).
    pub accept_errors: AtomicU64,
}

impl ServeMetrics {
    /// Prometheus text for these counters, labelled with `listener`.
    pub fn render(&self, out: &mut String, listener: &str, open: usize) {
        use crate::prometheus::{family, label_value};
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let listener = label_value(listener);
        let one = format!("{{listener=\"{listener}\"}}");
        family(
            out,
            "txnchain_http_connections_open",
            "gauge",
            "Open TCP connections.",
            [(&one, open as u64)],
        );
        family(
            out,
            "txnchain_http_connections_total",
            "counter",
            "Accepted TCP connections.",
            [(&one, l(&self.accepted))],
        );
        family(
            out,
            "txnchain_http_connections_refused_total",
            "counter",
            "Connections refused by a connection cap.",
            [
                (
                    format!("{{listener=\"{listener}\",cap=\"global\"}}"),
                    l(&self.refused_global),
                ),
                (
                    format!("{{listener=\"{listener}\",cap=\"per_client\"}}"),
                    l(&self.refused_per_client),
                ),
            ],
        );
        family(
            out,
            "txnchain_http_write_stalls_total",
            "counter",
            "Connections closed because the client stopped reading.",
            [(&one, l(&self.write_stalls))],
        );
        family(
            out,
            "txnchain_http_accept_errors_total",
            "counter",
            "Errors accepting a connection (e.g. out of file descriptors).",
            [(&one, l(&self.accept_errors))],
        );
    }
}

/// A listener being served: its address, counters and connection quota.
#[derive(Debug, Clone)]
pub struct Served {
    /// Counters.
    pub metrics: Arc<ServeMetrics>,
    /// The connection quota (open connections per client and in all).
    pub connections: Arc<Quota>,
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets open connections finish
/// for [`ServeLimits::shutdown_grace`]. Handlers see the peer as
/// `ConnectInfo<SocketAddr>` (as with axum's `into_make_service_with_connect_info`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), HttpError> {
    let served = Served {
        metrics: Arc::new(ServeMetrics::default()),
        connections: Quota::new(
            "connections",
            limits.max_connections,
            limits.max_connections_per_client,
        ),
    };
    serve_with(listener, router, limits, served, shutdown).await
}

/// [`serve`] with counters and quota supplied by the caller (to render them in `/metrics`).
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    served: Served,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), HttpError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = &mut shutdown => break,
        };
        // Reap finished connection tasks so the set does not grow.
        while tasks.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                served.metrics.accept_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "accept failed");
                // Out of descriptors or memory: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let client = ClientKey::of_peer(peer);
        let guard = match served.connections.try_acquire(client) {
            Ok(g) => g,
            Err(e) => {
                let counter = match e {
                    QuotaError::Global { .. } => &served.metrics.refused_global,
                    QuotaError::PerClient { .. } => &served.metrics.refused_per_client,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%client, error = %e, "refusing connection");
                refuse(&stream, &e);
                continue;
            }
        };
        served.metrics.accepted.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(StallGuard::new(
            stream,
            limits.write_stall_timeout,
            Arc::clone(&served.metrics),
        ));
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(req)
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_header_size(limits.max_header_bytes.max(1024))
            .max_headers(128)
            .keep_alive(true);
        let conn = builder.serve_connection(io, service).with_upgrades();
        let mut stop = stop_rx.clone();
        let grace = limits.shutdown_grace;
        tasks.spawn(async move {
            let _guard = guard;
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::trace!(%peer, error = %e, "connection ended with an error");
                    }
                }
                _ = async { let _ = stop.wait_for(|s| *s).await; } => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(grace, conn).await;
                }
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let grace = limits.shutdown_grace + Duration::from_millis(500);
    let _ = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    tasks.abort_all();
    Ok(())
}

/// Tells a refused client why, without waiting on it: one non-blocking write, then close.
fn refuse(stream: &TcpStream, e: &QuotaError) {
    let body =
        serde_json::json!({"error": {"code": "too_many_connections", "message": e.to_string()}})
            .to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.try_write(response.as_bytes());
}

/// Passes reads through; fails a write that stays pending for longer than the stall timeout
/// (the peer stopped reading and the socket buffer is full).
struct StallGuard {
    inner: TcpStream,
    timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
    metrics: Arc<ServeMetrics>,
}

impl StallGuard {
    fn new(inner: TcpStream, timeout: Duration, metrics: Arc<ServeMetrics>) -> Self {
        StallGuard {
            inner,
            timeout,
            stalled: None,
            metrics,
        }
    }

    fn poll_progress<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match poll {
            Poll::Ready(r) => {
                self.stalled = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let timeout = self.timeout;
                let sleep = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                ready!(sleep.as_mut().poll(cx));
                self.metrics.write_stalls.fetch_add(1, Ordering::Relaxed);
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "client stopped reading",
                )))
            }
        }
    }
}

impl AsyncRead for StallGuard {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for StallGuard {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.poll_progress(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.poll_progress(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.poll_progress(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
