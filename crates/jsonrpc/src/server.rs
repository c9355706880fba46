//! HTTP and WebSocket transports on one axum route.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::header::{
    CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, ORIGIN, RETRY_AFTER, UPGRADE, USER_AGENT,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{Notify, Semaphore, mpsc};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use crate::dispatch::{self, CallEnv, PendingSubscription, Subscriptions};
use crate::metrics::ServerMetrics;
use txnchain_http::{BodyError, ClientKey, Quota, QuotaError, QuotaGuard, read_limited};

use crate::module::{ConnectionInfo, RpcModule, Transport};

/// Content types geth accepts (JSON-RPC over HTTP, historical spec included).
const ACCEPTED_CONTENT_TYPES: [&str; 3] = [
    "application/json",
    "application/json-rpc",
    "application/jsonrequest",
];

/// What to do when a WebSocket client reads notifications slower than they are produced
/// and its outbound queue ([`ServerConfig::ws_outbound_queue`]) is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SlowConsumerPolicy {
    /// Close the connection with close code 1008 so the client notices, reconnects and
    /// resubscribes (default).
    #[default]
    CloseConnection,
    /// Silently end only the overflowing subscription; the connection stays open.
    DropSubscription,
}

/// Server limits and options. Defaults follow geth where geth has the same knob.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest accepted HTTP body; larger ones get HTTP 413 (geth: 5 MiB).
    pub max_body_bytes: usize,
    /// Time to receive an HTTP body once the headers are in; slower ones get HTTP 408.
    pub body_timeout: Duration,
    /// Largest batch; larger ones get `-32600 "batch too large"` (geth: 1000; 0 = no limit).
    pub max_batch_len: usize,
    /// Calls of one batch processed at the same time (the rest wait their turn, in order).
    pub max_batch_concurrency: usize,
    /// Time all calls of one batch may take together; calls not started by then answer
    /// `-32002 "request timed out"`, and running ones get what is left as their deadline.
    pub batch_budget: Duration,
    /// Once a batch response grows past this many bytes the remaining calls are answered
    /// with `-32003 "response too large"` (geth: 25 MB; 0 = no limit).
    pub max_batch_response_bytes: usize,
    /// A single response larger than this is replaced by `-32003 "response too large"`
    /// (0 = no limit).
    pub max_response_bytes: usize,
    /// HTTP requests processed at the same time; beyond it requests get HTTP 503
    /// (0 = no limit). WebSocket connections are counted separately.
    pub max_http_requests: usize,
    /// HTTP requests one client ([`ClientKey`]) may have in flight; beyond it, HTTP 429
    /// (0 = no limit).
    pub max_http_requests_per_client: usize,
    /// Open WebSocket connections; beyond it upgrades get HTTP 503 (0 = no limit).
    pub max_ws_connections: usize,
    /// Open WebSocket connections per client; beyond it, HTTP 429 (0 = no limit).
    pub max_ws_connections_per_client: usize,
    /// Largest WebSocket message (geth: 32 MiB); a larger one closes the connection.
    pub max_ws_message_bytes: usize,
    /// A message (HTTP body or WebSocket frame) larger than this is parsed and dispatched on
    /// a blocking thread, not on the async workers that answer every other client, and at
    /// most [`ServerConfig::max_large_messages`] of them at a time; the rest wait their turn.
    pub large_message_bytes: usize,
    /// Large messages processed at the same time (at least 1).
    pub max_large_messages: usize,
    /// Subscriptions per WebSocket connection; further subscribes get a `-32000` error.
    pub max_subscriptions_per_connection: usize,
    /// Messages queued for one WebSocket client before [`ServerConfig::slow_consumer`] applies.
    pub ws_outbound_queue: usize,
    /// Requests processed concurrently per WebSocket connection; reading pauses beyond it.
    pub ws_max_in_flight: usize,
    /// Interval of server pings (geth: 30 s).
    pub ws_ping_interval: Duration,
    /// The connection is closed when nothing was heard for ping interval + this (geth: 30 s).
    pub ws_pong_timeout: Duration,
    /// A single WebSocket write taking longer closes the connection (geth: 10 s).
    pub ws_write_timeout: Duration,
    /// Behaviour when a WebSocket client's outbound queue overflows.
    pub slow_consumer: SlowConsumerPolicy,
    /// Per-call timeout answering `-32002 "request timed out"` (`None`: none). Handlers also
    /// get it as their deadline ([`CallCtx::deadline`](crate::CallCtx::deadline)).
    pub request_timeout: Option<Duration>,
    /// CORS allowed origins: `None` or empty = no CORS headers (geth's default),
    /// `["*"]` = any origin. When set to a list, WebSocket handshakes carrying an
    /// `Origin` header must match it too.
    pub cors_origins: Option<Vec<String>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 5 * 1024 * 1024,
            body_timeout: Duration::from_secs(30),
            max_batch_len: 1000,
            max_batch_concurrency: 8,
            batch_budget: Duration::from_secs(30),
            max_batch_response_bytes: 25 * 1000 * 1000,
            max_response_bytes: 25 * 1000 * 1000,
            max_http_requests: 1024,
            max_http_requests_per_client: 128,
            max_ws_connections: 1024,
            max_ws_connections_per_client: 64,
            max_ws_message_bytes: 32 * 1024 * 1024,
            large_message_bytes: 256 * 1024,
            max_large_messages: 1,
            max_subscriptions_per_connection: 128,
            ws_outbound_queue: 1024,
            ws_max_in_flight: 64,
            ws_ping_interval: Duration::from_secs(30),
            ws_pong_timeout: Duration::from_secs(30),
            ws_write_timeout: Duration::from_secs(10),
            slow_consumer: SlowConsumerPolicy::default(),
            request_timeout: Some(Duration::from_secs(60)),
            cors_origins: None,
        }
    }
}

