//! The errors of this crate, each a typed variant.

use std::path::PathBuf;

use alloy_primitives::{Address, U256};

/// Why a spend policy refuses a payment (nothing is signed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyRefusal {
    /// The network is not in the allow-list.
    #[error("network {0} is not allowed")]
    Network(String),
    /// The asset is not in the allow-list.
    #[error("asset {0} is not allowed")]
    Asset(Address),
    /// The payee is not in the allow-list.
    #[error("recipient {0} is not allowed")]
    Recipient(Address),
    /// A requirement field that does not parse.
    #[error("{field} {value:?} is not {expected}")]
    Malformed {
        /// `asset`, `payTo`, `amount`.
        field: &'static str,
        /// What it said.
        value: String,
        /// What it should be.
        expected: &'static str,
    },
    /// Over the per-request maximum.
    #[error("amount {amount} exceeds the maximum per request {max}")]
    OverPerRequest {
        /// Asked.
        amount: U256,
        /// Allowed.
        max: U256,
    },
    /// Over the daily maximum.
    #[error("amount {amount} would bring today's spending to {after} over the daily maximum {max}")]
    OverPerDay {
        /// Asked.
        amount: U256,
        /// Today's total with it.
        after: U256,
        /// Allowed.
        max: U256,
    },
}

/// What is wrong with a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A 65-byte signature whose `v` is not 27 or 28.
    #[error("invalid v value {0}")]
    V(u8),
    /// Neither 65 (`r‖s‖v`) nor 64 (EIP-2098) bytes.
    #[error("signature is {0} bytes; expected 65 (r‖s‖v) or 64 (EIP-2098)")]
    Length(usize),
    /// `s` in the upper half of the curve order (malleable).
    #[error("high-s signature")]
    HighS,
    /// It recovers to no key.
    #[error("the signature does not recover to a key")]
    Recovery,
}

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum X402Error {
    /// A header value is not standard base64 (URL-safe and unpadded are refused).
    #[error("invalid payload: header is not standard base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// JSON that does not parse, or not in the shape expected.
    #[error("invalid payload: {what}: {source}")]
    Json {
        /// What was being read.
        what: &'static str,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A value that cannot be an HTTP header value.
    #[error("invalid payload: not a valid header value")]
    HeaderValue,
    /// A payload without `x402Version`.
    #[error("invalid payload: x402Version missing")]
    VersionMissing,
    /// An x402 version other than 2.
    #[error(
        "invalid x402 version: x402Version {0} is not supported; TxnChain speaks x402Version 2"
    )]
    Version(u64),
    /// A network that is not `eip155:<chain id>`.
    #[error("unsupported network {0:?} (expected eip155:<chain id>)")]
    UnsupportedNetwork(String),
    /// A signature that does not recover.
    #[error("signature: {0}")]
    Signature(#[from] SignatureError),
    /// Signing failed.
    #[error("signing: {0}")]
    Signing(#[from] alloy_signer::Error),
    /// A facilitator without settlement keys.
    #[error("configuration: the facilitator needs at least one settlement key")]
    NoKeys,
    /// A configured token that does not answer as an EIP-3009 token.
    #[error(
        "configuration: token {token}: {call} {problem}; is it an EIP-3009 token on this chain?"
    )]
    Token {
        /// The token.
        token: Address,
        /// The call that failed.
        call: &'static str,
        /// How.
        problem: String,
    },
    /// A decimal amount that does not parse for the token's decimals.
    #[error("configuration: {amount:?} is not a decimal amount with at most {decimals} decimals")]
    Amount {
        /// What was given.
        amount: String,
        /// The token's decimals.
        decimals: u8,
    },
    /// HTTP failed.
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// A response body over the limit.
    #[error("http: response body over {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// A request whose body cannot be sent twice (the paid retry needs it).
    #[error("http: request body cannot be replayed")]
    NotReplayable,
    /// A facilitator answer that is not what the API says.
    #[error("facilitator: {endpoint}: HTTP {status}: {source}")]
    FacilitatorAnswer {
        /// `/verify`, `/settle`, `/supported`.
        endpoint: &'static str,
        /// Its HTTP status.
        status: u16,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
    /// `/supported` lacks what a resource server needs.
    #[error("facilitator: /supported {0}")]
    Supported(&'static str),
    /// The spend policy refused every requirement (nothing was signed).
    #[error("spend policy: refusing to pay: {}", join(.0))]
    Policy(Vec<PaymentRefusal>),
    /// The spend ledger file is unreadable.
    #[error("spend policy: spend ledger {path} is corrupt: {reason}")]
    LedgerCorrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A 402 without `PAYMENT-REQUIRED`.
    #[error(
        "cannot pay: 402 without a PAYMENT-REQUIRED header (x402 v1 servers cannot name a TxnChain network)"
    )]
    NoPaymentRequired,
    /// A requirement field the payer cannot use.
    #[error("cannot pay: {0} is not an address")]
    NotAnAddress(&'static str),
    /// The chain (reconciling outstanding authorizations).
    #[error(transparent)]
    Chain(#[from] crate::ChainError),
    /// Local I/O (the spend ledger).
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// Why one requirement of a 402 was not paid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentRefusal {
    /// A scheme other than `exact`.
    #[error("scheme {0:?} not supported")]
    Scheme(String),
    /// A network that is not `eip155:<chain id>`.
    #[error("unsupported network {0:?} (expected eip155:<chain id>)")]
    Network(String),
    /// No EIP-712 domain in `extra`.
    #[error("requirement lacks extra.name/extra.version")]
    NoDomain,
    /// The policy's limits.
    #[error(transparent)]
    Policy(#[from] PolicyRefusal),
}

fn join(refusals: &[PaymentRefusal]) -> String {
    refusals
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl X402Error {
    /// Wraps a JSON error with what was being read.
    pub fn json(what: &'static str) -> impl FnOnce(serde_json::Error) -> Self {
        move |source| X402Error::Json { what, source }
    }
}
