//! Genesis: geth-style JSON (`config`, `alloc`, `gasLimit`, `baseFeePerGas`, …) turned into a
//! [`ChainSpec`] and the initial accounts.
//!
//! TxnChain-specific settings live under `config.txnchain`:
//!
//! ```json
//! {"config": {"chainId": 424242, "txnchain": {"forks": {"prague": 0, "osaka": 1000}, "maxBlockTxs": 10000}}}
//! ```
//!
//! Without `config.txnchain.forks` the chain runs Prague from block 0; geth's time-based
//! fields (`pragueTime`, `osakaTime`) are ignored in favour of block heights, because a
//! consortium chain activates forks by governance at a known height.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, U256};
use serde::Deserialize;

use crate::chain::{DEFAULT_BASE_FEE, DEFAULT_BLOCK_GAS_LIMIT, DEFAULT_MAX_BLOCK_TXS};
use crate::{ChainSpec, Fork, ForkSchedule, PrimitivesError};

/// One account in the genesis state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GenesisAccount {
    /// Initial nonce.
    pub nonce: u64,
    /// Initial balance in wei.
    pub balance: U256,
    /// Runtime code (constructors do not run for genesis accounts).
    pub code: Bytes,
    /// Initial storage.
    pub storage: BTreeMap<U256, U256>,
}

/// Everything needed to build block 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenesisConfig {
    /// The chain specification.
    pub spec: ChainSpec,
    /// Block 0 timestamp.
    pub timestamp: u64,
    /// Block 0 extra data.
    pub extra_data: Bytes,
    /// Initial accounts.
    pub alloc: BTreeMap<Address, GenesisAccount>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct TxnchainSection {
    #[serde(default)]
    forks: BTreeMap<String, u64>,
    #[serde(default)]
    max_block_txs: Option<usize>,
    #[serde(default)]
    confidential: ConfidentialSection,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConfidentialSection {
    #[serde(default)]
    epoch_seconds: Option<u64>,
}

impl GenesisConfig {
    /// Parses geth-style genesis JSON.
    pub fn from_json(json: &str) -> Result<Self, PrimitivesError> {
        let g: alloy_genesis::Genesis =
            serde_json::from_str(json).map_err(|e| PrimitivesError::Genesis(e.to_string()))?;
        let section: TxnchainSection = match g.config.extra_fields.get("txnchain") {
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| PrimitivesError::Genesis(format!("config.txnchain: {e}")))?,
            None => TxnchainSection::default(),
        };
        let forks = if section.forks.is_empty() {
            ForkSchedule::default()
        } else {
            let entries = section
                .forks
                .iter()
                .map(|(name, at)| Ok((Fork::parse(name)?, *at)))
                .collect::<Result<Vec<_>, PrimitivesError>>()?;
            ForkSchedule::new(entries)?
        };
        if g.config.chain_id == 0 {
            return Err(PrimitivesError::Genesis(
                "config.chainId must be set and non-zero".into(),
            ));
        }
        let base_fee = match g.base_fee_per_gas {
            Some(fee) => u64::try_from(fee).map_err(|_| {
                PrimitivesError::Genesis("baseFeePerGas does not fit in 64 bits".into())
            })?,
            None => DEFAULT_BASE_FEE,
        };
        let epoch_seconds = section
            .confidential
            .epoch_seconds
            .unwrap_or(crate::chain::DEFAULT_EPOCH_SECONDS);
        if epoch_seconds == 0 {
            return Err(PrimitivesError::Genesis(
                "config.txnchain.confidential.epochSeconds must be at least 1".into(),
            ));
        }
        let spec = ChainSpec {
            epoch_seconds,
            chain_id: g.config.chain_id,
            forks,
            base_fee,
            block_gas_limit: if g.gas_limit == 0 {
                DEFAULT_BLOCK_GAS_LIMIT
            } else {
                g.gas_limit
            },
            max_block_txs: section.max_block_txs.unwrap_or(DEFAULT_MAX_BLOCK_TXS),
            beneficiary: g.coinbase,
        };
        let alloc = g
            .alloc
            .into_iter()
            .map(|(addr, acc)| {
                let storage = acc
                    .storage
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v): (B256, B256)| {
                        (U256::from_be_bytes(k.0), U256::from_be_bytes(v.0))
                    })
                    .filter(|(_, v)| !v.is_zero())
                    .collect();
                let account = GenesisAccount {
                    nonce: acc.nonce.unwrap_or(0),
                    balance: acc.balance,
                    code: acc.code.unwrap_or_default(),
                    storage,
                };
                (addr, account)
            })
            .collect();
        Ok(GenesisConfig {
            spec,
            timestamp: g.timestamp,
            extra_data: g.extra_data,
            alloc,
        })
    }
}

