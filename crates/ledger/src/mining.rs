//! When blocks are cut in `dev`: automine (a block as soon as there is work, and sends answer
//! once their transaction is committed), on demand (blocks as soon as there is work, sends
//! answer at admission), or manual (blocks only when asked: `evm_mine`, `anvil_mine`), as in
//! anvil and hardhat. Outside `dev` the builder runs on demand (or on a fixed interval) and
//! nothing here exists.

use std::sync::Arc;

use alloy_primitives::{Address, Bytes, U256};
use tokio::sync::{mpsc, oneshot, watch};

use crate::LedgerError;

/// The most blocks one request may mine.
pub const MAX_BLOCKS_PER_REQUEST: u64 = 10_000;

/// How the `dev` builder cuts blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MiningMode {
    /// A block as soon as there is work; a send answers once its transaction is committed.
    Automine,
    /// A block as soon as there is work; a send answers at admission (`--no-automine`).
    OnDemand,
    /// Blocks only when asked (`evm_setAutomine(false)`); sends answer at admission.
    Manual,
}

/// A change of state no transaction makes, for test setups (`anvil_setBalance`,
/// `anvil_setNonce`, `anvil_setCode`, `anvil_setStorageAt`). It goes into the chain as a block
/// of its own, with no transactions, whose state root includes it: the state stays the one
/// the headers commit to, and every later read (at `latest` or at that block) sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatePatch {
    /// The account's balance becomes this.
    Balance(Address, U256),
    /// The account's nonce becomes this.
    Nonce(Address, u64),
    /// The account's code becomes this (empty: no code).
    Code(Address, Bytes),
    /// One storage slot of the account becomes this value.
    Storage(Address, U256, U256),
}

impl StatePatch {
    /// The account the patch changes.
    pub fn address(&self) -> Address {
        match self {
            StatePatch::Balance(a, _)
            | StatePatch::Nonce(a, _)
            | StatePatch::Code(a, _)
            | StatePatch::Storage(a, _, _) => *a,
        }
    }
}

/// A request to mine blocks now, with or without transactions.
#[derive(Debug)]
pub struct MineRequest {
    /// Mine one block carrying this state change and no transactions (`blocks`,
    /// `timestamp` and `interval` are then ignored).
    pub patch: Option<StatePatch>,
    /// How many blocks (at least 1).
    pub blocks: u64,
    /// The timestamp of the first block (`evm_mine(timestamp)`).
    pub timestamp: Option<u64>,
    /// Seconds between the timestamps of consecutive blocks (`anvil_mine(n, interval)`).
    pub interval: Option<u64>,
    /// Answered with the number of the last block mined.
    pub done: oneshot::Sender<Result<u64, LedgerError>>,
}

/// The receiving end of mine requests, for the builder.
pub struct MineRequests {
    pub(crate) rx: mpsc::Receiver<MineRequest>,
    pub(crate) mode: watch::Receiver<MiningMode>,
}

/// The RPC's handle on the `dev` builder: the mining mode and requests to mine.
#[derive(Debug)]
pub struct MiningControl {
    mode: watch::Sender<MiningMode>,
    requests: mpsc::Sender<MineRequest>,
}

impl MiningControl {
    /// A control starting in `mode`, and the requests end to give the builder
    /// ([`Builder::with_mining`](crate::Builder::with_mining)).
    pub fn new(mode: MiningMode) -> (Arc<Self>, MineRequests) {
        let (mode_tx, mode_rx) = watch::channel(mode);
        // A few requests queue; more wait for room (each waits for its blocks anyway).
        let (tx, rx) = mpsc::channel(16);
        (
            Arc::new(MiningControl {
                mode: mode_tx,
                requests: tx,
            }),
            MineRequests { rx, mode: mode_rx },
        )
    }

    /// The current mode.
    pub fn mode(&self) -> MiningMode {
        *self.mode.borrow()
    }

    /// Switches the mode; the builder follows at once.
    pub fn set_mode(&self, mode: MiningMode) {
        self.mode.send_replace(mode);
    }

    /// Whether sends answer only once their transaction is committed.
    pub fn automine(&self) -> bool {
        self.mode() == MiningMode::Automine
    }

    /// Mines `blocks` blocks now (pending transactions included, empty blocks otherwise) and
    /// returns the number of the last one, once it is committed.
    pub async fn mine(
        &self,
        blocks: u64,
        timestamp: Option<u64>,
        interval: Option<u64>,
    ) -> Result<u64, LedgerError> {
        self.request(MineRequest {
            patch: None,
            blocks: blocks.clamp(1, MAX_BLOCKS_PER_REQUEST),
            timestamp,
            interval,
            done: oneshot::channel().0,
        })
        .await
    }

    /// Writes `patch` into the chain (see [`StatePatch`]) and returns the number of the block
    /// that carries it, once it is committed.
    pub async fn patch(&self, patch: StatePatch) -> Result<u64, LedgerError> {
        self.request(MineRequest {
            patch: Some(patch),
            blocks: 1,
            timestamp: None,
            interval: None,
            done: oneshot::channel().0,
        })
        .await
    }

    async fn request(&self, mut request: MineRequest) -> Result<u64, LedgerError> {
        let (done, answer) = oneshot::channel();
        request.done = done;
        let stopped = || LedgerError::Stopped("the block builder is not running".into());
        self.requests.send(request).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}
