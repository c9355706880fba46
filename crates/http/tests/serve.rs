//! The accept loop against raw sockets: caps, header deadlines, stalled readers.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use txnchain_http::{Quota, ServeLimits, ServeMetrics, Served, serve_with};

struct Server {
    addr: SocketAddr,
    served: Served,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
    }
}

async fn start(limits: ServeLimits) -> Server {
    let app = Router::new()
        .route(
            "/",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
        )
        .route("/big", get(|| async { vec![b'x'; 64 * 1024 * 1024] }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Served {
        metrics: std::sync::Arc::new(ServeMetrics::default()),
        connections: Quota::new(
            "connections",
            limits.max_connections,
            limits.max_connections_per_client,
        ),
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let s2 = served.clone();
    let task = tokio::spawn(async move {
        serve_with(listener, app, limits, s2, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Server {
        addr,
        served,
        stop: Some(tx),
        task,
    }
}

/// A connection from a chosen loopback source address (127.0.0.0/8 is all loopback on Linux).
async fn connect_from(src: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::from((src, 0)))
        .expect("bind a loopback source address");
    socket.connect(to).await.unwrap()
}

async fn get_root(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).to_string()
}

/// Reads until EOF or error; returns whether the peer closed within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn a_client_over_its_connection_cap_gets_503_and_others_are_served() {
    let server = start(ServeLimits {
        max_connections_per_client: 3,
        ..ServeLimits::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from([127, 0, 0, 2], server.addr).await);
    }
    // Let the server accept them.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut fourth = connect_from([127, 0, 0, 2], server.addr).await;
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), fourth.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(
        text.contains("too many connections from this client"),
        "{text}"
    );
    // Another client address is served, and sees its own address.
    let mut other = connect_from([127, 0, 0, 3], server.addr).await;
    let answer = get_root(&mut other).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("127.0.0.3"), "{answer}");
    // Closing one frees a slot.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut again = connect_from([127, 0, 0, 2], server.addr).await;
    assert!(get_root(&mut again).await.starts_with("HTTP/1.1 200"));
    assert_eq!(
        server
            .served
            .metrics
            .refused_per_client
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    server.stop().await;
}

#[tokio::test]
async fn half_sent_headers_and_idle_connections_are_closed_after_the_header_deadline() {
    let server = start(ServeLimits {
        header_read_timeout: Duration::from_millis(300),
        ..ServeLimits::default()
    })
    .await;
    // Slowloris: a request line and part of a header, then nothing.
    let mut slow = connect_from([127, 0, 0, 4], server.addr).await;
    slow.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nx-slow: ")
        .await
        .unwrap();
    assert!(closed_within(&mut slow, Duration::from_secs(3)).await);
    // Connected and silent.
    let mut silent = connect_from([127, 0, 0, 4], server.addr).await;
    assert!(closed_within(&mut silent, Duration::from_secs(3)).await);
    // Keep-alive after a request: closed once idle past the deadline.
    let mut idle = connect_from([127, 0, 0, 4], server.addr).await;
    assert!(get_root(&mut idle).await.starts_with("HTTP/1.1 200"));
    assert!(closed_within(&mut idle, Duration::from_secs(3)).await);
    // Every slot came back.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.served.connections.in_use(), 0);
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected() {
    let server = start(ServeLimits {
        write_stall_timeout: Duration::from_millis(300),
        ..ServeLimits::default()
    })
    .await;
    let mut reader = connect_from([127, 0, 0, 5], server.addr).await;
    reader
        .write_all(b"GET /big HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    // Never read: the server's writes stall once the socket buffers are full.
    let stalls = || {
        server
            .served
            .metrics
            .write_stalls
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while (stalls() == 0 || server.served.connections.in_use() > 0) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.served.connections.in_use(), 0);
    assert_eq!(stalls(), 1);
    drop(reader);
    server.stop().await;
}

#[tokio::test]
async fn the_global_cap_holds() {
    let server = start(ServeLimits {
        max_connections: 4,
        max_connections_per_client: 0,
        ..ServeLimits::default()
    })
    .await;
    let mut held = Vec::new();
    for i in 0..4u8 {
        held.push(connect_from([127, 0, 1, i + 1], server.addr).await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut over = connect_from([127, 0, 1, 9], server.addr).await;
    let mut buf = vec![0u8; 1024];
    let n = over.read(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("too many connections (limit 4)"), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_request_head_is_refused() {
    let server = start(ServeLimits::default()).await;
    let mut s = connect_from([127, 0, 0, 6], server.addr).await;
    let mut req = b"GET / HTTP/1.1\r\nhost: x\r\nx-big: ".to_vec();
    req.extend(std::iter::repeat_n(b'a', 100_000));
    req.extend_from_slice(b"\r\n\r\n");
    let _ = s.write_all(&req).await;
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 431"), "{text}");
    server.stop().await;
}
