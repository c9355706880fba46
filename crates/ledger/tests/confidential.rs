#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Confidential execution through the node's own block path (builder → apply): enveloped
//! deployment and calls, sealed results only the sender opens, private logs out of
//! receipts, the confidential flag in replicated state, envelopes that do not open, and no
//! plaintext in the data directory.

mod common;

use std::sync::Arc;

use alloy_consensus::TxEip1559;
use alloy_primitives::{Address, Bytes, TxKind, U256, hex};
use alloy_sol_types::SolValue;
use common::{GWEI, eip1559, genesis};
use txnchain_crypto::envelope::{Binding, seal};
use txnchain_crypto::keys::{LedgerSecret, NetworkKeys, ServiceIdentity};
use txnchain_crypto::result::{ResultKey, open_result};
use txnchain_executor::confidential::{REGISTRY, registry_slot};
use txnchain_ledger::{Ledger, Mempool, PoolLimits};
use txnchain_primitives::StoredReceipt;
use txnchain_primitives::dev::{DEV_MNEMONIC, dev_keys};
use txnchain_storage::{Store, StoreOptions};
use zeroize::Zeroizing;

const CHAIN: u64 = 424_242;

fn token_initcode(name: &str) -> Vec<u8> {
    let artifact: serde_json::Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../contracts/artifacts/TestToken.json"
    )))
    .unwrap();
    let mut code = hex::decode(artifact["bytecode"].as_str().unwrap()).unwrap();
    code.extend(
        (
            name.to_string(),
            "SEC".to_string(),
            U256::from(1_000_000u64),
        )
            .abi_encode_params(),
    );
    code
}

fn transfer(to: Address, amount: u64) -> Vec<u8> {
    let mut data = hex!("a9059cbb").to_vec();
    data.extend((to, U256::from(amount)).abi_encode_params());
    data
}

struct Chain {
    dir: tempfile::TempDir,
    ledger: Arc<Ledger>,
    keys: Arc<NetworkKeys>,
}

fn chain() -> Chain {
    let signers = dev_keys(DEV_MNEMONIC, 2).unwrap();
    let genesis = genesis(&signers);
    let dir = tempfile::tempdir().unwrap();
    let secret = LedgerSecret::from_bytes(Zeroizing::new([0x42; 32]));
    let codec = txnchain_storage::at_rest_codec(&secret);
    let store = Arc::new(
        Store::open(
            &dir.path().join("chain.redb"),
            StoreOptions::default(),
            codec,
        )
        .unwrap(),
    );
    txnchain_ledger::genesis::init_genesis(&store, &genesis).unwrap();
    let keys = Arc::new(NetworkKeys::new(
        CHAIN,
        ServiceIdentity::from_seed(&[1; 32]),
        secret,
    ));
    let pool = Arc::new(Mempool::new(PoolLimits::default(), &genesis.spec));
    let ledger = Arc::new(
        Ledger::new(genesis.spec.clone(), store, pool, true)
            .unwrap()
            .with_network_keys(keys.clone())
            .unwrap(),
    );
    Chain { dir, ledger, keys }
}

impl Chain {
    fn epoch(&self) -> u64 {
        let snap = self.ledger.store().snapshot().unwrap();
        let ctx = txnchain_ledger::builder::next_block_context(
            self.ledger.chain(),
            &snap,
            self.ledger.clock(),
        )
        .unwrap();
        self.ledger.chain().epoch_at(ctx.timestamp)
    }

    /// Seals `plaintext` for a transaction of `sender` at `nonce` to `to`.
    fn envelope(
        &self,
        sender: Address,
        to: Option<Address>,
        nonce: u64,
        plaintext: &[u8],
    ) -> (Vec<u8>, ResultKey) {
        let epoch = self.epoch();
        let pk = self.keys.epoch_key(epoch);
        let s = seal(
            pk.public(),
            CHAIN,
            epoch,
            &Binding::Tx { sender, to, nonce },
            plaintext,
        )
        .unwrap();
        (s.envelope, s.result_key)
    }

