#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A real `txnchain dev` process holding confidential state, behind a recording TCP proxy:
//!
//! - canaries sent in enveloped calldata, stored in a confidential contract, returned and
//!   emitted privately are in no byte of the data directory, of the node's log output, or of
//!   the client↔node traffic; a control string sent in plaintext is in the traffic (so the
//!   search works), and public headers are in the data directory;
//! - after `kill -9` and a restart on the same directory the node unseals the same service
//!   identity and epoch key, old sealed results still open, and the confidential state is
//!   intact.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy_primitives::{Address, Bytes, U256, hex, keccak256};
use alloy_sol_types::SolValue;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use txnchain_crypto::envelope::{Binding, seal};
use txnchain_crypto::keys::EpochPublicKey;
use txnchain_crypto::result::{ResultKey, open_result};

const CHAIN: u64 = 424_242;
const NAME_CANARY: &str = "CANARY-NAME-5b1e07";
const SLOT_CANARY: &[u8; 18] = b"CANARY-SLOT-9c44d2";
const CONTROL: &[u8; 18] = b"CONTROL-PLAIN-77aa";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn_node(dir: &Path, port: u16, log: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_txnchain"))
        .args(["dev", "--data-dir"])
        .arg(dir)
        .args(["--port", &port.to_string()])
        .env("RUST_LOG", "debug")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

/// Forwards 127.0.0.1:`listen` to `target`, appending every byte both ways to `capture`.
/// The selector of TestToken's `InsufficientBalance(address,uint256,uint256)`.
const INSUFFICIENT_BALANCE: [u8; 4] = alloy_primitives::hex!("db42144d");

async fn proxy(listen: u16, target: u16, capture: Arc<Mutex<Vec<u8>>>) {
    let l = tokio::net::TcpListener::bind(("127.0.0.1", listen))
        .await
        .unwrap();
    loop {
        let Ok((client, _)) = l.accept().await else {
            return;
        };
        let capture = capture.clone();
        tokio::spawn(async move {
            let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await else {
                return;
            };
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            let c1 = capture.clone();
            let up = tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                while let Ok(n) = cr.read(&mut buf).await {
                    if n == 0 || sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    c1.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
            let mut buf = vec![0u8; 65536];
            while let Ok(n) = sr.read(&mut buf).await {
                if n == 0 || cw.write_all(&buf[..n]).await.is_err() {
                    break;
                }
                capture.lock().unwrap().extend_from_slice(&buf[..n]);
            }
            up.abort();
        });
    }
}

async fn rpc(url: &str, method: &str, params: Value) -> Value {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let r: Value = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r.get("error").is_none(), "{method}: {r}");
    r["result"].clone()
}

async fn wait_up(url: &str) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    for _ in 0..300 {
        let ok = reqwest::Client::new()
            .post(url)
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}))
            .send()
            .await
            .is_ok();
        if ok {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("node at {url} did not come up");
}

fn selector(sig: &str) -> Vec<u8> {
    keccak256(sig.as_bytes())[..4].to_vec()
}

fn word(text: &[u8]) -> U256 {
    let mut w = [0u8; 32];
    w[..text.len()].copy_from_slice(text);
    U256::from_be_bytes(w)
}

