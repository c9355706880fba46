//! The method registry that handler crates fill in.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, Stream, StreamExt};
use serde_json::Value;
use txnchain_http::ClientKey;

use crate::error::{RegisterError, RpcError};
use crate::metrics::{MethodMetrics, ServerMetrics};
use crate::params::Params;

/// The transport a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A single HTTP POST (no subscriptions).
    Http,
    /// A WebSocket connection.
    Ws,
    /// In-process calls ([`handle_request_bytes`](crate::handle_request_bytes), fuzzing).
    InProcess,
}

/// What the server knows about the peer; passed to subscribe handlers.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// Transport of the connection.
    pub transport: Transport,
    /// Server-assigned connection number (unique per process).
    pub connection_id: u64,
    /// Peer address, when the router is served with connect info (see [`serve`](crate::serve)).
    pub remote_addr: Option<SocketAddr>,
    /// Who the peer counts as for quotas (IPv4 address or IPv6 /64; loopback in-process).
    pub client: ClientKey,
    /// `Origin` header of the HTTP request / WebSocket handshake.
    pub origin: Option<String>,
    /// `User-Agent` header.
    pub user_agent: Option<String>,
}

impl ConnectionInfo {
    /// Info for in-process calls.
    pub fn in_process() -> Self {
        Self {
            transport: Transport::InProcess,
            connection_id: 0,
            remote_addr: None,
            client: ClientKey::local(),
            origin: None,
            user_agent: None,
        }
    }
}

/// What a method handler knows about the call besides its params: who called, and by when
/// the answer is due (the request timeout, or what is left of its batch's budget).
#[derive(Debug, Clone)]
pub struct CallCtx {
    /// The caller's connection.
    pub conn: Arc<ConnectionInfo>,
    /// The call must be answered by then; long work (EVM execution, scans) should stop at it.
    pub deadline: Option<Instant>,
}

impl CallCtx {
    /// A context for in-process calls without a deadline.
    pub fn in_process() -> Self {
        CallCtx {
            conn: Arc::new(ConnectionInfo::in_process()),
            deadline: None,
        }
    }

    /// The caller's quota key.
    pub fn client(&self) -> ClientKey {
        self.conn.client
    }
}

pub(crate) type MethodFn<Ctx> = Arc<
    dyn Fn(Arc<Ctx>, Params, CallCtx) -> BoxFuture<'static, Result<Value, RpcError>> + Send + Sync,
>;

pub(crate) type SubscribeFn<Ctx> = Arc<
    dyn Fn(
            Arc<Ctx>,
            Params,
            ConnectionInfo,
        ) -> BoxFuture<'static, Result<BoxStream<'static, Value>, RpcError>>
        + Send
        + Sync,
>;

pub(crate) enum Kind<Ctx> {
    Method(MethodFn<Ctx>),
    Subscribe {
        notification: &'static str,
        handler: SubscribeFn<Ctx>,
    },
    Unsubscribe,
}

pub(crate) struct Entry<Ctx> {
    pub(crate) kind: Kind<Ctx>,
    pub(crate) metrics: MethodMetrics,
}

/// A set of JSON-RPC methods and subscriptions over a shared context `Ctx`.
///
/// Handler crates build one (or several, combined with [`RpcModule::merge`]) and hand it to
/// [`router`](crate::router). Handlers are async and run concurrently, including the
/// entries of one batch; a handler that panics answers `-32603 "method handler crashed"`.
pub struct RpcModule<Ctx> {
    pub(crate) entries: HashMap<&'static str, Entry<Ctx>>,
    pub(crate) server_metrics: Arc<ServerMetrics>,
}

impl<Ctx: Send + Sync + 'static> Default for RpcModule<Ctx> {
    fn default() -> Self {
        Self::new()
    }
}