    /// Submits one transaction, commits its block, returns its receipt.
    fn run(&self, tx: txnchain_primitives::RecoveredTx) -> StoredReceipt {
        let hash = tx.hash();
        self.ledger.submit(tx).unwrap();
        common::commit_block(&self.ledger).unwrap();
        let snap = self.ledger.store().snapshot().unwrap();
        let (loc, _) = snap.transaction(hash).unwrap().unwrap();
        snap.block_receipts(loc.block).unwrap().unwrap()[loc.index as usize].clone()
    }

    fn sealed(&self, hash: alloy_primitives::B256) -> Bytes {
        self.ledger
            .store()
            .snapshot()
            .unwrap()
            .sealed_result(hash)
            .unwrap()
            .expect("a sealed result")
    }
}

fn tx(
    key: &alloy_signer_local::PrivateKeySigner,
    nonce: u64,
    to: Option<Address>,
    data: Vec<u8>,
) -> txnchain_primitives::RecoveredTx {
    eip1559(key, nonce, |t: &mut TxEip1559| {
        t.to = to.map_or(TxKind::Create, TxKind::Call);
        t.input = data.into();
        t.gas_limit = 3_000_000;
        t.value = U256::ZERO;
        t.max_fee_per_gas = 2 * GWEI;
    })
}

