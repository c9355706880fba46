//! Harnesses for the REST fuzz targets (feature `fuzzing`, never in a production build). Each
//! panics on a broken invariant, which is what the fuzzer looks for.
//!
//! - [`rest_request`]: bytes as a request (`METHOD path?query`, newline, body) to the REST
//!   routes of the TxnChain API (submit, status with long-poll, receipts, roots,
//!   consistency) over a real ledger with committed transactions (plaintext and signed
//!   roots): never a 5xx, every error a JSON `{"error":{"code","message"}}`, and
//!   every receipt or signed root served verifies against the service identity.
//! - [`receipt_document`]: bytes as a receipt file: parsing and offline verification never
//!   panic, and only a receipt that verifies is accepted.

// A harness: a failed setup or a broken invariant must panic, which is what the fuzzer sees.
#![allow(clippy::expect_used)]

use std::sync::{Arc, OnceLock};

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{B256, TxKind, U256};
use alloy_signer::SignerSync;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use tower::ServiceExt;
use txnchain_crypto::keys::{LedgerSecret, NetworkKeys, ServiceIdentity};
use txnchain_ledger::receipts::Signer;
use txnchain_ledger::{Ledger, Mempool, PoolLimits};
use txnchain_ledger_tree::receipt::{Receipt, SignedRoot};
use txnchain_primitives::RecoveredTx;
use txnchain_storage::{Store, StoreOptions};

struct App {
    runtime: tokio::runtime::Runtime,
    router: Router,
    hashes: Vec<B256>,
    raws: Vec<String>,
    identity: [u8; 32],
    _dir: tempfile::TempDir,
}

fn app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| {
        let (genesis, keys) =
            crate::dev::dev_genesis(&crate::dev::DevOptions::default()).expect("dev genesis");
        let dir = tempfile::tempdir().expect("temporary directory");
        let secret = LedgerSecret::from_bytes(zeroize::Zeroizing::new([5; 32]));
        let store = Arc::new(
            Store::open(
                &dir.path().join("chain.redb"),
                StoreOptions::default(),
                txnchain_storage::at_rest_codec(&secret),
            )
            .expect("store"),
        );
        txnchain_ledger::genesis::init_genesis(&store, &genesis).expect("genesis");
        let network = Arc::new(NetworkKeys::new(
            genesis.spec.chain_id,
            ServiceIdentity::from_seed(&[6; 32]),
            secret,
        ));
        let pool = Arc::new(Mempool::new(PoolLimits::default(), &genesis.spec));
        let ledger = Arc::new(
            Ledger::new(genesis.spec.clone(), store, pool, true)
                .and_then(|l| l.with_network_keys(network.clone()))
                .expect("ledger"),
        );
        let mut hashes = Vec::new();
        let mut raws = Vec::new();
        for block in 0..3u64 {
            for i in 0..=block {
                let key = &keys[usize::try_from(i).unwrap_or(0)];
                let tx = TxEip1559 {
                    chain_id: genesis.spec.chain_id,
                    nonce: block - i,
                    gas_limit: 21_000,
                    max_fee_per_gas: 100_000_000_000,
                    max_priority_fee_per_gas: 1,
                    to: TxKind::Call(keys[9].address()),
                    value: U256::from(1),
                    ..Default::default()
                };
                let sig = key.sign_hash_sync(&tx.signature_hash()).expect("sign");
                let raw = TxEnvelope::from(tx.into_signed(sig)).encoded_2718();
                raws.push(alloy_primitives::hex::encode_prefixed(&raw));
                let tx = RecoveredTx::decode(&raw).expect("decode");
                hashes.push(ledger.submit(tx).expect("admit"));
            }
            let proposal = txnchain_ledger::builder::build_block(&ledger, false)
                .expect("build")
                .expect("a block");
            ledger.apply_proposal(proposal).expect("apply");
        }
        let signer = Signer {
            chain_id: genesis.spec.chain_id,
            service_identity: network.service_identity(),
        };
        App {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
            router: crate::ledger::router(
                ledger.clone(),
                txnchain_rpc::EthApi::new(ledger, txnchain_rpc::EthApiConfig::default())
                    .expect("api"),
                signer,
                // Long-polls end at once: the fuzzer must not wait.
                std::time::Duration::from_millis(20),
            ),
            hashes,
            raws,
            identity: network.service_identity(),
            _dir: dir,
        }
    })
}

