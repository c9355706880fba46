//! `GET /node/attestation[?nonce=<hex>]`: this node's evidence, binding its identity key to its
//! platform and measurement. With a nonce, a fresh report is requested from the secure processor,
//! rate-limited per client (the peer IP from axum's `ConnectInfo<SocketAddr>`, IPv6 by /64) under
//! a global cap, since every such request reaches the hardware: the shared token buckets of
//! [`txnchain_http::RateLimiter`]. A limited request gets `429 Too Many Requests` with a
//! `Retry-After` header (whole seconds); errors are the REST API's one format,
//! `{"error":{"code","message"}}` (`rate_limited`, `invalid_nonce`, `attestation_unavailable`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, Query};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use txnchain_http::{ClientKey, RateConfig, RateLimiter, json_error, too_many_requests};
use txnchain_tee::{NodeAttestation, TeeError, parse_nonce_hex};

#[derive(serde::Deserialize)]
struct Params {
    nonce: Option<String>,
}

/// Default limits of fresh reports: per client a burst of 5, then 1 per second; for all
/// clients together a burst of 20, then 5 per second; 4,096 clients tracked.
pub(crate) fn default_limits() -> RateConfig {
    RateConfig::new(1.0, 5.0)
        .with_global_rate(5.0, 20.0)
        .with_max_clients(4096)
}

/// The peer's IP address, from `ConnectInfo<SocketAddr>` (the node serves with
/// `into_make_service_with_connect_info::<SocketAddr>()`); loopback when absent.
struct PeerIp(IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for PeerIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(PeerIp(
            match ConnectInfo::<SocketAddr>::from_request_parts(parts, state).await {
                Ok(ConnectInfo(addr)) => addr.ip(),
                Err(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            },
        ))
    }
}

pub(crate) fn router(att: Arc<NodeAttestation>, limits: RateConfig) -> Router {
    let limiter = Arc::new(RateLimiter::new(limits));
    Router::new().route(
        "/node/attestation",
        get(move |PeerIp(peer): PeerIp, Query(p): Query<Params>| {
            let (att, limiter) = (att.clone(), limiter.clone());
            async move {
                let Some(text) = p.nonce else {
                    return Json(att.startup().clone()).into_response();
                };
                let nonce = match parse_nonce_hex(&text) {
                    Ok(n) => n,
                    Err(e) => return error_response(&e),
                };
                if let Err(limited) = limiter.check(ClientKey::of(peer)) {
                    tracing::debug!(%peer, "fresh attestation report refused: {limited}");
                    return too_many_requests(limited.retry_after_secs(), limited);
                }
                match tokio::task::spawn_blocking(move || att.fresh(&nonce)).await {
                    Ok(Ok(resp)) => Json(resp).into_response(),
                    Ok(Err(e)) => error_response(&e),
                    Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e),
                }
            }
        }),
    )
}

