#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Confidential execution through a node's JSON-RPC and REST API, as a client uses it: the
//! attested service identity, the signed epoch key, an enveloped deployment and call, sealed
//! results, the policy hook's refusals, unsigned calls running as sender zero, and admission
//! of envelopes.

use std::net::SocketAddr;
use std::time::Duration;

use alloy_primitives::{Address, Bytes, U256, hex};
use alloy_sol_types::SolValue;
use serde_json::{Value, json};
use txnchain_crypto::envelope::{Binding, seal};
use txnchain_crypto::keys::{EpochPublicKey, verify_encryption_key};
use txnchain_crypto::result::open_result;
use txnchain_node::dev::{DevOptions, dev_genesis};
use txnchain_node::{NodeConfig, start};

const CHAIN: u64 = 424_242;

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

async fn get(url: &str) -> (u16, Value) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn hex_bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn initcode() -> Vec<u8> {
    let artifact: Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../contracts/artifacts/TestToken.json"
    )))
    .unwrap();
    let mut code = hex::decode(artifact["bytecode"].as_str().unwrap()).unwrap();
    code.extend(
        (
            "Sealed".to_string(),
            "SLD".to_string(),
            U256::from(1_000_000u64),
        )
            .abi_encode_params(),
    );
    code
}

struct Client {
    url: String,
    from: Address,
    pk: EpochPublicKey,
    epoch: u64,
}

