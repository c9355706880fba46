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
use txnchain_jsonrpc::{Params, RpcError};

use crate::api::EthApi;
use crate::convert::{self, Position};
use crate::errors;

const FILTER_TIMEOUT: Duration = Duration::from_secs(300);
/// geth's `maxAddresses`.
pub(crate) const MAX_ADDRESSES: usize = 1000;
/// geth's `maxSubTopics`.
pub(crate) const MAX_SUB_TOPICS: usize = 1000;

/// Refuses positional parameter `idx`, a log filter, when its address list or a topic position
/// is longer than geth accepts, before anything decodes it: the lists are counted, stopping at
/// the first one over its limit, so a request naming 90,000 addresses costs the scan of 1,001
/// of them, never a 90,000-entry set. Call it before decoding the filter.
pub(crate) fn refuse_oversized_filter(p: &Params, idx: usize) -> Result<(), RpcError> {
    match p.get_raw(idx)?.and_then(over_limits) {
        Some(refusal) => Err(refusal),
        None => Ok(()),
    }
}

/// The refusal of a filter whose address list or a topic position is longer than geth accepts,
/// found without decoding the filter. Anything else (including malformed JSON) is left to the
/// decoder, which reports it with its own message.
fn over_limits(json: &str) -> Option<RpcError> {
    use serde::Deserialize;
    use serde::de::{self, IgnoredAny, SeqAccess, Visitor};

    const OVER_ADDRESSES: &str = "exceed max addresses";
    const OVER_SUB_TOPICS: &str = "exceed max sub topics";

    /// A value or a list of values, counted against `MAX` without being decoded.
    struct Counted<const MAX: usize, const ADDRESSES: bool>;
    impl<'de, const MAX: usize, const ADDRESSES: bool> Deserialize<'de> for Counted<MAX, ADDRESSES> {
        fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V<const MAX: usize, const ADDRESSES: bool>;
            impl<'de, const MAX: usize, const ADDRESSES: bool> Visitor<'de> for V<MAX, ADDRESSES> {
                type Value = Counted<MAX, ADDRESSES>;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a value or a list")
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                    let mut n = 0usize;
                    while seq.next_element::<IgnoredAny>()?.is_some() {
                        n += 1;
                        if n > MAX {
                            return Err(de::Error::custom(if ADDRESSES {
                                OVER_ADDRESSES
                            } else {
                                OVER_SUB_TOPICS
                            }));
                        }
                    }
                    Ok(Counted)
                }
                fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                    Ok(Counted)
                }
                fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                    Ok(Counted)
                }
                fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                    Ok(Counted)
                }
            }
            d.deserialize_any(V::<MAX, ADDRESSES>)
        }
    }

    #[derive(Deserialize)]
    struct Shape {
        #[serde(default)]
        #[allow(dead_code)]
        address: Option<Counted<MAX_ADDRESSES, true>>,
        #[serde(default)]
        #[allow(dead_code)]
        topics: Option<Topics>,
    }
    /// The topic positions: each one counted against `MAX_SUB_TOPICS`, and never more
    /// positions decoded than a log can have topics plus one (the decoder refuses those).
    struct Topics;
    impl<'de> Deserialize<'de> for Topics {
        fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Topics;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a list of topic positions")
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                    let mut n = 0usize;
                    while seq
                        .next_element::<Counted<MAX_SUB_TOPICS, false>>()?
                        .is_some()
                    {
                        n += 1;
                        if n > 4 {
                            // Too many positions: the decoder has the message for it.
                            return Err(de::Error::custom("too many topic positions"));
                        }
                    }
                    Ok(Topics)
                }
                fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                    Ok(Topics)
                }
            }
            d.deserialize_any(V)
        }
    }

    let e = serde_json::from_str::<Shape>(json).err()?;
    let message = e.to_string();
    if message.starts_with(OVER_ADDRESSES) {
        Some(RpcError::invalid_params(OVER_ADDRESSES))
    } else if message.starts_with(OVER_SUB_TOPICS) {
        Some(RpcError::invalid_params(OVER_SUB_TOPICS))
    } else {
        None
    }
}

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
                            // -32000, not the -32005 some providers use: clients
                            // (cast, alloy) take -32005 for a rate limit and retry.
                            return Err(RpcError::server(format!(
                                "query returned more than {} results",
                                self.config.max_logs
                            )));
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
                let to = latest.min(from.saturating_add(self.config.max_log_range - 1));
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hexes(n: usize, bytes: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("0x{:0width$x}", i, width = bytes * 2))
            .collect()
    }

    fn refusal(v: serde_json::Value) -> Option<String> {
        over_limits(&v.to_string()).map(|e| e.message)
    }

    #[test]
    fn lists_over_the_limits_are_refused_before_decoding() {
        let over = refusal(json!({"fromBlock": "0x0", "address": hexes(90_000, 20)}));
        assert_eq!(over.as_deref(), Some("exceed max addresses"));
        let over = refusal(json!({"address": hexes(1001, 20)}));
        assert_eq!(over.as_deref(), Some("exceed max addresses"));
        let over = refusal(json!({"topics": [null, hexes(1001, 32)]}));
        assert_eq!(over.as_deref(), Some("exceed max sub topics"));
    }

    #[test]
    fn filters_within_the_limits_are_left_to_the_decoder() {
        for ok in [
            json!({}),
            json!({"address": null, "topics": null}),
            json!({"address": hexes(1, 20)[0]}),
            json!({"address": hexes(1000, 20), "topics": [hexes(1000, 32)]}),
            json!({"topics": [null, hexes(1, 32)[0], [hexes(1, 32)[0], null], []]}),
            // Malformed or too many positions: the decoder's message, not this check's.
            json!({"address": 7}),
            json!({"topics": [null, null, null, null, null]}),
            json!([1, 2]),
        ] {
            assert_eq!(refusal(ok.clone()), None, "{ok}");
        }
        assert_eq!(over_limits(r#"{"address": ["0x00", "#), None);
    }
}
