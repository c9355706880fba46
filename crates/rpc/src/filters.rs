//! Log queries (`eth_getLogs`) and installed filters (`eth_newFilter`, `eth_newBlockFilter`,
//! `eth_newPendingTransactionFilter`, polled with `eth_getFilterChanges`).
//!
//! Filters are polled: each remembers the last block it reported, so no per-filter buffer grows
//! with the chain; pending-transaction filters hold a bounded broadcast receiver. A filter not
//! polled for five minutes is removed, as in geth.
//!
//! Limits: a log filter names at most 1,000 addresses and 1,000 values per topic position
//! (geth's `maxAddresses` / `maxSubTopics`, with its messages); installed filters are counted
//! per client ([`ClientKey`](txnchain_http::ClientKey)) and in all, so one client cannot take
//! the table from the others. Filters are shared (`Arc`), never cloned per poll or per block.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::B256;
use alloy_rpc_types_eth::{Filter, FilterBlockOption, Log};
use parking_lot::Mutex;
use tokio::sync::broadcast;
use txnchain_http::{ClientKey, Quota, QuotaGuard};
use txnchain_jsonrpc::RpcError;

use crate::api::EthApi;
use crate::convert::{self, Position};
use crate::errors;

const FILTER_TIMEOUT: Duration = Duration::from_secs(300);
/// geth's `maxAddresses`.
pub(crate) const MAX_ADDRESSES: usize = 1000;
/// geth's `maxSubTopics`.
pub(crate) const MAX_SUB_TOPICS: usize = 1000;

/// Refuses filters larger than geth accepts, with geth's messages (`-32602`).
pub(crate) fn check_filter(f: &Filter) -> Result<(), RpcError> {
    if f.address.len() > MAX_ADDRESSES {
        return Err(RpcError::invalid_params("exceed max addresses"));
    }
    if f.topics.iter().any(|t| t.len() > MAX_SUB_TOPICS) {
        return Err(RpcError::invalid_params("exceed max sub topics"));
    }
    Ok(())
}

pub(crate) enum Kind {
    Logs(Arc<Filter>),
    Blocks,
    Pending(broadcast::Receiver<B256>),
}

pub(crate) struct Installed {
    kind: Kind,
    /// Last block already reported.
    cursor: u64,
    last_poll: Instant,
    /// The owner's unit of the filter quota, given back when the filter goes.
    _quota: QuotaGuard,
}

/// Installed filters.
pub(crate) struct Filters {
    inner: Mutex<HashMap<String, Installed>>,
    quota: Arc<Quota>,
}

impl Filters {
    pub(crate) fn new(max: usize, per_client: usize) -> Self {
        Filters {
            inner: Mutex::new(HashMap::new()),
            quota: Quota::new("filters", max, per_client),
        }
    }

    fn expire(map: &mut HashMap<String, Installed>) {
        map.retain(|_, f| f.last_poll.elapsed() < FILTER_TIMEOUT);
    }

    pub(crate) fn install(
        &self,
        kind: Kind,
        cursor: u64,
        owner: ClientKey,
    ) -> Result<String, RpcError> {
        let mut map = self.inner.lock();
        Self::expire(&mut map);
        let quota = self
            .quota
            .try_acquire(owner)
            .map_err(|e| RpcError::server(e.to_string()))?;
        let id = format!("0x{}", hex::encode(rand::random::<[u8; 16]>()));
        map.insert(
            id.clone(),
            Installed {
                kind,
                cursor,
                last_poll: Instant::now(),
                _quota: quota,
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
    /// `eth_getLogs`; the scan stops with `-32002` at `deadline`.
    pub(crate) fn get_logs(
        &self,
        filter: &Filter,
        deadline: Option<Instant>,
    ) -> Result<Vec<Log>, RpcError> {
        check_filter(filter)?;
        let snap = self.snapshot()?;
        let latest = self.latest(&snap)?;
        let (from, to) = match filter.block_option {
            FilterBlockOption::AtBlockHash(hash) => {
                let n = snap
                    .block_number(hash)
                    .map_err(errors::ledger)?
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
        self.logs_in_range(&snap, filter, from, to, deadline)
    }

    pub(crate) fn logs_in_range(
        &self,
        snap: &txnchain_ledger::LedgerReader,
        filter: &Filter,
        from: u64,
        to: u64,
        deadline: Option<Instant>,
    ) -> Result<Vec<Log>, RpcError> {
        if to - from >= self.config.max_log_range {
            return Err(RpcError::server(format!(
                "query exceeds max block range {}",
                self.config.max_log_range
            )));
        }
        let mut out = Vec::new();
        for n in from..=to {
            if (n - from) % 256 == 255 && deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(RpcError::timeout());
            }
            let Some(header) = snap.header(n).map_err(errors::ledger)? else {
                break;
            };
            if !filter.matches_bloom(header.header.logs_bloom) {
                continue;
            }
            let receipts = snap
                .block_receipts(n)
                .map_err(errors::ledger)?
                .unwrap_or_default();
            let hashes = snap.block_tx_hashes(n).map_err(errors::ledger)?;
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
    pub(crate) fn new_log_filter(
        &self,
        filter: Filter,
        owner: ClientKey,
    ) -> Result<String, RpcError> {
        check_filter(&filter)?;
        let snap = self.snapshot()?;
        let latest = self.latest(&snap)?;
        self.filters
            .install(Kind::Logs(Arc::new(filter)), latest, owner)
    }

    /// `eth_newBlockFilter`.
    pub(crate) fn new_block_filter(&self, owner: ClientKey) -> Result<String, RpcError> {
        let snap = self.snapshot()?;
        let latest = self.latest(&snap)?;
        self.filters.install(Kind::Blocks, latest, owner)
    }

    /// `eth_newPendingTransactionFilter`.
    pub(crate) fn new_pending_filter(&self, owner: ClientKey) -> Result<String, RpcError> {
        self.filters.install(
            Kind::Pending(self.ledger.pool().subscribe_pending()),
            0,
            owner,
        )
    }

    /// `eth_getFilterChanges`.
    pub(crate) fn filter_changes(
        &self,
        id: &str,
        deadline: Option<Instant>,
    ) -> Result<serde_json::Value, RpcError> {
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
                    if let Some(h) = snap.header(n).map_err(errors::ledger)? {
                        hashes.push(h.hash);
                    }
                }
                f.cursor = latest;
                crate::api::to_value(hashes)
            }
            Kind::Logs(filter) => {
                let filter = Arc::clone(filter);
                if from > latest {
                    return Ok(serde_json::Value::Array(vec![]));
                }
                let to = latest.min(from + self.config.max_log_range - 1);
                f.cursor = to;
                drop(map);
                let logs = self.logs_in_range(&snap, &filter, from, to, deadline)?;
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
    pub(crate) fn filter_logs(
        &self,
        id: &str,
        deadline: Option<Instant>,
    ) -> Result<Vec<Log>, RpcError> {
        let filter = {
            let mut map = self.filters.inner.lock();
            let f = map.get_mut(id).ok_or_else(not_found)?;
            f.last_poll = Instant::now();
            match &f.kind {
                Kind::Logs(filter) => Arc::clone(filter),
                _ => return Err(not_found()),
            }
        };
        self.get_logs(&filter, deadline)
    }
}
