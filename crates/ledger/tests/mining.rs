//! The `dev` builder under a mining control: manual mining cuts nothing on its own, mine
//! requests cut blocks (empty or not) with the requested timestamps, and switching to
//! automine cuts a block for a pooled transaction at once.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use txnchain_ledger::{BlockMode, Builder, LocalLog, MiningControl, MiningMode};

fn latest(f: &Fixture) -> (u64, u64) {
    let snap = f.ledger.store().snapshot().unwrap();
    let n = snap.last_applied().unwrap().unwrap_or(0);
    (n, snap.header(n).unwrap().unwrap().header.timestamp)
}

/// A builder under manual mining, running: its control, its stop switch and its task.
fn manual_builder(
    f: &Fixture,
) -> (
    Arc<MiningControl>,
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let (control, requests) = MiningControl::new(MiningMode::Manual);
    let builder = Builder::new(
        f.ledger.clone(),
        Arc::new(LocalLog::new(f.ledger.clone())),
        BlockMode::OnDemand(Duration::from_millis(1)),
    )
    .with_mining(requests);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    (control, stop, tokio::spawn(builder.run(stopped)))
}

#[tokio::test]
async fn manual_mining_cuts_blocks_only_when_asked_with_the_asked_timestamps() {
    let f = fixture();
    let (control, stop, running) = manual_builder(&f);

    let tx = eip1559(&f.keys[0], 0, |_| {});
    f.ledger.submit(tx.clone()).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(latest(&f).0, 0, "manual mining cut a block on its own");
    assert!(f.ledger.pool().get(&tx.hash()).is_some());

    // evm_mine: one block, with the pooled transaction.
    let (_, genesis_time) = latest(&f);
    assert_eq!(control.mine(1, None, None).await.unwrap(), 1);
    assert!(f.ledger.pool().get(&tx.hash()).is_none());
    let snap = f.ledger.store().snapshot().unwrap();
    assert_eq!(snap.block_tx_hashes(1).unwrap(), vec![tx.hash()]);

    // anvil_mine(3, 10) from a pinned timestamp: three empty blocks, 10 s apart.
    let t0 = genesis_time.max(latest(&f).1) + 1_000;
    assert_eq!(control.mine(1, Some(t0), None).await.unwrap(), 2);
    assert_eq!(latest(&f), (2, t0));
    assert_eq!(control.mine(3, Some(t0 + 10), Some(10)).await.unwrap(), 5);
    let snap = f.ledger.store().snapshot().unwrap();
    let stamps: Vec<u64> = (3..=5)
        .map(|n| snap.header(n).unwrap().unwrap().header.timestamp)
        .collect();
    assert_eq!(stamps, vec![t0 + 10, t0 + 20, t0 + 30]);
    assert!(snap.block_tx_hashes(4).unwrap().is_empty());
    // The clock carries on from the pinned time, never back to the wall clock.
    assert!(f.ledger.clock().next_timestamp(0) >= t0 + 10);

    // Automine: a pooled transaction gets its block without being asked.
    let mut blocks = f.ledger.subscribe();
    let next = eip1559(&f.keys[0], 1, |_| {});
    f.ledger.submit(next.clone()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(latest(&f).0, 5, "still manual");
    control.set_mode(MiningMode::Automine);
    let block = tokio::time::timeout(Duration::from_secs(10), blocks.recv())
        .await
        .expect("automine cut no block")
        .unwrap();
    assert_eq!(block.header.header.number, 6);
    assert_eq!(block.transactions[0].hash(), next.hash());

    stop.send(true).unwrap();
    running.await.unwrap();
}

fn balance(ledger: &txnchain_ledger::Ledger, who: alloy_primitives::Address) -> u128 {
    let snap = ledger.store().snapshot().unwrap();
    snap.account(who)
        .unwrap()
        .map_or(0, |a| u128::try_from(a.balance).unwrap())
}

#[test]
fn a_revert_brings_back_the_blocks_state_and_clock_of_its_snapshot_and_spends_later_ones() {
    let Fixture {
        dir,
        ledger,
        keys,
        genesis,
    } = fixture();
    let to = alloy_primitives::Address::repeat_byte(0x42);
    let sender = keys[0].address();
    let before = balance(&ledger, sender);

    let first = ledger.take_savepoint().unwrap();
    let tx1 = eip1559(&keys[0], 0, |_| {});
    ledger.submit(tx1.clone()).unwrap();
    assert_eq!(commit_block(&ledger).unwrap().number(), 1);
    let second = ledger.take_savepoint().unwrap();
    assert_ne!(first, second);
    ledger.clock().advance(86_400);
    ledger.submit(eip1559(&keys[0], 1, |_| {})).unwrap();
    let block2 = commit_block(&ledger).unwrap();
    assert_eq!(balance(&ledger, to), 2);
    // A pooled transaction that was admitted against the state about to be dropped.
    let pooled = eip1559(&keys[0], 2, |_| {});
    ledger.submit(pooled.clone()).unwrap();

    assert_eq!(ledger.revert_to_savepoint(first).unwrap(), Some(0));
    assert_eq!(*ledger.head().borrow(), 0);
    let snap = ledger.store().snapshot().unwrap();
    assert_eq!(snap.last_applied().unwrap(), Some(0));
    assert!(snap.header(1).unwrap().is_none());
    assert!(snap.block_number(block2.hash()).unwrap().is_none());
    assert!(snap.transaction(tx1.hash()).unwrap().is_none());
    assert_eq!(balance(&ledger, to), 0);
    assert_eq!(balance(&ledger, sender), before);
    assert!(
        ledger.pool().get(&pooled.hash()).is_none(),
        "pool not emptied"
    );
    assert_eq!(ledger.clock().offset(), 0, "clock shift not put back");
    // Reverting to `first` spent it and the later `second`.
    assert_eq!(ledger.revert_to_savepoint(second).unwrap(), None);
    assert_eq!(ledger.revert_to_savepoint(first).unwrap(), None);
    assert_eq!(ledger.revert_to_savepoint(99).unwrap(), None);

    // The chain carries on from the reverted head: nonce 0 again, block 1 again.
    let third = ledger.take_savepoint().unwrap();
    assert!(third > second, "ids are never reused");
    let again = eip1559(&keys[0], 0, |t| t.value = alloy_primitives::U256::from(5));
    ledger.submit(again.clone()).unwrap();
    let block1 = commit_block(&ledger).unwrap();
    assert_eq!(block1.number(), 1);
    assert_eq!(balance(&ledger, to), 5);

    // The revert was durable: reopening the store sees the new block 1, not the old ones.
    drop(ledger);
    let ledger = open(dir.path(), &genesis, txnchain_ledger::PoolLimits::default());
    let snap = ledger.store().snapshot().unwrap();
    assert_eq!(snap.last_applied().unwrap(), Some(1));
    assert_eq!(snap.header(1).unwrap().unwrap().hash, block1.hash());
    assert_eq!(balance(&ledger, to), 5);
}

#[tokio::test]
async fn state_patches_are_mined_as_blocks_whose_state_root_includes_them() {
    let f = fixture();
    let (control, stop, running) = manual_builder(&f);
    use alloy_primitives::{Address, Bytes, U256, keccak256};
    use txnchain_ledger::StatePatch;

    let who = Address::repeat_byte(0x77);
    let pooled = eip1559(&f.keys[1], 0, |_| {});
    f.ledger.submit(pooled.clone()).unwrap();
    let big = U256::from(10u64).pow(U256::from(30));
    assert_eq!(
        control.patch(StatePatch::Balance(who, big)).await.unwrap(),
        1
    );
    assert_eq!(control.patch(StatePatch::Nonce(who, 9)).await.unwrap(), 2);
    let code = Bytes::from_static(&[0x60, 0x2a, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3]);
    control
        .patch(StatePatch::Code(who, code.clone()))
        .await
        .unwrap();
    control
        .patch(StatePatch::Storage(who, U256::from(3), U256::from(0xbeef)))
        .await
        .unwrap();

    let snap = f.ledger.store().snapshot().unwrap();
    assert_eq!(snap.last_applied().unwrap(), Some(4));
    let account = snap.account(who).unwrap().unwrap();
    assert_eq!(
        account.balance, big,
        "the nonce, code and slot patches kept the balance"
    );
    assert_eq!(account.nonce, 9);
    assert_eq!(account.code_hash, keccak256(&code));
    assert_eq!(snap.code(account.code_hash).unwrap().unwrap(), code);
    assert_eq!(
        snap.storage(who, U256::from(3)).unwrap(),
        U256::from(0xbeef)
    );
    // The header commits to the patched state, and the patch blocks held no transaction:
    // the pooled one waits for a real mine under manual mining.
    assert_eq!(
        snap.header(4).unwrap().unwrap().header.state_root,
        snap.state_root().unwrap()
    );
    for n in 1..=4 {
        assert!(snap.block_tx_hashes(n).unwrap().is_empty(), "block {n}");
    }
    assert!(f.ledger.pool().get(&pooled.hash()).is_some());
    // Earlier blocks still see the earlier state.
    assert_eq!(snap.account_at(who, 1).unwrap().unwrap().nonce, 0);

    stop.send(true).unwrap();
    running.await.unwrap();
}
