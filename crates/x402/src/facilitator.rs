//! The facilitator: `verify`, `settle` and `supported` for the `exact` EVM scheme over
//! EIP-3009, on any [`Chain`].
//!
//! - Verification runs every check of `specs/x402.md` in order and simulates
//!   `transferWithAuthorization` against committed state, in the context of the block the
//!   settlement will land in.
//! - `validAfter` is judged against that block's timestamp (the token checks it strictly):
//!   when it is still in the future, settle waits (at most `maxTimeoutSeconds`) until a block
//!   can include it, and verify answers valid only if that wait fits; otherwise the
//!   valid-after reason is returned. A verified payment never reverts for that.
//! - Settlement submits `transferWithAuthorization` (the `bytes signature` form) from one of a
//!   small pool of keys, with per-key nonce management and bounded concurrency, and returns
//!   only once the transaction is committed.
//! - At most one settle per `(chainId, asset, from, nonce)` reports success; later (or
//!   concurrent) ones get `success:false`, `invalid_exact_evm_nonce_already_used` and the
//!   original transaction hash.

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::{SolCall, SolEvent, sol};
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, watch};

use crate::chain::{CallOutcome, Chain, ChainError};
use crate::eip712::{TokenDomain, TransferWithAuthorization, recover};
use crate::types::*;
use crate::{X402Error, reason};

sol! {
    /// The parts of the token the facilitator uses.
    interface IEip3009Token {
        function name() external view returns (string);
        function version() external view returns (string);
        function balanceOf(address account) external view returns (uint256);
        function authorizationState(address authorizer, bytes32 nonce) external view returns (bool);
        function transferWithAuthorization(address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce, bytes signature) external;
        event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce);
        event Transfer(address indexed from, address indexed to, uint256 value);
    }
}

/// The token a facilitator advertises in `/supported` `kinds[].extra`.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    /// Address.
    pub address: Address,
    /// EIP-712 name (= `name()`).
    pub name: String,
    /// EIP-712 version.
    pub version: String,
    /// Decimals.
    pub decimals: u8,
    /// Symbol.
    pub symbol: String,
}

/// Default of [`FacilitatorConfig::used_lookup_blocks`].
pub const DEFAULT_USED_LOOKUP_BLOCKS: u64 = 100_000;

sol! {
    interface ITokenMetadata {
        function symbol() external view returns (string);
        function decimals() external view returns (uint8);
    }
}

async fn read_token<C: Chain, T: SolCall>(
    chain: &C,
    token: Address,
    call: T,
) -> Result<T::Return, X402Error> {
    let what = T::SIGNATURE;
    match chain
        .call(Address::ZERO, token, call.abi_encode().into(), None)
        .await
    {
        Ok(CallOutcome::Success(b)) => T::abi_decode_returns(&b)
            .map_err(|e| X402Error::Config(format!("token {token}: {what}: {e}"))),
        Ok(other) => Err(X402Error::Config(format!(
            "token {token}: {what} failed ({other:?}); is it an EIP-3009 token on this chain?"
        ))),
        Err(e) => Err(X402Error::Config(format!("token {token}: {what}: {e}"))),
    }
}

impl TokenInfo {
    /// Reads the name, EIP-712 version, symbol and decimals of the token at `address`.
    pub async fn read<C: Chain>(chain: &C, address: Address) -> Result<Self, X402Error> {
        Ok(TokenInfo {
            address,
            name: read_token(chain, address, IEip3009Token::nameCall {}).await?,
            version: read_token(chain, address, IEip3009Token::versionCall {}).await?,
            symbol: read_token(chain, address, ITokenMetadata::symbolCall {}).await?,
            decimals: read_token(chain, address, ITokenMetadata::decimalsCall {}).await?,
        })
    }
}

/// Facilitator settings.
#[derive(Debug, Clone)]
pub struct FacilitatorConfig {
    /// The token advertised (others with EIP-3009 are settled too; their domain is read from
    /// the chain).
    pub token: TokenInfo,
    /// Settlement keys (a small pool).
    pub keys: Vec<PrivateKeySigner>,
    /// Settlements in flight at most.
    pub max_concurrent_settlements: usize,
    /// Warn when a settlement key's ETH balance drops below this (wei).
    pub low_balance_wei: U256,
    /// Gas limit of a settlement transaction.
    pub gas_limit: u64,
    /// Longest wait for a settlement to commit.
    pub commit_timeout: Duration,
    /// Settled authorizations remembered at most (an entry also goes once its
    /// `validBefore` has passed: the token refuses it from then on). Past this, the entries
    /// closest to expiry go first. A forgotten one is still refused (the token's
    /// `authorizationState`), and its transaction is recovered from the chain.
    pub max_settlement_records: usize,
    /// How many recent blocks to search for the `AuthorizationUsed` event of a replayed
    /// authorization that is not in memory (after a restart, or evicted), to report the
    /// original transaction hash.
    pub used_lookup_blocks: u64,
}

