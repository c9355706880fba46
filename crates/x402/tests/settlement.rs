//! The facilitator against the node's in-process chain, with block production in the test's
//! hands: dropped settlements are resubmitted, late ones cancelled before anyone is refused,
//! abandoned ones never settle twice, and what an attacker controls (the asset, the amount,
//! the timeouts) is refused before any chain work.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256, Bytes, U256, address};
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::{SolCall, sol};
use serde_json::{Value, json};
use txnchain_ledger::{Ledger, Mempool, PoolLimits};
use txnchain_node::dev::{DevOptions, STABLECOIN, dev_genesis, facilitator_keys};
use txnchain_node::x402::{LocalChain, dev_token};
use txnchain_primitives::GenesisAccount;
use txnchain_x402::eip712::{TokenDomain, TransferWithAuthorization, sign};
use txnchain_x402::{Chain, Facilitator, FacilitatorConfig, reason};

sol! {
    interface Token {
        function balanceOf(address) external view returns (uint256);
        function authorizationState(address authorizer, bytes32 nonce) external view returns (bool);
    }
}

/// `JUMPDEST PUSH1 0 JUMP`: a "token" whose every call loops until its gas runs out.
const LOOP: &[u8] = &[0x5b, 0x60, 0x00, 0x56];
const LOOPING_TOKEN: Address = address!("00000000000000000000000000000000000c0de0");

struct Setup {
    _dir: tempfile::TempDir,
    ledger: Arc<Ledger>,
    facilitator: Arc<Facilitator<LocalChain>>,
    keys: Vec<PrivateKeySigner>,
}