/// One request to the REST routes. Input: `METHOD target\nbody`; in the target, `{tx}` and
/// `{tx0..}` stand for committed transaction hashes (so the fuzzer reaches served receipts),
/// and in the body `{raw}` for a committed transaction's signed bytes.
pub fn rest_request(data: &[u8]) {
    let _ = rest_exchange(data);
}

/// [`rest_request`], returning the answer's status and body (`None`: the bytes are not a
/// request), for the corpus tests to check that seeds reach what they aim at.
pub fn rest_exchange(data: &[u8]) -> Option<(StatusCode, Vec<u8>)> {
    let app = app();
    let text = String::from_utf8_lossy(data);
    let (head, body) = text.split_once('\n').unwrap_or((&text, ""));
    let (method, target) = head.split_once(' ').unwrap_or(("GET", head));
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return None;
    };
    let mut target = target.replace("{tx}", &app.hashes[0].to_string());
    for (i, h) in app.hashes.iter().enumerate() {
        target = target.replace(&format!("{{tx{i}}}"), &h.to_string());
    }
    let body = body.replace("{raw}", &app.raws[0]);
    let Ok(request) = Request::builder()
        .method(method)
        .uri(target.as_str())
        .body(Body::from(body))
    else {
        return None;
    };
    let (status, bytes) = app.runtime.block_on(async {
        let response = match app.router.clone().oneshot(request).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("a bounded body");
        (status, bytes)
    });
    assert!(
        !status.is_server_error(),
        "{target}: {status} {}",
        String::from_utf8_lossy(&bytes)
    );
    if bytes.is_empty() {
        // Routing's own answers (no such route, wrong method) carry no body.
        assert!(
            matches!(
                status,
                StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
            ) || status.is_success(),
            "{target}: {status} without a body"
        );
        return Some((status, bytes.to_vec()));
    }
    let json: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        // Axum's extractor rejections (a malformed query string) answer in plain text.
        Err(_) if status == StatusCode::BAD_REQUEST => return Some((status, bytes.to_vec())),
        Err(e) => panic!("{target}: {status}: not JSON: {e}"),
    };
    if status.is_client_error() {
        assert!(json["error"]["code"].is_string(), "{target}: {json}");
        assert!(json["error"]["message"].is_string(), "{target}: {json}");
    } else if let Ok(receipt) = serde_json::from_value::<Receipt>(json.clone()) {
        receipt
            .verify(&app.identity)
            .unwrap_or_else(|e| panic!("{target}: a served receipt fails: {e}"));
    } else if let Ok(root) = serde_json::from_value::<SignedRoot>(json) {
        root.verify(&app.identity)
            .unwrap_or_else(|e| panic!("{target}: a served root fails: {e}"));
    }
    Some((status, bytes.to_vec()))
}

/// Bytes as a receipt file for `txnchain receipt verify`.
pub fn receipt_document(data: &[u8]) {
    let app = app();
    let Ok(receipt) = serde_json::from_slice::<Receipt>(data) else {
        return;
    };
    // Against the identity it names (every check runs up to the signature) and against the
    // ledger's.
    let _ = receipt.verify(&receipt.service_identity.0);
    if let Ok(verified) = receipt.verify(&app.identity) {
        // Only the node's own receipts verify: the fuzzer cannot forge the signature.
        assert!(
            app.hashes.contains(&verified.transaction_hash),
            "a receipt verified for a transaction the ledger never had"
        );
    }
}
