//! Opening envelopes ahead of the block path.
//!
//! Decapsulating an envelope (one X25519 scalar multiplication) is most of what a
//! confidential transaction adds to the serial write thread. The envelopes of admitted
//! transactions are therefore opened on a thread of their own, `txnchain-open`, while the
//! write thread executes earlier blocks, into an [`OpenedAhead`] that the builder's execution
//! takes from. Nothing leaves memory; execution still judges every envelope (epoch, failure)
//! and opens for itself whatever was not opened in time. Best effort: when the queue is full
//! an envelope is simply not opened ahead.

use std::sync::Arc;
use std::sync::mpsc::{SyncSender, TrySendError};

use txnchain_crypto::envelope::{Payload, classify};
use txnchain_crypto::keys::NetworkKeys;
use txnchain_executor::confidential::{OpenedAhead, open_envelope};
use txnchain_primitives::RecoveredTx;

use crate::Mempool;

/// Admitted enveloped transactions waiting to be opened ahead.
const QUEUE: usize = 16_384;

/// The opening thread's handle: where admitted envelopes are offered.
pub(crate) struct Opener {
    queue: SyncSender<RecoveredTx>,
    ahead: Arc<OpenedAhead>,
}

impl Opener {
    /// Starts the opening thread. It stops when the handle is dropped.
    pub(crate) fn start(keys: Arc<NetworkKeys>, pool: Arc<Mempool>) -> std::io::Result<Self> {
        let (queue, rx) = std::sync::mpsc::sync_channel::<RecoveredTx>(QUEUE);
        let ahead = Arc::new(OpenedAhead::default());
        let filled = ahead.clone();
        std::thread::Builder::new()
            .name("txnchain-open".into())
            .spawn(move || {
                for tx in rx {
                    let hash = tx.hash();
                    // Already executed (and committed), or dropped from the pool: not needed.
                    if pool.get(&hash).is_none() {
                        continue;
                    }
                    if let Some(opened) = open_envelope(&keys, &tx) {
                        filled.insert(hash, opened);
                    }
                }
            })?;
        Ok(Opener { queue, ahead })
    }

    /// Offers an admitted transaction that carries an envelope ([`is_envelope`]) for opening.
    pub(crate) fn offer(&self, tx: RecoveredTx) {
        match self.queue.try_send(tx) {
            Ok(()) | Err(TrySendError::Full(_)) => {}
            Err(TrySendError::Disconnected(_)) => {
                tracing::warn!("the envelope opening thread is gone");
            }
        }
    }

    /// The envelopes opened so far.
    pub(crate) fn ahead(&self) -> &OpenedAhead {
        &self.ahead
    }
}

/// Whether `tx`'s calldata is an envelope (judged from its first five bytes).
pub(crate) fn is_envelope(tx: &RecoveredTx) -> bool {
    use alloy_consensus::Transaction as _;
    classify(tx.envelope().input()) == Payload::Envelope
}
