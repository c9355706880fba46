//! Offline-verifiable receipts (`specs/receipts.md` §2–§3): the signed-root message, the
//! receipt document, and its verification against a pinned service identity, with the first
//! failed check named. Needs no network and no node: what `txnchain receipt verify` and any
//! auditor runs.

use alloy_consensus::ReceiptEnvelope;
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{Address, B256, Bytes, keccak256};
use serde::{Deserialize, Serialize};

use crate::{Hash, ProofError, ledger_leaf_hash, verify_inclusion};

/// Domain prefix of a signed root's message (`specs/receipts.md` §2).
pub const ROOT_DOMAIN: &[u8; 23] = b"txnchain-ledger-root-v1";

/// The only receipt version there is.
pub const RECEIPT_VERSION: u64 = 1;

/// `"txnchain-ledger-root-v1" ‖ u64be(chainId) ‖ u64be(blockNumber) ‖ blockHash ‖
/// u64be(treeSize) ‖ root`: what the service identity signs after every block.
pub fn signed_root_message(
    chain_id: u64,
    block_number: u64,
    block_hash: &Hash,
    tree_size: u64,
    root: &Hash,
) -> [u8; 111] {
    let mut out = [0u8; 111];
    out[..23].copy_from_slice(ROOT_DOMAIN);
    out[23..31].copy_from_slice(&chain_id.to_be_bytes());
    out[31..39].copy_from_slice(&block_number.to_be_bytes());
    out[39..71].copy_from_slice(block_hash);
    out[71..79].copy_from_slice(&tree_size.to_be_bytes());
    out[79..].copy_from_slice(root);
    out
}

/// Verifies a signed root's Ed25519 signature with the service identity `service_identity`.
pub fn verify_signed_root(
    service_identity: &[u8; 32],
    message: &[u8],
    signature: &[u8],
) -> Result<(), ReceiptError> {
    let key = ed25519_dalek::VerifyingKey::from_bytes(service_identity)
        .map_err(|_| ReceiptError::ServiceIdentityInvalid)?;
    let signature = ed25519_dalek::Signature::from_slice(signature)
        .map_err(|_| ReceiptError::SignatureMalformed)?;
    key.verify_strict(message, &signature)
        .map_err(|_| ReceiptError::SignatureInvalid)
}

/// A block's signed root (`specs/receipts.md` §2), as served at `GET /v1/ledger/roots/…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedRoot {
    /// The chain's id.
    pub chain_id: u64,
    /// The block.
    pub block_number: u64,
    /// Its hash.
    pub block_hash: B256,
    /// Number of ledger tree leaves after it.
    pub tree_size: u64,
    /// The tree's root at that size (the block's `extraData`).
    pub root: B256,
    /// Ed25519 signature of [`signed_root_message`] by the service identity.
    pub signature: Bytes,
    /// The service identity.
    pub service_identity: B256,
}

impl SignedRoot {
    /// The message the signature is over.
    pub fn message(&self) -> [u8; 111] {
        signed_root_message(
            self.chain_id,
            self.block_number,
            &self.block_hash.0,
            self.tree_size,
            &self.root.0,
        )
    }

    /// Checks that the trusted service identity signed this root.
    pub fn verify(&self, trusted: &[u8; 32]) -> Result<(), ReceiptError> {
        if self.service_identity.0 != *trusted {
            return Err(ReceiptError::WrongServiceIdentity {
                found: self.service_identity,
                trusted: B256::from(*trusted),
            });
        }
        verify_signed_root(trusted, &self.message(), &self.signature)
    }
}

/// The receipt of one committed transaction (`specs/receipts.md` §3), as served at
/// `GET /v1/transactions/{hash}/receipt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    /// Always [`RECEIPT_VERSION`].
    pub version: u64,
    /// The chain's id.
    pub chain_id: u64,
    /// The raw EIP-2718 transaction.
    pub transaction: Bytes,
    /// The EIP-2718 encoded receipt (as in the block's receipts root).
    pub receipt: Bytes,
    /// SHA-256 of the sealed result for an enveloped transaction, zero otherwise.
    pub result_digest: B256,
    /// The transaction's leaf index in the ledger tree.
    pub leaf_index: u64,
    /// The tree size after the transaction's block.
    pub tree_size: u64,
    /// RFC 9162 inclusion proof of the leaf in the tree of `tree_size` leaves.
    pub inclusion_proof: Vec<B256>,
    /// The block holding the transaction.
    pub block_number: u64,
    /// Its hash.
    pub block_hash: B256,
    /// The tree's root after the block (the block's `extraData`).
    pub root: B256,
    /// Ed25519 signature of the signed-root message by the service identity.
    pub signature: Bytes,
    /// The service identity (Ed25519 public key) that signed.
    pub service_identity: B256,
}

/// What a verified receipt proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The transaction's hash.
    pub transaction_hash: B256,
    /// Its sender, recovered from its signature.
    pub sender: Address,
    /// Its recipient (`None`: a contract creation).
    pub to: Option<Address>,
    /// Whether it succeeded.
    pub success: bool,
    /// Number of (public) logs in its receipt.
    pub logs: usize,
    /// The block holding it.
    pub block_number: u64,
    /// Its leaf index.
    pub leaf_index: u64,
    /// The tree size the proof is for.
    pub tree_size: u64,
}

