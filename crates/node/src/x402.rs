//! x402 inside the node: the facilitator's in-process [`Chain`] (committed state read
//! directly, transactions submitted to the ledger as the node's own, commits awaited on the
//! apply notification) and its routes under `/x402` (`POST /x402/verify`,
//! `POST /x402/settle`, `GET /x402/supported`, `GET /x402/metrics`).
//!
//! EVM calls (simulations, token reads) and log scans run on a small worker pool of their
//! own, never on the async runtime, with a deadline each; scans are bounded in blocks and in
//! time.

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, B256, BloomInput, Bytes, U256};
use alloy_signer_local::PrivateKeySigner;
use revm::context::result::ExecutionResult;
use txnchain_executor::Overlay;
use txnchain_executor::env::CallInput;
use txnchain_executor::pool::{ExecPool, PoolLimits};
use txnchain_ledger::Ledger;
use txnchain_primitives::RecoveredTx;
use txnchain_x402::chain::{CallOutcome, Committed};
use txnchain_x402::server::{Access, ServerConfig};
use txnchain_x402::{Chain, ChainError, Facilitator, FacilitatorConfig, TokenInfo, TxStatus};

/// How long one simulation or token read may execute.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one scan for a used authorization may take.
const SCAN_BUDGET: Duration = Duration::from_millis(500);

/// The facilitator a node runs.
#[derive(Debug, Clone)]
pub struct X402Config {
    /// The token advertised in `/x402/supported`. With an empty `name`, its name, version,
    /// symbol and decimals are read from the token at `address` in committed state when the
    /// node starts (see [`X402Config::for_token`]).
    pub token: TokenInfo,
    /// Settlement keys.
    pub keys: Vec<PrivateKeySigner>,
    /// Payee authorization for `/x402/settle`.
    pub access: Access,
    /// verify + settle requests per second per client (IPv4 address, IPv6 /64).
    pub rate_limit_per_sec: u32,
    /// Settles per second per payer and per payee (`None`: the server's defaults).
    pub settle_quotas: Option<(u32, u32)>,
    /// Proxies whose `X-Forwarded-For` names the client (none by default).
    pub trusted_proxies: txnchain_http::TrustedProxies,
    /// Base URL buyers reach this node's REST API at, for the receipt URL of settle
    /// responses (`extra.receipt`). `None`: `http://<listen address>`, unless the node
    /// listens on an unspecified address (0.0.0.0, ::), which names no host: then no URL.
    pub receipt_base_url: Option<String>,
}

impl X402Config {
    /// The dev facilitator: tUSD at [`crate::dev::STABLECOIN`], keys at test-mnemonic indexes
    /// 100–103, open to every payee (dev only), generous rate limits for local benchmarks.
    pub fn dev() -> Result<Self, txnchain_primitives::PrimitivesError> {
        Ok(X402Config {
            token: dev_token(),
            keys: crate::dev::facilitator_keys()?,
            access: Access::Open,
            rate_limit_per_sec: 20_000,
            // Benchmarks pay from a handful of dev accounts to one payee.
            settle_quotas: Some((20_000, 20_000)),
            trusted_proxies: Default::default(),
            receipt_base_url: None,
        })
    }
}

impl X402Config {
    /// A facilitator for the EIP-3009 token at `address` (its EIP-712 name and version,
    /// symbol and decimals are read from the chain at start), settling from `keys`, for the
    /// payees `access` admits.
    pub fn for_token(
        address: Address,
        keys: Vec<PrivateKeySigner>,
        access: Access,
        rate_limit_per_sec: u32,
    ) -> Self {
        X402Config {
            token: TokenInfo {
                address,
                name: String::new(),
                version: String::new(),
                decimals: 0,
                symbol: String::new(),
            },
            keys,
            access,
            rate_limit_per_sec,
            settle_quotas: None,
            trusted_proxies: Default::default(),
            receipt_base_url: None,
        }
    }
}

/// The dev stablecoin as the facilitator advertises it.
pub fn dev_token() -> TokenInfo {
    TokenInfo {
        address: crate::dev::STABLECOIN,
        name: "TxnChain USD".into(),
        version: "1".into(),
        decimals: 6,
        symbol: "tUSD".into(),
    }
}

/// The in-process chain.
pub struct LocalChain {
    ledger: Arc<Ledger>,
    pool: ExecPool<()>,
}

impl LocalChain {
    /// Over `ledger`, with one worker thread for calls and scans.
    pub fn new(ledger: Arc<Ledger>) -> Result<Self, std::io::Error> {
        let pool = ExecPool::new(
            "x402",
            PoolLimits {
                threads: 1,
                max_queued_per_client: 1024,
                max_queued: 1024,
            },
        )?;
        Ok(LocalChain { ledger, pool })
    }

