//! The node assembled in process, as `txnchain dev` and `txnchain node` assemble it: the
//! public listener serves JSON-RPC, `/metrics`, `/node/attestation` and `/x402`; admin-only
//! methods are on the admin listener unless the configuration makes them public; blocks are
//! produced and the node stops cleanly.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use txnchain_node::dev::{DevOptions, dev_genesis};
use txnchain_node::{NodeConfig, start};

fn config(admin: bool, public_admin_methods: bool) -> NodeConfig {
    let (genesis, keys) = dev_genesis(&DevOptions::default()).unwrap();
    NodeConfig {
        data_dir: None,
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        genesis,
        dev_signers: keys,
        block_interval: Duration::from_millis(10),
        mining: None,
        client_version: None,
        archive: false,
        cors_origins: None,
        tee: txnchain_tee::TeeChoice::Virtual,
        platform: Default::default(),
        x402: Some(txnchain_node::x402::X402Config::dev().unwrap()),
        admin_listen: admin.then(|| SocketAddr::from(([127, 0, 0, 1], 0))),
        admin_methods_public: public_admin_methods,
        limits: Default::default(),
    }
}

async fn rpc(url: &str, method: &str, params: Value) -> Value {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
        .post(url)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_serves_every_route_and_keeps_admin_methods_on_the_admin_listener() {
    let node = start(config(true, false)).await.unwrap();
    let url = format!("http://{}", node.addr);
    let admin = format!("http://{}", node.admin_addr.unwrap());
    assert_eq!(
        rpc(&url, "eth_chainId", json!([])).await["result"],
        "0x67932"
    );
    // Admin-only methods: not public, served on the admin listener.
    let call = json!([{"to": "0x0000000000000000000000000000000000000001"}, "latest"]);
    let public = rpc(&url, "debug_traceCall", call.clone()).await;
    assert_eq!(public["error"]["code"], -32601, "{public}");
    let traced = rpc(&admin, "debug_traceCall", call).await;
    assert!(traced["result"].is_object(), "{traced}");
    // A transaction from a dev account commits.
    let from = node_account(&url).await;
    let hash = rpc(
        &url,
        "eth_sendTransaction",
        json!([{"from": from, "to": "0x0000000000000000000000000000000000000abc", "value": "0x1"}]),
    )
    .await["result"]
        .as_str()
        .unwrap()
        .to_string();
    let mut receipt = Value::Null;
    for _ in 0..200 {
        receipt = rpc(&url, "eth_getTransactionReceipt", json!([hash])).await["result"].clone();
        if !receipt.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    // The other routes.
    let http = reqwest::Client::new();
    let metrics = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("txnchain_block_height "), "{metrics}");
    assert!(
        metrics.contains("txnchain_http_connections_open{listener=\"public\"}"),
        "{metrics}"
    );
    let att: Value = http
        .get(format!("{url}/node/attestation"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(att["platform"], "virtual");
    let supported: Value = http
        .get(format!("{url}/x402/supported"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(supported["kinds"][0]["network"], "eip155:424242");
    // Stops, and the port is closed.
    node.stop().await;
    assert!(http.get(format!("{url}/metrics")).send().await.is_err());
}

async fn node_account(url: &str) -> String {
    rpc(url, "eth_accounts", json!([])).await["result"][0]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_makes_admin_methods_public() {
    let node = start(config(false, true)).await.unwrap();
    assert!(node.admin_addr.is_none());
    let url = format!("http://{}", node.addr);
    let pool = rpc(&url, "txpool_content", json!([])).await;
    assert_eq!(
        pool["result"],
        json!({"pending": {}, "queued": {}}),
        "{pool}"
    );
    node.stop().await;
}