impl FacilitatorConfig {
    /// Defaults for `token` and `keys`.
    pub fn new(token: TokenInfo, keys: Vec<PrivateKeySigner>) -> Self {
        FacilitatorConfig {
            token,
            keys,
            max_concurrent_settlements: 256,
            low_balance_wei: U256::from(10u64).pow(U256::from(17)),
            gas_limit: 200_000,
            commit_timeout: Duration::from_secs(30),
            max_settlement_records: 1_000_000,
            used_lookup_blocks: DEFAULT_USED_LOOKUP_BLOCKS,
        }
    }
}

struct KeySlot {
    signer: PrivateKeySigner,
    next_nonce: tokio::sync::Mutex<Option<u64>>,
    balance_wei: Mutex<U256>,
}

#[derive(Clone)]
enum Settlement {
    InFlight(watch::Receiver<bool>),
    Done(B256),
}

type SettlementKey = (u64, Address, Address, B256);

/// Settlements in flight and settled authorizations, bounded: settled entries are indexed by
/// `validBefore` and dropped once it has passed or when over the cap.
#[derive(Default)]
struct Settlements {
    map: HashMap<SettlementKey, Settlement>,
    expiry: BTreeSet<(u64, SettlementKey)>,
    valid_before: HashMap<SettlementKey, u64>,
    last_sweep: u64,
}

impl Settlements {
    fn get(&self, key: &SettlementKey) -> Option<Settlement> {
        self.map.get(key).cloned()
    }

    fn claim(&mut self, key: SettlementKey, rx: watch::Receiver<bool>) -> bool {
        match self.map.entry(key) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(Settlement::InFlight(rx));
                true
            }
        }
    }

    fn release(&mut self, key: &SettlementKey) {
        if matches!(self.map.get(key), Some(Settlement::InFlight(_))) {
            self.map.remove(key);
        }
    }

    fn done(&mut self, key: SettlementKey, hash: B256, valid_before: u64, now: u64, cap: usize) {
        if let Some(old) = self.valid_before.insert(key, valid_before) {
            self.expiry.remove(&(old, key));
        }
        self.expiry.insert((valid_before, key));
        self.map.insert(key, Settlement::Done(hash));
        if now > self.last_sweep {
            self.last_sweep = now;
            while let Some(&(vb, k)) = self.expiry.first()
                && vb <= now
            {
                self.forget(vb, k);
            }
        }
        while self.expiry.len() > cap.max(1) {
            let Some(&(vb, k)) = self.expiry.first() else {
                break;
            };
            self.forget(vb, k);
        }
    }

    fn forget(&mut self, valid_before: u64, key: SettlementKey) {
        self.expiry.remove(&(valid_before, key));
        self.valid_before.remove(&key);
        if matches!(self.map.get(&key), Some(Settlement::Done(_))) {
            self.map.remove(&key);
        }
    }

    fn len(&self) -> usize {
        self.map.len()
    }
}

/// Counters for `/metrics`.
#[derive(Default)]
pub struct FacilitatorMetrics {
    verify_valid: AtomicU64,
    verify_invalid: AtomicU64,
    settle_success: AtomicU64,
    settle_failure: AtomicU64,
    settle_latency_us_sum: AtomicU64,
}

/// A checked payment, ready to settle.
struct Checked {
    payer: Address,
    to: Address,
    value: U256,
    valid_after: u64,
    valid_before: u64,
    nonce: B256,
    signature: Bytes,
    asset: Address,
    /// Seconds to wait before a block can include it.
    wait: u64,
}

struct Refusal {
    reason: &'static str,
    message: String,
    payer: Option<Address>,
}

fn refuse(reason: &'static str, message: impl Into<String>, payer: Option<Address>) -> Refusal {
    Refusal {
        reason,
        message: message.into(),
        payer,
    }
}

fn addr_string(a: Address) -> String {
    a.to_checksum(None)
}

/// The facilitator.
pub struct Facilitator<C> {
    chain: C,
    config: FacilitatorConfig,
    keys: Vec<KeySlot>,
    next_key: AtomicUsize,
    permits: Semaphore,
    settlements: Mutex<Settlements>,
    domains: Mutex<HashMap<Address, (String, String)>>,
    metrics: FacilitatorMetrics,
}

impl<C: Chain> Facilitator<C> {
    /// A facilitator on `chain`. Fails without keys.
    pub fn new(chain: C, config: FacilitatorConfig) -> Result<Arc<Self>, X402Error> {
        if config.keys.is_empty() {
            return Err(X402Error::Config(
                "the facilitator needs at least one settlement key".into(),
            ));
        }
        let keys = config
            .keys
            .iter()
            .map(|k| KeySlot {
                signer: k.clone(),
                next_nonce: tokio::sync::Mutex::new(None),
                balance_wei: Mutex::new(U256::MAX),
            })
            .collect();
        let mut domains = HashMap::new();
        domains.insert(
            config.token.address,
            (config.token.name.clone(), config.token.version.clone()),
        );
        Ok(Arc::new(Facilitator {
            chain,
            permits: Semaphore::new(config.max_concurrent_settlements.max(1)),
            config,
            keys,
            next_key: AtomicUsize::new(0),
            settlements: Mutex::new(Settlements::default()),
            domains: Mutex::new(domains),
            metrics: FacilitatorMetrics::default(),
        }))
    }