    async fn on_pool<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Ledger) -> Result<T, ChainError> + Send + 'static,
    ) -> Result<T, ChainError> {
        let ledger = Arc::clone(&self.ledger);
        self.pool
            .run((), move || f(&ledger))
            .await
            .map_err(unavailable)?
    }
}

fn unavailable(e: impl std::fmt::Display) -> ChainError {
    ChainError::Unavailable(e.to_string())
}

impl LocalChain {
    fn find(&self, hash: B256) -> Result<Option<Committed>, ChainError> {
        let snap = self.ledger.reader().map_err(unavailable)?;
        let Some((loc, _)) = snap.transaction(hash).map_err(unavailable)? else {
            return Ok(None);
        };
        let receipts = snap.block_receipts(loc.block).map_err(unavailable)?;
        let Some(r) = receipts.and_then(|mut r| {
            let i = loc.index as usize;
            (i < r.len()).then(|| r.swap_remove(i))
        }) else {
            return Ok(None);
        };
        Ok(Some(Committed {
            hash,
            success: r.success,
            block: loc.block,
            logs: r.logs,
        }))
    }
}

/// A call against committed state, in the next block's context.
fn call_now(
    ledger: &Ledger,
    from: Address,
    to: Address,
    data: Bytes,
    timestamp: Option<u64>,
) -> Result<CallOutcome, ChainError> {
    {
        let chain = ledger.chain();
        let snap = ledger.reader().map_err(unavailable)?;
        // The context of the next block: the one a settlement lands in, at a later time if the
        // caller asks (to judge `validAfter`).
        let mut ctx = snap.next_block_context(chain).map_err(unavailable)?;
        ctx.timestamp = ctx.timestamp.max(timestamp.unwrap_or(0));
        // The read side's rule: an unsigned call to a confidential contract runs as sender zero.
        let from = snap.unsigned_sender(Some(to), from).map_err(unavailable)?;
        let input = CallInput {
            from,
            to: Some(to),
            gas: chain.max_tx_gas(ctx.number).min(10_000_000),
            data,
            ..Default::default()
        };
        let latest = snap.latest().map_err(unavailable)?;
        let overlay = Overlay::new(snap.execution_state(latest).map_err(unavailable)?);
        let limits = txnchain_executor::call::Limits::new(CALL_TIMEOUT);
        let res = txnchain_executor::call::call(chain, &ctx, &overlay, &input, &limits)
            .map_err(unavailable)?;
        Ok(match res.result {
            ExecutionResult::Success { output, .. } => CallOutcome::Success(output.into_data()),
            ExecutionResult::Revert { output, .. } => CallOutcome::Revert(output),
            ExecutionResult::Halt { reason, .. } => {
                CallOutcome::Halt(txnchain_executor::call::halt_message(&reason, input.gas))
            }
        })
    }
}

impl Chain for LocalChain {
    fn chain_id(&self) -> u64 {
        self.ledger.chain().chain_id
    }

    async fn next_block_timestamp(&self) -> Result<u64, ChainError> {
        let snap = self.ledger.reader().map_err(unavailable)?;
        let ctx = snap
            .next_block_context(self.ledger.chain())
            .map_err(unavailable)?;
        Ok(ctx.timestamp)
    }

    async fn call(
        &self,
        from: Address,
        to: Address,
        data: Bytes,
        timestamp: Option<u64>,
    ) -> Result<CallOutcome, ChainError> {
        self.on_pool(move |ledger| call_now(ledger, from, to, data, timestamp))
            .await
    }

    async fn balance(&self, address: Address) -> Result<U256, ChainError> {
        let snap = self.ledger.reader().map_err(unavailable)?;
        Ok(snap
            .account(address)
            .map_err(unavailable)?
            .map(|a| a.balance)
            .unwrap_or_default())
    }

    async fn pending_nonce(&self, address: Address) -> Result<u64, ChainError> {
        let snap = self.ledger.reader().map_err(unavailable)?;
        let committed = snap
            .account(address)
            .map_err(unavailable)?
            .map_or(0, |a| a.nonce);
        Ok(self.ledger.pool().pending_nonce(address, committed))
    }

    async fn max_fee_per_gas(&self) -> Result<u128, ChainError> {
        Ok(u128::from(self.ledger.chain().base_fee)
            .saturating_mul(2)
            .max(1))
    }

    async fn submit(&self, raw: Bytes) -> Result<B256, ChainError> {
        let tx = RecoveredTx::decode(&raw)?;
        // The node's own transaction: the pool never evicts it for a better-paying stranger.
        self.ledger.submit_local(tx).map_err(|e| match e {
            txnchain_ledger::LedgerError::Rejected(r) => ChainError::Rejected(r),
            other => unavailable(other),
        })
    }

