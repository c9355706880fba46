//! Parameter parsing and block tags through the dispatcher, as geth answers them: wrong
//! types, missing and extra params, every block tag, numbers and hashes beyond the chain.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};
use txnchain_rpc::EthApiConfig;

fn fixture() -> Rpc {
    rpc(EthApiConfig::default(), 60_000_000)
}

#[tokio::test]
async fn params_are_checked_like_geth() {
    let r = fixture();
    // Too many arguments.
    let v = r.call("eth_blockNumber", json!([1])).await;
    assert_eq!(
        error(&v),
        (-32602, "too many arguments, want at most 0".into())
    );
    // Missing required.
    let v = r.call("eth_getBalance", json!([])).await;
    assert_eq!(error(&v).0, -32602, "{v}");
    assert!(
        error(&v)
            .1
            .starts_with("missing value for required argument 0"),
        "{v}"
    );
    // Wrong type.
    let v = r.call("eth_getBalance", json!([42, "latest"])).await;
    assert_eq!(error(&v).0, -32602, "{v}");
    assert!(error(&v).1.starts_with("invalid argument 0"), "{v}");
    // A bad block tag.
    let v = r.call("eth_getBalance", json!([LOOPER, "tomorrow"])).await;
    assert_eq!(error(&v).0, -32602, "{v}");
    assert!(error(&v).1.starts_with("invalid argument 1"), "{v}");
    // Unknown method.
    let v = r.call("eth_nope", json!([])).await;
    assert_eq!(
        error(&v),
        (
            -32601,
            "the method eth_nope does not exist/is not available".into()
        )
    );
    // Object params where positional ones are expected.
    let v = r.call("eth_getBalance", json!({"address": LOOPER})).await;
    assert_eq!(error(&v).0, -32602, "{v}");
}

fn hex(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

#[tokio::test]
async fn block_tags_numbers_and_hashes() {
    let r = fixture();
    for _ in 0..3 {
        mine(&r.ledger);
    }
    assert_eq!(
        hex(&r.call("eth_blockNumber", json!([])).await["result"]),
        3
    );
    let number = |v: &Value| hex(&v["result"]["number"]);
    for (tag, want) in [
        ("latest", 3),
        ("safe", 3),
        ("finalized", 3),
        ("pending", 3),
        ("earliest", 0),
        ("0x2", 2),
    ] {
        let b = r.call("eth_getBlockByNumber", json!([tag, false])).await;
        assert_eq!(number(&b), want, "{tag}: {b}");
    }
    // Past the head: null for block lookups, "header not found" for state.
    let b = r.call("eth_getBlockByNumber", json!(["0x9", false])).await;
    assert_eq!(b["result"], Value::Null, "{b}");
    let v = r.call("eth_getBalance", json!([LOOPER, "0x9"])).await;
    assert_eq!(error(&v), (-32000, "header not found".into()));
    // By hash (EIP-1898), and an unknown hash.
    let b2 = r.call("eth_getBlockByNumber", json!(["0x2", false])).await;
    let hash = b2["result"]["hash"].clone();
    let by_hash = r
        .call(
            "eth_getBalance",
            json!([funded().address(), {"blockHash": hash}]),
        )
        .await;
    assert!(by_hash["result"].is_string(), "{by_hash}");
    let unknown = format!("0x{}", "ab".repeat(32));
    let v = r
        .call("eth_getBalance", json!([LOOPER, {"blockHash": unknown}]))
        .await;
    assert_eq!(
        error(&v),
        (-32000, format!("header for hash {unknown} not found"))
    );
    // The pending nonce counts the pool; latest does not.
    let a = funded().address();
    assert_eq!(
        hex(&r
            .call("eth_getTransactionCount", json!([a, "pending"]))
            .await["result"]),
        0
    );
}
