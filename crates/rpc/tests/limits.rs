//! The eth API's limits, through the JSON-RPC dispatcher: fee-history percentiles, filter
//! sizes and per-client filter quotas, the RPC gas cap and the EVM timeout.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, Bytes, U256, address};
use serde_json::{Value, json};
use txnchain_http::ClientKey;
use txnchain_jsonrpc::{ConnectionInfo, RpcModule, ServerConfig, handle_request_bytes_from};
use txnchain_ledger::{Ledger, Mempool, PoolLimits};
use txnchain_primitives::{ChainSpec, GenesisAccount, GenesisConfig};
use txnchain_rpc::{EthApi, EthApiConfig};
use txnchain_storage::{Store, StoreOptions};

/// `JUMPDEST PUSH1 0 JUMP`: loops until its gas runs out.
const LOOP: &[u8] = &[0x5b, 0x60, 0x00, 0x56];
const LOOPER: Address = address!("00000000000000000000000000000000000c0de0");

struct Rpc {
    _dir: tempfile::TempDir,
    module: RpcModule<EthApi>,
    api: Arc<EthApi>,
    config: ServerConfig,
}

fn rpc(config: EthApiConfig, block_gas_limit: u64) -> Rpc {
    let dir = tempfile::tempdir().unwrap();
    let mut alloc = BTreeMap::new();
    alloc.insert(
        LOOPER,
        GenesisAccount {
            code: Bytes::from_static(LOOP),
            ..Default::default()
        },
    );
    let genesis = GenesisConfig {
        spec: ChainSpec {
            block_gas_limit,
            ..ChainSpec::default()
        },
        timestamp: 0,
        extra_data: Bytes::new(),
        alloc,
    };
    let store =
        Arc::new(Store::open(&dir.path().join("chain.redb"), StoreOptions::default()).unwrap());
    txnchain_ledger::genesis::init_genesis(&store, &genesis).unwrap();
    let pool = Arc::new(Mempool::new(PoolLimits::default(), &genesis.spec));
    let ledger = Arc::new(Ledger::new(genesis.spec.clone(), store, pool, true).unwrap());
    Rpc {
        _dir: dir,
        module: txnchain_rpc::module().unwrap(),
        api: EthApi::new(ledger, config).unwrap(),
        config: ServerConfig::default(),
    }
}

impl Rpc {
    async fn call_as(&self, client: [u8; 4], method: &str, params: Value) -> Value {
        let req = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let info = ConnectionInfo {
            client: ClientKey::of(std::net::IpAddr::from(client)),
            ..ConnectionInfo::in_process()
        };
        let out = handle_request_bytes_from(
            &self.module,
            &self.api,
            &self.config,
            req.to_string().as_bytes(),
            info,
        )
        .await
        .unwrap();
        serde_json::from_slice(&out).unwrap()
    }

    async fn call(&self, method: &str, params: Value) -> Value {
        self.call_as([127, 0, 0, 1], method, params).await
    }
}

fn error(v: &Value) -> (i64, String) {
    (
        v["error"]["code"].as_i64().unwrap_or_default(),
        v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

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
