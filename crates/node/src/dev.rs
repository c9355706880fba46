//! The dev chain's genesis: prefunded accounts from the test mnemonic and the predeploys tools
//! expect (the deterministic CREATE2 deployer and Multicall3).

use std::collections::BTreeMap;

use alloy_primitives::{Address, Bytes, U256, address, hex};
use alloy_signer_local::PrivateKeySigner;
use txnchain_primitives::chain::DEV_CHAIN_ID;
use txnchain_primitives::dev::{DEV_MNEMONIC, dev_keys};
use txnchain_primitives::{ChainSpec, GenesisAccount, GenesisConfig, PrimitivesError};

/// The deterministic deployment proxy (CREATE2 factory) address.
pub const CREATE2_DEPLOYER: Address = address!("4e59b44847b379578588920cA78FbF26c0B4956C");
/// Its runtime code: calldata = salt (32 bytes) ‖ init code; returns the created address.
pub const CREATE2_DEPLOYER_CODE: &str = "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe03601600081602082378035828234f58015156039578182fd5b8082525050506014600cf3";
/// The Multicall3 address.
pub const MULTICALL3: Address = address!("cA11bde05977b3631167028862bE2a173976CA11");

const MULTICALL3_ARTIFACT: &str = include_str!("../../../contracts/artifacts/Multicall3.json");

fn deployed_bytecode(artifact: &str) -> Result<Bytes, PrimitivesError> {
    let v: serde_json::Value =
        serde_json::from_str(artifact).map_err(|e| PrimitivesError::Genesis(e.to_string()))?;
    let code = v["deployedBytecode"]
        .as_str()
        .ok_or_else(|| PrimitivesError::Genesis("artifact without deployedBytecode".into()))?;
    hex::decode(code)
        .map(Bytes::from)
        .map_err(|e| PrimitivesError::Genesis(e.to_string()))
}

/// Options of the dev chain.
#[derive(Debug, Clone)]
pub struct DevOptions {
    /// Chain id.
    pub chain_id: u64,
    /// Number of prefunded accounts.
    pub accounts: u32,
    /// Balance of each, in wei.
    pub balance: U256,
}

impl Default for DevOptions {
    fn default() -> Self {
        DevOptions {
            chain_id: DEV_CHAIN_ID,
            accounts: 10,
            balance: U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18)),
        }
    }
}

/// The dev genesis and the dev keys.
pub fn dev_genesis(
    opts: &DevOptions,
) -> Result<(GenesisConfig, Vec<PrivateKeySigner>), PrimitivesError> {
    let keys = dev_keys(DEV_MNEMONIC, opts.accounts)?;
    let mut alloc = BTreeMap::new();
    for k in &keys {
        alloc.insert(
            k.address(),
            GenesisAccount {
                balance: opts.balance,
                ..Default::default()
            },
        );
    }
    let create2 =
        hex::decode(CREATE2_DEPLOYER_CODE).map_err(|e| PrimitivesError::Genesis(e.to_string()))?;
    alloc.insert(
        CREATE2_DEPLOYER,
        GenesisAccount {
            code: create2.into(),
            ..Default::default()
        },
    );
    alloc.insert(
        MULTICALL3,
        GenesisAccount {
            code: deployed_bytecode(MULTICALL3_ARTIFACT)?,
            ..Default::default()
        },
    );
    let spec = ChainSpec {
        chain_id: opts.chain_id,
        ..ChainSpec::default()
    };
    Ok((
        GenesisConfig {
            spec,
            timestamp: 0,
            extra_data: Bytes::new(),
            alloc,
        },
        keys,
    ))
}
