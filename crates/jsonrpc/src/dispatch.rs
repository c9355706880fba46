//! Transport-independent request processing: parsing, classification, dispatch and
//! response encoding, following geth's `rpc/handler.go` semantics.

use std::borrow::Cow;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use parking_lot::Mutex;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::oneshot;
use tracing::Instrument;

use crate::error::RpcError;
use crate::metrics::ServerMetrics;
use crate::module::{CallCtx, ConnectionInfo, Entry, Kind, RpcModule};
use crate::params::Params;
use crate::server::ServerConfig;

/// geth's `maxMethodNameLength`.
pub(crate) const MAX_METHOD_NAME_LEN: usize = 2048;
const NOTIFICATION_SUFFIX: &str = "_subscription";
const SUBSCRIBE_SUFFIX: &str = "_subscribe";
const NULL_ID: &str = "null";

/// Subscriptions of one WebSocket connection: id → cancel signal.
pub(crate) struct Subscriptions {
    map: Mutex<HashMap<String, oneshot::Sender<()>>>,
    max: usize,
}

impl Subscriptions {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            max,
        }
    }

    /// Remove (and thereby cancel) a subscription. True if it existed.
    pub(crate) fn remove(&self, id: &str) -> bool {
        self.map.lock().remove(id).is_some()
    }

    /// Cancel all subscriptions (connection closed).
    pub(crate) fn clear(&self) {
        self.map.lock().clear();
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.lock().len()
    }
}

/// A subscription whose id was (or is about to be) sent; the transport starts forwarding
/// its stream once the response carrying the id has been queued.
pub(crate) struct PendingSubscription {
    pub(crate) id: String,
    pub(crate) notification: &'static str,
    pub(crate) stream: BoxStream<'static, Value>,
    pub(crate) cancel: oneshot::Receiver<()>,
}

/// The outcome of processing one transport message.
pub(crate) struct Processed {
    /// Encoded response (single object or batch array); `None` when nothing is to be sent.
    pub(crate) response: Option<Vec<u8>>,
    /// Subscriptions created by this message, to activate after the response is sent.
    pub(crate) subscriptions: Vec<PendingSubscription>,
}

impl Processed {
    /// The answer when processing itself failed (a worker thread died): `-32603`, id `null`.
    pub(crate) fn internal_error() -> Self {
        single(encode_error(
            NULL_ID,
            &RpcError::internal("message processing failed"),
        ))
    }
}

/// Everything a message needs to be processed.
pub(crate) struct CallEnv<'a, Ctx> {
    pub(crate) module: &'a RpcModule<Ctx>,
    pub(crate) ctx: &'a Arc<Ctx>,
    pub(crate) config: &'a ServerConfig,
    /// `None` on transports without notifications (HTTP).
    pub(crate) subs: Option<&'a Arc<Subscriptions>>,
    pub(crate) info: &'a Arc<ConnectionInfo>,
}

impl<Ctx> CallEnv<'_, Ctx> {
    /// When a message arriving now must be answered: the request timeout for a single call;
    /// for a batch, its budget, shared by all its calls.
    fn deadline(&self, batch: bool) -> Option<Instant> {
        let budget = if batch {
            Some(self.config.batch_budget)
        } else {
            self.config.request_timeout
        };
        budget.map(|b| Instant::now() + b)
    }
}

/// One decoded JSON-RPC message, leniently decoded like Go's `encoding/json` does:
/// members of the wrong type are treated as absent.
#[derive(Default)]
struct Message<'a> {
    version_ok: bool,
    id: Option<&'a RawValue>,
    method: String,
    params: Option<&'a RawValue>,
    has_result_or_error: bool,
}