struct ServerState<Ctx> {
    module: Arc<RpcModule<Ctx>>,
    ctx: Arc<Ctx>,
    config: Arc<ServerConfig>,
    http_requests: Arc<Quota>,
    ws_connections: Arc<Quota>,
    /// Permits of the large-message lane ([`ServerConfig::large_message_bytes`]).
    large_messages: Arc<Semaphore>,
    next_conn_id: AtomicU64,
}

impl<Ctx> ServerState<Ctx> {
    fn metrics(&self) -> &Arc<ServerMetrics> {
        &self.module.server_metrics
    }

    /// Takes a unit of `quota` for the caller, or the response refusing it: 503 when the
    /// server is full, 429 when this client holds its share.
    fn admit(
        &self,
        quota: &Arc<Quota>,
        info: &ConnectionInfo,
    ) -> Result<QuotaGuard, Box<Response>> {
        quota.try_acquire(info.client).map_err(|e| {
            ServerMetrics::inc(&self.metrics().connections_rejected);
            tracing::debug!(client = %info.client, error = %e, "rejecting");
            let status = match e {
                QuotaError::Global { .. } => StatusCode::SERVICE_UNAVAILABLE,
                QuotaError::PerClient { .. } => StatusCode::TOO_MANY_REQUESTS,
            };
            let mut resp = plain(status, e.to_string());
            resp.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            // A refused client's connection is not kept open to count against its share.
            resp.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            Box::new(resp)
        })
    }

    fn connection_info(&self, transport: Transport, req: &Request) -> ConnectionInfo {
        let header = |name| {
            req.headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let remote_addr = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        ConnectionInfo {
            transport,
            connection_id: self.next_conn_id.fetch_add(1, Ordering::Relaxed) + 1,
            remote_addr,
            client: remote_addr.map_or_else(ClientKey::local, ClientKey::of_peer),
            origin: header(ORIGIN),
            user_agent: header(USER_AGENT),
        }
    }
}

impl<Ctx: Send + Sync + 'static> ServerState<Ctx> {
    /// Processes one transport message. Small ones run here, on the async worker. A large one
    /// (megabytes of JSON take tens of milliseconds to scan and decode) waits for a permit of
    /// the large-message lane and runs on a blocking thread, so a few clients sending huge
    /// bodies hold at most that many threads and the workers keep answering everyone else.
    async fn process(
        self: &Arc<Self>,
        info: &Arc<ConnectionInfo>,
        subs: Option<&Arc<Subscriptions>>,
        body: Bytes,
    ) -> dispatch::Processed {
        if body.len() <= self.config.large_message_bytes {
            let env = CallEnv {
                module: &self.module,
                ctx: &self.ctx,
                config: &self.config,
                subs,
                info,
            };
            return dispatch::process(&env, &body).await;
        }
        ServerMetrics::inc(&self.metrics().large_messages);
        // The semaphore is never closed.
        let Ok(permit) = Arc::clone(&self.large_messages).acquire_owned().await else {
            return dispatch::Processed::internal_error();
        };
        let st = Arc::clone(self);
        let info = Arc::clone(info);
        let subs = subs.cloned();
        let runtime = tokio::runtime::Handle::current();
        let lane = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let env = CallEnv {
                module: &st.module,
                ctx: &st.ctx,
                config: &st.config,
                subs: subs.as_ref(),
                info: &info,
            };
            runtime.block_on(dispatch::process(&env, &body))
        });
        lane.await
            .unwrap_or_else(|_| dispatch::Processed::internal_error())
    }
}

