//! The eth API's limits, through the JSON-RPC dispatcher: fee-history percentiles, filter
//! sizes and per-client filter quotas, the RPC gas cap and the EVM timeout.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use alloy_primitives::{Address, U256};
use common::*;
use serde_json::json;
use txnchain_rpc::EthApiConfig;

#[tokio::test]
async fn fee_history_takes_at_most_100_percentiles() {
    let r = rpc(EthApiConfig::default(), 60_000_000);
    let hundred: Vec<f64> = (0..100).map(f64::from).collect();
    let ok = r
        .call("eth_feeHistory", json!(["0x1", "latest", hundred]))
        .await;
    assert_eq!(
        ok["result"]["reward"][0].as_array().map(Vec::len),
        Some(100),
        "{ok}"
    );
    let many: Vec<f64> = (0..100_000).map(|i| f64::from(i) / 1000.0).collect();
    let refused = r
        .call("eth_feeHistory", json!(["0x1", "latest", many]))
        .await;
    assert_eq!(
        error(&refused),
        (
            -32602,
            "invalid reward percentile: over the query limit 100".to_string()
        )
    );
}

#[tokio::test]
async fn filters_are_capped_in_size_and_per_client() {
    let r = rpc(
        EthApiConfig {
            max_filters_per_client: 3,
            ..EthApiConfig::default()
        },
        60_000_000,
    );
    let addresses: Vec<String> = (0..1001u32)
        .map(|i| Address::from_word(U256::from(i).into()).to_string())
        .collect();
    let big = r
        .call("eth_newFilter", json!([{"address": addresses}]))
        .await;
    assert_eq!(error(&big), (-32602, "exceed max addresses".to_string()));
    let topics: Vec<String> = (0..1001u32)
        .map(|i| alloy_primitives::B256::from(U256::from(i)).to_string())
        .collect();
    let big = r.call("eth_newFilter", json!([{"topics": [topics]}])).await;
    assert_eq!(error(&big), (-32602, "exceed max sub topics".to_string()));
    let logs = r.call("eth_getLogs", json!([{"address": addresses}])).await;
    assert_eq!(error(&logs), (-32602, "exceed max addresses".to_string()));

    // One client takes its three filters, of any kind.
    let a = [10, 0, 0, 1];
    assert!(r.call_as(a, "eth_newFilter", json!([{}])).await["result"].is_string());
    assert!(r.call_as(a, "eth_newBlockFilter", json!([])).await["result"].is_string());
    let third = r
        .call_as(a, "eth_newPendingTransactionFilter", json!([]))
        .await;
    let id = third["result"].as_str().unwrap().to_string();
    let fourth = r.call_as(a, "eth_newBlockFilter", json!([])).await;
    assert_eq!(
        error(&fourth),
        (
            -32000,
            "too many filters from this client (limit 3)".to_string()
        )
    );
    // Another client is not affected.
    assert!(
        r.call_as([10, 0, 0, 2], "eth_newBlockFilter", json!([]))
            .await["result"]
            .is_string()
    );
    // Uninstalling gives the slot back.
    assert_eq!(
        r.call_as(a, "eth_uninstallFilter", json!([id])).await["result"],
        true
    );
    assert!(r.call_as(a, "eth_newBlockFilter", json!([])).await["result"].is_string());
}

#[tokio::test]
async fn calls_are_capped_at_the_rpc_gas_cap() {
    let r = rpc(
        EthApiConfig {
            gas_cap: 1_000_000,
            ..EthApiConfig::default()
        },
        60_000_000,
    );
    // The loop needs all the gas it gets: estimation fails at the cap, not at the block limit.
    let est = r
        .call(
            "eth_estimateGas",
            json!([{"to": LOOPER, "gas": "0x3938700"}]),
        )
        .await;
    assert_eq!(
        error(&est),
        (
            -32000,
            "gas required exceeds allowance (1000000)".to_string()
        )
    );
}

#[tokio::test]
async fn a_call_past_the_evm_timeout_is_aborted() {
    let r = rpc(
        EthApiConfig {
            gas_cap: 0,
            evm_timeout: Duration::from_millis(200),
            ..EthApiConfig::default()
        },
        4_000_000_000,
    );
    let started = std::time::Instant::now();
    let out = r
        .call(
            "eth_call",
            json!([{"to": LOOPER, "gas": "0xee6b2800"}, "latest"]),
        )
        .await;
    assert_eq!(
        error(&out),
        (-32000, "execution aborted (timeout = 200ms)".to_string())
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}
