//! Signed queries (`specs/confidential.md` §5): an `eth_call` / `eth_estimateGas` that runs
//! with a real `msg.sender`, because `from` signed the plaintext call with EIP-712.
//!
//! ```text
//! signed_query = MAGIC ‖ 0x02 ‖ abi.encode(bytes envelope, uint64 blockNumber,
//!                                         bytes32 blockHash, uint64 blockRange, bytes signature)
//! domain       {name: "TxnChain", version: "1", chainId}
//! SignedQuery(address from,address to,uint256 value,uint64 gas,bytes data,
//!             uint64 blockNumber,bytes32 blockHash,uint64 blockRange)
//! ```
//!
//! This module parses and builds the wire form, computes the EIP-712 digest and recovers the
//! signer. Judging the block window against the chain and opening the inner envelope is the
//! node's job ([`SignedQuery::check_window`] holds the rule).

use alloy_primitives::{Address, B256, Bytes, Signature, U256};
use alloy_sol_types::{SolStruct, SolValue};

use crate::envelope::{MAGIC, VERSION_SIGNED_QUERY};

/// The largest `blockRange` a signed query may name.
pub const MAX_BLOCK_RANGE: u64 = 256;

alloy_sol_types::sol! {
    /// The EIP-712 struct a wallet signs (`data` is the plaintext calldata).
    #[derive(Debug)]
    struct SignedQuery {
        address from;
        address to;
        uint256 value;
        uint64 gas;
        bytes data;
        uint64 blockNumber;
        bytes32 blockHash;
        uint64 blockRange;
    }
}

/// Why a signed query was refused: the `<reason>` of `invalid signed query: <reason>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignedQueryError {
    /// Not `MAGIC ‖ 0x02 ‖ abi.encode(…)` with the five fields.
    #[error("malformed signed query: {0}")]
    Malformed(&'static str),
    /// The call has no `from`.
    #[error("the call has no from")]
    NoFrom,
    /// `blockNumber` is past the latest block.
    #[error("block {number} is past the latest block {latest}")]
    FutureBlock {
        /// The query's block.
        number: u64,
        /// The latest block.
        latest: u64,
    },
    /// `blockRange` is above 256.
    #[error("blockRange {0} exceeds 256")]
    RangeTooLarge(u64),
    /// The query is older than its `blockRange`.
    #[error(
        "expired: block {number} is {age} blocks behind the latest block {latest}, blockRange is {range}"
    )]
    Expired {
        /// The query's block.
        number: u64,
        /// latest − number.
        age: u64,
        /// The latest block.
        latest: u64,
        /// The query's range.
        range: u64,
    },
    /// `blockHash` is not the hash of block `blockNumber`.
    #[error("blockHash {hash} is not the hash of block {number}")]
    WrongBlockHash {
        /// The query's hash.
        hash: B256,
        /// The query's block.
        number: u64,
    },
    /// The inner envelope was refused.
    #[error("{0}")]
    Envelope(#[from] crate::EnvelopeError),
    /// The signature is not 65 bytes with v ∈ {0, 1, 27, 28}, or recovers to nobody.
    #[error("malformed signature")]
    BadSignature,
    /// The signature recovers to another account.
    #[error("signature recovers to {recovered}, not to from {from}")]
    WrongSigner {
        /// The signer.
        recovered: Address,
        /// The call's `from`.
        from: Address,
    },
}

/// A parsed signed query (the envelope is not opened).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedQueryEnvelope {
    /// The inner call-form or tx-form envelope.
    pub envelope: Bytes,
    /// The block the signer saw.
    pub block_number: u64,
    /// Its hash.
    pub block_hash: B256,
    /// How many blocks after `block_number` the query stays valid.
    pub block_range: u64,
    /// The 65-byte signature `r ‖ s ‖ v`.
    pub signature: Bytes,
}

