//! The Ethereum JSON-RPC surface of a TxnChain node: `eth_*`, `net_*`, `web3_*`, `txpool_*`,
//! `debug_trace*`, and in dev mode the signing methods backed by the dev accounts.
//!
//! Methods behave like geth's, with geth's error codes and messages, because wallets and
//! libraries classify errors by them. Transport (HTTP, WebSocket, batches, limits) is
//! [`txnchain_jsonrpc`]'s; this crate registers handlers on an [`RpcModule`](txnchain_jsonrpc::RpcModule).

mod api;
mod blocks;
mod confidential;
mod convert;
mod debug;
mod dev;
mod dev_methods;
mod errors;
mod eth;
mod filters;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod policy;
mod simulate;
mod state;
mod subs;

pub use api::{EthApi, EthApiConfig};
pub use dev_methods::dev_module;
pub use eth::{admin_only, module};