    /// The chain.
    pub fn chain(&self) -> &C {
        &self.chain
    }

    /// The configuration.
    pub fn config(&self) -> &FacilitatorConfig {
        &self.config
    }

    fn network(&self) -> String {
        network_of(self.chain.chain_id())
    }

    /// Settlement key addresses.
    pub fn signers(&self) -> Vec<Address> {
        self.keys.iter().map(|k| k.signer.address()).collect()
    }

    /// `GET /supported`: v2 exact on this chain with the token in `extra`, plus the v1 entry
    /// TxnChain cannot serve omitted (v1 cannot name this chain).
    pub fn supported(&self) -> SupportedResponse {
        let t = &self.config.token;
        let mut extra = serde_json::Map::new();
        extra.insert("asset".into(), json!(addr_string(t.address)));
        extra.insert("name".into(), json!(t.name));
        extra.insert("version".into(), json!(t.version));
        extra.insert("decimals".into(), json!(t.decimals));
        extra.insert("symbol".into(), json!(t.symbol));
        let mut signers = serde_json::Map::new();
        signers.insert(
            "eip155:*".into(),
            Value::Array(
                self.signers()
                    .into_iter()
                    .map(|a| json!(addr_string(a)))
                    .collect(),
            ),
        );
        SupportedResponse {
            kinds: vec![SupportedKind {
                x402_version: X402_VERSION,
                scheme: SCHEME_EXACT.into(),
                network: self.network(),
                extra: Some(extra),
            }],
            extensions: vec![],
            signers,
        }
    }

    /// Refreshes settlement-key balances; warns on low ones. Returns the low keys.
    pub async fn check_balances(&self) -> Vec<Address> {
        let mut low = vec![];
        for k in &self.keys {
            match self.chain.balance(k.signer.address()).await {
                Ok(b) => {
                    *k.balance_wei.lock() = b;
                    if b < self.config.low_balance_wei {
                        tracing::warn!(key = %k.signer.address(), balance_wei = %b, threshold_wei = %self.config.low_balance_wei, "x402 facilitator settlement key balance is low");
                        low.push(k.signer.address());
                    }
                }
                Err(e) => {
                    tracing::warn!(key = %k.signer.address(), error = %e, "reading settlement key balance failed")
                }
            }
        }
        low
    }

