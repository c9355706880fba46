//! Method registration.

use std::sync::Arc;

use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, Bytes, U64, U256, keccak256};
use alloy_rpc_types_eth::state::StateOverride;
use alloy_rpc_types_eth::{Filter, TransactionRequest};
use alloy_rpc_types_trace::geth::{GethDebugTracingCallOptions, GethDebugTracingOptions};
use serde_json::Value;
use txnchain_jsonrpc::{CallCtx, Params, RpcError, RpcModule};

use crate::api::{EthApi, hex_u64, to_value};

/// The longest `eth_getTransactionReceipt` waits in `node` mode for the block of a pooled
/// transaction (blocks are cut on demand within milliseconds of a transaction's admission).
const RECEIPT_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

async fn blocking_receipt(
    api: &Arc<EthApi>,
    hash: B256,
) -> Result<Option<alloy_rpc_types_eth::TransactionReceipt>, RpcError> {
    let a = Arc::clone(api);
    tokio::task::spawn_blocking(move || a.receipt(hash))
        .await
        .map_err(|e| RpcError::internal(format!("handler failed: {e}")))?
}
use crate::blocks::BlockRef;

type Res = Result<Value, RpcError>;

/// Runs CPU- or disk-heavy handler work off the async executor.
async fn blocking<F: FnOnce() -> Res + Send + 'static>(f: F) -> Res {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(RpcError::internal(format!("handler failed: {e}"))))
}

macro_rules! reg {
    ($m:expr, $name:literal, |$api:ident, $p:ident| $body:expr) => {
        $m.method($name, |$api: Arc<EthApi>, $p: Params| async move { $body })
            .map_err(|e| e.to_string())?;
    };
}

/// A method that needs the caller (per-client quotas).
macro_rules! reg_ctx {
    ($m:expr, $name:literal, |$api:ident, $p:ident, $call:ident| $body:expr) => {
        $m.method_with_ctx(
            $name,
            |$api: Arc<EthApi>, $p: Params, $call: CallCtx| async move { $body },
        )
        .map_err(|e| e.to_string())?;
    };
}

/// CPU-heavy work (EVM execution, traces, scans) on the fair call workers, under the call's
/// deadline.
macro_rules! reg_heavy {
    ($m:expr, $name:literal, |$api:ident, $p:ident, $call:ident| $body:expr) => {
        $m.method_with_ctx(
            $name,
            |api: Arc<EthApi>, $p: Params, $call: CallCtx| async move {
                let runner = Arc::clone(&api);
                let ctx = $call.clone();
                runner
                    .heavy(&ctx, move || {
                        let $api = api;
                        $body
                    })
                    .await
            },
        )
        .map_err(|e| e.to_string())?;
    };
}

macro_rules! reg_blocking {
    ($m:expr, $name:literal, |$api:ident, $p:ident| $body:expr) => {
        $m.method($name, |$api: Arc<EthApi>, $p: Params| {
            blocking(move || $body)
        })
        .map_err(|e| e.to_string())?;
    };
}

/// Methods served only on the admin listener outside `dev`: traces (unbounded work per call
/// and full visibility into execution) and the pool's content.
pub fn admin_only(method: &str) -> bool {
    method.starts_with("debug_") || method == "txpool_content"
}

/// geth's `maxQueryLimit` for `eth_feeHistory` reward percentiles.
const MAX_REWARD_PERCENTILES: usize = 100;
/// Storage keys one `eth_getProof` may ask for.
const MAX_PROOF_KEYS: usize = 1024;