#[test]
fn enveloped_contracts_run_privately_and_only_the_sender_reads_results() {
    let c = chain();
    let signers = dev_keys(DEV_MNEMONIC, 2).unwrap();
    let (alice, bob) = (&signers[0], &signers[1]);

    // Deploy confidentially: the init code (with a canary in the constructor) is enveloped.
    let (env, key) = c.envelope(
        alice.address(),
        None,
        0,
        &token_initcode("NAME-CANARY-d41f"),
    );
    let deploy = tx(alice, 0, None, env);
    let deploy_hash = deploy.hash();
    let receipt = c.run(deploy);
    assert!(receipt.success);
    let token = receipt.contract_address().unwrap();
    assert!(
        receipt.logs.is_empty(),
        "the mint's Transfer is private: {:?}",
        receipt.logs
    );
    let result = open_result(&key, &c.sealed(deploy_hash)).unwrap();
    assert!(result.success());
    assert_eq!(
        result.logs.len(),
        1,
        "the constructor's Transfer, privately"
    );
    assert_eq!(result.logs[0].address, token);
    let snap = c.ledger.store().snapshot().unwrap();
    assert_eq!(
        snap.storage(REGISTRY, registry_slot(token)).unwrap(),
        U256::from(1)
    );

    // An enveloped transfer: success, no public log, the sender's result has return + log.
    let (env, key) = c.envelope(alice.address(), Some(token), 1, &transfer(bob.address(), 7));
    let t = tx(alice, 1, Some(token), env);
    let hash = t.hash();
    let receipt = c.run(t);
    assert!(receipt.success && receipt.logs.is_empty());
    let result = open_result(&key, &c.sealed(hash)).unwrap();
    assert_eq!(result.output.as_ref(), U256::from(1).to_be_bytes::<32>());
    assert_eq!(result.logs.len(), 1);
    // Another key (any other envelope's) cannot open it.
    let (_, other) = c.envelope(alice.address(), Some(token), 1, b"x");
    assert!(open_result(&other, &c.sealed(hash)).is_err());

    // A revert: status 0, the reason only inside the sealed result.
    let (env, key) = c.envelope(alice.address(), Some(token), 2, &hex!("e7cb5232"));
    let t = tx(alice, 2, Some(token), env);
    let hash = t.hash();
    let receipt = c.run(t);
    assert!(!receipt.success);
    let result = open_result(&key, &c.sealed(hash)).unwrap();
    assert!(!result.success());
    assert_eq!(
        &result.output[..4],
        &hex!("08c379a0"),
        "Error(string) revert data"
    );

    // An envelope made for another nonce does not open: status 0, intrinsic gas only, and
    // its result opens with no client key.
    let (env, key) = c.envelope(
        alice.address(),
        Some(token),
        99,
        &transfer(bob.address(), 1),
    );
    let t = tx(alice, 3, Some(token), env.clone());
    let hash = t.hash();
    let receipt = c.run(t);
    assert!(!receipt.success);
    // Nothing executed: the gas is the EIP-7623 calldata floor of the envelope bytes.
    let tokens: u64 = env.iter().map(|b| if *b == 0 { 1 } else { 4 }).sum();
    assert_eq!(receipt.gas_used, 21_000 + 10 * tokens);
    assert!(open_result(&key, &c.sealed(hash)).is_err());

    // A plaintext call into the confidential contract runs; its logs stay private too.
    let receipt = c.run(tx(alice, 4, Some(token), transfer(bob.address(), 1)));
    assert!(receipt.success && receipt.logs.is_empty());

    // A plaintext deployment is an ordinary contract with public logs.
    let receipt = c.run(tx(alice, 5, None, token_initcode("Public")));
    let public = receipt.contract_address().unwrap();
    assert_eq!(receipt.logs.len(), 1);
    let snap = c.ledger.store().snapshot().unwrap();
    assert_eq!(
        snap.storage(REGISTRY, registry_slot(public)).unwrap(),
        U256::ZERO
    );

    // The read side: a confidential contract's storage and storage proofs are refused with
    // the spec's message, its account stays public; a public contract reads straight through;
    // an unsigned call to the confidential one runs as sender zero.
    let reader = c.ledger.reader().unwrap();
    let latest = reader.latest().unwrap();
    assert!(reader.is_confidential(token).unwrap() && !reader.is_confidential(public).unwrap());
    let refused = reader
        .storage_at(token, U256::ZERO, latest, "eth_getStorageAt")
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        format!("confidential contract {token}: eth_getStorageAt is not available")
    );
    assert!(matches!(
        reader.storage_proof(token, U256::ZERO, "eth_getProof"),
        Err(txnchain_ledger::LedgerError::Confidential { .. })
    ));
    assert!(reader.account_at(token, latest).unwrap().is_some());
    assert!(reader.account_proof(token).unwrap().0.is_some());
    // The public token's total supply (slot 2 of TestToken) reads through, at every block.
    let supply = reader
        .storage_at(public, U256::from(2), latest, "eth_getStorageAt")
        .unwrap();
    assert_eq!(supply, U256::from(1_000_000u64));
    assert_eq!(
        reader
            .storage_at(public, U256::from(2), latest - 1, "eth_getStorageAt")
            .unwrap(),
        U256::ZERO,
        "before its deployment block"
    );
    assert_eq!(
        reader
            .unsigned_sender(Some(token), alice.address())
            .unwrap(),
        Address::ZERO
    );
    assert_eq!(
        reader
            .unsigned_sender(Some(public), alice.address())
            .unwrap(),
        alice.address()
    );

    // Nothing of the plaintext is on disk, while public data is (so the search works).
    let bytes = std::fs::read(c.dir.path().join("chain.redb")).unwrap();
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(!has(b"NAME-CANARY-d41f"));
    assert!(has(snap.header(1).unwrap().unwrap().hash.as_slice()));
}

fn probe_initcode() -> Vec<u8> {
    let artifact: serde_json::Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../contracts/artifacts/PublicLogProbe.json"
    )))
    .unwrap();
    hex::decode(artifact["bytecode"].as_str().unwrap()).unwrap()
}

fn announce(secret: u64, note: &[u8]) -> Vec<u8> {
    let mut data = alloy_primitives::keccak256("announce(uint256,bytes)")[..4].to_vec();
    data.extend((U256::from(secret), Bytes::copy_from_slice(note)).abi_encode_params());
    data
}