fn error_response(e: &TeeError) -> Response {
    match e {
        TeeError::Nonce(_) => json_error(StatusCode::BAD_REQUEST, "invalid_nonce", e),
        _ => json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "attestation_unavailable",
            e,
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use txnchain_tee::platform::VirtualPlatform;
    use txnchain_tee::{IdentityAlgorithm, NodeIdentity, Platform};

    use super::*;

    fn node() -> Arc<NodeAttestation> {
        let platform: Arc<dyn Platform> = Arc::new(VirtualPlatform::new(Some([7; 48]), [0; 32]));
        let identity = Arc::new(NodeIdentity::generate(IdentityAlgorithm::Ed25519).unwrap());
        Arc::new(NodeAttestation::new(platform, identity).unwrap())
    }

    /// A burst of 1 per client, then one per 1000 s; 100 at once for everyone.
    fn one_each() -> RateConfig {
        RateConfig::new(0.001, 1.0).with_global_rate(100.0, 100.0)
    }

    /// Serve the router on 127.0.0.1, with or without connect info.
    async fn serve(
        att: Arc<NodeAttestation>,
        limits: RateConfig,
        connect_info: bool,
    ) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = router(att, limits);
        tokio::spawn(async move {
            if connect_info {
                axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .await
            } else {
                axum::serve(listener, app.into_make_service()).await
            }
        });
        addr
    }

    struct Reply {
        status: u16,
        headers: String,
        body: serde_json::Value,
    }

    /// One HTTP/1.1 request from the local address `from` (any 127.0.0.0/8 address is loopback).
    async fn get(server: SocketAddr, from: Ipv4Addr, path: &str) -> Reply {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(IpAddr::V4(from), 0)).unwrap();
        let mut stream = socket.connect(server).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: node\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
            .await
            .unwrap()
            .unwrap();
        let text = String::from_utf8(raw).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        Reply {
            status,
            headers: head.to_ascii_lowercase(),
            body: serde_json::from_str(body.trim()).unwrap_or(serde_json::Value::Null),
        }
    }

    #[tokio::test]
    async fn fresh_reports_are_limited_per_peer_with_retry_after() {
        let server = serve(node(), one_each(), true).await;
        let (a, b) = (Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3));
        let ok = get(server, a, "/node/attestation?nonce=01").await;
        assert_eq!(ok.status, 200, "{}", ok.body);
        assert_eq!(ok.body["nonce"], "01");

        let limited = get(server, a, "/node/attestation?nonce=02").await;
        assert_eq!(limited.status, 429);
        assert_eq!(limited.body["error"]["code"], "rate_limited");
        assert!(
            limited.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("retry after")
        );
        // 1 token per 1000 s: the header says so in whole seconds.
        let retry_after: u64 = limited
            .headers
            .lines()
            .find_map(|l| l.strip_prefix("retry-after: "))
            .expect("Retry-After header")
            .trim()
            .parse()
            .unwrap();
        assert!((999..=1000).contains(&retry_after), "{retry_after}");

        // Another peer is not limited by the first one's requests.
        let other = get(server, b, "/node/attestation?nonce=03").await;
        assert_eq!(other.status, 200, "{}", other.body);
        // The start-up evidence is never limited; a bad nonce is a 400 without Retry-After.
        assert_eq!(get(server, a, "/node/attestation").await.status, 200);
        let bad = get(server, a, "/node/attestation?nonce=zz").await;
        assert_eq!(bad.status, 400);
        assert_eq!(bad.body["error"]["code"], "invalid_nonce");
        assert!(!bad.headers.contains("retry-after"));
    }

    #[tokio::test]
    async fn the_global_cap_holds_across_peers_and_bad_nonces_spend_nothing() {
        let limits = RateConfig::new(100.0, 100.0).with_global_rate(0.001, 2.0);
        let server = serve(node(), limits, true).await;
        let peer = |n| Ipv4Addr::new(127, 0, 0, n);
        for _ in 0..5 {
            let bad = get(server, peer(2), "/node/attestation?nonce=zz").await;
            assert_eq!(bad.status, 400);
        }
        assert_eq!(
            get(server, peer(2), "/node/attestation?nonce=01")
                .await
                .status,
            200
        );
        assert_eq!(
            get(server, peer(3), "/node/attestation?nonce=02")
                .await
                .status,
            200
        );
        let third = get(server, peer(4), "/node/attestation?nonce=03").await;
        assert_eq!(third.status, 429, "{}", third.body);
        assert_eq!(third.body["error"]["code"], "rate_limited");
    }

    #[tokio::test]
    async fn without_connect_info_every_peer_counts_as_loopback() {
        let server = serve(node(), one_each(), false).await;
        let first = get(
            server,
            Ipv4Addr::new(127, 0, 0, 2),
            "/node/attestation?nonce=01",
        )
        .await;
        assert_eq!(first.status, 200, "{}", first.body);
        // A different source address shares the loopback bucket when no peer address is known.
        let second = get(
            server,
            Ipv4Addr::new(127, 0, 0, 3),
            "/node/attestation?nonce=02",
        )
        .await;
        assert_eq!(second.status, 429);
        assert!(second.headers.contains("retry-after: "));
    }
}
