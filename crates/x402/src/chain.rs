//! The facilitator's one interface to the chain, and its JSON-RPC implementation.
//!
//! Two implementations exist: in-process inside the node (`txnchain-node`, reading committed
//! state and waiting for the apply notification) and [`JsonRpcChain`] for a standalone
//! facilitator. **A standalone facilitator trusts its RPC endpoint**: balances, nonce state,
//! simulations and receipts all come from it, so point it only at a node you operate.

use std::future::Future;
use std::time::Duration;

use alloy_primitives::{Address, B256, Bytes, Log, U256};
use serde_json::{Value, json};

/// Errors reaching the chain.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// Transport or node failure.
    #[error("chain unavailable: {0}")]
    Unavailable(String),
    /// The node refused a transaction (in-process: typed).
    #[error("transaction rejected: {0}")]
    Rejected(#[from] txnchain_primitives::TxRejection),
    /// A node reached over JSON-RPC refused a transaction.
    #[error("transaction rejected by the node: {message} (code {code})")]
    RemoteRejected {
        /// The JSON-RPC error code.
        code: i64,
        /// Its message (geth's).
        message: String,
    },
    /// A settlement transaction could not be signed.
    #[error("signing a settlement transaction failed: {0}")]
    Signing(String),
    /// The transaction was not committed in time.
    #[error("transaction {0} not committed within the timeout")]
    Timeout(B256),
}

/// The result of a call that does not commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    /// Returned data.
    Success(Bytes),
    /// Reverted with this data.
    Revert(Bytes),
    /// Halted (out of gas, invalid opcode…).
    Halt(String),
}

/// Where a submitted transaction is.
#[derive(Debug, Clone)]
pub enum TxStatus {
    /// Committed.
    Committed(Committed),
    /// Waiting in the pool.
    Pending,
    /// Neither committed nor in the pool (dropped, or never seen).
    Unknown,
}

/// A committed transaction.
#[derive(Debug, Clone)]
pub struct Committed {
    /// Its hash.
    pub hash: B256,
    /// Whether it succeeded.
    pub success: bool,
    /// Block number.
    pub block: u64,
    /// Its logs.
    pub logs: Vec<Log>,
}

/// What the facilitator needs from the chain.
pub trait Chain: Send + Sync + 'static {
    /// The chain id.
    fn chain_id(&self) -> u64;
    /// The earliest timestamp the next block can carry (the timestamp a transaction submitted
    /// now lands with, at the least).
    fn next_block_timestamp(&self) -> impl Future<Output = Result<u64, ChainError>> + Send;
    /// Executes a call against the last committed state in the context of the next block,
    /// with its timestamp raised to `timestamp` when given.
    fn call(
        &self,
        from: Address,
        to: Address,
        data: Bytes,
        timestamp: Option<u64>,
    ) -> impl Future<Output = Result<CallOutcome, ChainError>> + Send;
    /// Whether [`Chain::call`] honours its `timestamp` (JSON-RPC `eth_call` runs at the latest
    /// block's timestamp instead, so a "not yet valid" revert there is judged by the caller).
    fn simulates_at_timestamp(&self) -> bool {
        true
    }
    /// ETH balance (committed).
    fn balance(&self, address: Address) -> impl Future<Output = Result<U256, ChainError>> + Send;
    /// The next nonce for `address`, counting transactions waiting in the pool.
    fn pending_nonce(
        &self,
        address: Address,
    ) -> impl Future<Output = Result<u64, ChainError>> + Send;
    /// `maxFeePerGas` to offer.
    fn max_fee_per_gas(&self) -> impl Future<Output = Result<u128, ChainError>> + Send;
    /// Submits a signed EIP-2718 transaction; returns its hash once admitted.
    fn submit(&self, raw: Bytes) -> impl Future<Output = Result<B256, ChainError>> + Send;
    /// The hash of the newest committed transaction that emitted a log from `address` whose
    /// first topics are `topics` (an `eth_getLogs` by address and topics), searching at most
    /// the last `lookback` blocks, newest first. Blocks stamped at or before
    /// `after_timestamp` may be skipped (the log cannot be in them).
    fn find_log(
        &self,
        address: Address,
        topics: Vec<B256>,
        lookback: u64,
        after_timestamp: u64,
    ) -> impl Future<Output = Result<Option<B256>, ChainError>> + Send;
    /// Whether `hash` is committed, waiting in the pool, or unknown.
    fn tx_status(&self, hash: B256) -> impl Future<Output = Result<TxStatus, ChainError>> + Send;
    /// Resolves once `hash` is committed (or after `timeout`).
    fn wait_committed(
        &self,
        hash: B256,
        timeout: Duration,
    ) -> impl Future<Output = Result<Committed, ChainError>> + Send;
}

