//! Verification: every check of `specs/x402.md`, in its order, on a typed [`Payment`].
//!
//! Everything that needs no chain access comes first — the asset must be a token this
//! facilitator settles (its EIP-712 domain comes from configuration, never from calling an
//! attacker-chosen contract), the domain must match, the signature must recover to the payer,
//! the amounts and times must fit — so a forged or malformed payment costs a signature
//! recovery at most. Only then are the nonce, the balance and a simulation of
//! `transferWithAuthorization` read from committed state, in the context of the block the
//! settlement will land in.

use alloy_primitives::{Address, U256};
use alloy_sol_types::SolCall;

use super::payment::{Payment, Refusal, refuse};
use super::{Facilitator, IEip3009Token, TokenInfo, revert_reason_code};
use crate::chain::{CallOutcome, Chain};
use crate::eip712::{TokenDomain, TransferWithAuthorization, recover};
use crate::reason;

/// A payment that passed every check; `wait` is how many seconds a settlement must wait
/// for `validAfter` to pass.
pub(crate) struct Checked {
    pub(crate) wait: u64,
}

impl<C: Chain> Facilitator<C> {
    /// The configured token at `asset`.
    pub(crate) fn token(&self, asset: Address) -> Option<&TokenInfo> {
        std::iter::once(&self.config.token)
            .chain(&self.config.other_tokens)
            .find(|t| t.address == asset)
    }

    /// Every check, in the spec's order. `allow_wait`: a not-yet-valid authorization is
    /// accepted when a block can include it within the wait allowed.
    pub(crate) async fn check(&self, p: &Payment, allow_wait: bool) -> Result<Checked, Refusal> {
        let some = Some(p.payer);
        let cfg = &self.config;
        let token = self.token(p.asset).ok_or_else(|| {
            refuse(
                reason::INVALID_PAYMENT_REQUIREMENTS,
                format!("asset {} is not a token this facilitator settles", p.asset),
                some,
            )
        })?;
        if p.max_timeout_seconds > cfg.max_timeout_seconds {
            return Err(refuse(
                reason::INVALID_PAYMENT_REQUIREMENTS,
                format!(
                    "maxTimeoutSeconds {} exceeds this facilitator's limit of {}",
                    p.max_timeout_seconds, cfg.max_timeout_seconds
                ),
                some,
            ));
        }
        let Some((name, version)) = &p.domain else {
            return Err(refuse(
                reason::MISSING_EIP712_DOMAIN,
                "requirements.extra.name and extra.version are required for EIP-3009",
                some,
            ));
        };
        if *name != token.name {
            return Err(refuse(
                reason::TOKEN_NAME_MISMATCH,
                format!(
                    "extra.name {name:?} is not the token's EIP-712 name {:?}",
                    token.name
                ),
                some,
            ));
        }
        if *version != token.version {
            return Err(refuse(
                reason::TOKEN_VERSION_MISMATCH,
                format!(
                    "extra.version {version:?} is not the token's EIP-712 version {:?}",
                    token.version
                ),
                some,
            ));
        }
        let domain = TokenDomain {
            name: token.name.clone(),
            version: token.version.clone(),
            chain_id: self.chain.chain_id(),
            verifying_contract: p.asset,
        };
        let msg = TransferWithAuthorization {
            from: p.payer,
            to: p.to,
            value: p.value,
            validAfter: p.valid_after,
            validBefore: p.valid_before,
            nonce: p.nonce,
        };
        match recover(domain.digest(&msg), &p.signature) {
            Ok(signer) if signer == p.payer => {}
            Ok(_) => {
                return Err(refuse(
                    reason::SIGNATURE,
                    "signature does not recover to authorization.from",
                    some,
                ));
            }
            Err(e) => return Err(refuse(reason::SIGNATURE, e.to_string(), some)),
        }
        if p.to != p.pay_to {
            return Err(refuse(
                reason::RECIPIENT_MISMATCH,
                "authorization.to is not payTo",
                some,
            ));
        }
        let next_ts = self
            .chain
            .next_block_timestamp()
            .await
            .map_err(|e| refuse(reason::UNEXPECTED_VERIFY_ERROR, e.to_string(), some))?;
        let next = U256::from(next_ts);
        if p.valid_before < next.saturating_add(U256::from(6)) {
            return Err(refuse(
                reason::VALID_BEFORE,
                format!(
                    "validBefore {} is less than 6 s after the next block's timestamp {next_ts}",
                    p.valid_before
                ),
                some,
            ));
        }
        let mut wait = 0;
        if p.valid_after >= next {
            let needed = p
                .valid_after
                .saturating_sub(next)
                .saturating_add(U256::from(1));
            let allowed = p.max_timeout_seconds.min(cfg.max_valid_after_wait);
            let fits = allow_wait
                && needed <= U256::from(allowed)
                && p.valid_after.saturating_add(U256::from(7)) <= p.valid_before;
            if !fits {
                return Err(refuse(
                    reason::VALID_AFTER,
                    format!(
                        "validAfter {} is not before the next block's timestamp {next_ts}, and waiting {needed} s exceeds the {allowed} s allowed",
                        p.valid_after
                    ),
                    some,
                ));
            }
            wait = needed.saturating_to();
        }
        if p.value != p.amount {
            return Err(refuse(
                reason::VALUE_MISMATCH,
                format!(
                    "authorization.value {} is not the required amount {}",
                    p.value, p.amount
                ),
                some,
            ));
        }
        if p.amount < cfg.min_amount {
            return Err(refuse(
                reason::INVALID_PAYMENT_REQUIREMENTS,
                format!(
                    "amount {} is below this facilitator's minimum of {}",
                    p.amount, cfg.min_amount
                ),
                some,
            ));
        }
        match self.authorization_used(p.asset, p.payer, p.nonce).await {
            Some(false) => {}
            Some(true) => {
                return Err(refuse(
                    reason::NONCE_ALREADY_USED,
                    "the authorization nonce is used or cancelled",
                    some,
                ));
            }
            None => {
                return Err(refuse(
                    reason::SIMULATION_FAILED,
                    "authorizationState() failed",
                    some,
                ));
            }
        }
        let balance = self
            .view(
                p.asset,
                IEip3009Token::balanceOfCall { account: p.payer }.abi_encode(),
            )
            .await
            .and_then(|b| IEip3009Token::balanceOfCall::abi_decode_returns(&b).ok())
            .ok_or_else(|| refuse(reason::SIMULATION_FAILED, "balanceOf() failed", some))?;
        if balance < p.value {
            return Err(refuse(
                reason::INSUFFICIENT_BALANCE,
                format!("balance {balance} is below {}", p.value),
                some,
            ));
        }
        let sim_ts = next_ts.max(p.valid_after_secs().saturating_add(1));
        self.simulate(p, sim_ts).await?;
        Ok(Checked { wait })
    }

