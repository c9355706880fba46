//! Reason codes, with the names `@x402/evm` 2.27.0 sends (clients match on them).
#![allow(missing_docs)]

pub const INVALID_SCHEME: &str = "invalid_exact_evm_scheme";
pub const NETWORK_MISMATCH: &str = "invalid_exact_evm_network_mismatch";
pub const MISSING_EIP712_DOMAIN: &str = "invalid_exact_evm_missing_eip712_domain";
pub const SIGNATURE: &str = "invalid_exact_evm_signature";
pub const RECIPIENT_MISMATCH: &str = "invalid_exact_evm_recipient_mismatch";
pub const VALID_AFTER: &str = "invalid_exact_evm_payload_authorization_valid_after";
pub const VALID_BEFORE: &str = "invalid_exact_evm_payload_authorization_valid_before";
pub const VALUE_MISMATCH: &str = "invalid_exact_evm_payload_authorization_value_mismatch";
pub const NONCE_ALREADY_USED: &str = "invalid_exact_evm_nonce_already_used";
pub const INSUFFICIENT_BALANCE: &str = "invalid_exact_evm_insufficient_balance";
pub const TOKEN_NAME_MISMATCH: &str = "invalid_exact_evm_token_name_mismatch";
pub const TOKEN_VERSION_MISMATCH: &str = "invalid_exact_evm_token_version_mismatch";
pub const SIMULATION_FAILED: &str = "invalid_exact_evm_transaction_simulation_failed";
pub const TRANSACTION_FAILED: &str = "invalid_exact_evm_transaction_failed";
pub const TRANSFER_EVENT_MISMATCH: &str = "invalid_exact_evm_transfer_event_mismatch";
pub const SETTLEMENT_PENDING: &str = "settlement_pending";
pub const INVALID_PAYLOAD: &str = "invalid_payload";
pub const INVALID_PAYMENT_REQUIREMENTS: &str = "invalid_payment_requirements";
pub const INVALID_X402_VERSION: &str = "invalid_x402_version";
pub const UNSUPPORTED_SCHEME: &str = "unsupported_scheme";
pub const INVALID_TRANSACTION_STATE: &str = "invalid_transaction_state";
pub const UNEXPECTED_VERIFY_ERROR: &str = "unexpected_verify_error";
pub const UNEXPECTED_SETTLE_ERROR: &str = "unexpected_settle_error";
/// TxnChain: the facilitator does not settle for this payee (not in its allow-list and no
/// valid bearer token).
pub const PAYEE_NOT_SERVED: &str = "unauthorized_payee";
