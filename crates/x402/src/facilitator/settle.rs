//! Settlement: claim the authorization, check it, wait for `validAfter` if needed, submit
//! `transferWithAuthorization` from a settlement key, and report success only once the
//! transaction is committed.
//!
//! - A settlement transaction that leaves the pool without committing is submitted again
//!   (same bytes, same nonce), so it neither disappears nor leaves a nonce gap that later
//!   settlements of the key would queue behind.
//! - One that is not committed in time is replaced in the pool by a no-op at the same nonce,
//!   and the refusal is sent only once the no-op has committed: a payer answered "not
//!   settled" is never charged later. When that cannot be established in time either, the
//!   authorization stays *pending*: it is never recorded as settled before the chain says
//!   so, and a later settle of it looks again. A settle abandoned after submitting (the
//!   client went away) leaves it pending too, never free for a second transaction.
//! - At most one settle per authorization reports success; see [`records`](super::records).

use std::time::{Duration, Instant};

use alloy_primitives::{B256, U256};
use alloy_sol_types::SolEvent;

use super::keys::{KeySlot, Sent};
use super::metrics::Metrics;
use super::payment::{Payment, Refusal, refuse};
use super::records::{Claim, Record, claim_ended};
use super::verify::calldata;
use super::{Facilitator, IEip3009Token, addr_string};
use crate::chain::{Chain, ChainError, Committed, TxStatus};
use crate::reason;
use crate::types::SettleResponse;

/// How a submitted settlement ended.
enum Outcome {
    Committed(Committed),
    /// Replaced by a no-op before it committed: nothing was charged.
    Cancelled,
    /// Neither seen committed nor replaced.
    StillPending,
}

impl<C: Chain> Facilitator<C> {
    pub(crate) async fn settle_payment(&self, p: &Payment) -> SettleResponse {
        let key = (self.chain.chain_id(), p.asset, p.payer, p.nonce);
        let waited_since = Instant::now();
        loop {
            match self.records.claim(key) {
                Ok(claim) => return self.settle_claimed(p, claim).await,
                Err(Record::Done(hash)) => return self.already_settled(p, hash),
                Err(Record::InFlight(rx)) => {
                    // Another settle of the same authorization is running: wait for it to
                    // end (resolved, released, or abandoned), then look again.
                    let budget = self.config.commit_timeout.saturating_mul(3);
                    let left = budget.saturating_sub(waited_since.elapsed());
                    if tokio::time::timeout(left, claim_ended(rx)).await.is_err() {
                        return self.fail(
                            refuse(
                                reason::SETTLEMENT_PENDING,
                                "another settlement of this authorization is still in progress",
                                Some(p.payer),
                            ),
                            String::new(),
                        );
                    }
                }
                Err(Record::Pending(_)) => {
                    // Unreachable: a pending record is claimable. Look again.
                    tokio::task::yield_now().await;
                }
            }
        }
    }

    fn already_settled(&self, p: &Payment, hash: B256) -> SettleResponse {
        tracing::debug!(payer = %p.payer, transaction = %hash, "x402 settle refused: authorization already settled");
        self.fail(
            refuse(
                reason::NONCE_ALREADY_USED,
                "this authorization was already settled",
                Some(p.payer),
            ),
            hash.to_string(),
        )
    }

    pub(crate) fn fail(&self, r: Refusal, transaction: String) -> SettleResponse {
        SettleResponse::failure(
            r.reason,
            r.message,
            r.payer.map(addr_string),
            self.network(),
            transaction,
        )
    }

    fn success(&self, p: &Payment, hash: B256) -> SettleResponse {
        SettleResponse {
            success: true,
            error_reason: None,
            error_message: None,
            payer: Some(addr_string(p.payer)),
            transaction: hash.to_string(),
            network: self.network(),
            amount: Some(p.value.to_string()),
            extra: self.config.receipt_base_url.as_ref().map(|base| {
                let url = format!(
                    "{}/v1/transactions/{hash}/receipt",
                    base.trim_end_matches('/')
                );
                serde_json::Map::from_iter([(
                    crate::types::RECEIPT_EXTRA.to_string(),
                    serde_json::Value::String(url),
                )])
            }),
        }
    }

