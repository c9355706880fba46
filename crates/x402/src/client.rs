//! Clients: [`HttpFacilitator`] (what a resource server uses to reach a facilitator) and
//! [`PayingClient`] (a reqwest wrapper that answers 402s by signing an EIP-3009
//! authorization within a [`SpendPolicy`] and retrying once).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, B256, U256};
use alloy_signer_local::PrivateKeySigner;
use serde_json::{Value, json};

use crate::eip712::{TokenDomain, TransferWithAuthorization, sign};
use crate::policy::SpendPolicy;
use crate::types::*;
use crate::{X402Error, codec};

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
            .build()
            .map_err(|e| X402Error::Http(e.to_string()))?;
        Ok(HttpFacilitator {
            base: base.trim_end_matches('/').to_string(),
            http,
            bearer,
        })
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value, X402Error> {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(t) = &self.bearer {
            req = req.bearer_auth(t);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| X402Error::Http(e.to_string()))?;
        let status = resp.status();
        let v: Value = resp
            .json()
            .await
            .map_err(|e| X402Error::Facilitator(format!("{path}: HTTP {status}: {e}")))?;
        Ok(v)
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
        serde_json::from_value(v).map_err(|e| X402Error::Facilitator(format!("verify answer: {e}")))
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
        serde_json::from_value(v).map_err(|e| X402Error::Facilitator(format!("settle answer: {e}")))
    }

    /// `GET /supported`.
    pub async fn supported(&self) -> Result<SupportedResponse, X402Error> {
        let resp = self
            .http
            .get(format!("{}/supported", self.base))
            .send()
            .await
            .map_err(|e| X402Error::Http(e.to_string()))?;
        resp.json()
            .await
            .map_err(|e| X402Error::Facilitator(format!("supported answer: {e}")))
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
}

impl PayingClient {
    /// A client paying with `signer` under `policy`.
    pub fn new(signer: PrivateKeySigner, policy: SpendPolicy) -> Result<Self, X402Error> {
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| X402Error::Http(e.to_string()))?;
        Ok(PayingClient {
            http,
            signer,
            policy: Arc::new(policy),
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
        let req = self
            .http
            .get(url)
            .build()
            .map_err(|e| X402Error::Http(e.to_string()))?;
        self.execute(req).await
    }

    /// Sends `req`; on a 402 picks a payable requirement, signs, and retries once.
    pub async fn execute(&self, req: reqwest::Request) -> Result<PaidResponse, X402Error> {
        let retry = req
            .try_clone()
            .ok_or_else(|| X402Error::Http("request body cannot be replayed".into()))?;
        let resp = self
            .http
            .execute(req)
            .await
            .map_err(|e| X402Error::Http(e.to_string()))?;
        if resp.status() != reqwest::StatusCode::PAYMENT_REQUIRED {
            return finish(resp, None).await;
        }
        let required = resp
            .headers()
            .get(PAYMENT_REQUIRED)
            .and_then(|h| h.to_str().ok())
            .ok_or_else(|| X402Error::CannotPay("402 without a PAYMENT-REQUIRED header (x402 v1 servers cannot name a TxnChain network)".into()))?;
        let required: PaymentRequired = codec::decode(required)?;
        let (header, chosen, amount) = self.pay(&required)?;
        self.policy.record(amount)?;
        let mut retry = retry;
        retry.headers_mut().insert(
            PAYMENT_SIGNATURE,
            header
                .parse()
                .map_err(|_| X402Error::InvalidPayload("header value".into()))?,
        );
        let sent = self.http.execute(retry).await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                // Unknown outcome: keep it counted.
                return Err(X402Error::Http(e.to_string()));
            }
        };
        let out = finish(resp, Some(chosen)).await?;
        if !out.settlement.as_ref().is_some_and(|s| s.success)
            && out.status == reqwest::StatusCode::PAYMENT_REQUIRED
        {
            self.policy.refund(amount)?;
        }
        Ok(out)
    }

    /// Chooses the cheapest requirement the policy admits and signs it: the
    /// `PAYMENT-SIGNATURE` value, the requirement, the amount. Nothing is signed when the
    /// policy refuses every requirement.
    pub fn pay(
        &self,
        required: &PaymentRequired,
    ) -> Result<(String, PaymentRequirements, U256), X402Error> {
        if required.x402_version != X402_VERSION {
            return Err(X402Error::Version(format!(
                "server speaks x402Version {}",
                required.x402_version
            )));
        }
        let mut refusals = vec![];
        let mut best: Option<(PaymentRequirements, U256, u64)> = None;
        for r in &required.accepts {
            if r.scheme != SCHEME_EXACT {
                refusals.push(format!("scheme {:?} not supported", r.scheme));
                continue;
            }
            let chain_id = match parse_network(&r.network) {
                Ok(c) => c,
                Err(e) => {
                    refusals.push(e.to_string());
                    continue;
                }
            };
            if r.token_name().is_none() || r.token_version().is_none() {
                refusals.push("requirement lacks extra.name/extra.version".into());
                continue;
            }
            match self.policy.admits(r) {
                Ok(amount) => {
                    if best.as_ref().is_none_or(|b| amount < b.1) {
                        best = Some((r.clone(), amount, chain_id));
                    }
                }
                Err(e) => refusals.push(e),
            }
        }
        let Some((req, amount, chain_id)) = best else {
            return Err(X402Error::Policy(format!(
                "refusing to pay: {}",
                refusals.join("; ")
            )));
        };
        let asset =
            Address::from_str(&req.asset).map_err(|_| X402Error::CannotPay("asset".into()))?;
        let pay_to =
            Address::from_str(&req.pay_to).map_err(|_| X402Error::CannotPay("payTo".into()))?;
        let domain = TokenDomain {
            name: req.token_name().unwrap_or_default().to_string(),
            version: req.token_version().unwrap_or_default().to_string(),
            chain_id,
            verifying_contract: asset,
        };
        let nonce = B256::from(rand::random::<[u8; 32]>());
        let valid_before = crate::now_secs() + req.max_timeout_seconds.max(60);
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
            .map_err(|e| X402Error::InvalidPayload(e.to_string()))?,
            extensions: None,
        };
        Ok((codec::encode(&payload)?, req, amount))
    }
}

async fn finish(
    resp: reqwest::Response,
    paid: Option<PaymentRequirements>,
) -> Result<PaidResponse, X402Error> {
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .bytes()
        .await
        .map_err(|e| X402Error::Http(e.to_string()))?;
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