    /// Prometheus text for the facilitator.
    pub fn render_prometheus(&self) -> String {
        let m = &self.metrics;
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed).to_string();
        let mut out = String::new();
        family(
            &mut out,
            "txnchain_x402_verify_total",
            "counter",
            "x402 verify calls by outcome.",
            [
                ("{valid=\"true\"}".to_string(), load(&m.verify_valid)),
                ("{valid=\"false\"}".to_string(), load(&m.verify_invalid)),
            ],
        );
        family(
            &mut out,
            "txnchain_x402_settle_total",
            "counter",
            "x402 settle calls by outcome.",
            [
                ("{success=\"true\"}".to_string(), load(&m.settle_success)),
                ("{success=\"false\"}".to_string(), load(&m.settle_failure)),
            ],
        );
        let latency = m.settle_latency_us_sum.load(Ordering::Relaxed) as f64 / 1e6;
        family(
            &mut out,
            "txnchain_x402_settle_latency_seconds_sum",
            "counter",
            "Total time of successful settlements (submit to commit).",
            [(String::new(), latency.to_string())],
        );
        let balances: Vec<(Address, U256)> = self
            .keys
            .iter()
            .map(|k| (k.signer.address(), *k.balance_wei.lock()))
            .collect();
        family(
            &mut out,
            "txnchain_x402_settlement_key_balance_wei",
            "gauge",
            "ETH balance of each settlement key.",
            balances
                .iter()
                .filter(|(_, b)| *b != U256::MAX)
                .map(|(a, b)| (format!("{{key=\"{a}\"}}"), b.to_string())),
        );
        family(
            &mut out,
            "txnchain_x402_settlement_key_low_balance",
            "gauge",
            "1 when a settlement key is below the warning threshold.",
            balances.iter().map(|(a, b)| {
                let low = u8::from(*b < self.config.low_balance_wei);
                (format!("{{key=\"{a}\"}}"), low.to_string())
            }),
        );
        out
    }

    /// `POST /verify` on a parsed body.
    pub async fn verify(&self, body: &Value) -> VerifyResponse {
        let r = match self.parse(body) {
            Ok((payload, req)) => match self.check(&payload, &req, true).await {
                Ok(c) => VerifyResponse::valid(addr_string(c.payer)),
                Err(r) => VerifyResponse::invalid(r.reason, r.message, r.payer.map(addr_string)),
            },
            Err(r) => VerifyResponse::invalid(r.reason, r.message, r.payer.map(addr_string)),
        };
        let counter = if r.is_valid {
            &self.metrics.verify_valid
        } else {
            &self.metrics.verify_invalid
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some(reason) = &r.invalid_reason {
            tracing::debug!(reason, "x402 verify refused");
        }
        r
    }

    /// `POST /settle` on a parsed body.
    pub async fn settle(&self, body: &Value) -> SettleResponse {
        let network = self.network();
        let r = match self.parse(body) {
            Ok((payload, req)) => self.settle_checked(&payload, &req).await,
            Err(r) => SettleResponse::failure(
                r.reason,
                r.message,
                r.payer.map(addr_string),
                network,
                String::new(),
            ),
        };
        let counter = if r.success {
            &self.metrics.settle_success
        } else {
            &self.metrics.settle_failure
        };
        counter.fetch_add(1, Ordering::Relaxed);
        r
    }

    fn parse(&self, body: &Value) -> Result<(PaymentPayload, PaymentRequirements), Refusal> {
        let chain_id = self.chain.chain_id();
        let version = body.get("x402Version").and_then(Value::as_u64);
        let payload = body
            .get("paymentPayload")
            .ok_or_else(|| refuse(reason::INVALID_PAYLOAD, "paymentPayload missing", None))?;
        match parse_payload(payload) {
            Ok(AnyPayload::V1 { network }) => Err(refuse(
                reason::INVALID_X402_VERSION,
                v1_message(&network, chain_id),
                None,
            )),
            Err(X402Error::Version(m)) => Err(refuse(reason::INVALID_X402_VERSION, m, None)),
            Err(e) => Err(refuse(reason::INVALID_PAYLOAD, e.to_string(), None)),
            Ok(AnyPayload::V2(p)) => {
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
                Ok((*p, req))
            }
        }
    }

    async fn token_domain(&self, asset: Address) -> Result<(String, String), Refusal> {
        if let Some(d) = self.domains.lock().get(&asset).cloned() {
            return Ok(d);
        }
        let name = self
            .view(asset, IEip3009Token::nameCall {}.abi_encode())
            .await;
        let version = self
            .view(asset, IEip3009Token::versionCall {}.abi_encode())
            .await;
        let decoded = match (name, version) {
            (Some(n), Some(v)) => IEip3009Token::nameCall::abi_decode_returns(&n)
                .ok()
                .zip(IEip3009Token::versionCall::abi_decode_returns(&v).ok()),
            _ => None,
        };
        let Some(d) = decoded else {
            return Err(refuse(
                reason::INVALID_PAYMENT_REQUIREMENTS,
                format!("asset {asset} is not an EIP-3009 token on this chain"),
                None,
            ));
        };
        self.domains.lock().insert(asset, d.clone());
        Ok(d)
    }

    async fn view(&self, to: Address, data: Vec<u8>) -> Option<Bytes> {
        match self.chain.call(Address::ZERO, to, data.into(), None).await {
            Ok(CallOutcome::Success(b)) => Some(b),
            _ => None,
        }
    }

    /// Every check of the spec, in order. `allow_wait`: a not-yet-valid authorization is
    /// accepted when a block can include it within `maxTimeoutSeconds`.
    async fn check(
        &self,
        payload: &PaymentPayload,
        req: &PaymentRequirements,
        allow_wait: bool,
    ) -> Result<Checked, Refusal> {
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
        let ours = self.network();
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
        let to = Address::from_str(&auth.to).map_err(|_| {
            refuse(
                reason::INVALID_PAYLOAD,
                "authorization.to is not an address",
                some,
            )
        })?;
        let parse_u256 = |s: &str, what: &str| {
            U256::from_str_radix(s, 10).map_err(|_| {
                refuse(
                    reason::INVALID_PAYLOAD,
                    format!("authorization.{what} is not a decimal integer"),
                    some,
                )
            })
        };
        let value = parse_u256(&auth.value, "value")?;
        let valid_after: u64 = parse_u256(&auth.valid_after, "validAfter")?.saturating_to();
        let valid_before: u64 = parse_u256(&auth.valid_before, "validBefore")?.saturating_to();
        let nonce = B256::from_str(&auth.nonce).map_err(|_| {
            refuse(
                reason::INVALID_PAYLOAD,
                "authorization.nonce is not 32 bytes hex",
                some,
            )
        })?;
        let signature = Bytes::from_str(&exact.signature)
            .map_err(|_| refuse(reason::SIGNATURE, "signature is not hex", some))?;
        if !accepted.asset.eq_ignore_ascii_case(&req.asset) {
            return Err(refuse(
                reason::INVALID_PAYMENT_REQUIREMENTS,
                "accepted.asset differs from the requirements",
                some,
            ));
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
        let asset = Address::from_str(&req.asset).map_err(|_| {
            refuse(
                reason::INVALID_PAYMENT_REQUIREMENTS,
                "asset is not an address",
                some,
            )
        })?;
        let pay_to = Address::from_str(&req.pay_to).map_err(|_| {
            refuse(
                reason::INVALID_PAYMENT_REQUIREMENTS,
                "payTo is not an address",
                some,
            )
        })?;
        let amount = U256::from_str_radix(&req.amount, 10).map_err(|_| {
            refuse(
                reason::INVALID_PAYMENT_REQUIREMENTS,
                "amount is not a decimal integer",
                some,
            )
        })?;
        let (Some(name), Some(version)) = (req.token_name(), req.token_version()) else {
            return Err(refuse(
                reason::MISSING_EIP712_DOMAIN,
                "requirements.extra.name and extra.version are required for EIP-3009",
                some,
            ));
        };
        let (token_name, token_version) = self.token_domain(asset).await.map_err(|mut r| {
            r.payer = some;
            r
        })?;
        if name != token_name {
            return Err(refuse(
                reason::TOKEN_NAME_MISMATCH,
                format!("extra.name {name:?} is not the token's EIP-712 name {token_name:?}"),
                some,
            ));
        }
        if version != token_version {
            return Err(refuse(
                reason::TOKEN_VERSION_MISMATCH,
                format!(
                    "extra.version {version:?} is not the token's EIP-712 version {token_version:?}"
                ),
                some,
            ));
        }
        let domain = TokenDomain {
            name: token_name,
            version: token_version,
            chain_id: self.chain.chain_id(),
            verifying_contract: asset,
        };
        let msg = TransferWithAuthorization {
            from: payer,
            to,
            value,
            validAfter: U256::from(valid_after),
            validBefore: U256::from(valid_before),
            nonce,
        };
        // Values above u64 were saturated: recompute the digest from the exact values.
        let msg = TransferWithAuthorization {
            validAfter: parse_u256(&auth.valid_after, "validAfter")?,
            validBefore: parse_u256(&auth.valid_before, "validBefore")?,
            ..msg
        };
        match recover(domain.digest(&msg), &signature) {
            Ok(signer) if signer == payer => {}
            Ok(_) => {
                return Err(refuse(
                    reason::SIGNATURE,
                    "signature does not recover to authorization.from",
                    some,
                ));
            }
            Err(e) => return Err(refuse(reason::SIGNATURE, e.to_string(), some)),
        }
        if to != pay_to {
            return Err(refuse(
                reason::RECIPIENT_MISMATCH,
                "authorization.to is not payTo",
                some,
            ));
        }
        let next_ts = self
            .chain
            .next_block_timestamp()
            .await
            .map_err(|e| refuse(reason::UNEXPECTED_VERIFY_ERROR, e.to_string(), some))?;
        if valid_before < next_ts.saturating_add(6) {
            return Err(refuse(
                reason::VALID_BEFORE,
                format!(
                    "validBefore {valid_before} is less than 6 s after the next block's timestamp {next_ts}"
                ),
                some,
            ));
        }
        let mut wait = 0;
        if valid_after >= next_ts {
            let needed = valid_after + 1 - next_ts;
            let fits = allow_wait
                && needed <= req.max_timeout_seconds
                && valid_after.saturating_add(1).saturating_add(6) <= valid_before;
            if !fits {
                return Err(refuse(
                    reason::VALID_AFTER,
                    format!(
                        "validAfter {valid_after} is not before the next block's timestamp {next_ts}, and waiting {needed} s exceeds maxTimeoutSeconds {}",
                        req.max_timeout_seconds
                    ),
                    some,
                ));
            }
            wait = needed;
        }
        if value != amount {
            return Err(refuse(
                reason::VALUE_MISMATCH,
                format!("authorization.value {value} is not the required amount {amount}"),
                some,
            ));
        }
        let used = self
            .view(
                asset,
                IEip3009Token::authorizationStateCall {
                    authorizer: payer,
                    nonce,
                }
                .abi_encode(),
            )
            .await
            .and_then(|b| IEip3009Token::authorizationStateCall::abi_decode_returns(&b).ok());
        match used {
            Some(false) => {}
            Some(true) => {
                return Err(refuse(
                    reason::NONCE_ALREADY_USED,
                    "the authorization nonce is used or cancelled",
                    some,
                ));
            }
            None => {
                return Err(refuse(
                    reason::SIMULATION_FAILED,
                    "authorizationState() failed",
                    some,
                ));
            }
        }
        let balance = self
            .view(
                asset,
                IEip3009Token::balanceOfCall { account: payer }.abi_encode(),
            )
            .await
            .and_then(|b| IEip3009Token::balanceOfCall::abi_decode_returns(&b).ok())
            .ok_or_else(|| refuse(reason::SIMULATION_FAILED, "balanceOf() failed", some))?;
        if balance < value {
            return Err(refuse(
                reason::INSUFFICIENT_BALANCE,
                format!("balance {balance} is below {value}"),
                some,
            ));
        }
        let checked = Checked {
            payer,
            to,
            value,
            valid_after,
            valid_before,
            nonce,
            signature,
            asset,
            wait,
        };
        let sim_ts = next_ts.max(valid_after.saturating_add(1));
        self.simulate(&checked, sim_ts).await?;
        Ok(checked)
    }

    fn calldata(c: &Checked) -> Vec<u8> {
        IEip3009Token::transferWithAuthorizationCall {
            from: c.payer,
            to: c.to,
            value: c.value,
            validAfter: U256::from(c.valid_after),
            validBefore: U256::from(c.valid_before),
            nonce: c.nonce,
            signature: c.signature.clone(),
        }
        .abi_encode()
    }

    async fn simulate(&self, c: &Checked, timestamp: u64) -> Result<(), Refusal> {
        let some = Some(c.payer);
        let from = self.keys[0].signer.address();
        let out = self
            .chain
            .call(from, c.asset, Self::calldata(c).into(), Some(timestamp))
            .await
            .map_err(|e| refuse(reason::UNEXPECTED_VERIFY_ERROR, e.to_string(), some))?;
        match out {
            CallOutcome::Success(_) => Ok(()),
            CallOutcome::Revert(data) => {
                let msg = alloy_sol_types::decode_revert_reason(&data)
                    .unwrap_or_else(|| "reverted".into());
                if msg.contains("not yet valid")
                    && !self.chain.simulates_at_timestamp()
                    && c.valid_after < timestamp
                {
                    // The RPC simulated at the latest block's (older) timestamp; our own
                    // judgement of validAfter against the next block stands.
                    return Ok(());
                }
                Err(refuse(
                    revert_reason_code(&msg),
                    format!("simulation reverted: {msg}"),
                    some,
                ))
            }
            CallOutcome::Halt(h) => Err(refuse(
                reason::SIMULATION_FAILED,
                format!("simulation halted: {h}"),
                some,
            )),
        }
    }

    async fn settle_checked(
        &self,
        payload: &PaymentPayload,
        req: &PaymentRequirements,
    ) -> SettleResponse {
        let network = self.network();
        let fail = |r: Refusal, tx: String| {
            SettleResponse::failure(
                r.reason,
                r.message,
                r.payer.map(addr_string),
                network.clone(),
                tx,
            )
        };
        // The identity of the authorization, before any chain access.
        let ident = payload.exact_evm().ok().and_then(|e| {
            let a = &e.authorization;
            let time = |s: &str| U256::from_str_radix(s, 10).ok().map(|v| v.saturating_to());
            Some((
                Address::from_str(&a.from).ok()?,
                B256::from_str(&a.nonce).ok()?,
                time(&a.valid_after)?,
                time(&a.valid_before)?,
            ))
        });
        let asset = Address::from_str(&req.asset).ok();
        let (Some((from, nonce, valid_after, valid_before)), Some(asset)) = (ident, asset) else {
            // Let check() produce the precise reason.
            return match self.check(payload, req, true).await {
                Err(r) => fail(r, String::new()),
                Ok(_) => fail(
                    refuse(reason::INVALID_PAYLOAD, "malformed authorization", None),
                    String::new(),
                ),
            };
        };
        let key = (self.chain.chain_id(), asset, from, nonce);
        let cap = self.config.max_settlement_records;
        // At most one settlement per key: claim it, or wait for the one in flight.
        let done_tx = loop {
            let existing = self.settlements.lock().get(&key);
            match existing {
                Some(Settlement::Done(tx)) => break Some(tx),
                Some(Settlement::InFlight(mut rx)) => {
                    let _ = rx.wait_for(|d| *d).await;
                    let now = self.settlements.lock().get(&key);
                    match now {
                        Some(Settlement::Done(tx)) => break Some(tx),
                        // The other attempt failed without using the nonce: try ourselves.
                        _ => continue,
                    }
                }
                None => {
                    let (tx, rx) = watch::channel(false);
                    if !self.settlements.lock().claim(key, rx) {
                        continue;
                    }
                    let mut outcome = self.settle_claimed(payload, req).await;
                    if let Err((r, None, _)) = &outcome
                        && let Some(hash) = self
                            .recover_settlement(r.reason, asset, from, nonce, valid_after)
                            .await
                    {
                        // Settled before this process knew of it (a restart, or an evicted
                        // record): report the original transaction.
                        outcome = Err((
                            refuse(
                                reason::NONCE_ALREADY_USED,
                                "this authorization was already settled",
                                Some(from),
                            ),
                            Some(hash),
                            true,
                        ));
                    }
                    {
                        let mut map = self.settlements.lock();
                        match &outcome {
                            Ok((hash, _)) | Err((_, Some(hash), true)) => {
                                map.done(key, *hash, valid_before, crate::now_secs(), cap);
                            }
                            Err(_) => map.release(&key),
                        }
                    }
                    let _ = tx.send(true);
                    return match outcome {
                        Ok((hash, c)) => SettleResponse {
                            success: true,
                            error_reason: None,
                            error_message: None,
                            payer: Some(addr_string(c.payer)),
                            transaction: hash.to_string(),
                            network,
                            amount: Some(c.value.to_string()),
                        },
                        Err((r, hash, _)) => {
                            if r.reason == reason::NONCE_ALREADY_USED {
                                tracing::info!(payer = %from, transaction = ?hash, "x402 settle refused: authorization already used");
                            }
                            fail(r, hash.map(|h| h.to_string()).unwrap_or_default())
                        }
                    };
                }
            }
        };
        let tx = done_tx.map(|h| h.to_string()).unwrap_or_default();
        tracing::info!(payer = %from, transaction = %tx, "x402 settle refused: authorization already settled");
        fail(
            refuse(
                reason::NONCE_ALREADY_USED,
                "this authorization was already settled",
                Some(from),
            ),
            tx,
        )
    }

    /// Settled authorizations and settlements in flight currently remembered.
    pub fn settlement_records(&self) -> usize {
        self.settlements.lock().len()
    }

    /// After a refusal that can mean "already settled" (nonce used; or expired, which a
    /// replay of an old settled payment also is), finds the transaction that used the
    /// authorization: its `AuthorizationUsed(authorizer, nonce)` event within the last
    /// [`FacilitatorConfig::used_lookup_blocks`] blocks. `None` when the nonce is unused,
    /// was cancelled, or the event is older than the window.
    async fn recover_settlement(
        &self,
        refusal: &str,
        asset: Address,
        from: Address,
        nonce: B256,
        valid_after: u64,
    ) -> Option<B256> {
        if refusal == reason::VALID_BEFORE {
            let used = self
                .view(
                    asset,
                    IEip3009Token::authorizationStateCall {
                        authorizer: from,
                        nonce,
                    }
                    .abi_encode(),
                )
                .await
                .and_then(|b| IEip3009Token::authorizationStateCall::abi_decode_returns(&b).ok());
            if used != Some(true) {
                return None;
            }
        } else if refusal != reason::NONCE_ALREADY_USED {
            return None;
        }
        let topics = vec![
            IEip3009Token::AuthorizationUsed::SIGNATURE_HASH,
            from.into_word(),
            nonce,
        ];
        match self
            .chain
            .find_log(asset, topics, self.config.used_lookup_blocks, valid_after)
            .await
        {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "looking up the transaction of a used authorization failed");
                None
            }
        }
    }

    /// Checks, waits for validAfter if needed, submits and waits for the commit. On error:
    /// (refusal, tx hash if one was sent, whether the nonce is consumed/unknown).
    async fn settle_claimed(
        &self,
        payload: &PaymentPayload,
        req: &PaymentRequirements,
    ) -> Result<(B256, Checked), (Refusal, Option<B256>, bool)> {
        let mut checked = self
            .check(payload, req, true)
            .await
            .map_err(|r| (r, None, false))?;
        if checked.wait > 0 {
            tracing::debug!(wait_s = checked.wait, "x402 settle waits for validAfter");
            let until = checked.valid_after;
            let deadline = Instant::now() + Duration::from_secs(checked.wait + 2);
            loop {
                let ts = self.chain.next_block_timestamp().await.map_err(|e| {
                    (
                        refuse(
                            reason::UNEXPECTED_SETTLE_ERROR,
                            e.to_string(),
                            Some(checked.payer),
                        ),
                        None,
                        false,
                    )
                })?;
                if ts > until {
                    break;
                }
                if Instant::now() > deadline {
                    return Err((
                        refuse(
                            reason::VALID_AFTER,
                            "validAfter did not pass within maxTimeoutSeconds",
                            Some(checked.payer),
                        ),
                        None,
                        false,
                    ));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            // Re-check now that the window is open (state may have changed meanwhile).
            checked = self
                .check(payload, req, false)
                .await
                .map_err(|r| (r, None, false))?;
        }
        let payer = Some(checked.payer);
        let _permit = self.permits.acquire().await.map_err(|e| {
            (
                refuse(reason::UNEXPECTED_SETTLE_ERROR, e.to_string(), payer),
                None,
                false,
            )
        })?;
        let slot = &self.keys[self.next_key.fetch_add(1, Ordering::Relaxed) % self.keys.len()];
        let started = Instant::now();
        let hash = self.submit(slot, &checked).await.map_err(|e| {
            (
                refuse(reason::UNEXPECTED_SETTLE_ERROR, e.to_string(), payer),
                None,
                false,
            )
        })?;
        let committed = match self
            .chain
            .wait_committed(hash, self.config.commit_timeout)
            .await
        {
            Ok(c) => c,
            Err(ChainError::Timeout(h)) => {
                return Err((
                    refuse(
                        reason::SETTLEMENT_PENDING,
                        "the settlement transaction was not committed in time",
                        payer,
                    ),
                    Some(h),
                    true,
                ));
            }
            Err(e) => {
                return Err((
                    refuse(reason::UNEXPECTED_SETTLE_ERROR, e.to_string(), payer),
                    Some(hash),
                    true,
                ));
            }
        };
        let latency = started.elapsed();
        if !committed.success {
            tracing::warn!(transaction = %hash, "x402 settlement reverted");
            return Err((
                refuse(
                    reason::TRANSACTION_FAILED,
                    "transferWithAuthorization reverted",
                    payer,
                ),
                Some(hash),
                false,
            ));
        }
        let used = committed.logs.iter().any(|l| {
            l.address == checked.asset
                && IEip3009Token::AuthorizationUsed::decode_log(l)
                    .is_ok_and(|e| e.authorizer == checked.payer && e.nonce == checked.nonce)
        });
        let transferred = committed.logs.iter().any(|l| {
            l.address == checked.asset
                && IEip3009Token::Transfer::decode_log(l).is_ok_and(|e| {
                    e.from == checked.payer && e.to == checked.to && e.value == checked.value
                })
        });
        if !(used && transferred) {
            return Err((
                refuse(
                    reason::TRANSFER_EVENT_MISMATCH,
                    "the committed transaction lacks the expected AuthorizationUsed/Transfer events",
                    payer,
                ),
                Some(hash),
                true,
            ));
        }
        self.metrics
            .settle_latency_us_sum
            .fetch_add(latency.as_micros() as u64, Ordering::Relaxed);
        tracing::info!(payer = %checked.payer, to = %checked.to, value = %checked.value, transaction = %hash, block = committed.block, latency_ms = latency.as_secs_f64() * 1e3, "x402 settled");
        // Balance bookkeeping for the low-balance warning (cheap: a committed-state read).
        if let Ok(b) = self.chain.balance(slot.signer.address()).await {
            let was_low = *slot.balance_wei.lock() < self.config.low_balance_wei;
            *slot.balance_wei.lock() = b;
            if b < self.config.low_balance_wei && !was_low {
                tracing::warn!(key = %slot.signer.address(), balance_wei = %b, "x402 facilitator settlement key balance is low");
            }
        }
        Ok((hash, checked))
    }

    async fn submit(&self, slot: &KeySlot, c: &Checked) -> Result<B256, ChainError> {
        let max_fee = self.chain.max_fee_per_gas().await?;
        let mut next = slot.next_nonce.lock().await;
        let nonce = match *next {
            Some(n) => n,
            None => self.chain.pending_nonce(slot.signer.address()).await?,
        };
        let tx = TxEip1559 {
            chain_id: self.chain.chain_id(),
            nonce,
            gas_limit: self.config.gas_limit,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: 0,
            to: TxKind::Call(c.asset),
            value: U256::ZERO,
            access_list: Default::default(),
            input: Self::calldata(c).into(),
        };
        let sig = slot
            .signer
            .sign_hash_sync(&tx.signature_hash())
            .map_err(|e| ChainError::Rejected(e.to_string()))?;
        let envelope: TxEnvelope = tx.into_signed(sig).into();
        let raw = envelope.encoded_2718();
        match self.chain.submit(raw.into()).await {
            Ok(hash) => {
                *next = Some(nonce + 1);
                Ok(hash)
            }
            Err(e) => {
                // Resynchronise from the chain next time.
                *next = None;
                Err(e)
            }
        }
    }
}

/// Maps a FiatToken revert string to a reason code.
pub fn revert_reason_code(msg: &str) -> &'static str {
    if msg.contains("authorization is not yet valid") {
        reason::VALID_AFTER
    } else if msg.contains("authorization is expired") {
        reason::VALID_BEFORE
    } else if msg.contains("authorization is used or canceled") {
        reason::NONCE_ALREADY_USED
    } else if msg.contains("invalid signature") || msg.contains("ECRecover") {
        reason::SIGNATURE
    } else if msg.contains("exceeds balance") {
        reason::INSUFFICIENT_BALANCE
    } else {
        reason::SIMULATION_FAILED
    }
}