fn setup(configure: impl FnOnce(&mut FacilitatorConfig)) -> Setup {
    let (mut genesis, keys) = dev_genesis(&DevOptions::default()).unwrap();
    genesis.alloc.insert(
        LOOPING_TOKEN,
        GenesisAccount {
            code: Bytes::from_static(LOOP),
            storage: BTreeMap::new(),
            ..Default::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        txnchain_storage::Store::open(
            &dir.path().join("chain.redb"),
            Default::default(),
            txnchain_storage::fresh_at_rest_codec().unwrap(),
        )
        .unwrap(),
    );
    txnchain_ledger::genesis::init_genesis(&store, &genesis).unwrap();
    let pool = Arc::new(Mempool::new(PoolLimits::default(), &genesis.spec));
    let ledger = Arc::new(Ledger::new(genesis.spec.clone(), store, pool, true).unwrap());
    let mut config = FacilitatorConfig::new(dev_token(), facilitator_keys().unwrap()[..1].to_vec());
    config.commit_timeout = Duration::from_millis(1500);
    configure(&mut config);
    let facilitator = Facilitator::new(LocalChain::new(ledger.clone()).unwrap(), config).unwrap();
    Setup {
        _dir: dir,
        ledger,
        facilitator,
        keys,
    }
}

/// Builds and applies one block from the pool, if it has anything.
fn mine(ledger: &Ledger) -> bool {
    match txnchain_ledger::builder::build_block(ledger, false).unwrap() {
        Some(proposal) => {
            ledger.apply_proposal(proposal).unwrap();
            true
        }
        None => false,
    }
}

fn requirements(asset: Address, pay_to: Address, amount: U256, max_timeout: u64) -> Value {
    json!({
        "scheme": "exact",
        "network": "eip155:424242",
        "amount": amount.to_string(),
        "asset": asset.to_checksum(None),
        "payTo": pay_to.to_checksum(None),
        "maxTimeoutSeconds": max_timeout,
        "extra": {"name": "TxnChain USD", "version": "1"},
    })
}

/// A signed `verify`/`settle` body paying `amount` from `payer` to `pay_to`.
fn body(payer: &PrivateKeySigner, pay_to: Address, amount: U256, nonce: B256) -> Value {
    body_with(payer, STABLECOIN, pay_to, amount, nonce, U256::ZERO, 60)
}

fn body_with(
    payer: &PrivateKeySigner,
    asset: Address,
    pay_to: Address,
    amount: U256,
    nonce: B256,
    valid_after: U256,
    max_timeout: u64,
) -> Value {
    let valid_before = U256::from(txnchain_x402::now_secs() + 300);
    let domain = TokenDomain {
        name: "TxnChain USD".into(),
        version: "1".into(),
        chain_id: 424242,
        verifying_contract: asset,
    };
    let msg = TransferWithAuthorization {
        from: payer.address(),
        to: pay_to,
        value: amount,
        validAfter: valid_after,
        validBefore: valid_before,
        nonce,
    };
    let sig = sign(payer, &domain, &msg).unwrap();
    let req = requirements(asset, pay_to, amount, max_timeout);
    json!({
        "x402Version": 2,
        "paymentPayload": {
            "x402Version": 2,
            "accepted": req,
            "payload": {
                "signature": alloy_primitives::hex::encode_prefixed(sig),
                "authorization": {
                    "from": payer.address().to_checksum(None),
                    "to": pay_to.to_checksum(None),
                    "value": amount.to_string(),
                    "validAfter": valid_after.to_string(),
                    "validBefore": valid_before.to_string(),
                    "nonce": nonce.to_string(),
                },
            },
        },
        "paymentRequirements": req,
    })
}

async fn token_read<C: SolCall>(s: &Setup, call: C) -> C::Return {
    match s
        .facilitator
        .chain()
        .call(Address::ZERO, STABLECOIN, call.abi_encode().into(), None)
        .await
        .unwrap()
    {
        txnchain_x402::chain::CallOutcome::Success(b) => C::abi_decode_returns(&b).unwrap(),
        other => panic!("{other:?}"),
    }
}

async fn balance(s: &Setup, a: Address) -> U256 {
    token_read(s, Token::balanceOfCall(a)).await
}

/// Waits until the pool holds `n` transactions.
async fn pool_holds(s: &Setup, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.ledger.pool().len() != n {
        assert!(Instant::now() < deadline, "pool never held {n}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The hashes of the pooled transactions of the facilitator's key.
fn pooled_settlements(s: &Setup) -> Vec<B256> {
    let key = s.facilitator.signers()[0];
    let (pending, queued) = s.ledger.pool().content(|_| 0);
    pending
        .into_iter()
        .chain(queued)
        .filter(|(a, _)| *a == key)
        .flat_map(|(_, txs)| txs.into_values().map(|t| t.hash()))
        .collect()
}

#[tokio::test]
async fn a_settlement_that_leaves_the_pool_is_resubmitted_and_commits_once() {
    let s = setup(|c| c.commit_timeout = Duration::from_secs(10));
    let payer = &s.keys[1];
    let pay_to = s.keys[2].address();
    let before = balance(&s, payer.address()).await;
    let f = s.facilitator.clone();
    let b = body(payer, pay_to, U256::from(1_000), B256::repeat_byte(1));
    let settle = tokio::spawn(async move { f.settle(&b).await });
    pool_holds(&s, 1).await;
    let hash = pooled_settlements(&s)[0];
    // The transaction leaves the pool without committing (evicted, dropped by a builder).
    s.ledger.pool().remove(&hash);
    assert_eq!(s.ledger.pool().len(), 0);
    // The facilitator notices and puts it back, same bytes.
    pool_holds(&s, 1).await;
    assert_eq!(pooled_settlements(&s), vec![hash]);
    assert!(mine(&s.ledger));
    let r = settle.await.unwrap();
    assert!(r.success, "{r:?}");
    assert_eq!(r.transaction, hash.to_string());
    assert_eq!(
        balance(&s, payer.address()).await,
        before - U256::from(1_000)
    );
    assert!(
        s.facilitator
            .render_prometheus()
            .contains("txnchain_x402_settlements_resubmitted_total 1")
    );
}

#[tokio::test]
async fn a_settlement_that_does_not_commit_in_time_is_cancelled_before_the_refusal() {
    let s = setup(|_| {});
    let payer = &s.keys[1];
    let pay_to = s.keys[2].address();
    let before = balance(&s, payer.address()).await;
    let b = body(payer, pay_to, U256::from(1_000), B256::repeat_byte(2));
    let f = s.facilitator.clone();
    let b2 = b.clone();
    let settle = tokio::spawn(async move { f.settle(&b2).await });
    // No block while the settlement waits; once its replacement is in the pool, blocks resume.
    pool_holds(&s, 1).await;
    let original = pooled_settlements(&s)[0];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pooled = pooled_settlements(&s);
        if pooled.len() == 1 && pooled[0] != original {
            break;
        }
        assert!(Instant::now() < deadline, "no cancellation was submitted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(mine(&s.ledger));
    let r = settle.await.unwrap();
    assert!(!r.success, "{r:?}");
    assert_eq!(
        r.error_reason.as_deref(),
        Some(reason::UNEXPECTED_SETTLE_ERROR)
    );
    assert!(
        r.error_message
            .as_deref()
            .is_some_and(|m| m.contains("cancelled; nothing was charged")),
        "{r:?}"
    );
    // Nothing moved, the authorization is unused, and nothing is left to commit later.
    assert_eq!(balance(&s, payer.address()).await, before);
    assert!(
        !token_read(
            &s,
            Token::authorizationStateCall {
                authorizer: payer.address(),
                nonce: B256::repeat_byte(2)
            }
        )
        .await
    );
    assert!(s.ledger.pool().is_empty());
    // The same payment settles on a retry, once.
    let f = s.facilitator.clone();
    let b2 = b.clone();
    let retry = tokio::spawn(async move { f.settle(&b2).await });
    pool_holds(&s, 1).await;
    assert!(mine(&s.ledger));
    let r = retry.await.unwrap();
    assert!(r.success, "{r:?}");
    assert_eq!(
        balance(&s, payer.address()).await,
        before - U256::from(1_000)
    );
    let again = s.facilitator.settle(&b).await;
    assert_eq!(
        again.error_reason.as_deref(),
        Some(reason::NONCE_ALREADY_USED)
    );
    assert_eq!(again.transaction, r.transaction);
}

#[tokio::test]
async fn an_abandoned_settle_leaves_its_transaction_pending_not_a_second_one() {
    let s = setup(|c| c.commit_timeout = Duration::from_secs(10));
    let payer = &s.keys[1];
    let pay_to = s.keys[2].address();
    let before = balance(&s, payer.address()).await;
    let b = body(payer, pay_to, U256::from(1_000), B256::repeat_byte(3));
    let f = s.facilitator.clone();
    let b2 = b.clone();
    let abandoned = tokio::spawn(async move { f.settle(&b2).await });
    pool_holds(&s, 1).await;
    let first = pooled_settlements(&s)[0];
    // The client goes away: the settle future is dropped mid-flight.
    abandoned.abort();
    let _ = abandoned.await;
    // A retry neither spins nor submits a second transaction: the first is still pending.
    let started = Instant::now();
    let r = s.facilitator.settle(&b).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        r.error_reason.as_deref(),
        Some(reason::SETTLEMENT_PENDING),
        "{r:?}"
    );
    assert_eq!(r.transaction, first.to_string());
    assert_eq!(pooled_settlements(&s), vec![first]);
    // Once it commits, the next retry is told so, once, with that transaction.
    assert!(mine(&s.ledger));
    let r = s.facilitator.settle(&b).await;
    assert!(r.success, "{r:?}");
    assert_eq!(r.transaction, first.to_string());
    let r = s.facilitator.settle(&b).await;
    assert_eq!(r.error_reason.as_deref(), Some(reason::NONCE_ALREADY_USED));
    assert_eq!(
        balance(&s, payer.address()).await,
        before - U256::from(1_000)
    );
}

#[tokio::test]
async fn what_the_client_controls_is_refused_before_any_chain_work() {
    let s = setup(|_| {});
    let payer = &s.keys[1];
    let pay_to = s.keys[2].address();
    // An asset that is not a configured token: refused at once, its code never runs (it
    // would loop for the whole call timeout).
    let started = Instant::now();
    let v = s
        .facilitator
        .verify(&body_with(
            payer,
            LOOPING_TOKEN,
            pay_to,
            U256::from(1),
            B256::ZERO,
            U256::ZERO,
            60,
        ))
        .await;
    assert_eq!(
        v.invalid_reason.as_deref(),
        Some(reason::INVALID_PAYMENT_REQUIREMENTS)
    );
    assert!(
        v.invalid_message
            .as_deref()
            .is_some_and(|m| m.contains("is not a token this facilitator settles"))
    );
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    // Zero is below the minimum: it would cost the facilitator gas for nothing.
    let v = s
        .facilitator
        .verify(&body(payer, pay_to, U256::ZERO, B256::ZERO))
        .await;
    assert_eq!(
        v.invalid_reason.as_deref(),
        Some(reason::INVALID_PAYMENT_REQUIREMENTS)
    );
    assert!(
        v.invalid_message
            .as_deref()
            .is_some_and(|m| m.contains("below this facilitator's minimum")),
        "{v:?}"
    );
    // Huge timeouts and far-future validAfter: clean refusals, no overflow.
    let v = s
        .facilitator
        .settle(&body_with(
            payer,
            STABLECOIN,
            pay_to,
            U256::from(5),
            B256::ZERO,
            U256::ZERO,
            u64::MAX,
        ))
        .await;
    assert_eq!(
        v.error_reason.as_deref(),
        Some(reason::INVALID_PAYMENT_REQUIREMENTS),
        "{v:?}"
    );
    let v = s
        .facilitator
        .settle(&body_with(
            payer,
            STABLECOIN,
            pay_to,
            U256::from(5),
            B256::ZERO,
            U256::from(10_000_000_000_000_000_000u128),
            60,
        ))
        .await;
    assert_eq!(
        v.error_reason.as_deref(),
        Some(reason::VALID_AFTER),
        "{v:?}"
    );
    // A forged signature is refused without simulating.
    let mut forged = body(payer, pay_to, U256::from(5), B256::ZERO);
    forged["paymentPayload"]["payload"]["authorization"]["value"] = json!("6");
    forged["paymentPayload"]["accepted"]["amount"] = json!("6");
    forged["paymentRequirements"]["amount"] = json!("6");
    let v = s.facilitator.verify(&forged).await;
    assert_eq!(v.invalid_reason.as_deref(), Some(reason::SIGNATURE));
    assert!(s.ledger.pool().is_empty());
}