    /// `authorizationState(authorizer, nonce)`; `None` when the call fails.
    pub(crate) async fn authorization_used(
        &self,
        asset: Address,
        authorizer: Address,
        nonce: alloy_primitives::B256,
    ) -> Option<bool> {
        self.view(
            asset,
            IEip3009Token::authorizationStateCall { authorizer, nonce }.abi_encode(),
        )
        .await
        .and_then(|b| IEip3009Token::authorizationStateCall::abi_decode_returns(&b).ok())
    }

    pub(crate) async fn view(&self, to: Address, data: Vec<u8>) -> Option<alloy_primitives::Bytes> {
        match self.chain.call(Address::ZERO, to, data.into(), None).await {
            Ok(CallOutcome::Success(b)) => Some(b),
            _ => None,
        }
    }

    async fn simulate(&self, p: &Payment, timestamp: u64) -> Result<(), Refusal> {
        let some = Some(p.payer);
        let out = self
            .chain
            .call(
                self.keys.first(),
                p.asset,
                calldata(p).into(),
                Some(timestamp),
            )
            .await
            .map_err(|e| refuse(reason::UNEXPECTED_VERIFY_ERROR, e.to_string(), some))?;
        match out {
            CallOutcome::Success(_) => Ok(()),
            CallOutcome::Revert(data) => {
                let msg = alloy_sol_types::decode_revert_reason(&data)
                    .unwrap_or_else(|| "reverted".into());
                if msg.contains("not yet valid")
                    && !self.chain.simulates_at_timestamp()
                    && p.valid_after < U256::from(timestamp)
                {
                    // The RPC simulated at the latest block's (older) timestamp; our own
                    // judgement of validAfter against the next block stands.
                    return Ok(());
                }
                Err(refuse(
                    revert_reason_code(&msg),
                    format!("simulation reverted: {msg}"),
                    some,
                ))
            }
            CallOutcome::Halt(h) => Err(refuse(
                reason::SIMULATION_FAILED,
                format!("simulation halted: {h}"),
                some,
            )),
        }
    }
}

/// `transferWithAuthorization(from, to, value, validAfter, validBefore, nonce, signature)`.
pub(crate) fn calldata(p: &Payment) -> Vec<u8> {
    IEip3009Token::transferWithAuthorizationCall {
        from: p.payer,
        to: p.to,
        value: p.value,
        validAfter: p.valid_after,
        validBefore: p.valid_before,
        nonce: p.nonce,
        signature: p.signature.clone(),
    }
    .abi_encode()
}
