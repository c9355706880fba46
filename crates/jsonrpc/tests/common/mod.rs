//! Shared test server: a module with a few methods and subscriptions, served on
//! 127.0.0.1:0.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use txnchain_jsonrpc::{RpcError, RpcModule, ServerConfig, router, serve};

#[derive(Default)]
pub(crate) struct TestCtx {
    pub notified: AtomicU64,
    pub active_streams: Arc<AtomicI64>,
}

struct StreamGuard(Arc<AtomicI64>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(crate) fn module() -> RpcModule<TestCtx> {
    let mut m = RpcModule::<TestCtx>::new();
    m.method("test_echo", |_, p| async move { p.parse::<Value>() })
        .unwrap()
        .method("test_add", |_, p| async move {
            let a: u64 = p.required(0)?;
            let b: u64 = p.required(1)?;
            p.check_max(2)?;
            Ok(json!(a + b))
        })
        .unwrap()
        .method("test_sleep", |_, p| async move {
            let ms: u64 = p.required(0)?;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(json!(ms))
        })
        .unwrap()
        .method("test_notify", |ctx, _| async move {
            ctx.notified.fetch_add(1, Ordering::SeqCst);
            Ok(Value::Null)
        })
        .unwrap()
        .method("test_panic", |_, _| async move {
            if true {
                panic!("boom");
            }
            Ok(Value::Null)
        })
        .unwrap()
        .method("test_big", |_, p| async move {
            let n: usize = p.required(0)?;
            Ok(json!("x".repeat(n)))
        })
        .unwrap()
        .method("test_revert", |_, _| async move {
            Err(RpcError::custom(
                3,
                "execution reverted",
                Some(json!("0x1234")),
            ))
        })
        .unwrap()
        .subscription(
            "test_subscribe",
            "test_subscription",
            "test_unsubscribe",
            |ctx, p, _conn| async move {
                let name = p.subscription_name()?;
                let guard = {
                    ctx.active_streams.fetch_add(1, Ordering::SeqCst);
                    StreamGuard(Arc::clone(&ctx.active_streams))
                };
                match name.as_str() {
                    // n items, 20 ms apart; n = 0 means forever.
                    "ticks" => {
                        let n: u64 = p.optional(1)?.unwrap_or(0);
                        Ok(
                            futures::stream::unfold((0u64, guard), move |(i, g)| async move {
                                if n != 0 && i >= n {
                                    return None;
                                }
                                tokio::time::sleep(Duration::from_millis(20)).await;
                                Some((json!(i), (i + 1, g)))
                            })
                            .boxed(),
                        )
                    }
                    // As fast as possible, 16 KiB items.
                    "flood" => {
                        let big = "y".repeat(16 * 1024);
                        Ok(futures::stream::unfold((0u64, guard), move |(i, g)| {
                            let big = big.clone();
                            async move {
                                tokio::task::yield_now().await;
                                Some((json!({"i": i, "pad": big}), (i + 1, g)))
                            }
                        })
                        .boxed())
                    }
                    other => Err(RpcError::unknown_subscription("test", other)),
                }
            },
        )
        .unwrap();
    m
}

pub(crate) struct Server {
    pub addr: SocketAddr,
    pub module: Arc<RpcModule<TestCtx>>,
    pub ctx: Arc<TestCtx>,
}

impl Server {
    pub(crate) fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
    pub(crate) fn ws_url(&self) -> String {
        format!("ws://{}/", self.addr)
    }
}

pub(crate) async fn start(config: ServerConfig) -> Server {
    // reqwest has no default rustls provider in this workspace.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let module = Arc::new(module());
    let ctx = Arc::new(TestCtx::default());
    let app = router(Arc::clone(&module), Arc::clone(&ctx), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { serve(listener, app).await.unwrap() });
    Server { addr, module, ctx }
}

/// A raw HTTP/1.1 exchange: returns (status, headers text, body).
pub(crate) async fn raw_http(addr: SocketAddr, request: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_owned(), body.as_bytes().to_vec())
}

/// [`raw_http`] from a chosen loopback source address (all of 127.0.0.0/8 is loopback).
pub(crate) async fn raw_http_from(
    src: [u8; 4],
    addr: SocketAddr,
    request: &[u8],
) -> (u16, String, Vec<u8>) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((src, 0))).unwrap();
    let mut s = socket.connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_owned(), body.as_bytes().to_vec())
}

/// Wait until `f` holds (polling), or panic after 5 s.
pub(crate) async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..250 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for: {what}");
}