impl<'a> Message<'a> {
    fn parse(raw: &'a RawValue) -> Self {
        let Ok(map) = serde_json::from_str::<HashMap<String, &'a RawValue>>(raw.get()) else {
            return Self::default();
        };
        let string = |key: &str| {
            map.get(key)
                .and_then(|v| serde_json::from_str::<String>(v.get()).ok())
        };
        Self {
            version_ok: string("jsonrpc").as_deref() == Some("2.0"),
            id: map.get("id").copied(),
            method: string("method").unwrap_or_default(),
            params: map.get("params").copied(),
            has_result_or_error: map.contains_key("result") || map.contains_key("error"),
        }
    }

    fn has_valid_id(&self) -> bool {
        self.id
            .is_some_and(|id| !matches!(id.get().as_bytes().first(), Some(b'{' | b'[') | None))
    }

    fn is_notification(&self) -> bool {
        self.version_ok && self.id.is_none() && !self.method.is_empty()
    }

    fn is_call(&self) -> bool {
        self.version_ok && self.has_valid_id() && !self.method.is_empty()
    }

    fn is_response(&self) -> bool {
        self.version_ok
            && self.has_valid_id()
            && self.method.is_empty()
            && self.params.is_none()
            && self.has_result_or_error
    }

    /// Messages a server ignores: responses and subscription notifications (geth's
    /// `handleResponses` routes them to client-side bookkeeping).
    fn is_ignored(&self) -> bool {
        self.is_response() || (self.is_notification() && self.method.ends_with(NOTIFICATION_SUFFIX))
    }

    fn id_text(&self) -> &str {
        self.id.map_or(NULL_ID, RawValue::get)
    }
}

/// Result of one call inside a message.
struct CallOutcome {
    /// Encoded response object; `None` for notifications.
    response: Option<Vec<u8>>,
    subscription: Option<PendingSubscription>,
}

/// Process one transport message (an HTTP body or a WebSocket frame).
pub(crate) async fn process<Ctx: Send + Sync + 'static>(
    env: &CallEnv<'_, Ctx>,
    body: &[u8],
) -> Processed {
    let metrics = &env.module.server_metrics;
    // Like Go, invalid UTF-8 inside strings becomes U+FFFD; outside strings it is a
    // syntax error either way.
    let text = String::from_utf8_lossy(body);
    // Like geth, only the first JSON value is read; trailing data is ignored, and an
    // empty (whitespace) body produces no response at all.
    let first = serde_json::Deserializer::from_str(&text)
        .into_iter::<&RawValue>()
        .next();
    let raw = match first {
        None => return nothing(),
        Some(Err(e)) => {
            ServerMetrics::inc(&metrics.parse_error);
            tracing::debug!(error = %e, "rejecting malformed JSON-RPC message");
            return single(encode_error(NULL_ID, &RpcError::parse_error()));
        }
        Some(Ok(raw)) => raw,
    };
    if raw.get().starts_with('[') {
        match serde_json::from_str::<Vec<&RawValue>>(raw.get()) {
            Ok(entries) => process_batch(env, entries).await,
            Err(_) => {
                ServerMetrics::inc(&metrics.parse_error);
                single(encode_error(NULL_ID, &RpcError::parse_error()))
            }
        }
    } else {
        let msg = Message::parse(raw);
        if msg.is_ignored() {
            return nothing();
        }
        let out = handle_message(env, &msg, env.deadline(false)).await;
        let max = env.config.max_response_bytes;
        let response = match out.response {
            Some(r) if max != 0 && r.len() > max => {
                tracing::debug!(len = r.len(), max, "response too large");
                Some(encode_error(msg.id_text(), &RpcError::response_too_large()))
            }
            other => other,
        };
        Processed {
            response,
            subscriptions: out.subscription.into_iter().collect(),
        }
    }
}