    async fn tx_status(&self, hash: B256) -> Result<TxStatus, ChainError> {
        if let Some(c) = self.find(hash)? {
            return Ok(TxStatus::Committed(c));
        }
        if self.ledger.pool().get(&hash).is_some() {
            return Ok(TxStatus::Pending);
        }
        // It may have committed between the two looks.
        Ok(match self.find(hash)? {
            Some(c) => TxStatus::Committed(c),
            None => TxStatus::Unknown,
        })
    }

    async fn find_log(
        &self,
        address: Address,
        topics: Vec<B256>,
        lookback: u64,
        after_timestamp: u64,
    ) -> Result<Option<B256>, ChainError> {
        self.on_pool(move |ledger| {
            scan_for_log(ledger, address, &topics, lookback, after_timestamp)
        })
        .await
    }

    async fn wait_committed(&self, hash: B256, timeout: Duration) -> Result<Committed, ChainError> {
        // Subscribe first, then look in the store: a commit in between is not missed.
        let mut rx = self.ledger.subscribe();
        if let Some(c) = self.find(hash)? {
            return Ok(c);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Err(_) => return Err(ChainError::Timeout(hash)),
                Ok(Ok(block)) => {
                    if let Some(i) = block.transactions.iter().position(|t| t.hash() == hash)
                        && let Some(r) = block.receipts.get(i)
                    {
                        return Ok(Committed {
                            hash,
                            success: r.success,
                            block: block.header.header.number,
                            logs: r.logs.clone(),
                        });
                    }
                }
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {
                    if let Some(c) = self.find(hash)? {
                        return Ok(c);
                    }
                }
                Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => {
                    return Err(unavailable("the node is stopping"));
                }
            }
        }
    }
}

/// Committed receipts, newest block first, for a log from `address` whose first topics are
/// `topics`; the header's logsBloom skips blocks that cannot hold it, blocks stamped at or
/// before `after_timestamp` end the scan, and so do `lookback` blocks or [`SCAN_BUDGET`].
fn scan_for_log(
    ledger: &Ledger,
    address: Address,
    topics: &[B256],
    lookback: u64,
    after_timestamp: u64,
) -> Result<Option<B256>, ChainError> {
    let started = std::time::Instant::now();
    let snap = ledger.reader().map_err(unavailable)?;
    let last = snap.latest().map_err(unavailable)?;
    let lowest = last.saturating_sub(lookback);
    let mut number = last;
    loop {
        let Some(header) = snap.header(number).map_err(unavailable)? else {
            return Ok(None);
        };
        if number > 0 && header.header.timestamp <= after_timestamp {
            return Ok(None);
        }
        let bloom = &header.header.logs_bloom;
        let maybe = bloom.contains_input(BloomInput::Raw(address.as_slice()))
            && topics
                .iter()
                .all(|t| bloom.contains_input(BloomInput::Raw(t.as_slice())));
        if maybe && let Some(receipts) = snap.block_receipts(number).map_err(unavailable)? {
            let found = receipts.iter().rposition(|r| {
                r.logs.iter().any(|l| {
                    l.address == address
                        && l.data.topics().len() >= topics.len()
                        && l.data.topics()[..topics.len()] == topics[..]
                })
            });
            if let Some(i) = found {
                let hashes = snap.block_tx_hashes(number).map_err(unavailable)?;
                return Ok(hashes.get(i).copied());
            }
        }
        if number <= lowest || started.elapsed() > SCAN_BUDGET {
            return Ok(None);
        }
        number -= 1;
    }
}

/// Builds the facilitator and its router (to nest under `/x402`).
pub(crate) async fn router(
    ledger: Arc<Ledger>,
    config: X402Config,
    listen: std::net::SocketAddr,
) -> Result<(axum::Router, Arc<Facilitator<LocalChain>>), txnchain_x402::X402Error> {
    let chain = LocalChain::new(ledger)?;
    let token = if config.token.name.is_empty() {
        TokenInfo::read(&chain, config.token.address).await?
    } else {
        config.token
    };
    tracing::info!(token = %token.address, name = %token.name, version = %token.version, "x402 facilitator token");
    let mut facilitator_config = FacilitatorConfig::new(token, config.keys);
    facilitator_config.receipt_base_url = config
        .receipt_base_url
        .or_else(|| (!listen.ip().is_unspecified()).then(|| format!("http://{listen}")));
    let facilitator = Facilitator::new(chain, facilitator_config)?;
    let mut server = ServerConfig::new(config.access, config.rate_limit_per_sec);
    server.trusted_proxies = config.trusted_proxies;
    if let Some(q) = config.settle_quotas {
        server.payer_settles_per_sec = q.0;
        server.payee_settles_per_sec = q.1;
    }
    let router = txnchain_x402::server::router(facilitator.clone(), server);
    Ok((router, facilitator))
}
