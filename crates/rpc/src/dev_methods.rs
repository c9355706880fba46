//! The dev node's methods for test suites, with anvil's names and parameter shapes (hardhat's
//! aliases included): automine (a send answers once its transaction is committed),
//! `evm_mine` / `anvil_mine` / `hardhat_mine`, `evm_setAutomine`, `hardhat_getAutomine` /
//! `anvil_getAutomine`, time travel (`evm_increaseTime`, `evm_setNextBlockTimestamp`),
//! snapshots (`evm_snapshot` / `evm_revert`, see `txnchain_ledger::savepoints`) and state
//! setup (`anvil_setBalance`, `anvil_setNonce`, `anvil_setCode`, `anvil_setStorageAt`, each
//! mined as a block of its own: see `txnchain_ledger::StatePatch`) and impersonation
//! (`anvil_impersonateAccount`: `eth_sendTransaction` from an account without its key).
//!
//! Registered only in `dev` ([`dev_module`]): a `node` answers every one of them `-32601`.

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, B256, Bytes, U256};
use serde_json::Value;
use tokio::sync::broadcast;
use txnchain_jsonrpc::{Params, RpcError, RpcModule};
use txnchain_ledger::mining::MAX_BLOCKS_PER_REQUEST;
use txnchain_ledger::{CommittedBlock, MiningControl, MiningMode, StatePatch};

use crate::api::EthApi;
use crate::errors;

/// The longest a send waits for its block under automine before answering with the hash
/// anyway (the transaction stays pending).
const AUTOMINE_WAIT: Duration = Duration::from_secs(10);

type Res = Result<Value, RpcError>;

impl EthApi {
    /// The mining control, when this node is a `dev` node.
    pub(crate) fn mining(&self) -> Option<&Arc<MiningControl>> {
        self.config.mining.as_ref()
    }

    fn dev_mining(&self) -> Result<&Arc<MiningControl>, RpcError> {
        self.mining()
            .ok_or_else(|| RpcError::internal("mining control missing on a dev node"))
    }

    /// Under automine, the committed blocks to watch for a transaction about to be sent
    /// (subscribed before the send, so its block cannot be missed); `None` otherwise.
    pub(crate) fn automine_watch(&self) -> Option<broadcast::Receiver<Arc<CommittedBlock>>> {
        self.mining()
            .filter(|m| m.automine())
            .map(|_| self.ledger.subscribe())
    }

    /// Waits until transaction `hash`, just admitted, is in a committed block — unless it
    /// cannot go in yet (it waits for an earlier nonce), it left the pool without a block
    /// (dropped), or [`AUTOMINE_WAIT`] passed: then the send answers anyway, as anvil's does.
    pub(crate) async fn await_automine(
        &self,
        hash: B256,
        blocks: broadcast::Receiver<Arc<CommittedBlock>>,
    ) {
        self.await_inclusion(hash, blocks, AUTOMINE_WAIT).await;
    }
}

/// A quantity given as a JSON number or a `0x` hex (or decimal) string, as anvil accepts.
fn quantity(p: &Params, idx: usize) -> Result<Option<u64>, RpcError> {
    let bad = || RpcError::invalid_params(format!("invalid argument {idx}: not a quantity"));
    match p.optional::<Value>(idx)? {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(bad),
        Some(Value::String(s)) => match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            Some(hex) => u64::from_str_radix(hex, 16).map(Some).map_err(|_| bad()),
            None => s.parse().map(Some).map_err(|_| bad()),
        },
        Some(_) => Err(bad()),
    }
}

/// The number of blocks of `anvil_mine` / `hardhat_mine`, within the per-request limit.
fn block_count(p: &Params, idx: usize) -> Result<u64, RpcError> {
    let n = quantity(p, idx)?.unwrap_or(1);
    if n > MAX_BLOCKS_PER_REQUEST {
        return Err(RpcError::invalid_params(format!(
            "too many blocks: {n} > {MAX_BLOCKS_PER_REQUEST} per request"
        )));
    }
    Ok(n.max(1))
}

async fn mine(api: &EthApi, blocks: u64, timestamp: Option<u64>, interval: Option<u64>) -> Res {
    if let Some(t) = timestamp {
        check_not_before_parent(api, t)?;
    }
    api.dev_mining()?
        .mine(blocks, timestamp, interval)
        .await
        .map_err(errors::ledger)?;
    Ok(Value::Null)
}

