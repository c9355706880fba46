//! EIP-712 / EIP-3009 `TransferWithAuthorization`: domain separator, digest, signing and
//! signature recovery (65-byte `r‖s‖v` with v ∈ {27, 28}, or 64-byte EIP-2098 compact;
//! high-s rejected, as the token does).

use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::{SolStruct, eip712_domain, sol};

use crate::{SignatureError, X402Error};

sol! {
    /// The EIP-3009 message.
    #[derive(Debug)]
    struct TransferWithAuthorization {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
    }
}

/// `keccak256("TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)")`.
pub const TRANSFER_WITH_AUTHORIZATION_TYPEHASH: B256 =
    alloy_primitives::b256!("7c7c6cdb67a18743f49ec6fa9b35f50d52ed05cbed4cc592e13b44501c1a2267");

/// secp256k1 order / 2: signatures with a larger `s` are malleable and rejected.
const HALF_N: U256 = alloy_primitives::uint!(
    0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0_U256
);

/// The token's EIP-712 domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenDomain {
    /// `name()`.
    pub name: String,
    /// EIP-712 version.
    pub version: String,
    /// Chain id.
    pub chain_id: u64,
    /// Token address.
    pub verifying_contract: Address,
}

impl TokenDomain {
    /// The domain separator.
    pub fn separator(&self) -> B256 {
        self.domain().hash_struct()
    }

    fn domain(&self) -> alloy_sol_types::Eip712Domain {
        eip712_domain! {
            name: self.name.clone(),
            version: self.version.clone(),
            chain_id: self.chain_id,
            verifying_contract: self.verifying_contract,
        }
    }

    /// The digest a payer signs.
    pub fn digest(&self, msg: &TransferWithAuthorization) -> B256 {
        msg.eip712_signing_hash(&self.domain())
    }
}

/// Signs `msg` under `domain`: 65 bytes `r‖s‖v`, v ∈ {27, 28}.
pub fn sign(
    signer: &PrivateKeySigner,
    domain: &TokenDomain,
    msg: &TransferWithAuthorization,
) -> Result<[u8; 65], X402Error> {
    let sig = signer.sign_hash_sync(&domain.digest(msg))?;
    Ok(sig.as_bytes())
}

/// Recovers the signer of `digest` from a 65- or 64-byte signature; rejects high-s and
/// invalid v like the token does.
pub fn recover(digest: B256, signature: &[u8]) -> Result<Address, X402Error> {
    let (r, s, parity) = match signature.len() {
        65 => {
            let v = signature[64];
            let parity = match v {
                27 | 28 => v == 28,
                _ => return Err(SignatureError::V(v).into()),
            };
            (
                U256::from_be_slice(&signature[..32]),
                U256::from_be_slice(&signature[32..64]),
                parity,
            )
        }
        64 => {
            let r = U256::from_be_slice(&signature[..32]);
            let vs = U256::from_be_slice(&signature[32..]);
            let parity = vs.bit(255);
            let s = vs & (U256::MAX >> 1);
            (r, s, parity)
        }
        n => return Err(SignatureError::Length(n).into()),
    };
    if s > HALF_N {
        return Err(SignatureError::HighS.into());
    }
    let sig = alloy_primitives::Signature::new(r, s, parity);
    sig.recover_address_from_prehash(&digest)
        .map_err(|_| SignatureError::Recovery.into())
}

/// `keccak256` helper re-exported for callers building nonces.
pub fn random_nonce() -> B256 {
    let bytes: [u8; 32] = rand::random();
    keccak256(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{address, b256, hex};

    fn golden() -> (TokenDomain, TransferWithAuthorization) {
        let domain = TokenDomain {
            name: "Test Dollar".into(),
            version: "1".into(),
            chain_id: 424242,
            verifying_contract: address!("1111111111111111111111111111111111111111"),
        };
        let msg = TransferWithAuthorization {
            from: address!("70997970C51812dc3A010C7d01b50e0d17dc79C8"),
            to: address!("2222222222222222222222222222222222222222"),
            value: U256::from(1000),
            validAfter: U256::ZERO,
            validBefore: U256::from(1_800_000_000u64),
            nonce: B256::with_last_byte(1),
        };
        (domain, msg)
    }

    #[test]
    fn golden_vector() -> Result<(), Box<dyn std::error::Error>> {
        let (domain, msg) = golden();
        assert_eq!(
            keccak256(
                "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
            ),
            TRANSFER_WITH_AUTHORIZATION_TYPEHASH
        );
        assert_eq!(
            domain.separator(),
            b256!("2772cc768860ca7a141a201a3079ac12d218e18e131a260147b25981bdd2e914")
        );
        let digest = domain.digest(&msg);
        assert_eq!(
            digest,
            b256!("0d4f303631f07ce6f03066f74d0f07a2286dd0207e0b2898dce90f68951d8734")
        );
        let key: PrivateKeySigner =
            "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d".parse()?;
        let sig = sign(&key, &domain, &msg)?;
        assert_eq!(
            hex::encode_prefixed(sig),
            "0x292dfdc147fe5f9354c5b358749aa363fe6346a89a78815dc8ac9134ca488d1c1e03e203abb4f60ee42254d7c84784d04b7646de8437a37c058dbdaecf1f6a111c"
        );
        assert_eq!(recover(digest, &sig)?, msg.from);
        // EIP-2098 compact form recovers the same address.
        let mut compact = [0u8; 64];
        compact.copy_from_slice(&sig[..64]);
        if sig[64] == 28 {
            compact[32] |= 0x80;
        }
        assert_eq!(recover(digest, &compact)?, msg.from);
        Ok(())
    }

    #[test]
    fn rejects_high_s_and_bad_v() -> Result<(), Box<dyn std::error::Error>> {
        let (domain, msg) = golden();
        let key: PrivateKeySigner =
            "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d".parse()?;
        let sig = sign(&key, &domain, &msg)?;
        let n = alloy_primitives::uint!(
            0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141_U256
        );
        let s = U256::from_be_slice(&sig[32..64]);
        let mut high = sig;
        high[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
        high[64] = if sig[64] == 27 { 28 } else { 27 };
        assert!(recover(domain.digest(&msg), &high).is_err());
        let mut bad_v = sig;
        bad_v[64] = 0;
        assert!(recover(domain.digest(&msg), &bad_v).is_err());
        assert!(recover(domain.digest(&msg), &sig[..63]).is_err());
        Ok(())
    }
}
