//! The shared context of every handler and the helpers they use.

use std::sync::Arc;
use std::time::Duration;

use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, TxKind, U256};
use alloy_rpc_types_eth::TransactionRequest;
use alloy_rpc_types_eth::state::StateOverride;
use alloy_signer_local::PrivateKeySigner;
use txnchain_executor::call::Limits;
use txnchain_executor::env::CallInput;
use txnchain_executor::pool::{ExecPool, PoolError, PoolLimits};
use txnchain_executor::{BlockContext, Overlay, SnapshotState};
use txnchain_http::ClientKey;
use txnchain_jsonrpc::{CallCtx, RpcError};
use txnchain_ledger::Ledger;
use txnchain_ledger::LedgerReader;
use txnchain_primitives::SealedHeader;

use crate::errors;
use crate::filters::Filters;

/// Options of the eth API. [`Default`] gives geth's defaults where geth has the same knob.
#[derive(Clone)]
pub struct EthApiConfig {
    /// `web3_clientVersion`.
    pub client_version: String,
    /// Keys `eth_accounts` lists and the signing methods use (dev mode only; empty otherwise).
    pub dev_signers: Vec<PrivateKeySigner>,
    /// Largest block range `eth_getLogs` scans.
    pub max_log_range: u64,
    /// Most logs `eth_getLogs` returns.
    pub max_logs: usize,
    /// Gas of `eth_call`, `eth_estimateGas`, `eth_createAccessList` and `debug_traceCall`
    /// at most (geth's `--rpc.gascap`: 50,000,000); a larger `gas` is capped to it.
    pub gas_cap: u64,
    /// How long one call may execute (geth's `--rpc.evmtimeout`: 5 s).
    pub evm_timeout: Duration,
    /// Largest trace, in bytes of JSON (estimated while tracing).
    pub max_trace_bytes: usize,
    /// Installed filters (`eth_newFilter`, …) in all, and per client.
    pub max_filters: usize,
    /// Installed filters per client ([`ClientKey`]).
    pub max_filters_per_client: usize,
    /// `logs` subscriptions in all, and per client (they cost work on every block).
    pub max_log_subscriptions: usize,
    /// `logs` subscriptions per client.
    pub max_log_subscriptions_per_client: usize,
    /// The workers that run calls, traces and log scans.
    pub exec: PoolLimits,
    /// The `dev` builder's mining control (automine, `evm_mine`); `None` outside `dev`.
    pub mining: Option<Arc<txnchain_ledger::MiningControl>>,
}

impl Default for EthApiConfig {
    fn default() -> Self {
        EthApiConfig {
            client_version: String::new(),
            dev_signers: Vec::new(),
            max_log_range: 10_000,
            max_logs: 10_000,
            gas_cap: 50_000_000,
            evm_timeout: Duration::from_secs(5),
            max_trace_bytes: 25_000_000,
            max_filters: 10_000,
            max_filters_per_client: 512,
            max_log_subscriptions: 4_096,
            max_log_subscriptions_per_client: 256,
            exec: PoolLimits::for_this_machine(),
            mining: None,
        }
    }
}

/// The handlers' context.
pub struct EthApi {
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) config: EthApiConfig,
    pub(crate) filters: Filters,
    pub(crate) log_subscriptions: Arc<txnchain_http::Quota>,
    pub(crate) exec: ExecPool<ClientKey>,
    /// Accounts `eth_sendTransaction` sends from without their key (`dev` only:
    /// `anvil_impersonateAccount`).
    pub(crate) impersonated:
        parking_lot::Mutex<std::collections::HashSet<alloy_primitives::Address>>,
}

impl EthApi {
    /// A context over `ledger`; starts the call workers.
    pub fn new(ledger: Arc<Ledger>, mut config: EthApiConfig) -> Result<Arc<Self>, std::io::Error> {
        if config.max_log_range == 0 {
            config.max_log_range = 10_000;
        }
        if config.max_logs == 0 {
            config.max_logs = 10_000;
        }
        let exec = ExecPool::new("rpc", config.exec)?;
        Ok(Arc::new(EthApi {
            ledger,
            filters: Filters::new(config.max_filters, config.max_filters_per_client),
            log_subscriptions: txnchain_http::Quota::new(
                "logs subscriptions",
                config.max_log_subscriptions,
                config.max_log_subscriptions_per_client,
            ),
            exec,
            config,
            impersonated: parking_lot::Mutex::new(std::collections::HashSet::new()),
        }))
    }