#[test]
fn confidential_contracts_publish_only_through_the_public_log_precompile() {
    let c = chain();
    let signers = dev_keys(DEV_MNEMONIC, 1).unwrap();
    let alice = &signers[0];
    let announced = alloy_primitives::keccak256("Announced(uint256,bytes)");
    let secret_topic = alloy_primitives::keccak256("Secret(uint256)");

    let (env, _) = c.envelope(alice.address(), None, 0, &probe_initcode());
    let probe = c.run(tx(alice, 0, None, env)).contract_address().unwrap();
    let (env, key) = c.envelope(alice.address(), Some(probe), 1, &announce(42, b"hello"));
    let t = tx(alice, 1, Some(probe), env);
    let hash = t.hash();
    let receipt = c.run(t);
    assert!(receipt.success);
    // The receipt holds exactly the published log, as the contract's own.
    assert_eq!(receipt.logs.len(), 1, "{:?}", receipt.logs);
    let public = &receipt.logs[0];
    assert_eq!(public.address, probe);
    assert_eq!(
        public.topics(),
        &[announced, alloy_primitives::B256::from(U256::from(1))]
    );
    assert_eq!(
        public.data.data.as_ref(),
        Bytes::from_static(b"hello").abi_encode().as_slice()
    );
    // The private event reached the sender only.
    let result = open_result(&key, &c.sealed(hash)).unwrap();
    assert_eq!(result.logs.len(), 1);
    assert_eq!(result.logs[0].topics(), &[secret_topic]);
    assert_eq!(
        result.logs[0].data.data.as_ref(),
        U256::from(42).to_be_bytes::<32>()
    );

    // Five topics: the precompile refuses, the call reverts, nothing is published.
    let data = alloy_primitives::keccak256("tooManyTopics()")[..4].to_vec();
    let receipt = c.run(tx(alice, 2, Some(probe), data));
    assert!(!receipt.success && receipt.logs.is_empty());

    // A plaintext contract's events are all public, the published one included.
    let plain = c
        .run(tx(alice, 3, None, probe_initcode()))
        .contract_address()
        .unwrap();
    let receipt = c.run(tx(alice, 4, Some(plain), announce(7, b"x")));
    let topics: Vec<_> = receipt
        .logs
        .iter()
        .map(|l| (l.address, l.topics()[0]))
        .collect();
    assert_eq!(topics, vec![(plain, secret_topic), (plain, announced)]);
}

