//! Clients: [`HttpFacilitator`] (what a resource server uses to reach a facilitator) and
//! [`PayingClient`] (a reqwest wrapper that answers 402s by signing an EIP-3009
//! authorization within a [`SpendPolicy`] and retrying once).
//!
//! Every body read from the network is bounded ([`read_body`]): a facilitator's answer to
//! 64 KiB, a paid resource to [`PayingClient::max_body_bytes`] (16 MiB by default). An
//! authorization lives at most [`PayingClient::max_authorization_secs`] (5 minutes by
//! default), whatever `maxTimeoutSeconds` a server asks for.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, B256, U256};
use alloy_signer_local::PrivateKeySigner;
use serde_json::{Value, json};

use crate::eip712::{TokenDomain, TransferWithAuthorization, sign};
use crate::policy::{Outstanding, SpendPolicy};
use crate::types::*;
use crate::{PaymentRefusal, X402Error, codec};

/// Largest facilitator answer read.
pub const MAX_FACILITATOR_RESPONSE_BYTES: usize = 64 * 1024;

/// Reads a response body, refusing more than `limit` bytes (counted as they arrive, whatever
/// `Content-Length` says).
pub async fn read_body(resp: reqwest::Response, limit: usize) -> Result<bytes::Bytes, X402Error> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(X402Error::BodyTooLarge { limit });
    }
    let mut resp = resp;
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = resp.chunk().await? {
        if buf.len().saturating_add(chunk.len()) > limit {
            return Err(X402Error::BodyTooLarge { limit });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// A facilitator reached over HTTP (`<base>/verify`, `<base>/settle`, `<base>/supported`).
#[derive(Clone)]
pub struct HttpFacilitator {
    base: String,
    http: reqwest::Client,
    bearer: Option<String>,
}

impl HttpFacilitator {
    /// A client for the facilitator at `base` (e.g. `http://127.0.0.1:8545/x402`).
    pub fn new(base: &str, bearer: Option<String>) -> Result<Self, X402Error> {
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(256)
            .build()?;
        Ok(HttpFacilitator {
            base: base.trim_end_matches('/').to_string(),
            http,
            bearer,
        })
    }

    async fn post(&self, path: &'static str, body: &Value) -> Result<Value, X402Error> {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(t) = &self.bearer {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let body = read_body(resp, MAX_FACILITATOR_RESPONSE_BYTES).await?;
        serde_json::from_slice(&body).map_err(|source| X402Error::FacilitatorAnswer {
            endpoint: path,
            status: status.as_u16(),
            source,
        })
    }

    /// `POST /verify`.
    pub async fn verify(
        &self,
        payload: &PaymentPayload,
        req: &PaymentRequirements,
    ) -> Result<VerifyResponse, X402Error> {
        let v = self
            .post(
                "/verify",
                &json!({"x402Version": 2, "paymentPayload": payload, "paymentRequirements": req}),
            )
            .await?;
        serde_json::from_value(v).map_err(|source| X402Error::FacilitatorAnswer {
            endpoint: "/verify",
            status: 200,
            source,
        })
    }

    /// `POST /settle`.
    pub async fn settle(
        &self,
        payload: &PaymentPayload,
        req: &PaymentRequirements,
    ) -> Result<SettleResponse, X402Error> {
        let v = self
            .post(
                "/settle",
                &json!({"x402Version": 2, "paymentPayload": payload, "paymentRequirements": req}),
            )
            .await?;
        serde_json::from_value(v).map_err(|source| X402Error::FacilitatorAnswer {
            endpoint: "/settle",
            status: 200,
            source,
        })
    }

    /// `GET /supported`.
    pub async fn supported(&self) -> Result<SupportedResponse, X402Error> {
        let resp = self
            .http
            .get(format!("{}/supported", self.base))
            .send()
            .await?;
        let body = read_body(resp, MAX_FACILITATOR_RESPONSE_BYTES).await?;
        serde_json::from_slice(&body).map_err(|source| X402Error::FacilitatorAnswer {
            endpoint: "/supported",
            status: 200,
            source,
        })
    }
}

/// A response obtained (possibly after paying).
#[derive(Debug)]
pub struct PaidResponse {
    /// Final HTTP status.
    pub status: reqwest::StatusCode,
    /// Final headers.
    pub headers: reqwest::header::HeaderMap,
    /// Final body.
    pub body: bytes::Bytes,
    /// The decoded `PAYMENT-RESPONSE`, if any.
    pub settlement: Option<SettleResponse>,
    /// What was paid (atomic units), if a payment was sent.
    pub paid: Option<PaymentRequirements>,
    /// The `PAYMENT-REQUIRED` of the final response when it is a 402.
    pub payment_required: Option<PaymentRequired>,
}

/// A reqwest client that pays x402 requirements within a spend policy.
#[derive(Clone)]
pub struct PayingClient {
    http: reqwest::Client,
    signer: PrivateKeySigner,
    policy: Arc<SpendPolicy>,
    /// Largest response body read (16 MiB by default).
    pub max_body_bytes: usize,
    /// Longest authorization signed, in seconds (300 by default).
    pub max_authorization_secs: u64,
}

impl std::fmt::Debug for PayingClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayingClient")
            .field("payer", &self.signer.address())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl PayingClient {
    /// A client paying with `signer` under `policy`.
    pub fn new(signer: PrivateKeySigner, policy: SpendPolicy) -> Result<Self, X402Error> {
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?;
        Ok(PayingClient {
            http,
            signer,
            policy: Arc::new(policy),
            max_body_bytes: 16 * 1024 * 1024,
            max_authorization_secs: 300,
        })
    }

    /// The underlying reqwest client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The policy.
    pub fn policy(&self) -> &SpendPolicy {
        &self.policy
    }

    /// The payer address.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// `GET url`, paying if asked.
    pub async fn get(&self, url: &str) -> Result<PaidResponse, X402Error> {
        let req = self.http.get(url).build()?;
        self.execute(req).await
    }

    /// Sends `req`; on a 402 picks a payable requirement, signs, and retries once.
    pub async fn execute(&self, req: reqwest::Request) -> Result<PaidResponse, X402Error> {
        let retry = req.try_clone().ok_or(X402Error::NotReplayable)?;
        let resp = self.http.execute(req).await?;
        if resp.status() != reqwest::StatusCode::PAYMENT_REQUIRED {
            return finish(resp, None, self.max_body_bytes).await;
        }
        let required = resp
            .headers()
            .get(PAYMENT_REQUIRED)
            .and_then(|h| h.to_str().ok())
            .ok_or(X402Error::NoPaymentRequired)?;
        let required: PaymentRequired = codec::decode(required)?;
        let (header, chosen, signed) = self.pay(&required)?;
        let mut retry = retry;
        retry.headers_mut().insert(
            PAYMENT_SIGNATURE,
            header.parse().map_err(|_| X402Error::HeaderValue)?,
        );
        let sent = self.http.execute(retry).await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                // Unknown outcome: keep it counted.
                return Err(X402Error::Http(e));
            }
        };
        let out = finish(resp, Some(chosen), self.max_body_bytes).await?;
        if out.settlement.as_ref().is_some_and(|s| s.success) {
            self.policy.settled(signed.nonce)?;
        }
        // Otherwise the authorization stays outstanding and counted: a server that refused
        // may still settle it. Only the chain can prove it unusable (SpendPolicy::reconcile).
        Ok(out)
    }

    /// Asks `chain` about every outstanding authorization of the policy and gives back the
    /// amounts of those that can never be used: expired and unused, or cancelled
    /// (`AuthorizationCanceled`). Used ones stay counted. Returns the amount given back.
    pub async fn reconcile<C: crate::Chain>(&self, chain: &C) -> Result<U256, X402Error> {
        use crate::policy::AuthorizationFate;
        use alloy_sol_types::{SolCall, SolEvent, sol};
        sol! {
            interface IAuthorizations {
                function authorizationState(address authorizer, bytes32 nonce) external view returns (bool);
                event AuthorizationCanceled(address indexed authorizer, bytes32 indexed nonce);
            }
        }
        let chain_id = chain.chain_id();
        self.policy
            .reconcile(|o| async move {
                if parse_network(&o.network).ok() != Some(chain_id) {
                    return Ok(AuthorizationFate::Open);
                }
                let call = IAuthorizations::authorizationStateCall {
                    authorizer: o.from,
                    nonce: o.nonce,
                };
                let out = chain
                    .call(Address::ZERO, o.asset, call.abi_encode().into(), None)
                    .await?;
                let crate::chain::CallOutcome::Success(b) = out else {
                    return Ok(AuthorizationFate::Open);
                };
                let used = IAuthorizations::authorizationStateCall::abi_decode_returns(&b)
                    .unwrap_or(false);
                if !used {
                    let now = chain.next_block_timestamp().await?;
                    return Ok(if now >= o.valid_before {
                        AuthorizationFate::Unusable
                    } else {
                        AuthorizationFate::Open
                    });
                }
                let topics = vec![
                    IAuthorizations::AuthorizationCanceled::SIGNATURE_HASH,
                    o.from.into_word(),
                    o.nonce,
                ];
                let cancelled = chain.find_log(o.asset, topics, 100_000, 0).await?;
                Ok(if cancelled.is_some() {
                    AuthorizationFate::Unusable
                } else {
                    AuthorizationFate::Used
                })
            })
            .await
    }

    /// Chooses the cheapest requirement the policy admits, counts it against the policy
    /// (atomically with the check) and signs it: the `PAYMENT-SIGNATURE` value, the
    /// requirement, and the authorization now outstanding. Nothing is signed or counted when
    /// the policy refuses every requirement.
    pub fn pay(
        &self,
        required: &PaymentRequired,
    ) -> Result<(String, PaymentRequirements, Outstanding), X402Error> {
        if required.x402_version != X402_VERSION {
            return Err(X402Error::Version(u64::from(required.x402_version)));
        }
        let mut refusals = vec![];
        let mut best: Option<(PaymentRequirements, U256, u64)> = None;
        for r in &required.accepts {
            if r.scheme != SCHEME_EXACT {
                refusals.push(PaymentRefusal::Scheme(r.scheme.clone()));
                continue;
            }
            let Ok(chain_id) = parse_network(&r.network) else {
                refusals.push(PaymentRefusal::Network(r.network.clone()));
                continue;
            };
            if r.token_name().is_none() || r.token_version().is_none() {
                refusals.push(PaymentRefusal::NoDomain);
                continue;
            }
            match self.policy.admits(r) {
                Ok(amount) => {
                    if best.as_ref().is_none_or(|b| amount < b.1) {
                        best = Some((r.clone(), amount, chain_id));
                    }
                }
                Err(e) => refusals.push(e.into()),
            }
        }
        let Some((req, _, chain_id)) = best else {
            return Err(X402Error::Policy(refusals));
        };
        // Check and count in one step: another request may have spent meanwhile.
        let amount = self.policy.reserve(&req)?;
        let asset = Address::from_str(&req.asset).map_err(|_| X402Error::NotAnAddress("asset"))?;
        let pay_to =
            Address::from_str(&req.pay_to).map_err(|_| X402Error::NotAnAddress("payTo"))?;
        let domain = TokenDomain {
            name: req.token_name().unwrap_or_default().to_string(),
            version: req.token_version().unwrap_or_default().to_string(),
            chain_id,
            verifying_contract: asset,
        };
        let nonce = B256::from(rand::random::<[u8; 32]>());
        let lifetime = req
            .max_timeout_seconds
            .clamp(60, self.max_authorization_secs.max(60));
        let valid_before = crate::now_secs().saturating_add(lifetime);
        let msg = TransferWithAuthorization {
            from: self.signer.address(),
            to: pay_to,
            value: amount,
            validAfter: U256::ZERO,
            validBefore: U256::from(valid_before),
            nonce,
        };
        let sig = sign(&self.signer, &domain, &msg)?;
        let payload = PaymentPayload {
            x402_version: X402_VERSION,
            resource: Some(required.resource.clone()),
            accepted: req.clone(),
            payload: serde_json::to_value(ExactEvmPayload {
                signature: alloy_primitives::hex::encode_prefixed(sig),
                authorization: Authorization {
                    from: self.signer.address().to_checksum(None),
                    to: pay_to.to_checksum(None),
                    value: amount.to_string(),
                    valid_after: "0".into(),
                    valid_before: valid_before.to_string(),
                    nonce: nonce.to_string(),
                },
            })
            .map_err(X402Error::json("payment payload"))?,
            extensions: None,
        };
        let outstanding = Outstanding {
            network: req.network.clone(),
            asset,
            from: self.signer.address(),
            nonce,
            amount: amount.to_string(),
            valid_before,
        };
        self.policy.add_outstanding(outstanding.clone())?;
        Ok((codec::encode(&payload)?, req, outstanding))
    }
}

