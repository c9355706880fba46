//! `eth_subscribe`: `newHeads`, `logs`, `newPendingTransactions`. Every notification comes from
//! the apply step (or pool admission for pending transactions), never from the builder.

use std::sync::Arc;

use alloy_rpc_types_eth::Filter;
use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::Value;
use tokio_stream::wrappers::BroadcastStream;
use txnchain_jsonrpc::{ConnectionInfo, Params, RpcError};

use crate::api::{EthApi, to_value};
use crate::convert::{self, Position};

pub(crate) async fn subscribe(
    api: Arc<EthApi>,
    params: Params,
    info: ConnectionInfo,
) -> Result<BoxStream<'static, Value>, RpcError> {
    params.check_max(2)?;
    let name = params.subscription_name()?;
    match name.as_str() {
        "newHeads" => {
            params.check_max(1)?;
            let rx = api.ledger.subscribe();
            Ok(BroadcastStream::new(rx)
                .filter_map(|b| async move {
                    b.ok()
                        .and_then(|b| to_value(convert::header(&b.header)).ok())
                })
                .boxed())
        }
        "logs" => {
            // A filter can be megabytes of JSON: decode it off the async runtime.
            let filter: Filter = tokio::task::spawn_blocking(move || {
                crate::filters::refuse_oversized_filter(&params, 1)?;
                params.optional(1)
            })
            .await
            .map_err(|e| RpcError::internal(e.to_string()))??
            .unwrap_or_default();
            crate::filters::check_filter(&filter)?;
            // Every block costs each logs subscription a match: count them per client.
            let quota = api
                .log_subscriptions
                .try_acquire(info.client)
                .map_err(|e| RpcError::server(e.to_string()))?;
            let filter = Arc::new(filter);
            let rx = api.ledger.subscribe();
            Ok(BroadcastStream::new(rx)
                .filter_map(move |b| {
                    let filter = Arc::clone(&filter);
                    let _held = &quota;
                    async move {
                        let b = b.ok()?;
                        if !filter.matches_bloom(b.header.header.logs_bloom) {
                            return Some(Vec::new());
                        }
                        let mut out = Vec::new();
                        for (i, (r, tx)) in b.receipts.iter().zip(&b.transactions).enumerate() {
                            for log in
                                convert::logs(r, tx.hash(), Position::of(&b.header, i as u64))
                            {
                                if filter.matches_address(log.inner.address)
                                    && filter.matches_topics(log.inner.topics())
                                    && let Ok(v) = to_value(&log)
                                {
                                    out.push(v);
                                }
                            }
                        }
                        Some(out)
                    }
                })
                .flat_map(futures::stream::iter)
                .boxed())
        }
        "newPendingTransactions" => {
            let full: bool = params.optional(1)?.unwrap_or(false);
            let rx = api.ledger.pool().subscribe_pending();
            let api = api.clone();
            Ok(BroadcastStream::new(rx)
                .filter_map(move |h| {
                    let api = api.clone();
                    async move {
                        let h = h.ok()?;
                        if full {
                            let tx = api.ledger.pool().get(&h)?;
                            to_value(convert::transaction(&tx, None)).ok()
                        } else {
                            to_value(h).ok()
                        }
                    }
                })
                .boxed())
        }
        other => Err(RpcError::unknown_subscription("eth", other)),
    }
}
