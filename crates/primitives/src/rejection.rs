//! Why a transaction is refused: decoding, admission to the pool, and validation inside the
//! EVM, in one typed enum whose `Display` is geth's message (viem, ethers and cast classify
//! errors by geth's prefixes). The JSON-RPC layer maps it to an error code in one place;
//! tests match variants, not strings.

use alloy_primitives::{Address, U256, U512};

/// A refused transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxRejection {
    /// Empty input.
    #[error("typed transaction too short")]
    TooShort,
    /// A blob transaction or an unknown type byte.
    #[error("transaction type not supported")]
    TypeNotSupported,
    /// The RLP does not decode.
    #[error("rlp: {reason}")]
    Rlp {
        /// The decoder's reason.
        reason: String,
    },
    /// Bytes after the transaction.
    #[error("rlp: input contains more than one value")]
    TrailingBytes,
    /// A confidential envelope refused at admission (malformed header, epoch outside the
    /// window, or a signed query sent as a transaction).
    #[error("invalid confidential envelope: {reason}")]
    Envelope {
        /// Why (never anything about the plaintext: nothing is decrypted at admission).
        reason: String,
    },
    /// The signature does not recover (or has a high `s`, EIP-2).
    #[error("invalid sender: {reason}")]
    InvalidSignature {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Larger than the pool accepts.
    #[error("oversized data: transaction size {size}, limit {limit}")]
    Oversized {
        /// Encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A legacy transaction without EIP-155 replay protection.
    #[error("only replay-protected (EIP-155) transactions allowed over RPC")]
    Unprotected,
    /// Signed for another chain.
    #[error("invalid sender: invalid chain id for signer: have {have} want {want}")]
    ChainIdMismatch {
        /// The transaction's chain id.
        have: u64,
        /// This chain's.
        want: u64,
    },
    /// More gas than a block holds.
    #[error("exceeds block gas limit")]
    ExceedsBlockGasLimit,
    /// More gas than the fork allows one transaction (EIP-7825).
    #[error("transaction gas limit too high (cap: {cap}, tx: {gas})")]
    GasLimitAboveCap {
        /// The cap.
        cap: u64,
        /// The transaction's gas limit.
        gas: u64,
    },
    /// Init code over EIP-3860's limit.
    #[error("max initcode size exceeded: code size {size}, limit {limit}")]
    InitCodeTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Tip above the fee cap.
    #[error(
        "max priority fee per gas higher than max fee per gas: address {address}, maxPriorityFeePerGas: {tip}, maxFeePerGas: {max_fee}"
    )]
    TipAboveFeeCap {
        /// Sender.
        address: Address,
        /// Its tip.
        tip: u128,
        /// Its fee cap.
        max_fee: u128,
    },
    /// Fee cap below the (fixed) base fee: it could never be included.
    #[error(
        "max fee per gas less than block base fee: address {address}, maxFeePerGas: {max_fee}, baseFee: {base_fee}"
    )]
    FeeCapBelowBaseFee {
        /// Sender.
        address: Address,
        /// Its fee cap.
        max_fee: u128,
        /// The base fee.
        base_fee: u64,
    },
    /// An EIP-7702 transaction without authorizations.
    #[error("EIP-7702 transaction with empty auth list")]
    EmptyAuthorizationList,
    /// Gas below the intrinsic cost.
    #[error("intrinsic gas too low: gas {gas}, minimum needed {needed}")]
    IntrinsicGasTooLow {
        /// The transaction's gas limit.
        gas: u64,
        /// The intrinsic gas.
        needed: u64,
    },
    /// Gas below EIP-7623's floor for its calldata.
    #[error("insufficient gas for floor data gas cost: gas {gas}, minimum needed {needed}")]
    FloorDataGas {
        /// The transaction's gas limit.
        gas: u64,
        /// The floor.
        needed: u64,
    },
    /// The sender has code (EIP-3607), and not an EIP-7702 delegation.
    #[error("sender not an eoa: address {address}")]
    SenderNotEoa {
        /// Sender.
        address: Address,
    },
    /// The same transaction is already pooled.
    #[error("already known")]
    AlreadyKnown,
    /// A nonce already used.
    #[error("nonce too low: next nonce {next}, tx nonce {tx}")]
    NonceTooLow {
        /// The sender's next nonce.
        next: u64,
        /// The transaction's.
        tx: u64,
    },
    /// A nonce past the pool's window for the sender.
    #[error(
        "nonce too high: next nonce {next}, tx nonce {tx} is beyond the pool's window of {window}"
    )]
    NonceBeyondWindow {
        /// The sender's next nonce.
        next: u64,
        /// The transaction's.
        tx: u64,
        /// Nonces a sender may have pooled ahead.
        window: u64,
    },
    /// A nonce ahead of the sender's next one (in a block, where no gap may be left).
    #[error("nonce too high: next nonce {next}, tx nonce {tx}")]
    NonceTooHigh {
        /// The sender's next nonce.
        next: u64,
        /// The transaction's.
        tx: u64,
    },
    /// The sender cannot pay `gas × fee cap + value` (the cost may exceed 256 bits).
    #[error(
        "insufficient funds for gas * price + value: address {address} have {have} want {want}"
    )]
    InsufficientFunds {
        /// Sender.
        address: Address,
        /// Its balance.
        have: U256,
        /// What the transaction may cost (boxed: 512 bits would double every `Result`).
        want: Box<U512>,
    },
    /// A replacement without the fee bump.
    #[error("replacement transaction underpriced")]
    ReplacementUnderpriced,
    /// The pool is full and the transaction pays less than anything it could evict.
    #[error("txpool is full")]
    PoolFull,
    /// The EVM refused it for a reason without a geth counterpart (revm's message).
    #[error("{reason}")]
    Evm {
        /// revm's message.
        reason: String,
    },
}

impl TxRejection {
    /// Whether the transaction can never become valid by waiting (a builder drops such a
    /// transaction from the pool; a nonce ahead of the sender's may become valid).
    pub fn is_permanent(&self) -> bool {
        !matches!(
            self,
            TxRejection::NonceTooHigh { .. } | TxRejection::NonceBeyondWindow { .. }
        )
    }

    /// `gas × fee cap + value`, exactly (never wraps).
    pub fn cost(gas: u64, max_fee: u128, value: U256) -> Box<U512> {
        Box::new(U512::from(gas) * U512::from(max_fee) + U512::from(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_gethlike_and_the_cost_never_wraps() {
        let a = Address::repeat_byte(0x11);
        let overflow = TxRejection::InsufficientFunds {
            address: a,
            have: U256::ZERO,
            want: TxRejection::cost(21_000, 2, U256::MAX),
        };
        assert!(
            overflow
                .to_string()
                .starts_with("insufficient funds for gas * price + value: address 0x1111")
        );
        assert!(overflow.to_string().ends_with(&format!(
            "have 0 want {}",
            U512::from(U256::MAX) + U512::from(42_000u64)
        )));
        assert_eq!(
            TxRejection::NonceTooLow { next: 5, tx: 3 }.to_string(),
            "nonce too low: next nonce 5, tx nonce 3"
        );
        assert!(!TxRejection::NonceTooHigh { next: 1, tx: 9 }.is_permanent());
        assert!(TxRejection::AlreadyKnown.is_permanent());
    }
}