    async fn settle_claimed(&self, p: &Payment, mut claim: Claim) -> SettleResponse {
        let some = Some(p.payer);
        let valid_before = p.valid_before_secs();
        if let Some(previous) = claim.previous() {
            // An earlier settle left this pending: see where its transaction is now.
            match self.chain.tx_status(previous).await {
                Ok(TxStatus::Committed(c)) => {
                    return self.finish(p, claim, previous, c, None).await;
                }
                Ok(TxStatus::Pending) => {
                    return self.fail(
                        refuse(
                            reason::SETTLEMENT_PENDING,
                            "the settlement transaction is still waiting to be committed",
                            some,
                        ),
                        previous.to_string(),
                    );
                }
                Ok(TxStatus::Unknown) => {
                    // Gone without committing: the authorization is unused. Settle afresh.
                    claim.forget_previous();
                    for slot in self.keys.slots() {
                        slot.resync();
                    }
                }
                Err(e) => {
                    return self.fail(
                        refuse(reason::UNEXPECTED_SETTLE_ERROR, e.to_string(), some),
                        previous.to_string(),
                    );
                }
            }
        }
        let checked = match self.check(p, true).await {
            Ok(c) => c,
            Err(r) => {
                if let Some(hash) = self.recover_settlement(&r, p).await {
                    // Settled before this process knew of it (a restart, or an evicted
                    // record): remember and report the original transaction.
                    claim.done(hash, valid_before);
                    return self.already_settled(p, hash);
                }
                return self.fail(r, String::new());
            }
        };
        if checked.wait > 0 {
            if let Err(r) = self.wait_valid_after(p, checked.wait).await {
                return self.fail(r, String::new());
            }
            // Re-check now that the window is open (state may have changed meanwhile).
            if let Err(r) = self.check(p, false).await {
                return self.fail(r, String::new());
            }
        }
        let Ok(_permit) = self.permits.acquire().await else {
            return self.fail(
                refuse(
                    reason::UNEXPECTED_SETTLE_ERROR,
                    "facilitator stopping",
                    some,
                ),
                String::new(),
            );
        };
        let slot = self.keys.pick();
        let started = Instant::now();
        let sent = match slot
            .submit(
                &self.chain,
                p.asset,
                calldata(p).into(),
                self.config.gas_limit,
            )
            .await
        {
            Ok(s) => s,
            Err(e) => {
                return self.fail(
                    refuse(reason::UNEXPECTED_SETTLE_ERROR, e.to_string(), some),
                    String::new(),
                );
            }
        };
        // From here on, a settle that is abandoned (client gone) leaves the authorization
        // pending on this transaction rather than free for a second, conflicting one.
        claim.submitted(sent.hash, valid_before);
        match self.await_commit(slot, &sent).await {
            Outcome::Committed(c) => {
                self.finish(p, claim, sent.hash, c, Some((slot, started)))
                    .await
            }
            Outcome::Cancelled => {
                Metrics::inc(&self.metrics.settlements_cancelled);
                tracing::warn!(transaction = %sent.hash, "x402 settlement not committed in time; cancelled");
                // The transaction can no longer commit: dropping the claim frees the
                // authorization, which was never used.
                claim.forget_previous();
                self.fail(
                    refuse(
                        reason::UNEXPECTED_SETTLE_ERROR,
                        format!(
                            "the settlement was not committed within {:?} and was cancelled; nothing was charged",
                            self.config.commit_timeout
                        ),
                        some,
                    ),
                    String::new(),
                )
            }
            Outcome::StillPending => {
                tracing::warn!(transaction = %sent.hash, "x402 settlement not committed in time and could not be cancelled; pending");
                claim.pending(sent.hash, valid_before);
                self.fail(
                    refuse(
                        reason::SETTLEMENT_PENDING,
                        "the settlement transaction was not committed in time",
                        some,
                    ),
                    sent.hash.to_string(),
                )
            }
        }
    }

    /// Judges a committed settlement: it must have succeeded and emitted the authorization's
    /// `AuthorizationUsed` and `Transfer`.
    async fn finish(
        &self,
        p: &Payment,
        claim: Claim,
        hash: B256,
        committed: Committed,
        timing: Option<(&KeySlot, Instant)>,
    ) -> SettleResponse {
        let some = Some(p.payer);
        if !committed.success {
            tracing::warn!(transaction = %hash, "x402 settlement reverted");
            // A reverted transferWithAuthorization leaves the authorization unused: drop
            // the claim.
            return self.fail(
                refuse(
                    reason::TRANSACTION_FAILED,
                    "transferWithAuthorization reverted",
                    some,
                ),
                hash.to_string(),
            );
        }
        let used = committed.logs.iter().any(|l| {
            l.address == p.asset
                && IEip3009Token::AuthorizationUsed::decode_log(l)
                    .is_ok_and(|e| e.authorizer == p.payer && e.nonce == p.nonce)
        });
        let transferred = committed.logs.iter().any(|l| {
            l.address == p.asset
                && IEip3009Token::Transfer::decode_log(l)
                    .is_ok_and(|e| e.from == p.payer && e.to == p.to && e.value == p.value)
        });
        claim.done(hash, p.valid_before_secs());
        if !(used && transferred) {
            return self.fail(
                refuse(
                    reason::TRANSFER_EVENT_MISMATCH,
                    "the committed transaction lacks the expected AuthorizationUsed/Transfer events",
                    some,
                ),
                hash.to_string(),
            );
        }
        if let Some((slot, started)) = timing {
            let latency = started.elapsed();
            self.metrics.settle_latency_us_sum.fetch_add(
                u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
                std::sync::atomic::Ordering::Relaxed,
            );
            tracing::debug!(payer = %p.payer, to = %p.to, value = %p.value, transaction = %hash, block = committed.block, latency_ms = latency.as_secs_f64() * 1e3, "x402 settled");
            self.note_spent(slot).await;
        }
        self.success(p, hash)
    }