/// Refuses a timestamp before the last block's, with hardhat's message.
fn check_not_before_parent(api: &EthApi, timestamp: u64) -> Result<(), RpcError> {
    let snap = api.snapshot()?;
    let latest = api.latest(&snap)?;
    let parent = snap
        .header(latest)
        .map_err(errors::ledger)?
        .map_or(0, |h| h.header.timestamp);
    if timestamp < parent {
        return Err(RpcError::server(format!(
            "Timestamp {timestamp} is lower than the previous block's timestamp {parent}"
        )));
    }
    Ok(())
}

/// The most accounts impersonated at once.
const MAX_IMPERSONATED: usize = 4_096;

/// The most bytes of code `anvil_setCode` sets.
const MAX_SET_CODE_BYTES: usize = 128 * 1024;

async fn patch(api: &EthApi, patch: StatePatch) -> Res {
    api.dev_mining()?
        .patch(patch)
        .await
        .map_err(errors::ledger)?;
    Ok(Value::Null)
}

/// The `dev` node's methods for test suites.
pub fn dev_module() -> Result<RpcModule<EthApi>, String> {
    let mut m = RpcModule::<EthApi>::new();
    // evm_mine([timestamp]) or evm_mine([{timestamp, blocks}]): answers "0x0".
    m.method("evm_mine", |api: Arc<EthApi>, p: Params| async move {
        p.check_max(1)?;
        let (timestamp, blocks) = match p.optional::<Value>(0)? {
            Some(Value::Object(o)) => {
                let opts = Params::from_json(
                    &serde_json::to_string(&[
                        o.get("timestamp").cloned().unwrap_or(Value::Null),
                        o.get("blocks").cloned().unwrap_or(Value::Null),
                    ])
                    .map_err(|e| RpcError::internal(e.to_string()))?,
                )?;
                (quantity(&opts, 0)?, block_count(&opts, 1)?)
            }
            _ => (quantity(&p, 0)?, 1),
        };
        mine(&api, blocks, timestamp, None).await?;
        Ok(Value::String("0x0".into()))
    })
    .map_err(|e| e.to_string())?;
    for name in ["anvil_mine", "hardhat_mine"] {
        m.method(name, |api: Arc<EthApi>, p: Params| async move {
            p.check_max(2)?;
            let blocks = block_count(&p, 0)?;
            let interval = quantity(&p, 1)?;
            mine(&api, blocks, None, interval).await
        })
        .map_err(|e| e.to_string())?;
    }
    m.method(
        "evm_setAutomine",
        |api: Arc<EthApi>, p: Params| async move {
            p.check_max(1)?;
            let on: bool = p.required(0)?;
            let mining = api.dev_mining()?;
            mining.set_mode(if on {
                MiningMode::Automine
            } else {
                MiningMode::Manual
            });
            tracing::info!(automine = on, "mining mode set");
            Ok(Value::Null)
        },
    )
    .map_err(|e| e.to_string())?;
    for name in ["hardhat_getAutomine", "anvil_getAutomine"] {
        m.method(name, |api: Arc<EthApi>, p: Params| async move {
            p.check_max(0)?;
            Ok(Value::Bool(api.dev_mining()?.automine()))
        })
        .map_err(|e| e.to_string())?;
    }
    for name in ["evm_increaseTime", "anvil_increaseTime"] {
        m.method(name, |api: Arc<EthApi>, p: Params| async move {
            p.check_max(1)?;
            let seconds = quantity(&p, 0)?
                .ok_or_else(|| RpcError::invalid_params("missing value for required argument 0"))?;
            Ok(Value::from(api.ledger.clock().advance(seconds)))
        })
        .map_err(|e| e.to_string())?;
    }
    for name in ["evm_setNextBlockTimestamp", "anvil_setNextBlockTimestamp"] {
        m.method(name, |api: Arc<EthApi>, p: Params| async move {
            p.check_max(1)?;
            let t = quantity(&p, 0)?
                .ok_or_else(|| RpcError::invalid_params("missing value for required argument 0"))?;
            check_not_before_parent(&api, t)?;
            api.ledger.clock().pin_next(t);
            Ok(Value::Null)
        })
        .map_err(|e| e.to_string())?;
    }
    // evm_snapshot: the id ("0x0", "0x1", …) that evm_revert takes back to this state.
    m.method("evm_snapshot", |api: Arc<EthApi>, p: Params| async move {
        p.check_max(0)?;
        api.dev_mining()?;
        let ledger = api.ledger.clone();
        let id = api
            .ledger
            .on_write_lane(move || ledger.take_savepoint())
            .await
            .and_then(|r| r)
            .map_err(errors::ledger)?;
        Ok(Value::String(format!("{id:#x}")))
    })
    .map_err(|e| e.to_string())?;
    // evm_revert(id): true and the chain back at the snapshot, or false for an unknown or
    // spent id (a revert spends its snapshot and every later one).
    m.method("evm_revert", |api: Arc<EthApi>, p: Params| async move {
        p.check_max(1)?;
        api.dev_mining()?;
        let id = quantity(&p, 0)?
            .ok_or_else(|| RpcError::invalid_params("missing value for required argument 0"))?;
        let ledger = api.ledger.clone();
        let reverted = api
            .ledger
            .on_write_lane(move || ledger.revert_to_savepoint(id))
            .await
            .and_then(|r| r)
            .map_err(errors::ledger)?;
        Ok(Value::Bool(reverted.is_some()))
    })
    .map_err(|e| e.to_string())?;
    for name in ["anvil_setBalance", "hardhat_setBalance"] {
        m.method(name, |api: Arc<EthApi>, p: Params| async move {
            p.check_max(2)?;
            let address: Address = p.required(0)?;
            let balance: U256 = p.required(1)?;
            patch(&api, StatePatch::Balance(address, balance)).await
        })
        .map_err(|e| e.to_string())?;
    }
    for name in ["anvil_setNonce", "hardhat_setNonce"] {
        m.method(name, |api: Arc<EthApi>, p: Params| async move {
            p.check_max(2)?;
            let address: Address = p.required(0)?;
            let nonce = quantity(&p, 1)?
                .ok_or_else(|| RpcError::invalid_params("missing value for required argument 1"))?;
            patch(&api, StatePatch::Nonce(address, nonce)).await
        })
        .map_err(|e| e.to_string())?;
    }
    for name in ["anvil_setCode", "hardhat_setCode"] {
        m.method(name, |api: Arc<EthApi>, p: Params| async move {
            p.check_max(2)?;
            let address: Address = p.required(0)?;
            let code: Bytes = p.required(1)?;
            if code.len() > MAX_SET_CODE_BYTES {
                return Err(RpcError::invalid_params(format!(
                    "code too large: {} bytes > {MAX_SET_CODE_BYTES}",
                    code.len()
                )));
            }
            // Replacing a confidential contract's code would let new code read its state out.
            api.guard(&api.snapshot()?, address, "anvil_setCode")?;
            patch(&api, StatePatch::Code(address, code)).await
        })
        .map_err(|e| e.to_string())?;
    }
    for name in ["anvil_setStorageAt", "hardhat_setStorageAt"] {
        m.method(name, |api: Arc<EthApi>, p: Params| async move {
            p.check_max(3)?;
            let address: Address = p.required(0)?;
            let slot: U256 = p.required(1)?;
            let value: B256 = p.required(2)?;
            api.guard(&api.snapshot()?, address, "anvil_setStorageAt")?;
            patch(&api, StatePatch::Storage(address, slot, value.into())).await
        })
        .map_err(|e| e.to_string())?;
    }
    // anvil_impersonateAccount(address): eth_sendTransaction then sends from it without its
    // key; anvil_stopImpersonatingAccount(address) ends that. Both answer null.
    for (name, on) in [
        ("anvil_impersonateAccount", true),
        ("hardhat_impersonateAccount", true),
        ("anvil_stopImpersonatingAccount", false),
        ("hardhat_stopImpersonatingAccount", false),
    ] {
        m.method(name, move |api: Arc<EthApi>, p: Params| async move {
            p.check_max(1)?;
            api.dev_mining()?;
            let address: Address = p.required(0)?;
            let mut set = api.impersonated.lock();
            if on {
                if set.len() >= MAX_IMPERSONATED && !set.contains(&address) {
                    return Err(RpcError::server(format!(
                        "too many impersonated accounts ({MAX_IMPERSONATED})"
                    )));
                }
                set.insert(address);
            } else {
                set.remove(&address);
            }
            drop(set);
            tracing::info!(%address, impersonating = on, "impersonation");
            Ok(Value::Null)
        })
        .map_err(|e| e.to_string())?;
    }
    Ok(m)
}