/// Build the JSON-RPC router: `POST /` serves JSON-RPC over HTTP, `GET /` with
/// `Upgrade: websocket` opens a JSON-RPC WebSocket, a plain `GET /` answers an empty
/// 200 (geth's health check). Merge it with the node's other routes; serve it with
/// [`serve`] (or `into_make_service_with_connect_info::<SocketAddr>()`) so that handlers
/// see the peer address.
pub fn router<Ctx: Send + Sync + 'static>(
    module: Arc<RpcModule<Ctx>>,
    ctx: Arc<Ctx>,
    config: ServerConfig,
) -> Router {
    let cors = cors_layer(config.cors_origins.as_deref());
    let state = Arc::new(ServerState {
        module,
        ctx,
        http_requests: Quota::new(
            "concurrent requests",
            config.max_http_requests,
            config.max_http_requests_per_client,
        ),
        ws_connections: Quota::new(
            "WebSocket connections",
            config.max_ws_connections,
            config.max_ws_connections_per_client,
        ),
        large_messages: Arc::new(Semaphore::new(config.max_large_messages.max(1))),
        config: Arc::new(config),
        next_conn_id: AtomicU64::new(0),
    });
    let router = Router::new()
        .route("/", post(http_post::<Ctx>).get(http_get::<Ctx>))
        .with_state(state);
    match cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// Serve `router` on `listener` with the default connection limits of
/// [`txnchain_http::serve`] (connection caps, header and write-stall deadlines) and peer
/// addresses available to handlers, until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    txnchain_http::serve(
        listener,
        router,
        txnchain_http::ServeLimits::default(),
        std::future::pending(),
    )
    .await
    .map_err(|txnchain_http::HttpError::Io(e)| e)
}

/// Process one JSON-RPC message (single request or batch) without a transport, as an
/// HTTP POST would be: returns the encoded response, or `None` when nothing is to be
/// sent (notifications only, empty input). Subscribe methods answer
/// `-32601 "notifications not supported"`.
pub async fn handle_request_bytes<Ctx: Send + Sync + 'static>(
    module: &RpcModule<Ctx>,
    ctx: &Arc<Ctx>,
    config: &ServerConfig,
    request: &[u8],
) -> Option<Vec<u8>> {
    handle_request_bytes_from(module, ctx, config, request, ConnectionInfo::in_process()).await
}

/// [`handle_request_bytes`] as if from the connection `info` (its client key counts for
/// per-client quotas).
pub async fn handle_request_bytes_from<Ctx: Send + Sync + 'static>(
    module: &RpcModule<Ctx>,
    ctx: &Arc<Ctx>,
    config: &ServerConfig,
    request: &[u8],
    info: ConnectionInfo,
) -> Option<Vec<u8>> {
    let info = Arc::new(info);
    let env = CallEnv {
        module,
        ctx,
        config,
        subs: None,
        info: &info,
    };
    dispatch::process(&env, request).await.response
}

fn cors_layer(origins: Option<&[String]>) -> Option<CorsLayer> {
    let origins = origins.filter(|o| !o.is_empty())?;
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| {
            HeaderValue::from_str(o)
                .map_err(|_| tracing::warn!(origin = %o, "ignoring invalid CORS origin"))
                .ok()
        }))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::POST, Method::GET])
            .allow_headers(Any)
            .expose_headers(Any)
            .max_age(Duration::from_secs(600)),
    )
}

fn plain(status: StatusCode, msg: impl Into<String>) -> Response {
    let mut text = msg.into();
    text.push('\n');
    (status, text).into_response()
}

fn content_type_ok(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let media = ct.split(';').next().unwrap_or("").trim();
    ACCEPTED_CONTENT_TYPES
        .iter()
        .any(|a| a.eq_ignore_ascii_case(media))
}

