//! The network's secrets on this node: the service identity (Ed25519) and the ledger secret
//! (32 bytes), created inside the TEE on the first start of a data directory and persisted
//! only sealed with the platform's sealing (`virtual`: its key file; `sev-snp`: a key derived
//! from the measurement), unsealed on restart. In memory they zeroize on drop; they are never
//! logged, and never leave the process in plaintext.
//!
//! Sealed plaintext: `0x01 ‖ service identity seed (32) ‖ ledger secret (32)`, label
//! `txnchain-network-secrets-v1`, file `network-secrets.sealed`.

use std::path::Path;

use txnchain_crypto::keys::{LedgerSecret, NetworkKeys, ServiceIdentity};
use txnchain_tee::{EvidencePlatform, SealingConfig};
use zeroize::Zeroizing;

use crate::NodeError;

/// The sealed file's name in the data directory.
pub const SECRETS_FILE: &str = "network-secrets.sealed";
const LABEL: &str = "txnchain-network-secrets-v1";
const FORMAT: u8 = 1;

/// Unseals the network's secrets from `dir`, or creates and seals them when the directory
/// holds no chain yet. Returns the keys and whether they were created now.
pub fn load_or_create(
    dir: &Path,
    platform: EvidencePlatform,
    sealing: &SealingConfig,
    chain_id: u64,
    chain_exists: bool,
) -> Result<(NetworkKeys, bool), NodeError> {
    let sealer = txnchain_tee::sealer_for(platform, dir, sealing)?;
    let path = dir.join(SECRETS_FILE);
    if path.exists() {
        let plain = txnchain_tee::sealing::unseal_file(sealer.as_ref(), LABEL, &path)?;
        if plain.len() != 65 || plain[0] != FORMAT {
            return Err(NodeError::Secrets(format!(
                "{} does not hold network secrets of format {FORMAT}",
                path.display()
            )));
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&plain[1..33]);
        let mut ledger = Zeroizing::new([0u8; 32]);
        ledger.copy_from_slice(&plain[33..65]);
        let keys = NetworkKeys::new(
            chain_id,
            ServiceIdentity::from_seed(&seed),
            LedgerSecret::from_bytes(ledger),
        );
        return Ok((keys, false));
    }
    if chain_exists {
        return Err(NodeError::Secrets(format!(
            "the data directory holds a chain but no {SECRETS_FILE}: its network secrets are \
             lost, so its encrypted state cannot be read; restore the file or start from an \
             empty directory"
        )));
    }
    let service = ServiceIdentity::generate().map_err(|e| NodeError::Secrets(e.to_string()))?;
    let ledger = LedgerSecret::generate().map_err(|e| NodeError::Secrets(e.to_string()))?;
    let mut plain = Zeroizing::new(Vec::with_capacity(65));
    plain.push(FORMAT);
    plain.extend_from_slice(service.expose_seed_for_sealing().as_ref());
    plain.extend_from_slice(ledger.expose_for_sealing());
    txnchain_tee::sealing::seal_to_file(sealer.as_ref(), LABEL, &plain, &path)?;
    Ok((NetworkKeys::new(chain_id, service, ledger), true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_unsealed_identically() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = SealingConfig::default();
        let (a, created) =
            load_or_create(dir.path(), EvidencePlatform::Virtual, &cfg, 7, false).unwrap();
        assert!(created);
        let (b, created) =
            load_or_create(dir.path(), EvidencePlatform::Virtual, &cfg, 7, true).unwrap();
        assert!(!created);
        assert_eq!(a.service_identity(), b.service_identity());
        assert_eq!(a.encryption_key(3), b.encryption_key(3));
        let sealed = std::fs::read(dir.path().join(SECRETS_FILE)).unwrap();
        let seed = a.service().expose_seed_for_sealing();
        assert!(!sealed.windows(32).any(|w| w == seed.as_slice()));
        assert!(
            !sealed
                .windows(32)
                .any(|w| w == a.ledger().expose_for_sealing())
        );
        // A chain without its secrets is refused, not silently re-keyed.
        let other = tempfile::tempdir().unwrap();
        assert!(matches!(
            load_or_create(other.path(), EvidencePlatform::Virtual, &cfg, 7, true),
            Err(NodeError::Secrets(_))
        ));
        // TDX has no sealing: refused with the platform's reason.
        assert!(load_or_create(other.path(), EvidencePlatform::Tdx, &cfg, 7, false).is_err());
    }
}
