//! The harness of the `rpc_params` fuzz target and its corpus test (feature `fuzzing`, never
//! in a production build): arbitrary params for every method of the real eth API, on a
//! small real chain (a temporary store with a funded account and a contract), through the
//! JSON-RPC dispatcher. It panics when an answer is not a well-formed JSON-RPC response.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use alloy_primitives::{Address, Bytes, U256, address};
use txnchain_jsonrpc::{RpcModule, ServerConfig, handle_request_bytes};
use txnchain_ledger::{Ledger, Mempool, PoolLimits};
use txnchain_primitives::{ChainSpec, GenesisAccount, GenesisConfig};
use txnchain_storage::{Store, StoreOptions};

use crate::{EthApi, EthApiConfig};

struct Harness {
    _dir: tempfile::TempDir,
    module: RpcModule<EthApi>,
    api: Arc<EthApi>,
    config: ServerConfig,
    methods: Vec<&'static str>,
    runtime: tokio::runtime::Runtime,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("temp dir: {e}"));
        let mut alloc = BTreeMap::new();
        alloc.insert(
            address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
            GenesisAccount {
                balance: U256::from(10u64).pow(U256::from(21)),
                ..Default::default()
            },
        );
        // A contract that stores its calldata's first word and returns it.
        alloc.insert(
            Address::repeat_byte(0xc0),
            GenesisAccount {
                code: Bytes::from_static(&[
                    0x60, 0x00, 0x35, 0x80, 0x60, 0x00, 0x55, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60,
                    0x00, 0xf3,
                ]),
                ..Default::default()
            },
        );
        let genesis = GenesisConfig {
            spec: ChainSpec::default(),
            timestamp: 0,
            extra_data: Bytes::new(),
            alloc,
        };
        let store = Store::open(
            &dir.path().join("chain.redb"),
            StoreOptions::default(),
            txnchain_storage::fresh_at_rest_codec()
                .unwrap_or_else(|e| unreachable!("ledger secret: {e}")),
        )
        .unwrap_or_else(|e| unreachable!("store: {e}"));
        let store = Arc::new(store);
        txnchain_ledger::genesis::init_genesis(&store, &genesis)
            .unwrap_or_else(|e| unreachable!("genesis: {e}"));
        let pool = Arc::new(Mempool::new(PoolLimits::default(), &genesis.spec));
        let ledger = Arc::new(
            Ledger::new(genesis.spec.clone(), store, pool, true)
                .unwrap_or_else(|e| unreachable!("ledger: {e}")),
        );
        let api = EthApi::new(
            ledger,
            EthApiConfig {
                evm_timeout: Duration::from_millis(200),
                ..EthApiConfig::default()
            },
        )
        .unwrap_or_else(|e| unreachable!("api: {e}"));
        let module = crate::module().unwrap_or_else(|e| unreachable!("module: {e}"));
        let methods = module.method_names();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap_or_else(|e| unreachable!("runtime: {e}"));
        Harness {
            _dir: dir,
            module,
            api,
            config: ServerConfig::default(),
            methods,
            runtime,
        }
    })
}

/// The method names the harness dispatches to (index = first input byte, modulo).
pub fn methods() -> &'static [&'static str] {
    &harness().methods
}

/// The first byte picks a method; the rest are its params (JSON if they parse, else one
/// string param).
pub fn call(data: &[u8]) {
    let h = harness();
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let method = h.methods[usize::from(pick) % h.methods.len()];
    if method.ends_with("_subscribe") || method.ends_with("_unsubscribe") {
        return; // WebSocket-only; covered by the jsonrpc_request target
    }
    let params = match serde_json::from_slice::<serde_json::Value>(rest) {
        Ok(v) => v,
        Err(_) => serde_json::json!([String::from_utf8_lossy(rest)]),
    };
    let request =
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let bytes = request.to_string();
    let out = h.runtime.block_on(handle_request_bytes(
        &h.module,
        &h.api,
        &h.config,
        bytes.as_bytes(),
    ));
    let Some(out) = out else {
        panic!("{method}: no response to a call");
    };
    txnchain_jsonrpc::fuzzing::check_response(&out);
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out)
        && let Some(code) = v.pointer("/error/code").and_then(serde_json::Value::as_i64)
    {
        assert!(
            code != -32603 || method == "eth_sendRawTransactionSync",
            "{method}: internal error {v}"
        );
    }
}