async fn process_batch<Ctx: Send + Sync + 'static>(
    env: &CallEnv<'_, Ctx>,
    entries: Vec<&RawValue>,
) -> Processed {
    let metrics = &env.module.server_metrics;
    if entries.is_empty() {
        ServerMetrics::inc(&metrics.invalid_request);
        return single(encode_error(
            NULL_ID,
            &RpcError::invalid_request_msg("empty batch"),
        ));
    }
    let msgs: Vec<Message<'_>> = entries.into_iter().map(Message::parse).collect();
    let limit = env.config.max_batch_len;
    if limit != 0 && msgs.len() > limit {
        ServerMetrics::inc(&metrics.invalid_request);
        tracing::debug!(len = msgs.len(), limit, "rejecting oversized batch");
        let id = msgs
            .iter()
            .find(|m| m.is_call())
            .map_or(NULL_ID, Message::id_text);
        let err = encode_error(id, &RpcError::invalid_request_msg("batch too large"));
        return single(encode_batch(std::iter::once(err)));
    }
    let calls: Vec<&Message<'_>> = msgs.iter().filter(|m| !m.is_ignored()).collect();
    if calls.is_empty() {
        return nothing();
    }
    // Run the calls a few at a time (one batch must not occupy every worker), in order, all
    // within the batch's budget.
    let deadline = env.deadline(true);
    let concurrency = env.config.max_batch_concurrency.max(1);
    let mut running = futures::stream::FuturesOrdered::new();
    let mut outcomes = Vec::with_capacity(calls.len());
    let mut next = calls.iter();
    loop {
        while running.len() < concurrency {
            let Some(m) = next.next() else { break };
            running.push_back(handle_message(env, m, deadline));
        }
        match running.next().await {
            Some(outcome) => outcomes.push(outcome),
            None => break,
        }
    }

    let max_bytes = env.config.max_batch_response_bytes;
    let mut total = 0usize;
    let mut too_large = false;
    let mut responses = Vec::with_capacity(outcomes.len());
    let mut subscriptions = Vec::new();
    for (msg, outcome) in calls.iter().zip(outcomes) {
        let Some(resp) = outcome.response else {
            continue; // notification
        };
        if too_large {
            // geth answers every call after the limit was crossed with this error.
            if let (Some(sub), Some(subs)) = (outcome.subscription, env.subs) {
                subs.remove(&sub.id);
            }
            responses.push(encode_error(msg.id_text(), &RpcError::response_too_large()));
            continue;
        }
        total = total.saturating_add(resp.len());
        responses.push(resp);
        subscriptions.extend(outcome.subscription);
        if max_bytes != 0 && total > max_bytes {
            tracing::debug!(total, max_bytes, "batch response too large");
            too_large = true;
        }
    }
    if responses.is_empty() {
        return Processed {
            response: None,
            subscriptions,
        };
    }
    Processed {
        response: Some(encode_batch(responses.into_iter())),
        subscriptions,
    }
}

/// geth's `handleCallMsg`: run calls and notifications, reject everything else.
async fn handle_message<Ctx: Send + Sync + 'static>(
    env: &CallEnv<'_, Ctx>,
    msg: &Message<'_>,
    deadline: Option<Instant>,
) -> CallOutcome {
    let metrics = &env.module.server_metrics;
    if msg.is_notification() {
        let (_, _) = run_call(env, msg, true, deadline).await;
        return CallOutcome {
            response: None,
            subscription: None,
        };
    }
    if msg.is_call() {
        let (result, subscription) = run_call(env, msg, false, deadline).await;
        let response = match result {
            Ok(value) => encode_result(msg.id_text(), &value),
            Err(err) => encode_error(msg.id_text(), &err),
        };
        return CallOutcome {
            response: Some(response),
            subscription,
        };
    }
    ServerMetrics::inc(&metrics.invalid_request);
    let id = if msg.has_valid_id() {
        msg.id_text()
    } else {
        NULL_ID
    };
    CallOutcome {
        response: Some(encode_error(id, &RpcError::invalid_request())),
        subscription: None,
    }
}

/// geth's `handleCall`. `notification` is true when no response will be sent.
async fn run_call<Ctx: Send + Sync + 'static>(
    env: &CallEnv<'_, Ctx>,
    msg: &Message<'_>,
    notification: bool,
    deadline: Option<Instant>,
) -> (Result<Value, RpcError>, Option<PendingSubscription>) {
    let metrics = &env.module.server_metrics;
    let method = msg.method.as_str();
    if method.len() > MAX_METHOD_NAME_LEN {
        ServerMetrics::inc(&metrics.invalid_request);
        let err = RpcError::invalid_request_msg(format!(
            "method name too long: {} > {MAX_METHOD_NAME_LEN}",
            method.len()
        ));
        return (Err(err), None);
    }
    let Some(entry) = env.module.entries.get(method) else {
        ServerMetrics::inc(&metrics.unknown_method);
        tracing::debug!(method = %truncate(method), "unknown JSON-RPC method");
        // geth answers any *_subscribe over HTTP with "notifications not supported".
        let err = if env.subs.is_none() && method.ends_with(SUBSCRIBE_SUFFIX) {
            RpcError::notifications_unsupported()
        } else {
            RpcError::method_not_found(method)
        };
        return (Err(err), None);
    };
    let span = tracing::debug_span!("rpc_call", method = %method, id = %truncate(msg.id_text()));
    let start = Instant::now();
    let (result, sub) = if deadline.is_some_and(|d| d <= start) {
        // The batch's budget is spent: answer without running.
        (Err(RpcError::timeout()), None)
    } else {
        run_entry(env, entry, msg, notification, deadline)
            .instrument(span.clone())
            .await
    };
    let elapsed = start.elapsed();
    entry.metrics.record(elapsed, result.is_err());
    span.in_scope(|| match &result {
        Ok(_) => tracing::debug!(?elapsed, "served"),
        Err(e) => tracing::debug!(?elapsed, code = e.code, error = %e.message, "served with error"),
    });
    (result, sub)
}

