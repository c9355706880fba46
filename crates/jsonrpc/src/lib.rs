//! Generic JSON-RPC 2.0 server for the TxnChain node: HTTP and WebSocket on one port,
//! built on axum and tokio, that behaves like geth on the wire.
//!
//! This crate owns the protocol layer only: request parsing, batches, notifications,
//! error codes and messages, subscription ids and notification framing, transport limits
//! (body size, batch length, batch response size, connections, WebSocket message size,
//! slow consumers), CORS, and per-method metrics. It knows no Ethereum method: the
//! `eth`/`net`/`web3`/`debug`/`txpool` handlers live in other crates and are registered
//! on an [`RpcModule`].
//!
//! geth compatibility matters because viem and ethers classify errors by geth's codes and
//! messages; see [`RpcError`] for the constructors and [`Params`] for geth's parameter
//! errors. Differences from geth are documented where they occur.
//!
//! ```no_run
//! use std::sync::Arc;
//! use futures::StreamExt;
//! use serde_json::json;
//! use txnchain_jsonrpc::{RpcModule, ServerConfig, router, serve};
//!
//! struct Node { chain_id: u64 }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut module = RpcModule::<Node>::new();
//! module.method("eth_chainId", |node, params| async move {
//!     params.check_max(0)?;
//!     Ok(json!(format!("{:#x}", node.chain_id)))
//! })?;
//! module.subscription("eth_subscribe", "eth_subscription", "eth_unsubscribe",
//!     |_node, params, _conn| async move {
//!         match params.subscription_name()?.as_str() {
//!             "newHeads" => Ok(futures::stream::iter([json!({"number": "0x1"})]).boxed()),
//!             other => Err(txnchain_jsonrpc::RpcError::unknown_subscription("eth", other)),
//!         }
//!     })?;
//! let app = router(Arc::new(module), Arc::new(Node { chain_id: 424242 }), ServerConfig::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8545").await?;
//! serve(listener, app).await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod dispatch;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod metrics;
mod module;
mod params;
mod server;

pub use error::{
    INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR,
    RESPONSE_TOO_LARGE, RegisterError, RpcError, SERVER_ERROR, TIMEOUT_ERROR,
};
pub use module::{CallCtx, ConnectionInfo, RpcModule, Transport};
pub use params::{Params, ParamsOwned};
pub use server::{
    ServerConfig, SlowConsumerPolicy, handle_request_bytes, handle_request_bytes_from, router,
    serve,
};
