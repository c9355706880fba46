//! Shared fixtures: a fresh store with a small funded genesis, and transaction signing.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy};
use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use txnchain_ledger::{Ledger, Mempool, PoolLimits};
use txnchain_primitives::dev::{DEV_MNEMONIC, dev_keys};
use txnchain_primitives::{ChainSpec, GenesisAccount, GenesisConfig, RecoveredTx};
use txnchain_storage::{Store, StoreOptions};

pub(crate) const GWEI: u128 = 1_000_000_000;

pub(crate) struct Fixture {
    pub dir: tempfile::TempDir,
    pub ledger: Arc<Ledger>,
    pub keys: Vec<PrivateKeySigner>,
    pub genesis: GenesisConfig,
}

pub(crate) fn genesis(keys: &[PrivateKeySigner]) -> GenesisConfig {
    let mut alloc = BTreeMap::new();
    for k in keys {
        alloc.insert(
            k.address(),
            GenesisAccount {
                balance: U256::from(10u64).pow(U256::from(21)),
                ..Default::default()
            },
        );
    }
    GenesisConfig {
        spec: ChainSpec::default(),
        timestamp: 0,
        extra_data: Bytes::new(),
        alloc,
    }
}

pub(crate) fn open(
    dir: &std::path::Path,
    genesis: &GenesisConfig,
    limits: PoolLimits,
) -> Arc<Ledger> {
    open_with(dir, genesis, limits, StoreOptions::default())
}

pub(crate) fn open_with(
    dir: &std::path::Path,
    genesis: &GenesisConfig,
    limits: PoolLimits,
    options: StoreOptions,
) -> Arc<Ledger> {
    let store = Arc::new(
        Store::open(
            &dir.join("chain.redb"),
            options,
            txnchain_storage::at_rest_codec(&txnchain_crypto::keys::LedgerSecret::from_bytes(
                zeroize::Zeroizing::new([7; 32]),
            )),
        )
        .unwrap(),
    );
    txnchain_ledger::genesis::init_genesis(&store, genesis).unwrap();
    let pool = Arc::new(Mempool::new(limits, &genesis.spec));
    Arc::new(Ledger::new(genesis.spec.clone(), store, pool, true).unwrap())
}

pub(crate) fn fixture_with(limits: PoolLimits) -> Fixture {
    let keys = dev_keys(DEV_MNEMONIC, 4).unwrap();
    let genesis = genesis(&keys);
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path(), &genesis, limits);
    Fixture {
        dir,
        ledger,
        keys,
        genesis,
    }
}

pub(crate) fn fixture() -> Fixture {
    fixture_with(PoolLimits::default())
}

pub(crate) fn eip1559(
    key: &PrivateKeySigner,
    nonce: u64,
    f: impl FnOnce(&mut TxEip1559),
) -> RecoveredTx {
    let mut tx = TxEip1559 {
        chain_id: 424242,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 2 * GWEI,
        max_priority_fee_per_gas: 0,
        to: TxKind::Call(Address::repeat_byte(0x42)),
        value: U256::from(1),
        ..Default::default()
    };
    f(&mut tx);
    let sig = key.sign_hash_sync(&tx.signature_hash()).unwrap();
    let env: TxEnvelope = tx.into_signed(sig).into();
    RecoveredTx::from_envelope(env).unwrap()
}

pub(crate) fn legacy(key: &PrivateKeySigner, nonce: u64, chain_id: Option<u64>) -> RecoveredTx {
    let tx = TxLegacy {
        chain_id,
        nonce,
        gas_price: 2 * GWEI,
        gas_limit: 21_000,
        to: TxKind::Call(Address::repeat_byte(0x42)),
        value: U256::from(1),
        ..Default::default()
    };
    let sig = key.sign_hash_sync(&tx.signature_hash()).unwrap();
    let env: TxEnvelope = tx.into_signed(sig).into();
    RecoveredTx::from_envelope(env).unwrap()
}

/// Builds and applies one block through the same path the node uses (builder → log → apply).
pub(crate) fn commit_block(ledger: &Ledger) -> Option<txnchain_primitives::SealedBlock> {
    let proposal = txnchain_ledger::builder::build_block(ledger, false).unwrap()?;
    let block = proposal.block.clone();
    ledger.apply_proposal(proposal).unwrap();
    Some(block)
}

/// `block` with its header changed by `edit` (and sealed again), as a forged proposal would be.
pub(crate) fn forged(
    block: &txnchain_primitives::SealedBlock,
    edit: impl FnOnce(&mut alloy_consensus::Header),
) -> txnchain_primitives::SealedBlock {
    let mut header = block.header.header.clone();
    edit(&mut header);
    txnchain_primitives::SealedBlock {
        header: txnchain_primitives::SealedHeader::seal(header),
        transactions: block.transactions.clone(),
    }
}

/// Applies `block` on a fresh follower of `genesis` and returns the root it diverged on (and
/// the follower, for checks that nothing was written); panics if it did not diverge.
pub(crate) fn divergence_on_follower(
    genesis: &GenesisConfig,
    block: &txnchain_primitives::SealedBlock,
) -> (&'static str, u64, tempfile::TempDir, Arc<Ledger>) {
    let dir = tempfile::tempdir().unwrap();
    let follower = open(dir.path(), genesis, PoolLimits::default());
    match follower.apply_committed(block) {
        Err(txnchain_ledger::LedgerError::Exec(txnchain_executor::ExecError::Divergence {
            what,
            number,
            ..
        })) => (what, number, dir, follower),
        other => panic!("expected a divergence, got {other:?}"),
    }
}