    /// Waits (at most `wait` + 2 s) until a block can include an authorization whose
    /// `validAfter` is still ahead.
    async fn wait_valid_after(&self, p: &Payment, wait: u64) -> Result<(), Refusal> {
        let some = Some(p.payer);
        tracing::debug!(wait_s = wait, "x402 settle waits for validAfter");
        let budget = Duration::from_secs(wait.saturating_add(2));
        let deadline = tokio::time::Instant::now() + budget.min(Duration::from_secs(3600));
        loop {
            let ts = self
                .chain
                .next_block_timestamp()
                .await
                .map_err(|e| refuse(reason::UNEXPECTED_SETTLE_ERROR, e.to_string(), some))?;
            if U256::from(ts) > p.valid_after {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(refuse(
                    reason::VALID_AFTER,
                    "validAfter did not pass within the wait allowed",
                    some,
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits for `sent` to commit, submitting it again if it leaves the pool uncommitted; at
    /// the deadline, replaces it with a no-op.
    async fn await_commit(&self, slot: &KeySlot, sent: &Sent) -> Outcome {
        let deadline = tokio::time::Instant::now() + self.config.commit_timeout;
        let step = Duration::from_millis(500);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            match self.chain.wait_committed(sent.hash, step.min(left)).await {
                Ok(c) => return Outcome::Committed(c),
                Err(ChainError::Timeout(_)) => {}
                Err(e) => {
                    tracing::warn!(error = %e, transaction = %sent.hash, "waiting for a settlement failed");
                    tokio::time::sleep(step.min(left)).await;
                    continue;
                }
            }
            match self.chain.tx_status(sent.hash).await {
                Ok(TxStatus::Committed(c)) => return Outcome::Committed(c),
                Ok(TxStatus::Pending) | Err(_) => {}
                Ok(TxStatus::Unknown) => {
                    // Left the pool without committing: put it back, same nonce.
                    Metrics::inc(&self.metrics.settlements_resubmitted);
                    tracing::warn!(transaction = %sent.hash, nonce = sent.nonce, "x402 settlement left the pool; resubmitting");
                    if let Err(e) = self.chain.submit(sent.raw.clone()).await {
                        tracing::warn!(error = %e, "resubmitting a settlement failed");
                        slot.resync();
                    }
                }
            }
        }
        // Out of time: replace it with a no-op at the same nonce. Only one of the two can
        // commit; which one did is known once either has (a block being built may still
        // hold the original), so wait for that before answering.
        slot.resync();
        let cancel = match slot.cancel(&self.chain, sent).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, transaction = %sent.hash, "cancelling a settlement failed");
                return match self.chain.tx_status(sent.hash).await {
                    Ok(TxStatus::Committed(c)) => Outcome::Committed(c),
                    _ => Outcome::StillPending,
                };
            }
        };
        let deadline = tokio::time::Instant::now() + self.config.commit_timeout;
        loop {
            if let Ok(TxStatus::Committed(c)) = self.chain.tx_status(sent.hash).await {
                return Outcome::Committed(c);
            }
            if let Ok(TxStatus::Committed(_)) = self.chain.tx_status(cancel).await {
                return Outcome::Cancelled;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Outcome::StillPending;
            }
            let _ = self.chain.wait_committed(cancel, step.min(left)).await;
        }
    }

    /// After a refusal that can mean "already settled" (nonce used; or expired, which a
    /// replay of an old settled payment also is), finds the transaction that used the
    /// authorization: its `AuthorizationUsed(authorizer, nonce)` event within the last
    /// [`used_lookup_blocks`](super::FacilitatorConfig::used_lookup_blocks) blocks.
    async fn recover_settlement(&self, r: &Refusal, p: &Payment) -> Option<B256> {
        if r.reason == reason::VALID_BEFORE {
            if self.authorization_used(p.asset, p.payer, p.nonce).await != Some(true) {
                return None;
            }
        } else if r.reason != reason::NONCE_ALREADY_USED {
            return None;
        }
        let topics = vec![
            IEip3009Token::AuthorizationUsed::SIGNATURE_HASH,
            p.payer.into_word(),
            p.nonce,
        ];
        match self
            .chain
            .find_log(
                p.asset,
                topics,
                self.config.used_lookup_blocks,
                p.valid_after_secs(),
            )
            .await
        {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "looking up the transaction of a used authorization failed");
                None
            }
        }
    }

    /// Balance bookkeeping for the low-balance warning (a committed-state read).
    async fn note_spent(&self, slot: &KeySlot) {
        if let Ok(b) = self.chain.balance(slot.address()).await {
            let was_low = *slot.balance_wei.lock() < self.config.low_balance_wei;
            *slot.balance_wei.lock() = b;
            if b < self.config.low_balance_wei && !was_low {
                tracing::warn!(key = %slot.address(), balance_wei = %b, "x402 facilitator settlement key balance is low");
            }
        }
    }
}
