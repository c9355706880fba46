//! The facilitator: `verify`, `settle` and `supported` for the `exact` EVM scheme over
//! EIP-3009, on any [`Chain`].
//!
//! - [`payment`]: the request body parsed once into typed fields;
//! - [`verify`]: every check of `specs/x402.md` in order — the ones that need no chain
//!   access first, then nonce, balance and a simulation against committed state in the
//!   context of the block the settlement will land in;
//! - [`settle`]: submission from a pool of keys ([`keys`]), commit tracking, resubmission
//!   of dropped transactions, cancellation of ones that do not commit in time;
//! - [`records`]: at most one settle per `(chainId, asset, from, nonce)` reports success;
//! - [`metrics`]: counters for `/metrics`.
//!
//! Only the configured tokens are settled (their EIP-712 domains come from configuration,
//! never from calling a contract a client names), amounts below a minimum are refused (a
//! zero-value authorization would otherwise cost the facilitator gas for nothing), and
//! `maxTimeoutSeconds` and how far ahead `validAfter` may be are bounded.

mod keys;
mod metrics;
mod payment;
mod records;
mod settle;
mod verify;

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, U256};
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::{SolCall, sol};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::chain::{CallOutcome, Chain};
use crate::types::*;
use crate::{X402Error, reason};
use keys::KeyPool;
use metrics::{Metrics, SettleTotals};
use records::Records;

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

sol! {
    interface ITokenMetadata {
        function symbol() external view returns (string);
        function decimals() external view returns (uint8);
    }
}

/// A token the facilitator settles (the first one configured is advertised in `/supported`).
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
        Ok(CallOutcome::Success(b)) => T::abi_decode_returns(&b).map_err(|e| X402Error::Token {
            token,
            call: what,
            problem: format!("answered something else ({e})"),
        }),
        Ok(other) => Err(X402Error::Token {
            token,
            call: what,
            problem: format!("failed ({other:?})"),
        }),
        Err(e) => Err(X402Error::Token {
            token,
            call: what,
            problem: e.to_string(),
        }),
    }
}

impl TokenInfo {
    /// Reads the name, EIP-712 version, symbol and decimals of the token at `address` (an
    /// operator's configuration, read once at start).
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

/// Default of [`FacilitatorConfig::used_lookup_blocks`].
pub const DEFAULT_USED_LOOKUP_BLOCKS: u64 = 10_000;

/// Facilitator settings.
#[derive(Clone)]
pub struct FacilitatorConfig {
    /// The token advertised in `/supported`, and settled.
    pub token: TokenInfo,
    /// Other tokens settled (not advertised).
    pub other_tokens: Vec<TokenInfo>,
    /// Settlement keys (a small pool).
    pub keys: Vec<PrivateKeySigner>,
    /// Settlements in flight at most.
    pub max_concurrent_settlements: usize,
    /// Warn when a settlement key's ETH balance drops below this (wei).
    pub low_balance_wei: U256,
    /// Gas limit of a settlement transaction.
    pub gas_limit: u64,
    /// Longest wait for a settlement to commit; past it the settlement is cancelled.
    pub commit_timeout: Duration,
    /// Settled (and pending) authorizations remembered at most (an entry also goes once its
    /// `validBefore` has passed: the token refuses it from then on). Past this, the entries
    /// closest to expiry go first. A forgotten one is still refused (the token's
    /// `authorizationState`), and its transaction is recovered from the chain.
    pub max_settlement_records: usize,
    /// How many recent blocks to search for the `AuthorizationUsed` event of a replayed
    /// authorization that is not in memory (after a restart, or evicted), to report the
    /// original transaction hash.
    pub used_lookup_blocks: u64,
    /// Smallest amount settled (atomic units); `0` would let anyone make the facilitator
    /// pay gas for nothing.
    pub min_amount: U256,
    /// Largest `maxTimeoutSeconds` accepted in requirements.
    pub max_timeout_seconds: u64,
    /// How long a settlement may wait for a `validAfter` still in the future (seconds).
    pub max_valid_after_wait: u64,
    /// Base URL of the chain node's REST API as buyers reach it: a successful settle response
    /// then carries `extra.receipt` = `<base>/v1/transactions/<hash>/receipt`, where the
    /// buyer fetches the settlement's offline-verifiable receipt (`None`: no receipt URL).
    pub receipt_base_url: Option<String>,
}

impl std::fmt::Debug for FacilitatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<Address> = self
            .keys
            .iter()
            .map(alloy_signer_local::LocalSigner::address)
            .collect();
        f.debug_struct("FacilitatorConfig")
            .field("token", &self.token)
            .field("other_tokens", &self.other_tokens)
            .field("keys (addresses)", &keys)
            .field(
                "max_concurrent_settlements",
                &self.max_concurrent_settlements,
            )
            .field("gas_limit", &self.gas_limit)
            .field("commit_timeout", &self.commit_timeout)
            .field("min_amount", &self.min_amount)
            .field("max_timeout_seconds", &self.max_timeout_seconds)
            .finish_non_exhaustive()
    }
}