    /// Runs CPU-heavy work (EVM execution, traces, scans) on the call workers, fairly shared
    /// between clients.
    pub(crate) async fn heavy<T: Send + 'static>(
        &self,
        call: &CallCtx,
        f: impl FnOnce() -> Result<T, RpcError> + Send + 'static,
    ) -> Result<T, RpcError> {
        match self.exec.run(call.client(), f).await {
            Ok(r) => r,
            Err(e @ PoolError::Busy { .. }) => Err(RpcError::custom(-32005, e.to_string(), None)),
            Err(PoolError::Failed) => Err(RpcError::handler_crashed()),
        }
    }

    /// The limits of one call: the EVM timeout, cut short by the request's own deadline.
    pub(crate) fn limits(&self, call: &CallCtx) -> Limits {
        let mut l = Limits::new(self.config.evm_timeout).at_most(call.deadline);
        l.max_trace_bytes = self.config.max_trace_bytes;
        l
    }

    /// The ledger.
    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    pub(crate) fn snapshot(&self) -> Result<LedgerReader, RpcError> {
        self.ledger.reader().map_err(errors::ledger)
    }

    pub(crate) fn chain_id(&self) -> u64 {
        self.ledger.chain().chain_id
    }

    pub(crate) fn latest(&self, snap: &LedgerReader) -> Result<u64, RpcError> {
        snap.latest().map_err(errors::ledger)
    }

    /// Resolves a block tag, number or hash to a committed block number. `latest`, `safe`,
    /// `finalized` and `pending` are the last applied block (every committed block is final).
    pub(crate) fn resolve(
        &self,
        snap: &LedgerReader,
        id: Option<BlockId>,
    ) -> Result<u64, RpcError> {
        let latest = self.latest(snap)?;
        match id.unwrap_or(BlockId::Number(BlockNumberOrTag::Latest)) {
            BlockId::Number(tag) => match tag {
                BlockNumberOrTag::Earliest => Ok(0),
                BlockNumberOrTag::Number(n) if n <= latest => Ok(n),
                BlockNumberOrTag::Number(_) => Err(RpcError::server("header not found")),
                _ => Ok(latest),
            },
            BlockId::Hash(h) => snap
                .block_number(h.block_hash)
                .map_err(errors::ledger)?
                .ok_or_else(|| {
                    RpcError::server(format!("header for hash {} not found", h.block_hash))
                }),
        }
    }

    /// Resolves to a number, or `None` for an unknown block (methods that answer `null`).
    pub(crate) fn resolve_opt(
        &self,
        snap: &LedgerReader,
        tag: BlockNumberOrTag,
    ) -> Result<Option<u64>, RpcError> {
        let latest = self.latest(snap)?;
        Ok(match tag {
            BlockNumberOrTag::Earliest => Some(0),
            BlockNumberOrTag::Number(n) => (n <= latest).then_some(n),
            _ => Some(latest),
        })
    }

    pub(crate) fn header(
        &self,
        snap: &LedgerReader,
        number: u64,
    ) -> Result<SealedHeader, RpcError> {
        snap.header(number)
            .map_err(errors::ledger)?
            .ok_or_else(|| RpcError::server("header not found"))
    }

    /// The state after block `number` for execution (calls, estimates, traces): the read
    /// side's [`LedgerReader::execution_state`], whose output the caller seals or guards.
    pub(crate) fn execution_state<'a>(
        &self,
        snap: &'a LedgerReader,
        number: u64,
    ) -> Result<SnapshotState<'a>, RpcError> {
        snap.execution_state(number).map_err(errors::ledger)
    }

    /// The block context calls at block `number` run in.
    pub(crate) fn call_context(&self, header: &SealedHeader) -> BlockContext {
        let h = &header.header;
        BlockContext {
            number: h.number,
            timestamp: h.timestamp,
            beneficiary: h.beneficiary,
            prevrandao: h.mix_hash,
            gas_limit: h.gas_limit,
            base_fee: h.base_fee_per_gas.unwrap_or_default(),
            parent_hash: h.parent_hash,
        }
    }

    /// The per-call gas cap: the RPC gas cap, the block gas limit, or the fork's
    /// per-transaction cap, whichever is lowest.
    pub(crate) fn gas_cap(&self, number: u64) -> u64 {
        let cap = self.ledger.chain().max_tx_gas(number + 1);
        match self.config.gas_cap {
            0 => cap,
            rpc => cap.min(rpc),
        }
    }
}

/// A call request as the executor wants it.
pub(crate) fn call_input(
    req: &TransactionRequest,
    default_gas: u64,
) -> Result<CallInput, RpcError> {
    let data = req.input.input().cloned().unwrap_or_default();
    if req.input.input.is_some() && req.input.data.is_some() && req.input.input != req.input.data {
        return Err(RpcError::invalid_params(
            "both \"data\" and \"input\" are set and not equal. Please use \"input\" to pass transaction call data",
        ));
    }
    if req.gas_price.is_some()
        && (req.max_fee_per_gas.is_some() || req.max_priority_fee_per_gas.is_some())
    {
        return Err(RpcError::server(
            "both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified",
        ));
    }
    Ok(CallInput {
        from: req.from.unwrap_or(Address::ZERO),
        to: match req.to {
            Some(TxKind::Call(a)) => Some(a),
            _ => None,
        },
        gas: req.gas.map_or(default_gas, |g| g.min(default_gas)),
        gas_price: req.gas_price,
        max_fee_per_gas: req.max_fee_per_gas,
        max_priority_fee_per_gas: req.max_priority_fee_per_gas,
        value: req.value.unwrap_or(U256::ZERO),
        data,
        nonce: req.nonce,
        access_list: req.access_list.clone().unwrap_or_default(),
        authorization_list: req.authorization_list.clone().unwrap_or_default(),
        plaintext: None,
    })
}

/// Applies `eth_call` state overrides.
pub(crate) fn apply_overrides(
    overlay: &mut Overlay<SnapshotState<'_>>,
    overrides: Option<StateOverride>,
) -> Result<(), RpcError> {
    let Some(overrides) = overrides else {
        return Ok(());
    };
    for (address, o) in overrides {
        if o.state.is_some() && o.state_diff.is_some() {
            return Err(RpcError::server(format!(
                "account {address} has both 'state' and 'stateDiff'"
            )));
        }
        let state = o.state.map(|m| m.into_iter().collect());
        let diff = o.state_diff.map(|m| m.into_iter().collect());
        overlay
            .override_account(
                address,
                o.balance,
                o.nonce,
                o.code,
                state.as_ref(),
                diff.as_ref(),
            )
            .map_err(errors::exec)?;
    }
    Ok(())
}

pub(crate) fn hex_u64(n: u64) -> serde_json::Value {
    serde_json::Value::String(format!("{n:#x}"))
}

pub(crate) fn to_value<T: serde::Serialize>(v: T) -> Result<serde_json::Value, RpcError> {
    serde_json::to_value(v).map_err(|e| RpcError::internal(e.to_string()))
}
