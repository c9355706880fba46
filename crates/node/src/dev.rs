//! The dev chain's genesis: prefunded accounts from the test mnemonic, the predeploys tools
//! expect (the deterministic CREATE2 deployer and Multicall3), the tUSD stablecoin at
//! [`STABLECOIN`] with 1,000,000 tUSD per dev account, and the x402 facilitator's settlement
//! keys (test mnemonic indexes 100–103, see [`FACILITATOR_KEY_INDEXES`]) funded with ETH, and
//! Pixie DEX: the exchange at [`txnchain_executor::pixie::PIXIE`] (a confidential contract)
//! with market 1, [`TETH`] against tUSD, listed; tETH is an 18-decimal dev token with 1,000
//! tETH per dev account.

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

/// The tUSD stablecoin (contracts/src/Stablecoin.sol) in dev genesis: `0x402…0402`.
pub const STABLECOIN: Address = address!("4020000000000000000000000000000000000402");
/// tUSD each dev account holds at genesis, in atomic units (1,000,000 tUSD, 6 decimals).
pub const DEV_TUSD_BALANCE: u64 = 1_000_000_000_000;
/// Test-mnemonic indexes of the facilitator's settlement keys in dev.
pub const FACILITATOR_KEY_INDEXES: std::ops::Range<u32> = 100..104;
/// ETH each facilitator settlement key holds at genesis (1,000 ETH).
pub const FACILITATOR_ETH: u64 = 1_000;

/// tETH, the dev chain's second token (contracts/src/TestToken.sol: 18 decimals, and an open
/// `mint` as a faucet — a dev token, not a production one): `0x7e7e…0018`.
pub const TETH: Address = address!("7e7e7e0000000000000000000000000000000018");
/// tETH each dev account holds at genesis, in atomic units (1,000 tETH).
pub const DEV_TETH_BALANCE: u128 = 1_000_000_000_000_000_000_000;
/// The dev market: id 1, tETH/tUSD, lots of 0.001 tETH, ticks of $0.01 per tETH (10 tUSD
/// units per lot), no fee.
pub fn dev_market() -> txnchain_pixie::Market {
    txnchain_pixie::Market {
        id: 1,
        base: TETH,
        quote: STABLECOIN,
        lot_size: 1_000_000_000_000_000,
        tick_size: 10,
        fee_bps: 0,
        fee_recipient: Address::ZERO,
    }
}

const TEST_TOKEN_ARTIFACT: &str = include_str!("../../../contracts/artifacts/TestToken.json");
const STABLECOIN_ARTIFACT: &str = include_str!("../../../contracts/artifacts/Stablecoin.json");
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

/// The facilitator's dev settlement keys (test mnemonic, indexes 100–103).
pub fn facilitator_keys() -> Result<Vec<PrivateKeySigner>, PrimitivesError> {
    FACILITATOR_KEY_INDEXES
        .map(|i| txnchain_primitives::dev::derive_key(DEV_MNEMONIC, i))
        .collect()
}

/// `keccak256(abi.encode(key, slot))`: the storage slot of `mapping[key]` at `slot`.
pub fn mapping_slot(key: Address, slot: u64) -> U256 {
    let mut buf = [0u8; 64];
    buf[12..32].copy_from_slice(key.as_slice());
    buf[32..].copy_from_slice(&U256::from(slot).to_be_bytes::<32>());
    U256::from_be_bytes(alloy_primitives::keccak256(buf).0)
}

/// The Stablecoin's genesis storage (layout in contracts/README.md): each holder gets
/// [`DEV_TUSD_BALANCE`], `totalSupply` is their sum, and `owner` (if any) is owner and minter.
pub fn stablecoin_storage(
    holders: impl IntoIterator<Item = Address>,
    owner: Option<Address>,
) -> BTreeMap<U256, U256> {
    let mut storage = BTreeMap::new();
    let mut total = U256::ZERO;
    for h in holders {
        if storage
            .insert(mapping_slot(h, 3), U256::from(DEV_TUSD_BALANCE))
            .is_none()
        {
            total += U256::from(DEV_TUSD_BALANCE);
        }
    }
    storage.insert(U256::from(1), total);
    if let Some(owner) = owner {
        storage.insert(U256::ZERO, U256::from_be_slice(owner.as_slice()));
        storage.insert(mapping_slot(owner, 5), U256::from(1));
    }
    storage
}

/// A Solidity `string` of at most 31 bytes as its storage slot holds it.
fn short_string(s: &str) -> U256 {
    let mut word = [0u8; 32];
    let bytes = s.as_bytes();
    let len = bytes.len().min(31);
    word[..len].copy_from_slice(&bytes[..len]);
    word[31] = u8::try_from(len * 2).unwrap_or(62);
    U256::from_be_bytes(word)
}

/// tETH's genesis storage (TestToken's layout: name 0, symbol 1, totalSupply 2, balanceOf 3).
fn teth_storage(holders: impl IntoIterator<Item = Address>) -> BTreeMap<U256, U256> {
    let mut storage = BTreeMap::new();
    storage.insert(U256::ZERO, short_string("Test Ether"));
    storage.insert(U256::from(1), short_string("tETH"));
    let mut total = U256::ZERO;
    for h in holders {
        if storage
            .insert(mapping_slot(h, 3), U256::from(DEV_TETH_BALANCE))
            .is_none()
        {
            total += U256::from(DEV_TETH_BALANCE);
        }
    }
    storage.insert(U256::from(2), total);
    storage
}