impl FacilitatorConfig {
    /// Defaults for `token` and `keys`.
    pub fn new(token: TokenInfo, keys: Vec<PrivateKeySigner>) -> Self {
        FacilitatorConfig {
            token,
            other_tokens: Vec::new(),
            keys,
            max_concurrent_settlements: 256,
            low_balance_wei: U256::from(10u64).pow(U256::from(17)),
            gas_limit: 200_000,
            commit_timeout: Duration::from_secs(15),
            max_settlement_records: 1_000_000,
            used_lookup_blocks: DEFAULT_USED_LOOKUP_BLOCKS,
            min_amount: U256::from(1),
            max_timeout_seconds: 300,
            max_valid_after_wait: 60,
            receipt_base_url: None,
        }
    }
}

pub(crate) fn addr_string(a: Address) -> String {
    a.to_checksum(None)
}

/// The facilitator.
pub struct Facilitator<C> {
    chain: C,
    config: FacilitatorConfig,
    keys: KeyPool,
    permits: Semaphore,
    records: Records,
    metrics: Metrics,
    /// The settlement totals at the last [`Facilitator::log_settlement_summary`].
    summarized: parking_lot::Mutex<SettleTotals>,
}

impl<C: Chain> Facilitator<C> {
    /// A facilitator on `chain`. Fails without keys.
    pub fn new(chain: C, config: FacilitatorConfig) -> Result<Arc<Self>, X402Error> {
        if config.keys.is_empty() {
            return Err(X402Error::NoKeys);
        }
        Ok(Arc::new(Facilitator {
            chain,
            keys: KeyPool::new(&config.keys),
            permits: Semaphore::new(config.max_concurrent_settlements.max(1)),
            records: Records::new(config.max_settlement_records),
            metrics: Metrics::default(),
            summarized: parking_lot::Mutex::new(SettleTotals::default()),
            config,
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
        self.keys
            .slots()
            .iter()
            .map(keys::KeySlot::address)
            .collect()
    }

    /// `GET /supported`: v2 exact on this chain with the token in `extra` (v1 cannot name
    /// this chain, so no v1 kind is listed).
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

    /// One INFO line for the settlements since the last call, none when there were none.
    /// Each settlement is logged at DEBUG only, so a facilitator settling 1,000 payments a
    /// second logs one line per call (the servers call this every minute).
    pub fn log_settlement_summary(&self) {
        let now = self.metrics.settle_totals();
        let mut last = self.summarized.lock();
        if let Some((settled, failed, mean_latency_ms)) = now.since(*last) {
            tracing::info!(
                settled,
                failed,
                mean_latency_ms,
                "x402 settlements since the last summary"
            );
        }
        *last = now;
    }

    /// Refreshes settlement-key balances; warns on low ones. Returns the low keys.
    pub async fn check_balances(&self) -> Vec<Address> {
        let mut low = vec![];
        for k in self.keys.slots() {
            match self.chain.balance(k.address()).await {
                Ok(b) => {
                    *k.balance_wei.lock() = b;
                    if b < self.config.low_balance_wei {
                        tracing::warn!(key = %k.address(), balance_wei = %b, threshold_wei = %self.config.low_balance_wei, "x402 facilitator settlement key balance is low");
                        low.push(k.address());
                    }
                }
                Err(e) => {
                    tracing::warn!(key = %k.address(), error = %e, "reading settlement key balance failed");
                }
            }
        }
        low
    }

    /// Prometheus text for the facilitator.
    pub fn render_prometheus(&self) -> String {
        let balances: Vec<(Address, U256)> = self
            .keys
            .slots()
            .iter()
            .map(|k| (k.address(), *k.balance_wei.lock()))
            .collect();
        self.metrics.render(&balances, self.config.low_balance_wei)
    }

    /// `POST /verify` on a parsed body.
    pub async fn verify(&self, body: &Value) -> VerifyResponse {
        let checked = match payment::parse(body, self.chain.chain_id()) {
            Ok(p) => self.check(&p, true).await.map(|_| p.payer),
            Err(r) => Err(r),
        };
        let r = match checked {
            Ok(payer) => VerifyResponse::valid(addr_string(payer)),
            Err(r) => VerifyResponse::invalid(r.reason, r.message, r.payer.map(addr_string)),
        };
        let counter = if r.is_valid {
            &self.metrics.verify_valid
        } else {
            &self.metrics.verify_invalid
        };
        Metrics::inc(counter);
        if let Some(reason) = &r.invalid_reason {
            tracing::debug!(reason, "x402 verify refused");
        }
        r
    }

    /// `POST /settle` on a parsed body.
    pub async fn settle(&self, body: &Value) -> SettleResponse {
        let r = match payment::parse(body, self.chain.chain_id()) {
            Ok(p) => self.settle_payment(&p).await,
            Err(r) => self.fail(r, String::new()),
        };
        let counter = if r.success {
            &self.metrics.settle_success
        } else {
            &self.metrics.settle_failure
        };
        Metrics::inc(counter);
        r
    }

    /// Settled, pending and in-flight authorizations currently remembered.
    pub fn settlement_records(&self) -> usize {
        self.records.len()
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
