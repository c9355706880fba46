//! Building and checking block 0.

use alloy_consensus::{EMPTY_OMMER_ROOT_HASH, Header};
use alloy_eips::eip7685::EMPTY_REQUESTS_HASH;
use alloy_primitives::{B256, KECCAK256_EMPTY, keccak256};
use txnchain_executor::BlockContext;
use txnchain_primitives::{GenesisConfig, SealedHeader};
use txnchain_storage::{BlockWrite, StateChanges, StorageError, Store};

use crate::LedgerError;

const EMPTY_ROOT: B256 = alloy_consensus::constants::EMPTY_ROOT_HASH;

/// Writes block 0 if the store is empty; otherwise checks that the store holds this genesis.
/// Returns the genesis hash.
pub fn init_genesis(store: &Store, genesis: &GenesisConfig) -> Result<B256, LedgerError> {
    let snap = store.snapshot()?;
    let mut changes = StateChanges::default();
    for (address, acc) in &genesis.alloc {
        let code_hash = if acc.code.is_empty() {
            KECCAK256_EMPTY
        } else {
            keccak256(&acc.code)
        };
        if !acc.code.is_empty() {
            changes.code.insert(code_hash, acc.code.clone());
        }
        changes
            .accounts
            .insert(*address, Some((acc.nonce, acc.balance, code_hash)));
        if !acc.storage.is_empty() {
            changes.storage.insert(*address, acc.storage.clone());
        }
    }
    // The registry of confidential contracts exists from genesis, with nonce 1 so that no
    // transaction touching it can delete it as empty (EIP-161).
    changes
        .accounts
        .entry(txnchain_executor::confidential::REGISTRY)
        .or_insert(Some((1, alloy_primitives::U256::ZERO, KECCAK256_EMPTY)));
    let spec = &genesis.spec;
    let prepared_state_root = if snap.last_applied()?.is_some() {
        None
    } else {
        Some(snap.prepare_state(&changes)?)
    };
    let header = |state_root: B256| Header {
        parent_hash: B256::ZERO,
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        beneficiary: spec.beneficiary,
        state_root,
        transactions_root: EMPTY_ROOT,
        receipts_root: EMPTY_ROOT,
        number: 0,
        gas_limit: spec.block_gas_limit,
        timestamp: genesis.timestamp,
        extra_data: genesis.extra_data.clone(),
        mix_hash: BlockContext::derive_prevrandao(B256::ZERO),
        base_fee_per_gas: Some(spec.base_fee),
        withdrawals_root: Some(EMPTY_ROOT),
        blob_gas_used: Some(0),
        excess_blob_gas: Some(0),
        parent_beacon_block_root: Some(B256::ZERO),
        requests_hash: Some(EMPTY_REQUESTS_HASH),
        ..Default::default()
    };
    let spec_json = format!("{spec:?}");
    match prepared_state_root {
        Some(prepared) => {
            let sealed = SealedHeader::seal(header(prepared.state_root));
            let hash = sealed.hash;
            drop(snap);
            store.apply_block(
                &BlockWrite {
                    header: sealed,
                    transactions: vec![],
                    receipts: vec![],
                    changes,
                    prepared,
                    sealed_results: vec![],
                },
                true,
            )?;
            store.put_meta("chain_spec", spec_json.as_bytes())?;
            Ok(hash)
        }
        None => {
            let stored = snap
                .header(0)?
                .ok_or_else(|| StorageError::Mismatch("block 0 is missing".into()))?;
            let stored_spec = snap.meta("chain_spec")?.unwrap_or_default();
            if stored_spec != spec_json.as_bytes() {
                return Err(StorageError::Mismatch(
                    "the data directory was created with a different chain configuration (chain id, forks, fees or limits)".into(),
                )
                .into());
            }
            Ok(stored.hash)
        }
    }
}