/// The exchange's genesis storage with `markets` listed.
pub fn pixie_storage(
    chain_id: u64,
    markets: impl IntoIterator<Item = txnchain_pixie::Market>,
) -> Result<BTreeMap<U256, U256>, PrimitivesError> {
    let mut ex = txnchain_pixie::Exchange::new(
        txnchain_executor::pixie::config(chain_id),
        txnchain_pixie::MemorySlots::default(),
    );
    for market in markets {
        ex.list_market(market)
            .map_err(|e| PrimitivesError::Genesis(format!("Pixie DEX market: {e}")))?;
    }
    Ok(ex
        .slots()
        .iter()
        .map(|(k, v)| (U256::from_be_bytes(k.0), U256::from_be_bytes(v.0)))
        .collect())
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
    alloc.insert(
        STABLECOIN,
        GenesisAccount {
            code: deployed_bytecode(STABLECOIN_ARTIFACT)?,
            storage: stablecoin_storage(
                keys.iter().map(alloy_signer_local::LocalSigner::address),
                keys.first().map(alloy_signer_local::LocalSigner::address),
            ),
            ..Default::default()
        },
    );
    alloc.insert(
        TETH,
        GenesisAccount {
            code: deployed_bytecode(TEST_TOKEN_ARTIFACT)?,
            storage: teth_storage(keys.iter().map(alloy_signer_local::LocalSigner::address)),
            ..Default::default()
        },
    );
    // The exchange: native code, no EVM code; nonce 1 so that it is never deleted as empty
    // (EIP-161); flagged confidential in the registry, so its storage (the books) is refused
    // to storage-reading RPC and unsigned calls run as address zero.
    alloc.insert(
        txnchain_executor::pixie::PIXIE,
        GenesisAccount {
            nonce: 1,
            storage: pixie_storage(opts.chain_id, [dev_market()])?,
            ..Default::default()
        },
    );
    alloc.insert(
        txnchain_executor::confidential::REGISTRY,
        GenesisAccount {
            nonce: 1,
            storage: BTreeMap::from([(
                txnchain_executor::confidential::registry_slot(txnchain_executor::pixie::PIXIE),
                U256::from(1),
            )]),
            ..Default::default()
        },
    );
    for key in facilitator_keys()? {
        alloc
            .entry(key.address())
            .or_insert_with(|| GenesisAccount {
                balance: U256::from(FACILITATOR_ETH) * U256::from(10u64).pow(U256::from(18)),
                ..Default::default()
            });
    }
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

/// Test-mnemonic indexes [`dev_key_findings`] looks for: the dev accounts tools derive
/// (0–31) and the facilitator's dev settlement keys.
const PUBLIC_KEY_INDEXES: std::ops::Range<u32> = 0..32;

/// The addresses of keys derived from the public test mnemonic, with their index.
pub fn public_test_addresses() -> Result<Vec<(u32, Address)>, PrimitivesError> {
    PUBLIC_KEY_INDEXES
        .chain(FACILITATOR_KEY_INDEXES)
        .map(|i| txnchain_primitives::dev::derive_key(DEV_MNEMONIC, i).map(|k| (i, k.address())))
        .collect()
}

/// What in `genesis` depends on keys anyone can derive from the public test mnemonic: funded
/// accounts, and storage naming such an address (a token owner or minter). A network started
/// from such a genesis can be drained or minted by anyone; `txnchain node` refuses it unless
/// told otherwise.
pub fn dev_key_findings(genesis: &GenesisConfig) -> Result<Vec<String>, PrimitivesError> {
    let public = public_test_addresses()?;
    let index_of = |a: &Address| public.iter().find(|(_, p)| p == a).map(|(i, _)| *i);
    let mut findings = Vec::new();
    for (address, account) in &genesis.alloc {
        if let Some(i) = index_of(address)
            && (!account.balance.is_zero()
                || !account.storage.is_empty()
                || !account.code.is_empty())
        {
            findings.push(format!(
                "account {address} (test mnemonic #{i}) is funded or has state in genesis"
            ));
        }
        for value in account.storage.values() {
            let bytes = value.to_be_bytes::<32>();
            if bytes[..12].iter().all(|b| *b == 0) {
                let named = Address::from_slice(&bytes[12..]);
                if let Some(i) = index_of(&named) {
                    findings.push(format!(
                        "the storage of {address} names {named} (test mnemonic #{i}), e.g. as owner or minter"
                    ));
                }
            }
        }
    }
    findings.sort();
    findings.dedup();
    Ok(findings)
}

/// Whether `address` comes from the public test mnemonic.
pub fn is_public_test_address(address: Address) -> Result<bool, PrimitivesError> {
    Ok(public_test_addresses()?.iter().any(|(_, a)| *a == address))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dev_genesis_is_recognised_and_a_clean_one_is_not() {
        let (genesis, _) = dev_genesis(&DevOptions::default()).unwrap();
        let findings = dev_key_findings(&genesis).unwrap();
        assert!(
            findings
                .iter()
                .any(|f| f.contains("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266")),
            "{findings:?}"
        );
        assert!(
            findings.iter().any(|f| f.contains("owner or minter")),
            "{findings:?}"
        );
        let mut clean = genesis.clone();
        clean
            .alloc
            .retain(|a, _| !is_public_test_address(*a).unwrap());
        for account in clean.alloc.values_mut() {
            account.storage.clear();
        }
        assert_eq!(dev_key_findings(&clean).unwrap(), Vec::<String>::new());
    }
}
