//! A `verify` / `settle` body parsed once into typed fields: addresses, amounts and times as
//! numbers, the signature as bytes. Every later step works on [`Payment`]; a field that does
//! not parse is refused here with the reason code a client can act on.

use std::str::FromStr;

use alloy_primitives::{Address, B256, Bytes, U256};
use serde_json::Value;

use crate::types::*;
use crate::{X402Error, reason};

/// Why a payment is refused: the reason code, a message, and the payer when known.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    pub(crate) reason: &'static str,
    pub(crate) message: String,
    pub(crate) payer: Option<Address>,
}

pub(crate) fn refuse(
    reason: &'static str,
    message: impl Into<String>,
    payer: Option<Address>,
) -> Refusal {
    Refusal {
        reason,
        message: message.into(),
        payer,
    }
}

/// An exact-EVM payment, typed.
#[derive(Debug, Clone)]
pub(crate) struct Payment {
    /// `authorization.from`.
    pub(crate) payer: Address,
    /// `authorization.to`.
    pub(crate) to: Address,
    /// `authorization.value`.
    pub(crate) value: U256,
    /// `authorization.validAfter`.
    pub(crate) valid_after: U256,
    /// `authorization.validBefore`.
    pub(crate) valid_before: U256,
    /// `authorization.nonce`.
    pub(crate) nonce: B256,
    /// The payer's signature.
    pub(crate) signature: Bytes,
    /// `paymentRequirements.asset`.
    pub(crate) asset: Address,
    /// `paymentRequirements.payTo`.
    pub(crate) pay_to: Address,
    /// `paymentRequirements.amount`.
    pub(crate) amount: U256,
    /// `paymentRequirements.maxTimeoutSeconds`.
    pub(crate) max_timeout_seconds: u64,
    /// `paymentRequirements.extra.name` / `.version`.
    pub(crate) domain: Option<(String, String)>,
}

impl Payment {
    /// `validAfter` as seconds (saturating: a value beyond u64 is "never").
    pub(crate) fn valid_after_secs(&self) -> u64 {
        self.valid_after.saturating_to()
    }

    /// `validBefore` as seconds (saturating).
    pub(crate) fn valid_before_secs(&self) -> u64 {
        self.valid_before.saturating_to()
    }
}

/// Parses `{x402Version, paymentPayload, paymentRequirements}` for `chain_id`: the version,
/// the scheme, that `accepted` matches the requirements, the network, then every typed field.
pub(crate) fn parse(body: &Value, chain_id: u64) -> Result<Payment, Refusal> {
    let version = body.get("x402Version").and_then(Value::as_u64);
    let payload = body
        .get("paymentPayload")
        .ok_or_else(|| refuse(reason::INVALID_PAYLOAD, "paymentPayload missing", None))?;
    let payload = match parse_payload(payload) {
        Ok(AnyPayload::V1 { network }) => {
            return Err(refuse(
                reason::INVALID_X402_VERSION,
                v1_message(&network, chain_id),
                None,
            ));
        }
        Err(e @ X402Error::Version(_)) => {
            return Err(refuse(reason::INVALID_X402_VERSION, e.to_string(), None));
        }
        Err(e) => return Err(refuse(reason::INVALID_PAYLOAD, e.to_string(), None)),
        Ok(AnyPayload::V2(p)) => *p,
    };
    if version.is_some_and(|v| v != 2) {
        return Err(refuse(
            reason::INVALID_X402_VERSION,
            format!("request x402Version {version:?} does not match the payload's 2"),
            None,
        ));
    }
    let req: PaymentRequirements = body
        .get("paymentRequirements")
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| refuse(reason::INVALID_PAYMENT_REQUIREMENTS, e.to_string(), None))?
        .ok_or_else(|| {
            refuse(
                reason::INVALID_PAYMENT_REQUIREMENTS,
                "paymentRequirements missing",
                None,
            )
        })?;
    typed(&payload, &req, chain_id)
}

fn typed(
    payload: &PaymentPayload,
    req: &PaymentRequirements,
    chain_id: u64,
) -> Result<Payment, Refusal> {
    let accepted = &payload.accepted;
    if accepted.scheme != SCHEME_EXACT || req.scheme != SCHEME_EXACT {
        return Err(refuse(
            reason::INVALID_SCHEME,
            format!(
                "scheme {:?} / {:?}: only \"exact\" is supported",
                accepted.scheme, req.scheme
            ),
            None,
        ));
    }
    let ours = network_of(chain_id);
    if accepted.network != req.network || req.network != ours {
        return Err(refuse(
            reason::NETWORK_MISMATCH,
            format!(
                "payment for {:?}, requirements for {:?}; this facilitator settles {ours}",
                accepted.network, req.network
            ),
            None,
        ));
    }
    let exact = payload
        .exact_evm()
        .map_err(|e| refuse(reason::INVALID_PAYLOAD, e.to_string(), None))?;
    let auth = &exact.authorization;
    let payer = Address::from_str(&auth.from).map_err(|_| {
        refuse(
            reason::INVALID_PAYLOAD,
            "authorization.from is not an address",
            None,
        )
    })?;
    let some = Some(payer);
    let bad_payload = |what: &str| refuse(reason::INVALID_PAYLOAD, what.to_string(), some);
    let bad_req = |what: &str| refuse(reason::INVALID_PAYMENT_REQUIREMENTS, what.to_string(), some);
    let decimal = |s: &str| U256::from_str_radix(s, 10).ok();
    let to = Address::from_str(&auth.to)
        .map_err(|_| bad_payload("authorization.to is not an address"))?;
    let value = decimal(&auth.value)
        .ok_or_else(|| bad_payload("authorization.value is not a decimal integer"))?;
    let valid_after = decimal(&auth.valid_after)
        .ok_or_else(|| bad_payload("authorization.validAfter is not a decimal integer"))?;
    let valid_before = decimal(&auth.valid_before)
        .ok_or_else(|| bad_payload("authorization.validBefore is not a decimal integer"))?;
    let nonce = B256::from_str(&auth.nonce)
        .map_err(|_| bad_payload("authorization.nonce is not 32 bytes hex"))?;
    let signature = Bytes::from_str(&exact.signature)
        .map_err(|_| refuse(reason::SIGNATURE, "signature is not hex", some))?;
    if !accepted.asset.eq_ignore_ascii_case(&req.asset) {
        return Err(bad_req("accepted.asset differs from the requirements"));
    }
    if !accepted.pay_to.eq_ignore_ascii_case(&req.pay_to) {
        return Err(refuse(
            reason::RECIPIENT_MISMATCH,
            "accepted.payTo differs from the requirements",
            some,
        ));
    }
    if accepted.amount != req.amount {
        return Err(refuse(
            reason::VALUE_MISMATCH,
            "accepted.amount differs from the requirements",
            some,
        ));
    }
    let asset = Address::from_str(&req.asset).map_err(|_| bad_req("asset is not an address"))?;
    let pay_to = Address::from_str(&req.pay_to).map_err(|_| bad_req("payTo is not an address"))?;
    let amount = decimal(&req.amount).ok_or_else(|| bad_req("amount is not a decimal integer"))?;
    let domain = req
        .token_name()
        .zip(req.token_version())
        .map(|(n, v)| (n.to_string(), v.to_string()));
    Ok(Payment {
        payer,
        to,
        value,
        valid_after,
        valid_before,
        nonce,
        signature,
        asset,
        pay_to,
        amount,
        max_timeout_seconds: req.max_timeout_seconds,
        domain,
    })
}