/// Every method of the eth API (see [`admin_only`] for those a public listener leaves out).
pub fn module() -> Result<RpcModule<EthApi>, String> {
    let mut m = RpcModule::<EthApi>::new();

    reg!(m, "web3_clientVersion", |api, p| {
        p.check_max(0)?;
        Ok(Value::String(api.config.client_version.clone()))
    });
    reg!(m, "web3_sha3", |_api, p| {
        p.check_max(1)?;
        let data: Bytes = p.required(0)?;
        to_value(keccak256(&data))
    });
    reg!(m, "net_version", |api, p| {
        p.check_max(0)?;
        Ok(Value::String(api.chain_id().to_string()))
    });
    reg!(m, "net_listening", |_api, p| {
        p.check_max(0)?;
        Ok(Value::Bool(true))
    });
    reg!(m, "net_peerCount", |_api, p| {
        p.check_max(0)?;
        Ok(hex_u64(0))
    });
    reg!(m, "eth_chainId", |api, p| {
        p.check_max(0)?;
        Ok(hex_u64(api.chain_id()))
    });
    reg!(m, "txnchain_getEncryptionKey", |api, p| {
        p.check_max(1)?;
        let epoch: Option<U64> = p.optional(0)?;
        api.encryption_key(epoch.map(|e| e.to::<u64>()))
    });
    reg!(m, "txnchain_getTransactionResult", |api, p| {
        p.check_max(1)?;
        let hash: B256 = p.required(0)?;
        Ok(api.transaction_result(hash)?.unwrap_or(Value::Null))
    });
    reg!(m, "eth_blockNumber", |api, p| {
        p.check_max(0)?;
        let snap = api.snapshot()?;
        Ok(hex_u64(api.latest(&snap)?))
    });
    reg!(m, "eth_syncing", |_api, p| {
        p.check_max(0)?;
        Ok(Value::Bool(false))
    });
    reg!(m, "eth_mining", |_api, p| {
        p.check_max(0)?;
        Ok(Value::Bool(false))
    });
    reg!(m, "eth_hashrate", |_api, p| {
        p.check_max(0)?;
        Ok(hex_u64(0))
    });
    reg!(m, "eth_coinbase", |api, p| {
        p.check_max(0)?;
        to_value(api.ledger.chain().beneficiary)
    });
    reg!(m, "eth_gasPrice", |api, p| {
        p.check_max(0)?;
        Ok(hex_u64(api.ledger.chain().base_fee))
    });
    reg!(m, "eth_maxPriorityFeePerGas", |_api, p| {
        p.check_max(0)?;
        Ok(hex_u64(0))
    });
    reg!(m, "eth_blobBaseFee", |_api, p| {
        p.check_max(0)?;
        Ok(hex_u64(1))
    });
    reg_heavy!(m, "eth_feeHistory", |api, p, _call| {
        p.check_max(3)?;
        let count: U64 = p.required(0)?;
        let newest: BlockNumberOrTag = p.required(1)?;
        let percentiles: Option<Vec<f64>> = p.optional(2)?;
        if percentiles
            .as_ref()
            .is_some_and(|v| v.len() > MAX_REWARD_PERCENTILES)
        {
            return Err(RpcError::invalid_params(format!(
                "invalid reward percentile: over the query limit {MAX_REWARD_PERCENTILES}"
            )));
        }
        to_value(api.fee_history(count.to::<u64>(), newest, percentiles)?)
    });
    reg!(m, "eth_accounts", |api, p| {
        p.check_max(0)?;
        to_value(api.accounts())
    });
    reg_blocking!(m, "eth_getBalance", |api, p| {
        p.check_max(2)?;
        let a: Address = p.required(0)?;
        to_value(api.balance(a, p.optional(1)?)?)
    });
    reg_blocking!(m, "eth_getTransactionCount", |api, p| {
        p.check_max(2)?;
        let a: Address = p.required(0)?;
        Ok(hex_u64(api.nonce(a, p.optional(1)?)?))
    });
    reg_blocking!(m, "eth_getCode", |api, p| {
        p.check_max(2)?;
        let a: Address = p.required(0)?;
        to_value(api.code(a, p.optional(1)?)?)
    });
    reg_blocking!(m, "eth_getStorageAt", |api, p| {
        p.check_max(3)?;
        let a: Address = p.required(0)?;
        let slot: U256 = p.required(1)?;
        to_value(api.storage_at(a, slot, p.optional(2)?)?)
    });
    reg_heavy!(m, "eth_getProof", |api, p, _call| {
        p.check_max(3)?;
        let a: Address = p.required(0)?;
        let keys: Vec<U256> = p.required(1)?;
        if keys.len() > MAX_PROOF_KEYS {
            return Err(RpcError::invalid_params(format!(
                "too many storage keys: {} (limit {MAX_PROOF_KEYS})",
                keys.len()
            )));
        }
        to_value(api.proof(a, keys, p.optional(2)?)?)
    });
    reg_heavy!(m, "eth_call", |api, p, call| {
        p.check_max(4)?;
        let req: TransactionRequest = p.required(0)?;
        let block: Option<BlockId> = p.optional(1)?;
        let overrides: Option<StateOverride> = p.optional(2)?;
        to_value(api.call(req, block, overrides, &api.limits(&call))?)
    });
    reg_heavy!(m, "eth_estimateGas", |api, p, call| {
        p.check_max(3)?;
        let req: TransactionRequest = p.required(0)?;
        let block: Option<BlockId> = p.optional(1)?;
        let overrides: Option<StateOverride> = p.optional(2)?;
        Ok(hex_u64(api.estimate(
            &req,
            block,
            overrides,
            &api.limits(&call),
        )?))
    });
    reg_heavy!(m, "eth_simulateV1", |api, p, call| {
        p.check_max(2)?;
        let payload: alloy_rpc_types_eth::simulate::SimulatePayload = p.required(0)?;
        let block: Option<BlockId> = p.optional(1)?;
        to_value(api.simulate(payload, block, &api.limits(&call))?)
    });
    reg_heavy!(m, "eth_createAccessList", |api, p, call| {
        p.check_max(2)?;
        let req: TransactionRequest = p.required(0)?;
        to_value(api.access_list(req, p.optional(1)?, &api.limits(&call))?)
    });
    // Under automine (dev) a send answers once its transaction is committed.
    reg!(m, "eth_sendRawTransaction", |api, p| {
        p.check_max(1)?;
        let raw: Bytes = p.required(0)?;
        let blocks = api.automine_watch();
        let sender = Arc::clone(&api);
        let hash = tokio::task::spawn_blocking(move || sender.send_raw(&raw))
            .await
            .map_err(|e| RpcError::internal(format!("handler failed: {e}")))??;
        if let Some(blocks) = blocks {
            api.await_automine(hash, blocks).await;
        }
        to_value(hash)
    });
    reg!(m, "eth_sendRawTransactionSync", |api, p| {
        p.check_max(2)?;
        let raw: Bytes = p.required(0)?;
        let timeout: Option<U64> = p.optional(1)?;
        to_value(
            api.send_raw_sync(&raw, timeout.map(|t| t.to::<u64>()))
                .await?,
        )
    });
    m.method_with_ctx(
        "eth_sendTransaction",
        |api: Arc<EthApi>, p: Params, call: CallCtx| async move {
            p.check_max(1)?;
            let req: TransactionRequest = p.required(0)?;
            let blocks = api.automine_watch();
            let sender = Arc::clone(&api);
            let limits = api.limits(&call);
            let hash = api
                .heavy(&call, move || sender.send_transaction(req, &limits))
                .await?;
            if let Some(blocks) = blocks {
                api.await_automine(hash, blocks).await;
            }
            to_value(hash)
        },
    )
    .map_err(|e| e.to_string())?;
    reg!(m, "personal_sign", |api, p| {
        p.check_max(3)?;
        let data: Bytes = p.required(0)?;
        let a: Address = p.required(1)?;
        to_value(api.sign_message(a, &data)?)
    });
    reg!(m, "eth_sign", |api, p| {
        p.check_max(2)?;
        let a: Address = p.required(0)?;
        let data: Bytes = p.required(1)?;
        to_value(api.sign_message(a, &data)?)
    });
    reg!(m, "eth_signTypedData_v4", |api, p| {
        p.check_max(2)?;
        let a: Address = p.required(0)?;
        let data: Value = p.required(1)?;
        to_value(api.sign_typed_data(a, data)?)
    });
    reg_blocking!(m, "eth_getTransactionByHash", |api, p| {
        p.check_max(1)?;
        let h: B256 = p.required(0)?;
        to_value(api.transaction_by_hash(h)?)
    });
    reg_blocking!(m, "eth_getRawTransactionByHash", |api, p| {
        p.check_max(1)?;
        let h: B256 = p.required(0)?;
        to_value(api.raw_transaction_by_hash(h)?)
    });
    reg_blocking!(m, "eth_getTransactionByBlockNumberAndIndex", |api, p| {
        p.check_max(2)?;
        let t: BlockNumberOrTag = p.required(0)?;
        let i: U64 = p.required(1)?;
        to_value(api.tx_by_block_and_index(BlockRef::Tag(t), i.to::<u64>())?)
    });
    reg_blocking!(m, "eth_getTransactionByBlockHashAndIndex", |api, p| {
        p.check_max(2)?;
        let h: B256 = p.required(0)?;
        let i: U64 = p.required(1)?;
        to_value(api.tx_by_block_and_index(BlockRef::Hash(h), i.to::<u64>())?)
    });
    reg_blocking!(m, "eth_getRawTransactionByBlockNumberAndIndex", |api, p| {
        p.check_max(2)?;
        let t: BlockNumberOrTag = p.required(0)?;
        let i: U64 = p.required(1)?;
        to_value(api.raw_tx_by_block_and_index(BlockRef::Tag(t), i.to::<u64>())?)
    });
    reg_blocking!(m, "eth_getRawTransactionByBlockHashAndIndex", |api, p| {
        p.check_max(2)?;
        let h: B256 = p.required(0)?;
        let i: U64 = p.required(1)?;
        to_value(api.raw_tx_by_block_and_index(BlockRef::Hash(h), i.to::<u64>())?)
    });
    // In `node` mode, a receipt asked for a pooled transaction that the next block will take
    // waits for that block (at most RECEIPT_WAIT) instead of answering null: web3.js 1.x (and
    // so Caliper) looks for the receipt once, then waits for a *new* head, and a block that
    // lands in between leaves it waiting on an idle chain.
    reg!(m, "eth_getTransactionReceipt", |api, p| {
        p.check_max(1)?;
        let h: B256 = p.required(0)?;
        let blocks = api.receipt_watch();
        let receipt = blocking_receipt(&api, h).await?;
        if receipt.is_none()
            && let Some(blocks) = blocks
            && api.await_inclusion(h, blocks, RECEIPT_WAIT).await
        {
            return to_value(blocking_receipt(&api, h).await?);
        }
        to_value(receipt)
    });
    reg_blocking!(m, "eth_getBlockByNumber", |api, p| {
        p.check_max(2)?;
        let t: BlockNumberOrTag = p.required(0)?;
        let full: bool = p.required(1)?;
        to_value(api.block_by_number(t, full)?)
    });
    reg_blocking!(m, "eth_getBlockByHash", |api, p| {
        p.check_max(2)?;
        let h: B256 = p.required(0)?;
        let full: bool = p.required(1)?;
        to_value(api.block_by_hash(h, full)?)
    });
    reg_blocking!(m, "eth_getBlockTransactionCountByNumber", |api, p| {
        p.check_max(1)?;
        let t: BlockNumberOrTag = p.required(0)?;
        Ok(api.tx_count(BlockRef::Tag(t))?.map_or(Value::Null, hex_u64))
    });
    reg_blocking!(m, "eth_getBlockTransactionCountByHash", |api, p| {
        p.check_max(1)?;
        let h: B256 = p.required(0)?;
        Ok(api
            .tx_count(BlockRef::Hash(h))?
            .map_or(Value::Null, hex_u64))
    });
    reg!(m, "eth_getUncleCountByBlockNumber", |_api, p| {
        p.check_max(1)?;
        let _: BlockNumberOrTag = p.required(0)?;
        Ok(hex_u64(0))
    });
    reg!(m, "eth_getUncleCountByBlockHash", |_api, p| {
        p.check_max(1)?;
        let _: B256 = p.required(0)?;
        Ok(hex_u64(0))
    });
    reg_blocking!(m, "eth_getBlockReceipts", |api, p| {
        p.check_max(1)?;
        let id: BlockId = p.required(0)?;
        let r = match id {
            BlockId::Number(t) => BlockRef::Tag(t),
            BlockId::Hash(h) => BlockRef::Hash(h.block_hash),
        };
        to_value(api.block_receipts(r)?)
    });
    reg_heavy!(m, "eth_getLogs", |api, p, call| {
        p.check_max(1)?;
        crate::filters::refuse_oversized_filter(&p, 0)?;
        let f: Filter = p.required(0)?;
        to_value(api.get_logs(&f, call.deadline)?)
    });
    // A filter can be megabytes of JSON: decode it on the call workers, not the runtime.
    reg_heavy!(m, "eth_newFilter", |api, p, call| {
        p.check_max(1)?;
        crate::filters::refuse_oversized_filter(&p, 0)?;
        let f: Filter = p.required(0)?;
        to_value(api.new_log_filter(f, call.client())?)
    });
    reg_ctx!(m, "eth_newBlockFilter", |api, p, call| {
        p.check_max(0)?;
        to_value(api.new_block_filter(call.client())?)
    });
    reg_ctx!(m, "eth_newPendingTransactionFilter", |api, p, call| {
        p.check_max(1)?;
        to_value(api.new_pending_filter(call.client())?)
    });
    reg_heavy!(m, "eth_getFilterChanges", |api, p, call| {
        p.check_max(1)?;
        let id: String = p.required(0)?;
        api.filter_changes(&id, call.deadline)
    });
    reg_heavy!(m, "eth_getFilterLogs", |api, p, call| {
        p.check_max(1)?;
        let id: String = p.required(0)?;
        to_value(api.filter_logs(&id, call.deadline)?)
    });
    reg!(m, "eth_uninstallFilter", |api, p| {
        p.check_max(1)?;
        let id: String = p.required(0)?;
        Ok(Value::Bool(api.filters.uninstall(&id)))
    });
    reg_blocking!(m, "txpool_status", |api, p| {
        p.check_max(0)?;
        api.txpool_status()
    });
    reg_heavy!(m, "txpool_content", |api, p, _call| {
        p.check_max(0)?;
        api.txpool_content()
    });
    reg_heavy!(m, "debug_traceTransaction", |api, p, call| {
        p.check_max(2)?;
        let h: B256 = p.required(0)?;
        let opts: Option<GethDebugTracingOptions> = p.optional(1)?;
        to_value(api.trace_transaction(h, opts.unwrap_or_default(), &api.limits(&call))?)
    });
    reg_heavy!(m, "debug_traceCall", |api, p, call| {
        p.check_max(3)?;
        let req: TransactionRequest = p.required(0)?;
        let block: Option<BlockId> = p.optional(1)?;
        let opts: Option<GethDebugTracingCallOptions> = p.optional(2)?;
        to_value(api.trace_call(req, block, opts.unwrap_or_default(), &api.limits(&call))?)
    });
    m.subscription(
        "eth_subscribe",
        "eth_subscription",
        "eth_unsubscribe",
        crate::subs::subscribe,
    )
    .map_err(|e| e.to_string())?;
    Ok(m)
}