impl SignedQueryEnvelope {
    /// Parses `MAGIC ‖ 0x02 ‖ abi.encode(…)`. Lengths inside the ABI encoding are checked
    /// against the input, so nothing is allocated beyond its size.
    pub fn parse(data: &[u8]) -> Result<Self, SignedQueryError> {
        if data.len() < 5 || data[..4] != MAGIC || data[4] != VERSION_SIGNED_QUERY {
            return Err(SignedQueryError::Malformed("missing MAGIC ‖ 0x02"));
        }
        let (envelope, block_number, block_hash, block_range, signature) =
            <(Bytes, u64, B256, u64, Bytes)>::abi_decode_params(&data[5..]).map_err(|_| {
                SignedQueryError::Malformed("not abi.encode(bytes, uint64, bytes32, uint64, bytes)")
            })?;
        let query = Self {
            envelope,
            block_number,
            block_hash,
            block_range,
            signature,
        };
        // One encoding per query: padding, offsets and trailing bytes must be canonical.
        if query.encode() != data {
            return Err(SignedQueryError::Malformed(
                "not the canonical ABI encoding",
            ));
        }
        Ok(query)
    }

    /// The wire form.
    pub fn encode(&self) -> Vec<u8> {
        let body = (
            self.envelope.clone(),
            self.block_number,
            self.block_hash,
            self.block_range,
            self.signature.clone(),
        )
            .abi_encode_params();
        let mut out = Vec::with_capacity(5 + body.len());
        out.extend_from_slice(&MAGIC);
        out.push(VERSION_SIGNED_QUERY);
        out.extend_from_slice(&body);
        out
    }

    /// The block rule: `blockNumber ≤ latest`, `latest − blockNumber ≤ blockRange ≤ 256`.
    /// (The caller checks `blockHash` against its chain.)
    pub fn check_window(&self, latest: u64) -> Result<(), SignedQueryError> {
        if self.block_number > latest {
            return Err(SignedQueryError::FutureBlock {
                number: self.block_number,
                latest,
            });
        }
        if self.block_range > MAX_BLOCK_RANGE {
            return Err(SignedQueryError::RangeTooLarge(self.block_range));
        }
        let age = latest - self.block_number;
        if age > self.block_range {
            return Err(SignedQueryError::Expired {
                number: self.block_number,
                age,
                latest,
                range: self.block_range,
            });
        }
        Ok(())
    }
}

/// What the signer vouches for, besides the block fields of the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueriedCall<'a> {
    /// The call's `from`.
    pub from: Address,
    /// The call's `to` (zero for a creation).
    pub to: Address,
    /// The call's value (absent = 0).
    pub value: U256,
    /// The call's gas (absent = 0).
    pub gas: u64,
    /// The plaintext calldata.
    pub data: &'a [u8],
}

/// The EIP-712 signing hash of `call` with the block fields of `query`, under the domain
/// `{name: "TxnChain", version: "1", chainId}`.
pub fn signing_hash(
    chain_id: u64,
    call: &QueriedCall<'_>,
    block_number: u64,
    block_hash: B256,
    block_range: u64,
) -> B256 {
    let domain = alloy_sol_types::eip712_domain! {
        name: "TxnChain",
        version: "1",
        chain_id: chain_id,
    };
    SignedQuery {
        from: call.from,
        to: call.to,
        value: call.value,
        gas: call.gas,
        data: Bytes::copy_from_slice(call.data),
        blockNumber: block_number,
        blockHash: block_hash,
        blockRange: block_range,
    }
    .eip712_signing_hash(&domain)
}

/// Checks that `signature` (65 bytes, v ∈ {0, 1, 27, 28}) over `hash` recovers to `from`.
pub fn verify_signer(hash: B256, signature: &[u8], from: Address) -> Result<(), SignedQueryError> {
    let recovered = recover(hash, signature)?;
    if recovered != from {
        return Err(SignedQueryError::WrongSigner { recovered, from });
    }
    Ok(())
}

