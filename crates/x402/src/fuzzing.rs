//! Harnesses shared by the x402 fuzz targets and the seed-corpus tests (feature `fuzzing`,
//! never in a production build). Each panics on a broken invariant, which is what the fuzzer
//! looks for.
//!
//! - [`header`]: bytes as an HTTP header value: the base64 codec and every wire object a
//!   server or client decodes from one;
//! - [`facilitator_request`]: bytes as a `/verify` or `/settle` body, through the real
//!   facilitator (parsing, every check, settlement) on a deterministic in-memory chain;
//! - [`path`]: bytes as a request path for the paywall's canonicalization.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::SolCall;

use crate::chain::{CallOutcome, Chain, ChainError, Committed, TxStatus};
use crate::facilitator::IEip3009Token;
use crate::types::*;
use crate::{Facilitator, FacilitatorConfig, TokenInfo, codec};

/// A chain that answers every question the same way: balances and allowances plentiful,
/// nonces unused, simulations succeed, nothing ever commits.
struct FixedChain;

impl Chain for FixedChain {
    fn chain_id(&self) -> u64 {
        424242
    }
    async fn next_block_timestamp(&self) -> Result<u64, ChainError> {
        Ok(1_800_000_000)
    }
    async fn call(
        &self,
        _from: Address,
        _to: Address,
        data: Bytes,
        _timestamp: Option<u64>,
    ) -> Result<CallOutcome, ChainError> {
        let selector: [u8; 4] = data
            .get(..4)
            .and_then(|s| s.try_into().ok())
            .unwrap_or_default();
        Ok(CallOutcome::Success(match selector {
            IEip3009Token::authorizationStateCall::SELECTOR => {
                IEip3009Token::authorizationStateCall::abi_encode_returns(&false).into()
            }
            IEip3009Token::balanceOfCall::SELECTOR => {
                IEip3009Token::balanceOfCall::abi_encode_returns(
                    &U256::from(10u64).pow(U256::from(30)),
                )
                .into()
            }
            _ => Bytes::new(),
        }))
    }
    async fn balance(&self, _address: Address) -> Result<U256, ChainError> {
        Ok(U256::MAX)
    }
    async fn pending_nonce(&self, _address: Address) -> Result<u64, ChainError> {
        Ok(0)
    }
    async fn max_fee_per_gas(&self) -> Result<u128, ChainError> {
        Ok(2)
    }
    async fn submit(&self, raw: Bytes) -> Result<B256, ChainError> {
        Ok(keccak256(&raw))
    }
    async fn find_log(
        &self,
        _address: Address,
        _topics: Vec<B256>,
        _lookback: u64,
        _after_timestamp: u64,
    ) -> Result<Option<B256>, ChainError> {
        Ok(None)
    }
    async fn tx_status(&self, _hash: B256) -> Result<TxStatus, ChainError> {
        Ok(TxStatus::Unknown)
    }
    async fn wait_committed(&self, hash: B256, timeout: Duration) -> Result<Committed, ChainError> {
        tokio::time::sleep(timeout.min(Duration::from_millis(1))).await;
        Err(ChainError::Timeout(hash))
    }
}

struct Harness {
    facilitator: Arc<Facilitator<FixedChain>>,
    runtime: tokio::runtime::Runtime,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let token = TokenInfo {
            address: Address::repeat_byte(0x44),
            name: "TxnChain USD".into(),
            version: "1".into(),
            decimals: 6,
            symbol: "tUSD".into(),
        };
        let key = PrivateKeySigner::from_bytes(&B256::repeat_byte(7))
            .unwrap_or_else(|e| unreachable!("fixed key: {e}"));
        let mut config = FacilitatorConfig::new(token, vec![key]);
        config.commit_timeout = Duration::from_millis(5);
        let facilitator = Facilitator::new(FixedChain, config)
            .unwrap_or_else(|e| unreachable!("harness facilitator: {e}"));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| unreachable!("cannot build tokio runtime: {e}"));
        Harness {
            facilitator,
            runtime,
        }
    })
}

/// Bytes as a header value: decoding never panics, and whatever decodes re-encodes to
/// something that decodes to the same value (exactly, unless it holds a non-integer number:
/// JSON floats do not round-trip bit for bit, and no x402 field is one).
pub fn header(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(v) = codec::decode_value(text) {
        let again = codec::encode(&v).unwrap_or_else(|e| panic!("re-encode failed: {e}"));
        let back = codec::decode_value(&again).unwrap_or_else(|e| panic!("re-decode failed: {e}"));
        if !has_float(&v) {
            assert_eq!(back, v, "codec round trip");
        }
        let _ = parse_payload(&v);
        if let Ok(r) = codec::decode::<PaymentRequired>(text) {
            let again = codec::encode(&r).unwrap_or_else(|e| panic!("re-encode failed: {e}"));
            let back = codec::decode::<PaymentRequired>(&again)
                .unwrap_or_else(|e| panic!("re-decode failed: {e}"));
            if !has_float(&v) {
                assert_eq!(back, r, "round trip");
            }
        }
    }
    let _ = codec::decode::<SettleResponse>(text);
    let _ = codec::decode::<PaymentPayload>(text);
}

fn has_float(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Number(n) => n.is_f64(),
        serde_json::Value::Array(a) => a.iter().any(has_float),
        serde_json::Value::Object(o) => o.values().any(has_float),
        _ => false,
    }
}

/// Bytes as a facilitator request body: the real verify and settle never panic, answer
/// well-formed responses, and never report an unsigned payment as valid or settled.
pub fn facilitator_request(data: &[u8]) {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let h = harness();
    h.runtime.block_on(async {
        let v = h.facilitator.verify(&body).await;
        let s = h.facilitator.settle(&body).await;
        serde_json::to_string(&v).unwrap_or_else(|e| panic!("verify response: {e}"));
        serde_json::to_string(&s).unwrap_or_else(|e| panic!("settle response: {e}"));
        assert!(
            s.success || s.error_reason.is_some(),
            "a failure without a reason"
        );
        assert!(
            !s.success,
            "settled on a chain where nothing commits: {s:?}"
        );
        if v.is_valid {
            // Only a payment signed by its payer verifies; the fuzzer finding one is a
            // signature forgery or a bypassed check.
            panic!("verified a fuzzed payment: {v:?}");
        }
    });
}

/// Bytes as a request path: canonicalization never panics, and its output is canonical
/// (idempotent, absolute, without empty or dot segments).
pub fn path(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = crate::path::canonical(text) {
        assert!(c.starts_with('/'), "{c:?}");
        assert!(!c.contains("//"), "{c:?}");
        for seg in c.split('/') {
            assert!(seg != "." && seg != "..", "{c:?}");
        }
        assert_eq!(
            crate::path::canonical(&c).as_deref(),
            Ok(c.as_str()),
            "not idempotent"
        );
    }
}
