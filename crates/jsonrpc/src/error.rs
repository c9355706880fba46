//! JSON-RPC error objects (geth's codes and messages) and the crate's library errors.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// JSON-RPC 2.0 "Parse error": the request is not valid JSON.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC 2.0 "Invalid Request": the JSON is not a valid request object.
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC 2.0 "Method not found" (geth also uses it for "notifications not supported").
pub const METHOD_NOT_FOUND: i64 = -32601;
/// JSON-RPC 2.0 "Invalid params".
pub const INVALID_PARAMS: i64 = -32602;
/// JSON-RPC 2.0 "Internal error" (geth: marshal errors and handler panics).
pub const INTERNAL_ERROR: i64 = -32603;
/// geth's default code for errors returned by method handlers.
pub const SERVER_ERROR: i64 = -32000;
/// geth's code for "request timed out".
pub const TIMEOUT_ERROR: i64 = -32002;
/// geth's code for "response too large" (batch response size limit).
pub const RESPONSE_TOO_LARGE: i64 = -32003;

/// A JSON-RPC error object, serialized as `{"code":…,"message":…,"data"?:…}`.
///
/// Handlers return it to produce an error response; the server uses it for protocol errors.
/// The constructors produce exactly the codes and messages geth sends, because client
/// libraries (viem, ethers) classify errors by them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message} (code {code})")]
pub struct RpcError {
    /// Error code (see the constants in this module).
    pub code: i64,
    /// Human-readable message.
    pub message: String,
    /// Optional structured data (geth: e.g. the revert data of `eth_call`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    /// Any code, message and optional data.
    pub fn custom(code: i64, message: impl Into<String>, data: Option<Value>) -> Self {
        Self {
            code,
            message: message.into(),
            data,
        }
    }

    /// `-32700 "parse error"` (malformed JSON).
    pub fn parse_error() -> Self {
        Self::custom(PARSE_ERROR, "parse error", None)
    }

    /// `-32600 "invalid request"`.
    pub fn invalid_request() -> Self {
        Self::custom(INVALID_REQUEST, "invalid request", None)
    }

    /// `-32600` with a specific message (e.g. "empty batch", "batch too large").
    pub fn invalid_request_msg(message: impl Into<String>) -> Self {
        Self::custom(INVALID_REQUEST, message, None)
    }

    /// `-32601 "the method <name> does not exist/is not available"`.
    pub fn method_not_found(name: &str) -> Self {
        Self::custom(
            METHOD_NOT_FOUND,
            format!("the method {name} does not exist/is not available"),
            None,
        )
    }

    /// `-32602 <msg>`.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::custom(INVALID_PARAMS, message, None)
    }

    /// `-32603 <msg>`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::custom(INTERNAL_ERROR, message, None)
    }

    /// `-32000 <msg>`: geth's code for ordinary errors returned by handlers
    /// (e.g. "nonce too low", "insufficient funds for gas * price + value").
    pub fn server(message: impl Into<String>) -> Self {
        Self::custom(SERVER_ERROR, message, None)
    }

    /// `-32601 "notifications not supported"`: a subscribe method called over plain HTTP.
    pub fn notifications_unsupported() -> Self {
        Self::custom(METHOD_NOT_FOUND, "notifications not supported", None)
    }

    /// `-32000 "subscription not found"`: unsubscribe with an unknown id (geth).
    pub fn subscription_not_found() -> Self {
        Self::server("subscription not found")
    }

    /// `-32601 no "<name>" subscription in <namespace> namespace`: what geth answers to
    /// e.g. `eth_subscribe ["bogus"]`. For use by subscribe handlers.
    pub fn unknown_subscription(namespace: &str, name: &str) -> Self {
        Self::custom(
            METHOD_NOT_FOUND,
            format!("no {name:?} subscription in {namespace} namespace"),
            None,
        )
    }

    /// `-32603 "method handler crashed"`: the handler panicked (geth's message).
    pub fn handler_crashed() -> Self {
        Self::internal("method handler crashed")
    }

    /// `-32002 "request timed out"`.
    pub fn timeout() -> Self {
        Self::custom(TIMEOUT_ERROR, "request timed out", None)
    }

    /// `-32003 "response too large"`.
    pub fn response_too_large() -> Self {
        Self::custom(RESPONSE_TOO_LARGE, "response too large", None)
    }

    /// Attach `data` to the error.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }
}

/// Errors raised while building an [`RpcModule`](crate::RpcModule).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// The name is already registered (as a method, subscribe or unsubscribe method).
    #[error("JSON-RPC method {0:?} is already registered")]
    AlreadyRegistered(String),
    /// The name is empty or longer than geth's 2048-byte limit.
    #[error("invalid JSON-RPC method name {0:?}")]
    InvalidName(String),
}
