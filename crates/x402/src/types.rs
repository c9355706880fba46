//! x402 wire objects (v2 primary, v1 recognised). Parsing is lenient (unknown fields are
//! ignored); emitting follows the field names of the reference SDK exactly.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::X402Error;

/// The protocol version TxnChain speaks.
pub const X402_VERSION: u32 = 2;
/// The only scheme implemented: `exact` over EIP-3009.
pub const SCHEME_EXACT: &str = "exact";

/// v2 request header carrying the payment.
pub const PAYMENT_SIGNATURE: &str = "PAYMENT-SIGNATURE";
/// v2 402 header carrying [`PaymentRequired`].
pub const PAYMENT_REQUIRED: &str = "PAYMENT-REQUIRED";
/// v2 response header carrying [`SettleResponse`].
pub const PAYMENT_RESPONSE: &str = "PAYMENT-RESPONSE";
/// v1 request header.
pub const X_PAYMENT: &str = "X-PAYMENT";
/// v1 response header.
pub const X_PAYMENT_RESPONSE: &str = "X-PAYMENT-RESPONSE";

/// Networks x402 v1 can name (a closed list); none of them is a TxnChain chain.
pub const V1_NETWORKS: &[&str] = &[
    "base",
    "base-sepolia",
    "avalanche",
    "avalanche-fuji",
    "iotex",
    "sei",
    "sei-testnet",
    "polygon",
    "polygon-amoy",
    "peaq",
    "solana",
    "solana-devnet",
];

/// The resource being paid for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceInfo {
    /// URL of the resource.
    #[serde(default)]
    pub url: String,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// MIME type of the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
}

/// One way to pay (an element of `accepts`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequirements {
    /// `exact`.
    pub scheme: String,
    /// CAIP-2 network, `eip155:<chain id>`.
    pub network: String,
    /// Atomic amount, decimal string.
    pub amount: String,
    /// Token address.
    pub asset: String,
    /// Payee.
    pub pay_to: String,
    /// How long the server waits for the payment to settle.
    pub max_timeout_seconds: u64,
    /// Scheme-specific data; `name` and `version` of the EIP-712 domain for EIP-3009.
    #[serde(default)]
    pub extra: serde_json::Map<String, Value>,
}

impl PaymentRequirements {
    /// `extra.name` (the token's EIP-712 name), if present.
    pub fn token_name(&self) -> Option<&str> {
        self.extra.get("name").and_then(Value::as_str)
    }
    /// `extra.version` (the token's EIP-712 version), if present.
    pub fn token_version(&self) -> Option<&str> {
        self.extra.get("version").and_then(Value::as_str)
    }
    /// Whether `other` asks for the same payment (addresses compared case-insensitively,
    /// `extra.name`/`extra.version` compared exactly).
    pub fn same_payment(&self, other: &PaymentRequirements) -> bool {
        self.scheme == other.scheme
            && self.network == other.network
            && self.amount == other.amount
            && self.asset.eq_ignore_ascii_case(&other.asset)
            && self.pay_to.eq_ignore_ascii_case(&other.pay_to)
            && self.token_name() == other.token_name()
            && self.token_version() == other.token_version()
    }
}

/// The body of `PAYMENT-REQUIRED`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequired {
    /// 2.
    pub x402_version: u32,
    /// Why payment is required (or why the last one failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The resource.
    pub resource: ResourceInfo,
    /// Ways to pay.
    pub accepts: Vec<PaymentRequirements>,
    /// Extensions (empty).
    #[serde(default)]
    pub extensions: serde_json::Map<String, Value>,
}

/// The EIP-3009 authorization inside an exact EVM payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authorization {
    /// Payer.
    pub from: String,
    /// Payee.
    pub to: String,
    /// Atomic amount, decimal string.
    pub value: String,
    /// Unix seconds, decimal string (strictly before the block timestamp).
    pub valid_after: String,
    /// Unix seconds, decimal string (strictly after the block timestamp).
    pub valid_before: String,
    /// 32 bytes hex.
    pub nonce: String,
}

/// `payload` of the exact EVM scheme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExactEvmPayload {
    /// 65-byte (or 64-byte compact) signature, hex.
    pub signature: String,
    /// The signed authorization.
    pub authorization: Authorization,
}

/// The body of `PAYMENT-SIGNATURE` (v2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPayload {
    /// 2.
    pub x402_version: u32,
    /// The resource (copied from the 402).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceInfo>,
    /// The requirement chosen, copied.
    pub accepted: PaymentRequirements,
    /// Scheme payload ([`ExactEvmPayload`] for `exact`).
    pub payload: Value,
    /// Extensions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<serde_json::Map<String, Value>>,
}

impl PaymentPayload {
    /// The exact-EVM payload.
    pub fn exact_evm(&self) -> Result<ExactEvmPayload, X402Error> {
        serde_json::from_value(self.payload.clone()).map_err(X402Error::json("payload"))
    }
}

/// Body of facilitator `POST /verify` and `POST /settle`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FacilitatorRequest {
    /// 2.
    pub x402_version: u32,
    /// The client's payment.
    pub payment_payload: PaymentPayload,
    /// What the resource server requires.
    pub payment_requirements: PaymentRequirements,
}