impl<Ctx: Send + Sync + 'static> RpcModule<Ctx> {
    /// An empty module.
    pub fn new() -> Self {
        Self {
            entries: HashMap::new(),
            server_metrics: Arc::new(ServerMetrics::default()),
        }
    }

    /// Register a method. The handler gets the shared context and the request params and
    /// returns the JSON result, or an [`RpcError`].
    pub fn method<F, Fut>(&mut self, name: &'static str, f: F) -> Result<&mut Self, RegisterError>
    where
        F: Fn(Arc<Ctx>, Params) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, RpcError>> + Send + 'static,
    {
        let handler: MethodFn<Ctx> = Arc::new(move |ctx, params, _| f(ctx, params).boxed());
        self.insert(name, Kind::Method(handler))?;
        Ok(self)
    }

    /// Register a method whose handler also gets the [`CallCtx`] (the caller, for per-client
    /// quotas, and the deadline, for long work).
    pub fn method_with_ctx<F, Fut>(
        &mut self,
        name: &'static str,
        f: F,
    ) -> Result<&mut Self, RegisterError>
    where
        F: Fn(Arc<Ctx>, Params, CallCtx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, RpcError>> + Send + 'static,
    {
        let handler: MethodFn<Ctx> =
            Arc::new(move |ctx, params, call| f(ctx, params, call).boxed());
        self.insert(name, Kind::Method(handler))?;
        Ok(self)
    }

    /// Register an `eth_subscribe`-style subscription.
    ///
    /// `subscribe` (e.g. `eth_subscribe`) calls `f`, which validates the params (use
    /// [`Params::subscription_name`] and [`RpcError::unknown_subscription`] for geth's
    /// errors) and returns a stream of notification payloads. The server answers with a
    /// geth-style id (`"0x"` + up to 32 hex digits, a quantity), then sends
    /// `{"jsonrpc":"2.0","method":<notification>,"params":{"subscription":id,"result":item}}`
    /// for each item, never before the id was sent. The stream is dropped on
    /// `unsubscribe` (e.g. `eth_unsubscribe`, which may be shared by several
    /// subscriptions), on disconnect, or when the client reads too slowly. Over HTTP the
    /// subscribe method answers geth's `-32601 "notifications not supported"`.
    pub fn subscription<F, Fut, S>(
        &mut self,
        subscribe: &'static str,
        notification: &'static str,
        unsubscribe: &'static str,
        f: F,
    ) -> Result<&mut Self, RegisterError>
    where
        F: Fn(Arc<Ctx>, Params, ConnectionInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<S, RpcError>> + Send + 'static,
        S: Stream<Item = Value> + Send + 'static,
    {
        validate_name(notification)?;
        validate_name(unsubscribe)?;
        if subscribe == unsubscribe {
            return Err(RegisterError::AlreadyRegistered(unsubscribe.to_owned()));
        }
        match self.entries.get(unsubscribe) {
            None
            | Some(Entry {
                kind: Kind::Unsubscribe,
                ..
            }) => {}
            Some(_) => return Err(RegisterError::AlreadyRegistered(unsubscribe.to_owned())),
        }
        let handler: SubscribeFn<Ctx> = Arc::new(move |ctx, params, info| {
            f(ctx, params, info)
                .map(|r| r.map(StreamExt::boxed))
                .boxed()
        });
        self.insert(
            subscribe,
            Kind::Subscribe {
                notification,
                handler,
            },
        )?;
        self.entries.entry(unsubscribe).or_insert_with(|| Entry {
            kind: Kind::Unsubscribe,
            metrics: MethodMetrics::default(),
        });
        Ok(self)
    }

    /// Move all entries of `other` into `self`. Fails on a name registered in both
    /// (except shared unsubscribe methods), leaving `self` unchanged.
    pub fn merge(&mut self, other: RpcModule<Ctx>) -> Result<&mut Self, RegisterError> {
        for (name, entry) in &other.entries {
            if let Some(existing) = self.entries.get(name) {
                let both_unsub = matches!(existing.kind, Kind::Unsubscribe)
                    && matches!(entry.kind, Kind::Unsubscribe);
                if !both_unsub {
                    return Err(RegisterError::AlreadyRegistered((*name).to_owned()));
                }
            }
        }
        for (name, entry) in other.entries {
            self.entries.entry(name).or_insert(entry);
        }
        Ok(self)
    }

    /// Keeps only the entries whose name satisfies `keep` (e.g. to serve `debug_*` only on an
    /// admin listener). Returns the names removed, sorted.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) -> Vec<&'static str> {
        let mut removed: Vec<&'static str> =
            self.entries.keys().copied().filter(|n| !keep(n)).collect();
        removed.sort_unstable();
        for name in &removed {
            self.entries.remove(name);
        }
        removed
    }

    /// Names of all registered methods (including subscribe/unsubscribe), sorted.
    pub fn method_names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.entries.keys().copied().collect();
        names.sort_unstable();
        names
    }

    /// Per-method call/error counters and latency sums plus connection and subscription
    /// gauges, in the Prometheus text exposition format (for the node's `/metrics`).
    pub fn render_prometheus(&self) -> String {
        let mut out = String::new();
        let mut iter = self.entries.iter().map(|(name, e)| (*name, &e.metrics));
        self.server_metrics.render(&mut out, &mut iter);
        out
    }

    fn insert(&mut self, name: &'static str, kind: Kind<Ctx>) -> Result<(), RegisterError> {
        validate_name(name)?;
        if self.entries.contains_key(name) {
            return Err(RegisterError::AlreadyRegistered(name.to_owned()));
        }
        self.entries.insert(
            name,
            Entry {
                kind,
                metrics: MethodMetrics::default(),
            },
        );
        Ok(())
    }
}

/// Names are what geth accepts in practice (`eth_call`, `txpool_content`, …): ASCII
/// letters, digits and `_`, at most 2048 bytes. This also keeps metric labels clean.
fn validate_name(name: &str) -> Result<(), RegisterError> {
    let ok = !name.is_empty()
        && name.len() <= crate::dispatch::MAX_METHOD_NAME_LEN
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(RegisterError::InvalidName(name.to_owned()))
    }
}