/// Largest JSON-RPC response [`JsonRpcChain`] reads (an `eth_getLogs` page of the facilitator's
/// narrow filter is far smaller).
pub const MAX_RPC_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Blocks per `eth_getLogs` request in [`JsonRpcChain`]'s [`Chain::find_log`] (below common
/// provider limits and TxnChain's default of 10,000).
pub const LOG_CHUNK_BLOCKS: u64 = 5_000;

/// A chain reached over Ethereum JSON-RPC (standalone facilitator). Trusts its endpoint.
#[derive(Clone)]
pub struct JsonRpcChain {
    url: String,
    http: reqwest::Client,
    chain_id: u64,
}

fn unavailable(e: impl std::fmt::Display) -> ChainError {
    ChainError::Unavailable(e.to_string())
}

fn quantity(v: &Value) -> Result<U256, ChainError> {
    v.as_str()
        .and_then(|s| s.strip_prefix("0x"))
        .and_then(|h| U256::from_str_radix(h, 16).ok())
        .ok_or_else(|| unavailable(format!("expected a hex quantity, got {v}")))
}

enum RpcFailure {
    Transport(String),
    Error {
        code: i64,
        message: String,
        data: Option<Value>,
    },
}

impl JsonRpcChain {
    /// Connects to `url` and reads its chain id.
    pub async fn connect(url: &str) -> Result<Self, ChainError> {
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(unavailable)?;
        let mut chain = JsonRpcChain {
            url: url.to_string(),
            http,
            chain_id: 0,
        };
        let id = chain.request("eth_chainId", json!([])).await?;
        chain.chain_id = quantity(&id)?.try_into().map_err(unavailable)?;
        Ok(chain)
    }

    async fn raw_request(&self, method: &str, params: Value) -> Result<Value, RpcFailure> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let resp = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| RpcFailure::Transport(e.to_string()))?;
        let bytes = crate::client::read_body(resp, MAX_RPC_RESPONSE_BYTES)
            .await
            .map_err(|e| RpcFailure::Transport(e.to_string()))?;
        let v: Value =
            serde_json::from_slice(&bytes).map_err(|e| RpcFailure::Transport(e.to_string()))?;
        if let Some(err) = v.get("error") {
            return Err(RpcFailure::Error {
                code: err.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: err
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                data: err.get("data").cloned(),
            });
        }
        Ok(v.get("result").cloned().unwrap_or(Value::Null))
    }

    async fn request(&self, method: &str, params: Value) -> Result<Value, ChainError> {
        self.raw_request(method, params).await.map_err(|e| match e {
            RpcFailure::Transport(t) => ChainError::Unavailable(t),
            RpcFailure::Error { message, .. } => ChainError::Unavailable(message),
        })
    }

    async fn receipt(&self, hash: B256) -> Result<Option<Committed>, ChainError> {
        let r = self
            .request("eth_getTransactionReceipt", json!([hash]))
            .await?;
        if r.is_null() {
            return Ok(None);
        }
        let logs: Vec<Log> = serde_json::from_value::<Vec<Value>>(
            r.get("logs").cloned().unwrap_or_else(|| json!([])),
        )
        .map_err(unavailable)?
        .into_iter()
        .filter_map(|l| {
            let address: Address = serde_json::from_value(l.get("address")?.clone()).ok()?;
            let topics: Vec<B256> = serde_json::from_value(l.get("topics")?.clone()).ok()?;
            let data: Bytes = serde_json::from_value(l.get("data")?.clone()).ok()?;
            Log::new(address, topics, data)
        })
        .collect();
        Ok(Some(Committed {
            hash,
            success: r.get("status").and_then(Value::as_str) == Some("0x1"),
            block: r
                .get("blockNumber")
                .map(quantity)
                .transpose()?
                .map_or(0, |n| n.saturating_to()),
            logs,
        }))
    }
}

impl Chain for JsonRpcChain {
    fn chain_id(&self) -> u64 {
        self.chain_id
    }

    fn simulates_at_timestamp(&self) -> bool {
        false
    }