fn recover(hash: B256, signature: &[u8]) -> Result<Address, SignedQueryError> {
    let [rs @ .., v] = signature else {
        return Err(SignedQueryError::BadSignature);
    };
    if rs.len() != 64 {
        return Err(SignedQueryError::BadSignature);
    }
    let parity = match v {
        0 | 27 => false,
        1 | 28 => true,
        _ => return Err(SignedQueryError::BadSignature),
    };
    let r = U256::from_be_slice(&rs[..32]);
    let s = U256::from_be_slice(&rs[32..]);
    Signature::new(r, s, parity)
        .recover_address_from_prehash(&hash)
        .map_err(|_| SignedQueryError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query() -> SignedQueryEnvelope {
        SignedQueryEnvelope {
            envelope: Bytes::from_static(&[0, b'T', b'X', b'N', 1, 2, 3]),
            block_number: 10,
            block_hash: B256::repeat_byte(0xab),
            block_range: 5,
            signature: Bytes::from(vec![1u8; 65]),
        }
    }

    #[test]
    fn encode_parse_round_trip_and_refusals() {
        let q = query();
        let wire = q.encode();
        assert_eq!(&wire[..5], &[0, b'T', b'X', b'N', 2]);
        assert_eq!(SignedQueryEnvelope::parse(&wire).unwrap(), q);
        // Wrong version, truncated body, trailing garbage in a length are refused.
        let mut v1 = wire.clone();
        v1[4] = 1;
        assert!(SignedQueryEnvelope::parse(&v1).is_err());
        assert!(SignedQueryEnvelope::parse(&wire[..wire.len() - 1]).is_err());
        let mut trailing = wire.clone();
        trailing.push(0);
        assert!(SignedQueryEnvelope::parse(&trailing).is_err());
        let mut huge = wire.clone();
        // The offset of `envelope` (first word) pointing far past the input.
        huge[5 + 24..5 + 32].copy_from_slice(&u64::MAX.to_be_bytes());
        assert!(SignedQueryEnvelope::parse(&huge).is_err());
    }

    #[test]
    fn block_window() {
        let q = query();
        assert!(q.check_window(10).is_ok());
        assert!(q.check_window(15).is_ok());
        assert!(matches!(
            q.check_window(16),
            Err(SignedQueryError::Expired { age: 6, .. })
        ));
        assert!(matches!(
            q.check_window(9),
            Err(SignedQueryError::FutureBlock { .. })
        ));
        let wide = SignedQueryEnvelope {
            block_range: 257,
            ..query()
        };
        assert_eq!(
            wide.check_window(10),
            Err(SignedQueryError::RangeTooLarge(257))
        );
    }

    #[test]
    fn signature_recovers_only_to_the_signer() {
        use alloy_signer::SignerSync;
        // A fixed secp256k1 key (anvil/hardhat dev account #0).
        let signer: alloy_signer_local::PrivateKeySigner =
            "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
                .parse()
                .unwrap();
        let from = signer.address();
        let call = QueriedCall {
            from,
            to: Address::repeat_byte(0x11),
            value: U256::ZERO,
            gas: 0,
            data: &[0xa9, 0x05, 0x9c, 0xbb],
        };
        let hash = signing_hash(424_242, &call, 10, B256::repeat_byte(0xab), 5);
        let mut raw = signer.sign_hash_sync(&hash).unwrap().as_bytes().to_vec();
        assert!(raw[64] == 27 || raw[64] == 28);
        verify_signer(hash, &raw, from).unwrap();
        // v as 0/1 is accepted too.
        let mut raw01 = raw.clone();
        raw01[64] -= 27;
        verify_signer(hash, &raw01, from).unwrap();
        // Another chain, another field, another account: refused.
        let other_chain = signing_hash(1, &call, 10, B256::repeat_byte(0xab), 5);
        assert!(verify_signer(other_chain, &raw, from).is_err());
        let other_range = signing_hash(424_242, &call, 10, B256::repeat_byte(0xab), 6);
        assert!(verify_signer(other_range, &raw, from).is_err());
        assert!(matches!(
            verify_signer(hash, &raw, Address::repeat_byte(1)),
            Err(SignedQueryError::WrongSigner { .. })
        ));
        raw[64] = 29;
        assert_eq!(
            verify_signer(hash, &raw, from),
            Err(SignedQueryError::BadSignature)
        );
        assert_eq!(
            verify_signer(hash, &raw[..64], from),
            Err(SignedQueryError::BadSignature)
        );
    }
}