async fn finish(
    resp: reqwest::Response,
    paid: Option<PaymentRequirements>,
    max_body: usize,
) -> Result<PaidResponse, X402Error> {
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = read_body(resp, max_body).await?;
    let settlement = headers
        .get(PAYMENT_RESPONSE)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| codec::decode(h).ok());
    let payment_required = headers
        .get(PAYMENT_REQUIRED)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| codec::decode(h).ok());
    Ok(PaidResponse {
        status,
        headers,
        body,
        settlement,
        paid,
        payment_required,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::SpendLimits;

    fn required(max_timeout_seconds: u64) -> PaymentRequired {
        let mut extra = serde_json::Map::new();
        extra.insert("name".into(), json!("TxnChain USD"));
        extra.insert("version".into(), json!("1"));
        PaymentRequired {
            x402_version: X402_VERSION,
            error: None,
            resource: ResourceInfo::default(),
            accepts: vec![PaymentRequirements {
                scheme: SCHEME_EXACT.into(),
                network: "eip155:424242".into(),
                amount: "10000".into(),
                asset: "0x4020000000000000000000000000000000000402".into(),
                pay_to: "0x2222222222222222222222222222222222222222".into(),
                max_timeout_seconds,
                extra,
            }],
            extensions: Default::default(),
        }
    }

    #[test]
    fn a_signed_authorization_is_short_lived_counted_and_outstanding() {
        let policy = SpendPolicy::new(
            SpendLimits {
                max_per_day: Some(U256::from(25_000)),
                ..Default::default()
            },
            None,
        )
        .unwrap();
        let client = PayingClient::new(PrivateKeySigner::random(), policy).unwrap();
        let (header, _, outstanding) = client.pay(&required(u64::MAX)).unwrap();
        let payload: PaymentPayload = codec::decode(&header).unwrap();
        let exact = payload.exact_evm().unwrap();
        let valid_before: u64 = exact.authorization.valid_before.parse().unwrap();
        assert!(valid_before <= crate::now_secs() + client.max_authorization_secs);
        assert_eq!(outstanding.valid_before, valid_before);
        assert_eq!(client.policy().spent_today(), U256::from(10_000));
        assert_eq!(client.policy().outstanding(), vec![outstanding]);
        // The daily cap counts what is outstanding: a third payment does not fit.
        client.pay(&required(60)).unwrap();
        let refused = client.pay(&required(60)).unwrap_err();
        assert!(refused.to_string().contains("daily maximum"), "{refused}");
        assert_eq!(client.policy().spent_today(), U256::from(20_000));
    }
}