fn quantity(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

struct Client {
    url: String,
    from: Address,
}

impl Client {
    async fn key(&self) -> (EpochPublicKey, u64, Value) {
        let k = rpc(&self.url, "txnchain_getEncryptionKey", json!([])).await;
        let pk = hex::decode(k["publicKey"].as_str().unwrap()).unwrap();
        (
            EpochPublicKey::from_bytes(&pk).unwrap(),
            quantity(&k["epoch"]),
            k,
        )
    }

    async fn send(&self, to: Option<Address>, data: Vec<u8>) -> Value {
        let hash = rpc(
            &self.url,
            "eth_sendTransaction",
            json!([{"from": self.from, "to": to, "data": Bytes::from(data), "gas": "0x2dc6c0"}]),
        )
        .await;
        for _ in 0..500 {
            let r = rpc(&self.url, "eth_getTransactionReceipt", json!([hash])).await;
            if !r.is_null() {
                assert_eq!(r["status"], "0x1", "{r}");
                return r;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no receipt");
    }

    async fn send_enveloped(&self, to: Option<Address>, plaintext: &[u8]) -> (Value, ResultKey) {
        let (pk, epoch, _) = self.key().await;
        let nonce = quantity(
            &rpc(
                &self.url,
                "eth_getTransactionCount",
                json!([self.from, "pending"]),
            )
            .await,
        );
        let s = seal(
            &pk,
            CHAIN,
            epoch,
            &Binding::Tx {
                sender: self.from,
                to,
                nonce,
            },
            plaintext,
        )
        .unwrap();
        (self.send(to, s.envelope).await, s.result_key)
    }

    async fn call_enveloped(&self, to: Address, plaintext: &[u8]) -> Bytes {
        let (pk, epoch, _) = self.key().await;
        let s = seal(
            &pk,
            CHAIN,
            epoch,
            &Binding::Call {
                from: Some(self.from),
                to,
            },
            plaintext,
        )
        .unwrap();
        let r = rpc(
            &self.url,
            "eth_call",
            json!([{"from": self.from, "to": to, "data": Bytes::from(s.envelope)}, "latest"]),
        )
        .await;
        let sealed = hex::decode(r.as_str().unwrap()).unwrap();
        let result = open_result(&s.result_key, &sealed).unwrap();
        assert!(result.success());
        result.output
    }
}

fn files_under(dir: &Path, out: &mut Vec<u8>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.extend(std::fs::read(&p).unwrap());
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confidential_state_survives_kill_9_and_never_appears_in_the_clear() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("node.log");
    let (node_port, proxy_port) = (free_port(), free_port());
    let capture = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(proxy(proxy_port, node_port, capture.clone()));
    let url = format!("http://127.0.0.1:{proxy_port}");

    let mut node = spawn_node(&data, node_port, &log);
    wait_up(&url).await;
    let accounts = rpc(&url, "eth_accounts", json!([])).await;
    let c = Client {
        url: url.clone(),
        from: accounts[0].as_str().unwrap().parse().unwrap(),
    };
    let (_, _, key_before) = c.key().await;
    let attestation_before: Value = reqwest::get(format!("{url}/node/attestation"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // A confidential token whose name is a canary, a slot set to a canary (stored, and
    // emitted privately by SlotSet), then read back (returned) — all through envelopes.
    let artifact: Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../contracts/artifacts/TestToken.json"
    )))
    .unwrap();
    let bytecode = hex::decode(artifact["bytecode"].as_str().unwrap()).unwrap();
    let mut init = bytecode.clone();
    init.extend((NAME_CANARY.to_string(), "CNR".to_string(), U256::from(5u64)).abi_encode_params());
    let (receipt, _) = c.send_enveloped(None, &init).await;
    let token: Address = receipt["contractAddress"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut set = selector("setSlot(uint256,uint256)");
    set.extend((U256::from(7), word(SLOT_CANARY)).abi_encode_params());
    let (receipt, set_key) = c.send_enveloped(Some(token), &set).await;
    let set_hash = receipt["transactionHash"].clone();
    let mut get = selector("getSlot(uint256)");
    get.extend(U256::from(7).abi_encode());
    assert_eq!(
        c.call_enveloped(token, &get).await.as_ref(),
        word(SLOT_CANARY).to_be_bytes::<32>()
    );
    let name = c.call_enveloped(token, &selector("name()")).await;
    assert!(contains(&name, NAME_CANARY.as_bytes()));

    // The control: a plaintext token and a plaintext setSlot carrying the control string.
    let mut plain_init = bytecode;
    plain_init
        .extend(("Plain".to_string(), "PLN".to_string(), U256::from(5u64)).abi_encode_params());
    let receipt = c.send(None, plain_init).await;
    let plain: Address = receipt["contractAddress"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut control = selector("setSlot(uint256,uint256)");
    control.extend((U256::from(1), word(CONTROL)).abi_encode_params());
    c.send(Some(plain), control).await;
    let head = rpc(&url, "eth_getBlockByNumber", json!(["latest", false])).await;

    // kill -9, restart on the same directory.
    node.kill().unwrap();
    node.wait().unwrap();
    let mut node = spawn_node(&data, node_port, &log);
    wait_up(&url).await;
    // The same epoch key comes back (asked by epoch: the day may have turned meanwhile).
    let key_after = rpc(
        &url,
        "txnchain_getEncryptionKey",
        json!([key_before["epoch"]]),
    )
    .await;
    assert_eq!(
        key_after, key_before,
        "the same signed epoch key after unsealing"
    );
    let attestation_after: Value = reqwest::get(format!("{url}/node/attestation"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        attestation_after["service_identity"],
        attestation_before["service_identity"]
    );
    // The old sealed result still opens; the confidential state is intact.
    let r = rpc(&url, "txnchain_getTransactionResult", json!([set_hash])).await;
    let result = open_result(
        &set_key,
        &hex::decode(r["result"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    assert!(result.success());
    assert_eq!(result.logs.len(), 1, "SlotSet, privately");
    assert_eq!(
        result.logs[0].data.data.as_ref(),
        word(SLOT_CANARY).to_be_bytes::<32>()
    );
    assert_eq!(
        c.call_enveloped(token, &get).await.as_ref(),
        word(SLOT_CANARY).to_be_bytes::<32>()
    );
    let still = rpc(&url, "eth_getBlockByNumber", json!([head["number"], false])).await;
    assert_eq!(still["hash"], head["hash"]);

    // The CLI does the same for scripts: trust from the evidence (`--policy dev` accepts
    // virtual), send an enveloped transaction and read its sealed result, make a call.
    let key_file = dir.path().join("key");
    let key =
        txnchain_primitives::dev::dev_keys(txnchain_primitives::dev::DEV_MNEMONIC, 1).unwrap();
    std::fs::write(&key_file, hex::encode(key[0].to_bytes())).unwrap();
    assert_eq!(key[0].address(), c.from);
    let token_arg = token.to_string();
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_txnchain"))
            .args(args)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{args:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let sent = cli(&[
        "send",
        "--confidential",
        "--policy",
        "dev",
        "--rpc",
        &url,
        "--to",
        &token_arg,
        "--key-file",
        key_file.to_str().unwrap(),
        "setSlot(uint256,uint256)",
        "8",
        "99",
    ]);
    assert!(sent.contains("status: success"), "{sent}");
    assert!(sent.contains("public logs 0"), "{sent}");
    assert_eq!(sent.matches("private log:").count(), 1, "{sent}");
    let called = cli(&[
        "call",
        "--confidential",
        "--policy",
        "dev",
        "--rpc",
        &url,
        "--to",
        &token_arg,
        "--from",
        &c.from.to_string(),
        "getSlot(uint256) returns (uint256)",
        "8",
    ]);
    assert!(called.contains("return: 99"), "{called}");
    // A signed query runs as the signer; the same call unsigned runs as sender zero. The
    // token reverts with InsufficientBalance(msg.sender, 0, 5), so the revert data shows who.
    let sender_word = format!("{:0>64}", hex::encode(c.from.as_slice()));
    let as_signer = cli(&[
        "call",
        "--confidential",
        "--policy",
        "dev",
        "--rpc",
        &url,
        "--to",
        &token_arg,
        "--signed",
        "--key-file",
        key_file.to_str().unwrap(),
        "failWithCustomError(uint256)",
        "5",
    ]);
    assert!(as_signer.contains("status: reverted"), "{as_signer}");
    assert!(
        as_signer.contains(&format!(
            "revert data: 0x{}{sender_word}",
            hex::encode(INSUFFICIENT_BALANCE)
        )),
        "{as_signer}"
    );
    let unsigned = cli(&[
        "call",
        "--confidential",
        "--policy",
        "dev",
        "--rpc",
        &url,
        "--to",
        &token_arg,
        "--from",
        &c.from.to_string(),
        "failWithCustomError(uint256)",
        "5",
    ]);
    assert!(
        unsigned.contains(&format!(
            "revert data: 0x{}{}",
            hex::encode(INSUFFICIENT_BALANCE),
            "0".repeat(64)
        )),
        "{unsigned}"
    );
    // Without a trusted identity it refuses to encrypt.
    let refused = Command::new(env!("CARGO_BIN_EXE_txnchain"))
        .args([
            "call",
            "--confidential",
            "--rpc",
            &url,
            "--to",
            &token_arg,
            "getSlot(uint256)",
            "8",
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let wrong = Command::new(env!("CARGO_BIN_EXE_txnchain"))
        .args([
            "call",
            "--confidential",
            "--rpc",
            &url,
            "--to",
            &token_arg,
            "--service-identity",
            &format!("0x{}", "11".repeat(32)),
            "getSlot(uint256)",
            "8",
        ])
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("refusing to encrypt"));
    node.kill().unwrap();
    node.wait().unwrap();

    // The search.
    let mut disk = Vec::new();
    files_under(&data, &mut disk);
    let logs = std::fs::read(&log).unwrap();
    let traffic = capture.lock().unwrap().clone();
    for canary in [NAME_CANARY.as_bytes(), SLOT_CANARY.as_slice()] {
        assert!(!contains(&disk, canary), "canary on disk");
        assert!(!contains(&logs, canary), "canary in the logs");
        assert!(!contains(&traffic, canary), "canary on the wire");
        let hexed = hex::encode(canary);
        assert!(
            !contains(&traffic, hexed.as_bytes()),
            "hex canary on the wire"
        );
        assert!(!contains(&logs, hexed.as_bytes()), "hex canary in the logs");
    }
    assert!(
        contains(&traffic, hex::encode(CONTROL).as_bytes()),
        "the search finds plaintext"
    );
    let head_hash = hex::decode(head["hash"].as_str().unwrap()).unwrap();
    assert!(
        contains(&disk, &head_hash),
        "the search finds public data on disk"
    );
    assert!(
        !contains(&disk, CONTROL),
        "plaintext contracts are encrypted at rest too"
    );
}