/// Writes one Prometheus metric family: HELP, TYPE, then all its samples together (the text
/// format requires a family's samples to be contiguous).
fn family(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: impl IntoIterator<Item = (String, String)>,
) {
    use std::fmt::Write;
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

#[cfg(test)]
mod settlement_record_tests {
    use super::*;

    fn key(i: u8) -> SettlementKey {
        (
            1,
            Address::ZERO,
            Address::repeat_byte(i),
            B256::repeat_byte(i),
        )
    }

    #[test]
    fn entries_go_once_valid_before_passes() {
        let mut s = Settlements::default();
        s.done(key(1), B256::repeat_byte(1), 100, 50, 10);
        s.done(key(2), B256::repeat_byte(2), 200, 50, 10);
        assert_eq!(s.len(), 2);
        // At t = 100 the first can no longer be settled (the token needs t < validBefore).
        s.done(key(3), B256::repeat_byte(3), 300, 100, 10);
        assert!(s.get(&key(1)).is_none());
        assert!(matches!(s.get(&key(2)), Some(Settlement::Done(h)) if h == B256::repeat_byte(2)));
        assert_eq!(s.len(), 2);
        assert_eq!(s.expiry.len(), 2);
        assert_eq!(s.valid_before.len(), 2);
    }

    #[test]
    fn the_cap_holds_and_drops_the_soonest_to_expire() {
        let mut s = Settlements::default();
        for i in 0..50u8 {
            s.done(
                key(i),
                B256::repeat_byte(i),
                1_000 + u64::from(50 - i),
                10,
                8,
            );
        }
        assert_eq!(s.len(), 8);
        assert_eq!(s.expiry.len(), 8);
        // The latest-expiring (lowest i) are kept.
        for i in 0..8u8 {
            assert!(s.get(&key(i)).is_some());
        }
    }

    #[test]
    fn in_flight_claims_are_exclusive_and_not_evicted() {
        let mut s = Settlements::default();
        let (_tx, rx) = watch::channel(false);
        assert!(s.claim(key(1), rx.clone()));
        assert!(!s.claim(key(1), rx.clone()));
        s.done(key(2), B256::ZERO, 5, 100, 1);
        s.done(key(3), B256::ZERO, 500, 101, 1);
        assert!(matches!(s.get(&key(1)), Some(Settlement::InFlight(_))));
        s.release(&key(1));
        assert!(s.get(&key(1)).is_none());
        assert!(s.claim(key(1), rx));
    }
}