impl Client {
    async fn nonce(&self) -> u64 {
        let n = rpc(
            &self.url,
            "eth_getTransactionCount",
            json!([self.from, "pending"]),
        )
        .await;
        u64::from_str_radix(n["result"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
    }

    async fn send(&self, to: Option<Address>, data: Vec<u8>) -> Value {
        rpc(
            &self.url,
            "eth_sendTransaction",
            json!([{"from": self.from, "to": to, "data": Bytes::from(data), "gas": "0x2dc6c0"}]),
        )
        .await
    }

    async fn receipt(&self, hash: &Value) -> Value {
        for _ in 0..500 {
            let r = rpc(&self.url, "eth_getTransactionReceipt", json!([hash])).await;
            if !r["result"].is_null() {
                return r["result"].clone();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no receipt for {hash}");
    }
}

#[derive(Clone, Copy)]
struct Head {
    number: u64,
    hash: alloy_primitives::B256,
}

struct Query {
    data: Bytes,
    result_key: txnchain_crypto::result::ResultKey,
}

/// A signed query by `signer` of `plaintext` to `to`, on top of `head` (value and gas absent).
fn signed_query(
    c: &Client,
    signer: &alloy_signer_local::PrivateKeySigner,
    to: Address,
    plaintext: &[u8],
    head: Head,
    range: u64,
) -> Query {
    use alloy_signer::SignerSync;
    use txnchain_crypto::signed_query::{QueriedCall, SignedQueryEnvelope, signing_hash};
    let from = signer.address();
    let sealed = seal(
        &c.pk,
        CHAIN,
        c.epoch,
        &Binding::Call {
            from: Some(c.from),
            to,
        },
        plaintext,
    )
    .unwrap();
    let call = QueriedCall {
        from,
        to,
        value: U256::ZERO,
        gas: 0,
        data: plaintext,
    };
    let hash = signing_hash(CHAIN, &call, head.number, head.hash, range);
    let signature = signer.sign_hash_sync(&hash).unwrap().as_bytes().to_vec();
    let q = SignedQueryEnvelope {
        envelope: sealed.envelope.into(),
        block_number: head.number,
        block_hash: head.hash,
        block_range: range,
        signature: signature.into(),
    };
    Query {
        data: q.encode().into(),
        result_key: sealed.result_key,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_encrypts_to_the_attested_network_and_only_it_reads_results() {
    let (genesis, keys) = dev_genesis(&DevOptions::default()).unwrap();
    let node = start(NodeConfig {
        data_dir: None,
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        genesis,
        dev_signers: keys.clone(),
        block_interval: Duration::from_millis(10),
        mining: None,
        client_version: None,
        archive: false,
        cors_origins: None,
        tee: txnchain_tee::TeeChoice::Virtual,
        platform: Default::default(),
        x402: None,
        admin_listen: None,
        admin_methods_public: true,
        limits: Default::default(),
    })
    .await
    .unwrap();
    let url = format!("http://{}", node.addr);

    // The service identity, as the node states it under its attested identity key.
    let (status, bundle) = get(&format!("{url}/node/attestation")).await;
    assert_eq!(status, 200);
    let bundle: txnchain_tee::EvidenceBundle = serde_json::from_value(bundle).unwrap();
    let identity = bundle
        .verify_service_statement()
        .unwrap()
        .expect("a service identity");

    // The epoch key, signed by that identity; REST and JSON-RPC agree.
    let key = rpc(&url, "txnchain_getEncryptionKey", json!([])).await["result"].clone();
    let (status, rest) = get(&format!("{url}/v1/encryption-key")).await;
    assert_eq!((status, &rest), (200, &key));
    assert_eq!(hex_bytes(&key["serviceIdentity"]), identity);
    let epoch =
        u64::from_str_radix(key["epoch"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let pk: [u8; 32] = hex_bytes(&key["publicKey"]).try_into().unwrap();
    verify_encryption_key(&identity, CHAIN, epoch, &pk, &hex_bytes(&key["signature"])).unwrap();
    let old = rpc(
        &url,
        "txnchain_getEncryptionKey",
        json!([format!("{:#x}", epoch - 3)]),
    )
    .await;
    assert_eq!(old["error"]["code"], -32602, "{old}");
    assert_eq!(
        old["error"]["message"],
        format!(
            "epoch {} is not accepted (current epoch {epoch}, oldest accepted {})",
            epoch - 3,
            epoch - 2
        )
    );

    let c = Client {
        url: url.clone(),
        from: keys[0].address(),
        pk: EpochPublicKey::from_bytes(&pk).unwrap(),
        epoch,
    };
    let bob = keys[1].address();

    // Enveloped deployment: a confidential token; its mint's Transfer stays private.
    let nonce = c.nonce().await;
    let sealed = seal(
        &c.pk,
        CHAIN,
        c.epoch,
        &Binding::Tx {
            sender: c.from,
            to: None,
            nonce,
        },
        &initcode(),
    )
    .unwrap();
    let hash = c.send(None, sealed.envelope).await["result"].clone();
    let receipt = c.receipt(&hash).await;
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    assert_eq!(receipt["logs"], json!([]));
    let token: Address = receipt["contractAddress"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let result = rpc(&url, "txnchain_getTransactionResult", json!([hash])).await["result"].clone();
    let (status, rest) = get(&format!(
        "{url}/v1/transactions/{}/result",
        hash.as_str().unwrap()
    ))
    .await;
    assert_eq!((status, &rest), (200, &result));
    let opened = open_result(&sealed.result_key, &hex_bytes(&result["result"])).unwrap();
    assert!(opened.success());
    assert_eq!(opened.logs.len(), 1);
    let (status, _) = get(&format!(
        "{url}/v1/transactions/0x{}/result",
        "00".repeat(32)
    ))
    .await;
    assert_eq!(status, 404);

    // The policy hook.
    let refused =
        |method: &str| format!("confidential contract {token}: {method} is not available");
    let r = rpc(&url, "eth_getStorageAt", json!([token, "0x0", "latest"])).await;
    assert_eq!(r["error"]["code"], -32000);
    assert_eq!(r["error"]["message"], refused("eth_getStorageAt"));
    let r = rpc(&url, "eth_getProof", json!([token, ["0x0"], "latest"])).await;
    assert_eq!(r["error"]["message"], refused("eth_getProof"));
    let r = rpc(&url, "eth_getProof", json!([token, [], "latest"])).await;
    assert!(
        r["result"]["accountProof"].is_array(),
        "the account proof stays: {r}"
    );
    let mut balance_of = hex!("70a08231").to_vec();
    balance_of.extend(c.from.abi_encode());
    let r = rpc(
        &url,
        "eth_call",
        json!([{"to": token, "data": Bytes::from(balance_of.clone())}, "latest", {token.to_string(): {"balance": "0x1"}}]),
    )
    .await;
    assert_eq!(r["error"]["message"], refused("eth_call"));
    let r = rpc(&url, "debug_traceTransaction", json!([hash])).await;
    assert_eq!(r["error"]["code"], -32000, "{r}");
    let r = rpc(
        &url,
        "debug_traceCall",
        json!([{"to": token, "data": Bytes::from(balance_of.clone())}, "latest"]),
    )
    .await;
    assert_eq!(r["error"]["message"], refused("debug_traceCall"));
    let r = rpc(
        &url,
        "eth_createAccessList",
        json!([{"from": c.from, "to": token, "data": Bytes::from(balance_of.clone())}]),
    )
    .await;
    assert_eq!(r["error"]["message"], refused("eth_createAccessList"));
    let r = rpc(
        &url,
        "eth_call",
        json!([{"to": token, "data": Bytes::from(balance_of.clone())}, "0x0"]),
    )
    .await;
    assert_eq!(r["error"]["message"], refused("eth_call"));

    // An enveloped call: the answer is a sealed result only the caller opens.
    let sealed = seal(
        &c.pk,
        CHAIN,
        c.epoch,
        &Binding::Call {
            from: Some(c.from),
            to: token,
        },
        &balance_of,
    )
    .unwrap();
    let r = rpc(&url, "eth_call", json!([{"from": c.from, "to": token, "data": Bytes::from(sealed.envelope.clone())}, "latest"])).await;
    let opened = open_result(&sealed.result_key, &hex_bytes(&r["result"])).unwrap();
    assert_eq!(
        opened.output.as_ref(),
        U256::from(1_000_000u64).to_be_bytes::<32>()
    );
    let gas = rpc(
        &url,
        "eth_estimateGas",
        json!([{"from": c.from, "to": token, "data": Bytes::from(sealed.envelope)}]),
    )
    .await;
    assert!(gas["result"].is_string(), "{gas}");

    // An unsigned plaintext call runs as sender zero: the token sees 0x0 with no balance.
    let mut transfer = hex!("a9059cbb").to_vec();
    transfer.extend((bob, U256::from(1)).abi_encode_params());
    let r = rpc(
        &url,
        "eth_call",
        json!([{"from": c.from, "to": token, "data": Bytes::from(transfer.clone())}, "latest"]),
    )
    .await;
    assert_eq!(r["error"]["code"], 3, "{r}");
    let data = hex_bytes(&r["error"]["data"]);
    assert_eq!(
        &data[4..36],
        &[0u8; 32],
        "InsufficientBalance(from = 0x0, …): {r}"
    );

    // A signed query (§5): the same transfer runs as the signer, and its result is sealed.
    let latest =
        rpc(&url, "eth_getBlockByNumber", json!(["latest", false])).await["result"].clone();
    let head = Head {
        number: u64::from_str_radix(
            latest["number"].as_str().unwrap().trim_start_matches("0x"),
            16,
        )
        .unwrap(),
        hash: latest["hash"].as_str().unwrap().parse().unwrap(),
    };
    let q = signed_query(&c, &keys[0], token, &transfer, head, 16);
    let r = rpc(
        &url,
        "eth_call",
        json!([{"from": c.from, "to": token, "data": q.data}, "latest"]),
    )
    .await;
    let opened = open_result(&q.result_key, &hex_bytes(&r["result"])).unwrap();
    assert!(opened.success(), "the signer holds the balance: {r}");
    assert_eq!(
        opened.output.as_ref(),
        U256::from(1).to_be_bytes::<32>(),
        "transfer returned true"
    );
    assert_eq!(opened.logs.len(), 1, "its Transfer event, privately");
    let r = rpc(
        &url,
        "eth_estimateGas",
        json!([{"from": c.from, "to": token, "data": q.data}]),
    )
    .await;
    assert!(r["result"].is_string(), "{r}");
    // What is refused, and why.
    let refusal = |r: &Value| {
        assert_eq!(r["error"]["code"], -32000, "{r}");
        r["error"]["message"].as_str().unwrap().to_string()
    };
    let r = rpc(
        &url,
        "eth_call",
        json!([{"from": bob, "to": token, "data": q.data}, "latest"]),
    )
    .await;
    assert!(refusal(&r).starts_with("invalid signed query: "), "{r}");
    let r = rpc(
        &url,
        "eth_call",
        json!([{"to": token, "data": q.data}, "latest"]),
    )
    .await;
    assert_eq!(refusal(&r), "invalid signed query: the call has no from");
    let by_bob = signed_query(&c, &keys[1], token, &transfer, head, 16);
    let r = rpc(
        &url,
        "eth_call",
        json!([{"from": c.from, "to": token, "data": by_bob.data}, "latest"]),
    )
    .await;
    assert!(
        refusal(&r).starts_with("invalid signed query: signature recovers to ")
            && refusal(&r).ends_with(&format!("not to from {}", c.from)),
        "{r}"
    );
    let wrong_hash = signed_query(
        &c,
        &keys[0],
        token,
        &transfer,
        Head {
            hash: [7u8; 32].into(),
            ..head
        },
        16,
    );
    let r = rpc(
        &url,
        "eth_call",
        json!([{"from": c.from, "to": token, "data": wrong_hash.data}, "latest"]),
    )
    .await;
    assert!(
        refusal(&r).contains(&format!("is not the hash of block {}", head.number)),
        "{r}"
    );
    let ahead = signed_query(
        &c,
        &keys[0],
        token,
        &transfer,
        Head {
            number: head.number + 1,
            ..head
        },
        16,
    );
    let r = rpc(
        &url,
        "eth_call",
        json!([{"from": c.from, "to": token, "data": ahead.data}, "latest"]),
    )
    .await;
    assert!(refusal(&r).contains("is past the latest block"), "{r}");
    let genesis_hash: alloy_primitives::B256 =
        rpc(&url, "eth_getBlockByNumber", json!(["0x0", false])).await["result"]["hash"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
    let expired = signed_query(
        &c,
        &keys[0],
        token,
        &transfer,
        Head {
            number: 0,
            hash: genesis_hash,
        },
        0,
    );
    let r = rpc(
        &url,
        "eth_call",
        json!([{"from": c.from, "to": token, "data": expired.data}, "latest"]),
    )
    .await;
    assert!(
        refusal(&r).starts_with("invalid signed query: expired: block 0"),
        "{r}"
    );
    let wide = signed_query(&c, &keys[0], token, &transfer, head, 257);
    let r = rpc(
        &url,
        "eth_call",
        json!([{"from": c.from, "to": token, "data": wide.data}, "latest"]),
    )
    .await;
    assert_eq!(
        refusal(&r),
        "invalid signed query: blockRange 257 exceeds 256"
    );
    // The signature covers the plaintext call: another value or gas than signed is refused.
    let r = rpc(
        &url,
        "eth_call",
        json!([{"from": c.from, "to": token, "data": q.data, "gas": "0x100000"}, "latest"]),
    )
    .await;
    assert!(refusal(&r).contains("signature recovers to"), "{r}");
    let mut garbled = q.data.to_vec();
    garbled.truncate(garbled.len() - 1);
    let r = rpc(
        &url,
        "eth_call",
        json!([{"from": c.from, "to": token, "data": Bytes::from(garbled)}, "latest"]),
    )
    .await;
    assert!(
        refusal(&r).starts_with("invalid signed query: malformed signed query"),
        "{r}"
    );

    // Admission: an epoch outside the window is refused before anything runs.
    let nonce = c.nonce().await;
    let future = seal(
        &c.pk,
        CHAIN,
        c.epoch + 5,
        &Binding::Tx {
            sender: c.from,
            to: Some(token),
            nonce,
        },
        &transfer,
    )
    .unwrap();
    let r = c.send(Some(token), future.envelope).await;
    assert_eq!(r["error"]["code"], -32000, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid confidential envelope: epoch"),
        "{r}"
    );
    node.stop().await;
}