async fn run_entry<Ctx: Send + Sync + 'static>(
    env: &CallEnv<'_, Ctx>,
    entry: &Entry<Ctx>,
    msg: &Message<'_>,
    notification: bool,
    deadline: Option<Instant>,
) -> (Result<Value, RpcError>, Option<PendingSubscription>) {
    let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
    match &entry.kind {
        Kind::Method(handler) => {
            let params = match params_of(msg) {
                Ok(p) => p,
                Err(e) => return (Err(e), None),
            };
            let ctx = Arc::clone(env.ctx);
            let call = CallCtx {
                conn: Arc::clone(env.info),
                deadline,
            };
            let fut = std::panic::catch_unwind(AssertUnwindSafe(|| handler(ctx, params, call)));
            let result = match fut {
                Ok(fut) => guarded(timeout, fut).await,
                Err(_) => Err(crashed()),
            };
            (result, None)
        }
        Kind::Subscribe {
            notification: notif_method,
            handler,
        } => {
            let Some(subs) = env.subs else {
                return (Err(RpcError::notifications_unsupported()), None);
            };
            if notification {
                // The client could never learn the id; don't start anything.
                return (Ok(Value::Null), None);
            }
            if subs.map.lock().len() >= subs.max {
                return (
                    Err(RpcError::server(format!(
                        "too many subscriptions (limit {})",
                        subs.max
                    ))),
                    None,
                );
            }
            let params = match params_of(msg) {
                Ok(p) => p,
                Err(e) => return (Err(e), None),
            };
            let ctx = Arc::clone(env.ctx);
            let info = ConnectionInfo::clone(env.info);
            let fut = std::panic::catch_unwind(AssertUnwindSafe(|| handler(ctx, params, info)));
            let stream = match fut {
                Ok(fut) => guarded(timeout, fut).await,
                Err(_) => Err(crashed()),
            };
            let stream = match stream {
                Ok(s) => s,
                Err(e) => return (Err(e), None),
            };
            let (tx, rx) = oneshot::channel();
            let id = {
                let mut map = subs.map.lock();
                if map.len() >= subs.max {
                    return (
                        Err(RpcError::server(format!(
                            "too many subscriptions (limit {})",
                            subs.max
                        ))),
                        None,
                    );
                }
                let mut id = new_subscription_id();
                while map.contains_key(&id) {
                    id = new_subscription_id();
                }
                map.insert(id.clone(), tx);
                id
            };
            tracing::debug!(subscription = %id, "subscription created");
            let pending = PendingSubscription {
                id: id.clone(),
                notification: notif_method,
                stream,
                cancel: rx,
            };
            (Ok(Value::String(id)), Some(pending))
        }
        Kind::Unsubscribe => {
            let params = match params_of(msg) {
                Ok(p) => p,
                Err(e) => return (Err(e), None),
            };
            let id = match params
                .required::<String>(0)
                .and_then(|id| params.check_max(1).map(|()| id))
            {
                Ok(id) => id,
                Err(e) => return (Err(e), None),
            };
            // geth: an unknown id is an error, not `false`.
            let removed = env.subs.is_some_and(|s| s.remove(&id));
            if removed {
                tracing::debug!(subscription = %id, "subscription cancelled");
                (Ok(Value::Bool(true)), None)
            } else {
                (Err(RpcError::subscription_not_found()), None)
            }
        }
    }
}