/// Answer to `POST /verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyResponse {
    /// Whether the payment would settle.
    pub is_valid: bool,
    /// Reason code when invalid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_reason: Option<String>,
    /// Human-readable detail when invalid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_message: Option<String>,
    /// The payer, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
}

impl VerifyResponse {
    /// A valid answer.
    pub fn valid(payer: String) -> Self {
        VerifyResponse {
            is_valid: true,
            invalid_reason: None,
            invalid_message: None,
            payer: Some(payer),
        }
    }
    /// An invalid answer.
    pub fn invalid(reason: &str, message: impl Into<String>, payer: Option<String>) -> Self {
        VerifyResponse {
            is_valid: false,
            invalid_reason: Some(reason.to_string()),
            invalid_message: Some(message.into()),
            payer,
        }
    }
}

/// Answer to `POST /settle`, and the body of `PAYMENT-RESPONSE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettleResponse {
    /// Whether this call settled the payment.
    pub success: bool,
    /// Reason code on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<String>,
    /// Human-readable detail on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The payer, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
    /// Transaction hash (`""` when nothing was sent; the original one for a reused nonce).
    #[serde(default)]
    pub transaction: String,
    /// CAIP-2 network.
    #[serde(default)]
    pub network: String,
    /// Atomic amount settled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// The reference SDK's free-form `extra` object. TxnChain's facilitator puts the URL of
    /// the settlement's offline-verifiable receipt here as `extra.receipt`
    /// (`specs/receipts.md` §3); other fields are kept as received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
}

impl SettleResponse {
    /// A failure.
    pub fn failure(
        reason: &str,
        message: impl Into<String>,
        payer: Option<String>,
        network: String,
        transaction: String,
    ) -> Self {
        SettleResponse {
            success: false,
            error_reason: Some(reason.to_string()),
            error_message: Some(message.into()),
            payer,
            transaction,
            network,
            amount: None,
            extra: None,
        }
    }

    /// The URL of the settlement's receipt (`extra.receipt`), if the facilitator gave one.
    pub fn receipt_url(&self) -> Option<&str> {
        self.extra.as_ref()?.get(RECEIPT_EXTRA)?.as_str()
    }
}

/// Key of [`SettleResponse::extra`] holding the settlement's receipt URL.
pub const RECEIPT_EXTRA: &str = "receipt";

/// One supported (version, scheme, network).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportedKind {
    /// Protocol version.
    pub x402_version: u32,
    /// Scheme.
    pub scheme: String,
    /// Network.
    pub network: String,
    /// TxnChain extension: `asset`, `name`, `version`, `decimals`, `symbol` of the token the
    /// facilitator settles, so a paywall learns them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<serde_json::Map<String, Value>>,
}

/// Answer to `GET /supported`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportedResponse {
    /// Supported kinds.
    pub kinds: Vec<SupportedKind>,
    /// Extensions (none).
    #[serde(default)]
    pub extensions: Vec<String>,
    /// Signer addresses per CAIP-2 family.
    #[serde(default)]
    pub signers: serde_json::Map<String, Value>,
}

/// Parses `eip155:<decimal>` into a chain id.
pub fn parse_network(network: &str) -> Result<u64, X402Error> {
    let rest = network
        .strip_prefix("eip155:")
        .ok_or_else(|| X402Error::UnsupportedNetwork(network.to_string()))?;
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) || rest.starts_with('0') {
        return Err(X402Error::UnsupportedNetwork(network.to_string()));
    }
    rest.parse()
        .map_err(|_| X402Error::UnsupportedNetwork(network.to_string()))
}

/// The CAIP-2 name of a chain.
pub fn network_of(chain_id: u64) -> String {
    format!("eip155:{chain_id}")
}

/// What a `PAYMENT-SIGNATURE`/`X-PAYMENT` header (or a facilitator body's `paymentPayload`)
/// turned out to be.
#[derive(Debug, Clone)]
pub enum AnyPayload {
    /// A v2 payload.
    V2(Box<PaymentPayload>),
    /// A v1 payload (`network` is whatever it named).
    V1 {
        /// The network it names.
        network: String,
    },
}

/// Parses a JSON payment payload of any version; v1 is recognised (not settled); any other
/// version is [`X402Error::Version`].
pub fn parse_payload(v: &Value) -> Result<AnyPayload, X402Error> {
    let version = v
        .get("x402Version")
        .and_then(Value::as_u64)
        .ok_or(X402Error::VersionMissing)?;
    match version {
        2 => serde_json::from_value(v.clone())
            .map(|p| AnyPayload::V2(Box::new(p)))
            .map_err(X402Error::json("payment payload")),
        1 => Ok(AnyPayload::V1 {
            network: v
                .get("network")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        }),
        other => Err(X402Error::Version(other)),
    }
}

/// The precise message for a v1 payload.
pub fn v1_message(network: &str, chain_id: u64) -> String {
    let named = if V1_NETWORKS.contains(&network) {
        format!("it names network {network:?}, which is not this chain")
    } else {
        format!("{network:?} is not a v1 network name")
    };
    format!(
        "x402 v1 can only name networks from a closed list ({}); {named}. TxnChain is \
         eip155:{chain_id} and needs x402Version 2 (PAYMENT-SIGNATURE header)",
        V1_NETWORKS.join(", ")
    )
}
