//! Log queries (`eth_getLogs`) and installed filters (`eth_newFilter`, `eth_newBlockFilter`,
//! `eth_newPendingTransactionFilter`, polled with `eth_getFilterChanges`).
//!
//! Filters are polled: each remembers the last block it reported, so no per-filter buffer grows
//! with the chain; pending-transaction filters hold a bounded broadcast receiver. A filter not
//! polled for five minutes is removed, as in geth.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use alloy_primitives::B256;
use alloy_rpc_types_eth::{Filter, FilterBlockOption, Log};
use parking_lot::Mutex;
use tokio::sync::broadcast;
use txnchain_jsonrpc::RpcError;

use crate::api::EthApi;
use crate::convert::{self, Position};
use crate::errors;

const FILTER_TIMEOUT: Duration = Duration::from_secs(300);
const MAX_FILTERS: usize = 10_000;

pub(crate) enum Kind {
    Logs(Box<Filter>),
    Blocks,
    Pending(broadcast::Receiver<B256>),
}

pub(crate) struct Installed {
    kind: Kind,
    /// Last block already reported.
    cursor: u64,
    last_poll: Instant,
}

/// Installed filters.
#[derive(Default)]
pub(crate) struct Filters {
    inner: Mutex<HashMap<String, Installed>>,
}

impl Filters {
    fn expire(map: &mut HashMap<String, Installed>) {
        map.retain(|_, f| f.last_poll.elapsed() < FILTER_TIMEOUT);
    }

    pub(crate) fn install(&self, kind: Kind, cursor: u64) -> Result<String, RpcError> {
        let mut map = self.inner.lock();
        Self::expire(&mut map);
        if map.len() >= MAX_FILTERS {
            return Err(RpcError::server("too many filters"));
        }
        let id = format!("0x{}", hex::encode(rand::random::<[u8; 16]>()));
        map.insert(
            id.clone(),
            Installed {
                kind,
                cursor,
                last_poll: Instant::now(),
            },
        );
        Ok(id)
    }

    pub(crate) fn uninstall(&self, id: &str) -> bool {
        self.inner.lock().remove(id).is_some()
    }
}

fn not_found() -> RpcError {
    RpcError::server("filter not found")
}

impl EthApi {
    /// `eth_getLogs`.
    pub(crate) fn get_logs(&self, filter: &Filter) -> Result<Vec<Log>, RpcError> {
        let snap = self.snapshot()?;
        let latest = self.latest(&snap)?;
        let (from, to) = match filter.block_option {
            FilterBlockOption::AtBlockHash(hash) => {
                let n = snap
                    .block_number(hash)
                    .map_err(errors::storage)?
                    .ok_or_else(|| RpcError::server("unknown block"))?;
                (n, n)
            }
            FilterBlockOption::Range {
                from_block,
                to_block,
            } => {
                let resolve = |t: Option<alloy_eips::BlockNumberOrTag>| -> Result<u64, RpcError> {
                    Ok(match t {
                        None => latest,
                        Some(t) => self.resolve_opt(&snap, t)?.unwrap_or(latest),
                    })
                };
                (resolve(from_block)?, resolve(to_block)?)
            }
        };
        if from > to {
            return Err(RpcError::invalid_params("invalid block range params"));
        }
        self.logs_in_range(&snap, filter, from, to)
    }

    pub(crate) fn logs_in_range(
        &self,
        snap: &txnchain_storage::Snapshot,
        filter: &Filter,
        from: u64,
        to: u64,
    ) -> Result<Vec<Log>, RpcError> {
        if to - from >= self.config.max_log_range {
            return Err(RpcError::server(format!(
                "query exceeds max block range {}",
                self.config.max_log_range
            )));
        }
        let mut out = Vec::new();
        for n in from..=to {
            let Some(header) = snap.header(n).map_err(errors::storage)? else {
                break;
            };
            if !filter.matches_bloom(header.header.logs_bloom) {
                continue;
            }
            let receipts = snap
                .block_receipts(n)
                .map_err(errors::storage)?
                .unwrap_or_default();
            let hashes = snap.block_tx_hashes(n).map_err(errors::storage)?;
            for (i, (r, h)) in receipts.iter().zip(hashes).enumerate() {
                for log in convert::logs(r, h, Position::of(&header, i as u64)) {
                    if filter.matches_address(log.inner.address)
                        && filter.matches_topics(log.inner.topics())
                    {
                        out.push(log);
                        if out.len() > self.config.max_logs {
                            return Err(RpcError::custom(
                                -32005,
                                format!(
                                    "query returned more than {} results",
                                    self.config.max_logs
                                ),
                                None,
                            ));
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// `eth_newFilter`.
    pub(crate) fn new_log_filter(&self, filter: Filter) -> Result<String, RpcError> {
        let snap = self.snapshot()?;
        let latest = self.latest(&snap)?;
        self.filters.install(Kind::Logs(Box::new(filter)), latest)
    }

    /// `eth_newBlockFilter`.
    pub(crate) fn new_block_filter(&self) -> Result<String, RpcError> {
        let snap = self.snapshot()?;
        let latest = self.latest(&snap)?;
        self.filters.install(Kind::Blocks, latest)
    }

    /// `eth_newPendingTransactionFilter`.
    pub(crate) fn new_pending_filter(&self) -> Result<String, RpcError> {
        self.filters
            .install(Kind::Pending(self.ledger.pool().subscribe_pending()), 0)
    }

    /// `eth_getFilterChanges`.
    pub(crate) fn filter_changes(&self, id: &str) -> Result<serde_json::Value, RpcError> {
        let snap = self.snapshot()?;
        let latest = self.latest(&snap)?;
        let mut map = self.filters.inner.lock();
        Filters::expire(&mut map);
        let f = map.get_mut(id).ok_or_else(not_found)?;
        f.last_poll = Instant::now();
        let from = f.cursor + 1;
        match &mut f.kind {
            Kind::Blocks => {
                let mut hashes = Vec::new();
                for n in from..=latest {
                    if let Some(h) = snap.header(n).map_err(errors::storage)? {
                        hashes.push(h.hash);
                    }
                }
                f.cursor = latest;
                crate::api::to_value(hashes)
            }
            Kind::Logs(filter) => {
                let filter = filter.clone();
                if from > latest {
                    return Ok(serde_json::Value::Array(vec![]));
                }
                let to = latest.min(from + self.config.max_log_range - 1);
                f.cursor = to;
                drop(map);
                let logs = self.logs_in_range(&snap, &filter, from, to)?;
                crate::api::to_value(logs)
            }
            Kind::Pending(rx) => {
                let mut hashes = Vec::new();
                loop {
                    match rx.try_recv() {
                        Ok(h) => hashes.push(h),
                        Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                        Err(_) => break,
                    }
                }
                crate::api::to_value(hashes)
            }
        }
    }

    /// `eth_getFilterLogs`.
    pub(crate) fn filter_logs(&self, id: &str) -> Result<Vec<Log>, RpcError> {
        let filter = {
            let mut map = self.filters.inner.lock();
            let f = map.get_mut(id).ok_or_else(not_found)?;
            f.last_poll = Instant::now();
            match &f.kind {
                Kind::Logs(filter) => filter.clone(),
                _ => return Err(not_found()),
            }
        };
        self.get_logs(&filter)
    }
}