/// Await a handler future with panic protection and the optional request timeout.
async fn guarded<T, F>(timeout: Option<Duration>, fut: F) -> Result<T, RpcError>
where
    F: Future<Output = Result<T, RpcError>>,
{
    let fut = AssertUnwindSafe(fut).catch_unwind();
    let out = match timeout {
        Some(t) => match tokio::time::timeout(t, fut).await {
            Ok(out) => out,
            Err(_) => return Err(RpcError::timeout()),
        },
        None => fut.await,
    };
    out.unwrap_or_else(|_| Err(crashed()))
}

fn crashed() -> RpcError {
    tracing::error!("JSON-RPC method handler panicked");
    RpcError::handler_crashed()
}

fn params_of(msg: &Message<'_>) -> Result<Params, RpcError> {
    Params::from_raw(msg.params.map(RawValue::to_owned))
}

/// geth-style subscription id: 16 random bytes as a hex quantity (no leading zeros).
fn new_subscription_id() -> String {
    let bytes: [u8; 16] = rand::random();
    let hex = hex::encode(bytes);
    let trimmed = hex.trim_start_matches('0');
    format!("0x{}", if trimmed.is_empty() { "0" } else { trimmed })
}

/// Encode a subscription notification.
pub(crate) fn encode_notification(method: &str, id: &str, result: &Value) -> Option<Vec<u8>> {
    #[derive(serde::Serialize)]
    struct Params<'a> {
        subscription: &'a str,
        result: &'a Value,
    }
    #[derive(serde::Serialize)]
    struct Notification<'a> {
        jsonrpc: &'static str,
        method: &'a str,
        params: Params<'a>,
    }
    serde_json::to_vec(&Notification {
        jsonrpc: "2.0",
        method,
        params: Params {
            subscription: id,
            result,
        },
    })
    .ok()
}

fn encode_result(id: &str, result: &Value) -> Vec<u8> {
    match serde_json::to_vec(result) {
        Ok(json) => envelope(id, "result", &json),
        Err(e) => encode_error(id, &RpcError::internal(e.to_string())),
    }
}

fn encode_error(id: &str, err: &RpcError) -> Vec<u8> {
    let json = serde_json::to_vec(err).unwrap_or_else(|_| {
        // Only reachable if `data` cannot be serialized; drop it.
        let plain = RpcError::custom(err.code, err.message.clone(), None);
        serde_json::to_vec(&plain).unwrap_or_default()
    });
    envelope(id, "error", &json)
}

fn envelope(id: &str, key: &str, json: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(id.len() + json.len() + 32);
    buf.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    buf.extend_from_slice(id.as_bytes());
    buf.extend_from_slice(b",\"");
    buf.extend_from_slice(key.as_bytes());
    buf.extend_from_slice(b"\":");
    buf.extend_from_slice(json);
    buf.push(b'}');
    buf
}

fn encode_batch(items: impl Iterator<Item = Vec<u8>>) -> Vec<u8> {
    let mut buf = vec![b'['];
    for (i, item) in items.enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(&item);
    }
    buf.push(b']');
    buf
}

fn single(response: Vec<u8>) -> Processed {
    Processed {
        response: Some(response),
        subscriptions: Vec::new(),
    }
}

fn nothing() -> Processed {
    Processed {
        response: None,
        subscriptions: Vec::new(),
    }
}

/// Shorten attacker-controlled text for logs.
fn truncate(s: &str) -> Cow<'_, str> {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return Cow::Borrowed(s);
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…", &s[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_ids_are_quantities() {
        for _ in 0..100 {
            let id = new_subscription_id();
            assert!(id.starts_with("0x"));
            assert!(id.len() <= 34 && id.len() > 2);
            assert!(!id[2..].starts_with('0') || id == "0x0");
        }
    }

    #[test]
    fn subscriptions_table() {
        let s = Subscriptions::new(2);
        let (tx, _rx) = oneshot::channel();
        s.map.lock().insert("0x1".into(), tx);
        assert_eq!(s.len(), 1);
        assert!(!s.remove("0x2"));
        assert!(s.remove("0x1"));
        assert_eq!(s.len(), 0);
    }
}