async fn http_post<Ctx: Send + Sync + 'static>(
    State(st): State<Arc<ServerState<Ctx>>>,
    req: Request,
) -> Response {
    let info = Arc::new(st.connection_info(Transport::Http, &req));
    let _permit = match st.admit(&st.http_requests, &info) {
        Ok(p) => p,
        Err(refused) => return *refused,
    };
    let max = st.config.max_body_bytes;
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(len) = declared.filter(|&len| len > max as u64) {
        return plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("content length too large ({len}>{max})"),
        );
    }
    if !content_type_ok(req.headers()) {
        return plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid content type, only application/json is supported",
        );
    }
    let body = match read_limited(req.into_body(), max, st.config.body_timeout).await {
        Ok(b) => b,
        Err(BodyError::TooLarge { .. }) => {
            return plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body too large (limit {max} bytes)"),
            );
        }
        Err(BodyError::Timeout(t)) => {
            return plain(
                StatusCode::REQUEST_TIMEOUT,
                format!("request body not received within {t:?}"),
            );
        }
        Err(BodyError::Read(_)) => return plain(StatusCode::BAD_REQUEST, "read error"),
    };
    ServerMetrics::inc(&st.metrics().http_requests);
    let processed = st.process(&info, None, body).await;
    let body = processed.response.unwrap_or_default();
    ([(CONTENT_TYPE, "application/json")], body).into_response()
}

fn is_websocket(headers: &HeaderMap) -> bool {
    let has = |name, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str().is_ok_and(|s| {
                s.split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
        })
    };
    has(UPGRADE, "websocket") && has(CONNECTION, "upgrade")
}

fn origin_allowed(config: &ServerConfig, headers: &HeaderMap) -> bool {
    let Some(list) = config.cors_origins.as_deref().filter(|l| !l.is_empty()) else {
        return true;
    };
    if list.iter().any(|o| o == "*") {
        return true;
    }
    match headers.get(ORIGIN).map(|v| v.to_str()) {
        None => true, // non-browser clients send no Origin (geth skips the check too)
        Some(Ok(origin)) => list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
        Some(Err(_)) => false,
    }
}

async fn http_get<Ctx: Send + Sync + 'static>(
    State(st): State<Arc<ServerState<Ctx>>>,
    req: Request,
) -> Response {
    if !is_websocket(req.headers()) {
        // geth answers plain GETs with an empty 200 for load-balancer health checks.
        return StatusCode::OK.into_response();
    }
    if !origin_allowed(&st.config, req.headers()) {
        return plain(StatusCode::FORBIDDEN, "origin not allowed");
    }
    let info = st.connection_info(Transport::Ws, &req);
    let (mut parts, _body) = req.into_parts();
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(u) => u,
        Err(rejection) => return rejection.into_response(),
    };
    let permit = match st.admit(&st.ws_connections, &info) {
        Ok(p) => p,
        Err(refused) => return *refused,
    };
    let max = st.config.max_ws_message_bytes;
    upgrade
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| run_ws(socket, st, info, permit))
}

/// State shared by a WebSocket connection's reader, writer and subscription tasks.
struct WsShared {
    subs: Arc<Subscriptions>,
    /// Signalled by a subscription whose notification did not fit in the queue.
    overflow: Notify,
    /// Signalled by the reader when the connection is done.
    stop: Notify,
    last_seen: parking_lot::Mutex<Instant>,
}

async fn run_ws<Ctx: Send + Sync + 'static>(
    socket: WebSocket,
    st: Arc<ServerState<Ctx>>,
    info: ConnectionInfo,
    _permit: QuotaGuard,
) {
    let metrics = Arc::clone(st.metrics());
    ServerMetrics::inc(&metrics.ws_connections_total);
    metrics
        .ws_connections_active
        .fetch_add(1, Ordering::Relaxed);
    let conn_id = info.connection_id;
    tracing::debug!(conn = conn_id, remote = ?info.remote_addr, "websocket connected");

    let config = Arc::clone(&st.config);
    let (sink, mut stream) = socket.split();
    let (tx, rx) = mpsc::channel::<Vec<u8>>(config.ws_outbound_queue.max(1));
    let shared = Arc::new(WsShared {
        subs: Arc::new(Subscriptions::new(config.max_subscriptions_per_connection)),
        overflow: Notify::new(),
        stop: Notify::new(),
        last_seen: parking_lot::Mutex::new(Instant::now()),
    });
    let mut writer = tokio::spawn(write_loop(
        sink,
        rx,
        Arc::clone(&shared),
        Arc::clone(&config),
        conn_id,
    ));
    let in_flight = Arc::new(Semaphore::new(config.ws_max_in_flight.max(1)));
    let info = Arc::new(info);

    let mut writer_done = false;
    loop {
        let msg = tokio::select! {
            m = stream.next() => m,
            _ = &mut writer => { writer_done = true; break; }
        };
        let data: Bytes = match msg {
            None | Some(Err(_) | Ok(Message::Close(_))) => break,
            Some(Ok(Message::Text(t))) => t.into(),
            Some(Ok(Message::Binary(b))) => b,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                *shared.last_seen.lock() = Instant::now();
                continue;
            }
        };
        *shared.last_seen.lock() = Instant::now();
        let permit = tokio::select! {
            p = Arc::clone(&in_flight).acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = &mut writer => { writer_done = true; break; }
        };
        let st = Arc::clone(&st);
        let tx = tx.clone();
        let shared = Arc::clone(&shared);
        let info = Arc::clone(&info);
        tokio::spawn(async move {
            let processed = st.process(&info, Some(&shared.subs), data).await;
            drop(permit);
            if let Some(resp) = processed.response
                && tx.send(resp).await.is_err()
            {
                return;
            }
            for sub in processed.subscriptions {
                tokio::spawn(forward_subscription(
                    sub,
                    tx.clone(),
                    Arc::clone(&shared),
                    Arc::clone(st.metrics()),
                    st.config.slow_consumer,
                    info.connection_id,
                ));
            }
        });
    }

    shared.subs.clear();
    if !writer_done {
        shared.stop.notify_one();
        let _ = writer.await;
    }
    metrics
        .ws_connections_active
        .fetch_sub(1, Ordering::Relaxed);
    tracing::debug!(conn = conn_id, "websocket disconnected");
}