/// Envelopes of admitted transactions are opened ahead, off the block path; the block takes
/// them from there, and the outcome is exactly that of opening in execution: same receipts,
/// same sealed results (the control chain admits straight into its pool, so nothing is
/// opened ahead there).
#[test]
fn envelopes_opened_ahead_give_the_same_outcome() {
    let ahead = chain();
    let control = chain();
    let signers = dev_keys(DEV_MNEMONIC, 2).unwrap();
    let (alice, bob) = (&signers[0], &signers[1]);
    let (env, _) = ahead.envelope(alice.address(), None, 0, &token_initcode("Ahead"));
    let token = ahead
        .run(tx(alice, 0, None, env.clone()))
        .contract_address()
        .unwrap();
    assert_eq!(
        control.run(tx(alice, 0, None, env)).contract_address(),
        Some(token)
    );

    // Three transfers and one envelope made for another nonce (it does not open).
    let mut txs = Vec::new();
    let mut keys = Vec::new();
    for nonce in 1..=3u64 {
        let (env, key) = ahead.envelope(
            alice.address(),
            Some(token),
            nonce,
            &transfer(bob.address(), nonce),
        );
        txs.push(tx(alice, nonce, Some(token), env));
        keys.push(key);
    }
    let (bad, _) = ahead.envelope(
        alice.address(),
        Some(token),
        99,
        &transfer(bob.address(), 9),
    );
    txs.push(tx(alice, 4, Some(token), bad));
    for t in &txs {
        ahead.ledger.submit(t.clone()).unwrap();
        let snap = control.ledger.store().snapshot().unwrap();
        control
            .ledger
            .pool()
            .admit(t.clone(), &snap, false, control.ledger.clock())
            .unwrap();
    }
    let opened = ahead
        .ledger
        .opened_ahead()
        .expect("a ledger with keys opens ahead");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !txs[..3].iter().all(|t| opened.contains(&t.hash())) {
        assert!(std::time::Instant::now() < deadline, "not opened ahead");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let control_opened = control.ledger.opened_ahead().unwrap();
    assert!(!txs.iter().any(|t| control_opened.contains(&t.hash())));

    let block = common::commit_block(&ahead.ledger).unwrap();
    let control_block = common::commit_block(&control.ledger).unwrap();
    assert_eq!(block.transactions.len(), 4);
    assert!(
        !txs.iter().any(|t| opened.contains(&t.hash())),
        "the block took every opened envelope"
    );
    let receipts = |c: &Chain, n: u64| {
        let snap = c.ledger.store().snapshot().unwrap();
        snap.block_receipts(n).unwrap().unwrap()
    };
    assert_eq!(
        receipts(&ahead, block.number()),
        receipts(&control, control_block.number())
    );
    for (t, key) in txs.iter().zip(&keys) {
        let sealed = ahead.sealed(t.hash());
        assert_eq!(sealed, control.sealed(t.hash()));
        let result = open_result(key, &sealed).unwrap();
        assert_eq!(result.output.as_ref(), U256::from(1).to_be_bytes::<32>());
    }
    assert_eq!(ahead.sealed(txs[3].hash()), control.sealed(txs[3].hash()));
    assert!(!receipts(&ahead, block.number())[3].success);
}

#[test]
fn an_enveloped_transactions_ledger_leaf_commits_to_its_sealed_result() {
    use alloy_eips::eip2718::Encodable2718;
    use sha2::Digest;
    let c = chain();
    let signers = dev_keys(DEV_MNEMONIC, 1).unwrap();
    let alice = &signers[0];
    // Init code that deploys an empty contract (STOP).
    let (env, _) = c.envelope(alice.address(), None, 0, &[0x00]);
    let t = tx(alice, 0, None, env);
    let hash = t.hash();
    let receipt = c.run(t);
    let sealed = c.sealed(hash);
    let snap = c.ledger.store().snapshot().unwrap();
    let (loc, _) = snap.transaction(hash).unwrap().unwrap();
    let before = snap.ledger_tree_size_at(loc.block - 1).unwrap().unwrap();
    let size = snap.ledger_tree_size_at(loc.block).unwrap().unwrap();
    let index = before + u64::from(loc.index);
    let root: [u8; 32] = snap
        .header(loc.block)
        .unwrap()
        .unwrap()
        .header
        .extra_data
        .as_ref()
        .try_into()
        .unwrap();
    let receipt_hash = alloy_primitives::keccak256(receipt.envelope().encoded_2718());
    let digest: [u8; 32] = sha2::Sha256::digest(&sealed).into();
    let proof = txnchain_ledger_tree::inclusion_proof(&snap, size, index, size).unwrap();
    let leaf = txnchain_ledger_tree::ledger_leaf_hash(&hash.0, &receipt_hash.0, &digest);
    txnchain_ledger_tree::verify_inclusion(&leaf, index, size, &proof, &root).unwrap();
    // The same transaction as if it were plaintext (zero digest) is not what was committed.
    let plain = txnchain_ledger_tree::ledger_leaf_hash(&hash.0, &receipt_hash.0, &[0; 32]);
    assert!(txnchain_ledger_tree::verify_inclusion(&plain, index, size, &proof, &root).is_err());
}