    async fn next_block_timestamp(&self) -> Result<u64, ChainError> {
        let b = self
            .request("eth_getBlockByNumber", json!(["latest", false]))
            .await?;
        let ts: u64 = quantity(b.get("timestamp").unwrap_or(&Value::Null))?.saturating_to();
        Ok(ts.max(crate::now_secs()))
    }

    async fn call(
        &self,
        from: Address,
        to: Address,
        data: Bytes,
        _timestamp: Option<u64>,
    ) -> Result<CallOutcome, ChainError> {
        // Plain eth_call runs at the latest block; callers only pass a timestamp here when
        // they have already waited until the latest block is late enough.
        let params = json!([{"from": from, "to": to, "data": data, "gas": "0x1c9c380"}, "latest"]);
        match self.raw_request("eth_call", params).await {
            Ok(v) => Ok(CallOutcome::Success(
                serde_json::from_value(v).map_err(unavailable)?,
            )),
            Err(RpcFailure::Error {
                code: 3,
                data: Some(d),
                ..
            }) => Ok(CallOutcome::Revert(
                serde_json::from_value(d).unwrap_or_default(),
            )),
            Err(RpcFailure::Error { code, message, .. }) if code == -32000 || code == 3 => {
                Ok(CallOutcome::Halt(message))
            }
            Err(RpcFailure::Error { message, .. } | RpcFailure::Transport(message)) => {
                Err(ChainError::Unavailable(message))
            }
        }
    }

    async fn balance(&self, address: Address) -> Result<U256, ChainError> {
        quantity(
            &self
                .request("eth_getBalance", json!([address, "latest"]))
                .await?,
        )
    }

    async fn pending_nonce(&self, address: Address) -> Result<u64, ChainError> {
        Ok(quantity(
            &self
                .request("eth_getTransactionCount", json!([address, "pending"]))
                .await?,
        )?
        .saturating_to())
    }

    async fn max_fee_per_gas(&self) -> Result<u128, ChainError> {
        let p: u128 = quantity(&self.request("eth_gasPrice", json!([])).await?)?.saturating_to();
        Ok(p.saturating_mul(2).max(1))
    }

    async fn submit(&self, raw: Bytes) -> Result<B256, ChainError> {
        match self
            .raw_request("eth_sendRawTransaction", json!([raw]))
            .await
        {
            Ok(v) => serde_json::from_value(v).map_err(unavailable),
            Err(RpcFailure::Error { code, message, .. }) => {
                Err(ChainError::RemoteRejected { code, message })
            }
            Err(RpcFailure::Transport(t)) => Err(ChainError::Unavailable(t)),
        }
    }

    async fn find_log(
        &self,
        address: Address,
        topics: Vec<B256>,
        lookback: u64,
        _after_timestamp: u64,
    ) -> Result<Option<B256>, ChainError> {
        let latest: u64 =
            quantity(&self.request("eth_blockNumber", json!([])).await?)?.saturating_to();
        let lowest = latest.saturating_sub(lookback);
        let mut to = latest;
        loop {
            let from = to.saturating_sub(LOG_CHUNK_BLOCKS - 1).max(lowest);
            let filter = json!([{
                "address": address,
                "topics": topics,
                "fromBlock": format!("0x{from:x}"),
                "toBlock": format!("0x{to:x}"),
            }]);
            let logs = self.request("eth_getLogs", filter).await?;
            let newest = logs
                .as_array()
                .and_then(|a| a.last())
                .and_then(|l| l.get("transactionHash"))
                .and_then(|h| serde_json::from_value::<B256>(h.clone()).ok());
            if newest.is_some() || from <= lowest {
                return Ok(newest);
            }
            to = from - 1;
        }
    }

    async fn tx_status(&self, hash: B256) -> Result<TxStatus, ChainError> {
        if let Some(c) = self.receipt(hash).await? {
            return Ok(TxStatus::Committed(c));
        }
        let tx = self
            .request("eth_getTransactionByHash", json!([hash]))
            .await?;
        Ok(if tx.is_null() {
            TxStatus::Unknown
        } else {
            TxStatus::Pending
        })
    }

    async fn wait_committed(&self, hash: B256, timeout: Duration) -> Result<Committed, ChainError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut delay = Duration::from_millis(5);
        loop {
            if let Some(c) = self.receipt(hash).await? {
                return Ok(c);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ChainError::Timeout(hash));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(100));
        }
    }
}