async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Vec<u8>>,
    shared: Arc<WsShared>,
    config: Arc<ServerConfig>,
    conn_id: u64,
) {
    let interval = config.ws_ping_interval.max(Duration::from_millis(10));
    let write_timeout = config.ws_write_timeout;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let frame = tokio::select! {
            biased;
            _ = shared.stop.notified() => break,
            _ = shared.overflow.notified() => {
                tracing::warn!(conn = conn_id, "closing websocket: client too slow, outbound queue overflowed");
                let frame = CloseFrame {
                    code: 1008,
                    reason: Utf8Bytes::from_static("client too slow: outbound queue overflow"),
                };
                let _ = tokio::time::timeout(write_timeout, sink.send(Message::Close(Some(frame)))).await;
                break;
            }
            msg = rx.recv() => match msg {
                None => break,
                Some(bytes) => match Utf8Bytes::try_from(bytes) {
                    Ok(text) => Message::Text(text),
                    Err(_) => continue, // unreachable: responses are serde_json output
                },
            },
            _ = ping.tick() => {
                let idle = shared.last_seen.lock().elapsed();
                if idle > interval + config.ws_pong_timeout {
                    tracing::debug!(conn = conn_id, ?idle, "closing websocket: pong timeout");
                    break;
                }
                Message::Ping(Bytes::new())
            }
        };
        match tokio::time::timeout(write_timeout, sink.send(frame)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!(conn = conn_id, error = %e, "websocket write failed");
                break;
            }
            Err(_) => {
                tracing::warn!(conn = conn_id, "closing websocket: write timed out");
                break;
            }
        }
    }
    let _ = tokio::time::timeout(write_timeout, sink.close()).await;
}

async fn forward_subscription(
    sub: PendingSubscription,
    tx: mpsc::Sender<Vec<u8>>,
    shared: Arc<WsShared>,
    metrics: Arc<ServerMetrics>,
    policy: SlowConsumerPolicy,
    conn_id: u64,
) {
    metrics.subscriptions_active.fetch_add(1, Ordering::Relaxed);
    let PendingSubscription {
        id,
        notification,
        mut stream,
        mut cancel,
    } = sub;
    loop {
        tokio::select! {
            biased;
            _ = &mut cancel => break,
            _ = tx.closed() => break,
            item = stream.next() => {
                let Some(item) = item else {
                    shared.subs.remove(&id);
                    break;
                };
                let Some(bytes) = dispatch::encode_notification(notification, &id, &item) else {
                    continue;
                };
                match tx.try_send(bytes) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        ServerMetrics::inc(&metrics.subscriptions_dropped);
                        tracing::warn!(conn = conn_id, subscription = %id, ?policy,
                            "dropping subscription: client too slow, outbound queue full");
                        shared.subs.remove(&id);
                        if policy == SlowConsumerPolicy::CloseConnection {
                            shared.overflow.notify_one();
                        }
                        break;
                    }
                    Err(TrySendError::Closed(_)) => break,
                }
            }
        }
    }
    metrics.subscriptions_active.fetch_sub(1, Ordering::Relaxed);
    tracing::debug!(conn = conn_id, subscription = %id, "subscription ended");
}
