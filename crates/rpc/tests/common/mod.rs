//! The shared fixture of the rpc tests: a real ledger on a temporary store, the eth module,
//! and calls through the JSON-RPC dispatcher as a chosen client.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use alloy_primitives::{Address, Bytes, U256, address};
use alloy_signer_local::PrivateKeySigner;
use serde_json::{Value, json};
use txnchain_http::ClientKey;
use txnchain_jsonrpc::{ConnectionInfo, RpcModule, ServerConfig, handle_request_bytes_from};
use txnchain_ledger::{Ledger, Mempool, PoolLimits};
use txnchain_primitives::{ChainSpec, GenesisAccount, GenesisConfig};
use txnchain_rpc::{EthApi, EthApiConfig};
use txnchain_storage::{Store, StoreOptions};

/// `JUMPDEST PUSH1 0 JUMP`: loops until its gas runs out.
pub(crate) const LOOP: &[u8] = &[0x5b, 0x60, 0x00, 0x56];
pub(crate) const LOOPER: Address = address!("00000000000000000000000000000000000c0de0");

pub(crate) struct Rpc {
    _dir: tempfile::TempDir,
    pub ledger: Arc<Ledger>,
    module: RpcModule<EthApi>,
    api: Arc<EthApi>,
    config: ServerConfig,
}

pub(crate) fn rpc(config: EthApiConfig, block_gas_limit: u64) -> Rpc {
    let dir = tempfile::tempdir().unwrap();
    let mut alloc = BTreeMap::new();
    alloc.insert(
        funded().address(),
        GenesisAccount {
            balance: U256::from(10u64).pow(U256::from(21)),
            ..Default::default()
        },
    );
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
    let store = Arc::new(
        Store::open(
            &dir.path().join("chain.redb"),
            StoreOptions::default(),
            txnchain_storage::at_rest_codec(&txnchain_crypto::keys::LedgerSecret::from_bytes(
                zeroize::Zeroizing::new([7; 32]),
            )),
        )
        .unwrap(),
    );
    txnchain_ledger::genesis::init_genesis(&store, &genesis).unwrap();
    let pool = Arc::new(Mempool::new(PoolLimits::default(), &genesis.spec));
    let ledger = Arc::new(Ledger::new(genesis.spec.clone(), store, pool, true).unwrap());
    Rpc {
        _dir: dir,
        ledger: ledger.clone(),
        module: txnchain_rpc::module().unwrap(),
        api: EthApi::new(ledger, config).unwrap(),
        config: ServerConfig::default(),
    }
}

impl Rpc {
    pub(crate) async fn call_as(&self, client: [u8; 4], method: &str, params: Value) -> Value {
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

    pub(crate) async fn call(&self, method: &str, params: Value) -> Value {
        self.call_as([127, 0, 0, 1], method, params).await
    }
}

pub(crate) fn error(v: &Value) -> (i64, String) {
    (
        v["error"]["code"].as_i64().unwrap_or_default(),
        v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

/// The funded key of the fixture's genesis.
pub(crate) fn funded() -> PrivateKeySigner {
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
        .parse()
        .unwrap()
}

/// Builds and applies one block from the pool.
pub(crate) fn mine(ledger: &Ledger) {
    let p = txnchain_ledger::builder::build_block(ledger, true)
        .unwrap()
        .unwrap();
    ledger.apply_proposal(p).unwrap();
}