impl GenesisConfig {
    /// The geth-style JSON [`GenesisConfig::from_json`] reads back (forks and limits under
    /// `config.txnchain`).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::{Map, Value, json};
        let hex32 =
            |v: &U256| format!("0x{}", alloy_primitives::hex::encode(v.to_be_bytes::<32>()));
        let mut alloc = Map::new();
        for (addr, acc) in &self.alloc {
            let mut a = Map::new();
            a.insert("balance".into(), json!(format!("{:#x}", acc.balance)));
            if acc.nonce != 0 {
                a.insert("nonce".into(), json!(format!("{:#x}", acc.nonce)));
            }
            if !acc.code.is_empty() {
                a.insert("code".into(), json!(acc.code.to_string()));
            }
            if !acc.storage.is_empty() {
                let st: Map<String, Value> = acc
                    .storage
                    .iter()
                    .map(|(k, v)| (hex32(k), json!(hex32(v))))
                    .collect();
                a.insert("storage".into(), Value::Object(st));
            }
            alloc.insert(addr.to_checksum(None), Value::Object(a));
        }
        let forks: Map<String, Value> = self
            .spec
            .forks
            .0
            .iter()
            .map(|(f, at)| {
                (
                    serde_json::to_value(f)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default(),
                    json!(at),
                )
            })
            .collect();
        json!({
            "config": {
                "chainId": self.spec.chain_id,
                "txnchain": {
                    "forks": forks,
                    "maxBlockTxs": self.spec.max_block_txs,
                    "confidential": {"epochSeconds": self.spec.epoch_seconds},
                },
            },
            "nonce": "0x0",
            "timestamp": format!("{:#x}", self.timestamp),
            "extraData": self.extra_data.to_string(),
            "gasLimit": format!("{:#x}", self.spec.block_gas_limit),
            "baseFeePerGas": format!("{:#x}", self.spec.base_fee),
            "difficulty": "0x0",
            "coinbase": self.spec.beneficiary.to_checksum(None),
            "alloc": alloc,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_json_round_trips() {
        let json = r#"{
          "config": {"chainId": 777, "txnchain": {"forks": {"prague": 0, "osaka": 50}, "maxBlockTxs": 500}},
          "gasLimit": "0x1c9c380", "baseFeePerGas": "0x3b9aca00", "timestamp": "0x10", "extraData": "0x01",
          "coinbase": "0x000000000000000000000000000000000000beef",
          "alloc": {"0x1111111111111111111111111111111111111111": {"balance": "0x64", "nonce": "0x2",
             "storage": {"0x01": "0x02"}, "code": "0x6000"}}
        }"#;
        let g = GenesisConfig::from_json(json).unwrap();
        let back = GenesisConfig::from_json(&g.to_json().to_string()).unwrap();
        assert_eq!(back, g);
        assert_eq!(back.spec.max_block_txs, 500);
    }

    #[test]
    fn parses_geth_genesis_with_txnchain_section() {
        let json = r#"{
          "config": {"chainId": 777, "txnchain": {"forks": {"prague": 0, "osaka": 50}}},
          "gasLimit": "0x1c9c380", "baseFeePerGas": "0x3b9aca00", "timestamp": "0x10",
          "coinbase": "0x000000000000000000000000000000000000beef",
          "alloc": {"0x1111111111111111111111111111111111111111": {"balance": "0x64",
             "storage": {"0x01": "0x02"}, "code": "0x6000"}}
        }"#;
        let g = GenesisConfig::from_json(json).unwrap();
        assert_eq!(g.spec.chain_id, 777);
        assert_eq!(g.spec.block_gas_limit, 30_000_000);
        assert_eq!(g.spec.fork_at(49), Fork::Prague);
        assert_eq!(g.spec.fork_at(50), Fork::Osaka);
        assert_eq!(g.timestamp, 16);
        let acc = &g.alloc[&Address::repeat_byte(0x11)];
        assert_eq!(acc.balance, U256::from(100));
        assert_eq!(acc.storage[&U256::from(1)], U256::from(2));
        assert_eq!(acc.code.as_ref(), &[0x60, 0x00]);
    }

    #[test]
    fn rejects_bad_genesis() {
        assert!(GenesisConfig::from_json("{").is_err());
        assert!(GenesisConfig::from_json(r#"{"config":{"chainId":0},"alloc":{}}"#).is_err());
        let bad_fork = r#"{"config":{"chainId":1,"txnchain":{"forks":{"cancun":0}}},"alloc":{}}"#;
        assert!(GenesisConfig::from_json(bad_fork).is_err());
    }
}