/// The first check a receipt failed (`specs/receipts.md` §3, in the order it lists them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// `version` is not 1.
    #[error("version: unsupported receipt version {0}")]
    Version(u64),
    /// `serviceIdentity` is not the pinned one.
    #[error("serviceIdentity: signed by {found}, not the trusted service identity {trusted}")]
    WrongServiceIdentity {
        /// The identity the receipt names.
        found: B256,
        /// The pinned identity.
        trusted: B256,
    },
    /// The pinned service identity is not an Ed25519 public key.
    #[error("serviceIdentity: not a valid Ed25519 public key")]
    ServiceIdentityInvalid,
    /// `transaction` does not decode as a signed EIP-2718 transaction.
    #[error("transaction: {0}")]
    Transaction(String),
    /// The transaction names another chain than the receipt.
    #[error("chainId: the transaction is for chain {transaction}, the receipt for {receipt}")]
    ChainId {
        /// The transaction's chain id.
        transaction: u64,
        /// The receipt's.
        receipt: u64,
    },
    /// `receipt` does not decode as an EIP-2718 receipt.
    #[error("receipt: {0}")]
    Receipt(String),
    /// The inclusion proof does not lead from the leaf to `root`.
    #[error("inclusionProof: {0}")]
    InclusionProof(#[from] ProofError),
    /// `signature` is not 64 bytes.
    #[error("signature: not a 64-byte Ed25519 signature")]
    SignatureMalformed,
    /// The signature does not verify over the signed-root message.
    #[error("signature: does not verify over the signed root with the service identity")]
    SignatureInvalid,
}

impl ReceiptError {
    /// The name of the check that failed (a field of the receipt).
    pub fn check(&self) -> &'static str {
        match self {
            ReceiptError::Version(_) => "version",
            ReceiptError::WrongServiceIdentity { .. } | ReceiptError::ServiceIdentityInvalid => {
                "serviceIdentity"
            }
            ReceiptError::Transaction(_) => "transaction",
            ReceiptError::ChainId { .. } => "chainId",
            ReceiptError::Receipt(_) => "receipt",
            ReceiptError::InclusionProof(_) => "inclusionProof",
            ReceiptError::SignatureMalformed | ReceiptError::SignatureInvalid => "signature",
        }
    }
}

impl Receipt {
    /// The leaf hash this receipt claims (`specs/receipts.md` §1).
    pub fn leaf_hash(&self) -> Hash {
        ledger_leaf_hash(
            &keccak256(&self.transaction).0,
            &keccak256(&self.receipt).0,
            &self.result_digest.0,
        )
    }

    /// The signed-root message this receipt's signature is over.
    pub fn signed_root_message(&self) -> [u8; 111] {
        signed_root_message(
            self.chain_id,
            self.block_number,
            &self.block_hash.0,
            self.tree_size,
            &self.root.0,
        )
    }

    /// Verifies the receipt offline against the trusted service identity, check by check
    /// (`specs/receipts.md` §3); the error names the first that failed.
    pub fn verify(&self, trusted: &[u8; 32]) -> Result<Verified, ReceiptError> {
        if self.version != RECEIPT_VERSION {
            return Err(ReceiptError::Version(self.version));
        }
        if self.service_identity.0 != *trusted {
            return Err(ReceiptError::WrongServiceIdentity {
                found: self.service_identity,
                trusted: B256::from(*trusted),
            });
        }
        let tx = txnchain_primitives::RecoveredTx::decode(&self.transaction)
            .map_err(|e| ReceiptError::Transaction(e.to_string()))?;
        if let Some(chain) = alloy_consensus::Transaction::chain_id(tx.envelope())
            && chain != self.chain_id
        {
            return Err(ReceiptError::ChainId {
                transaction: chain,
                receipt: self.chain_id,
            });
        }
        let mut buf = self.receipt.as_ref();
        let receipt = ReceiptEnvelope::decode_2718(&mut buf)
            .map_err(|e| ReceiptError::Receipt(e.to_string()))?;
        if !buf.is_empty() {
            return Err(ReceiptError::Receipt("trailing bytes".into()));
        }
        if receipt.tx_type() != tx.envelope().tx_type() {
            return Err(ReceiptError::Receipt(
                "its type is not the transaction's".into(),
            ));
        }
        verify_inclusion(
            &self.leaf_hash(),
            self.leaf_index,
            self.tree_size,
            &self.inclusion_proof.iter().map(|h| h.0).collect::<Vec<_>>(),
            &self.root.0,
        )?;
        verify_signed_root(trusted, &self.signed_root_message(), &self.signature)?;
        Ok(Verified {
            transaction_hash: tx.hash(),
            sender: tx.sender(),
            to: alloy_consensus::Transaction::to(tx.envelope()),
            success: receipt.status(),
            logs: receipt.logs().len(),
            block_number: self.block_number,
            leaf_index: self.leaf_index,
            tree_size: self.tree_size,
        })
    }
}
