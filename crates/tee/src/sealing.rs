//! Sealing node secrets to the platform.
//!
//! - `virtual`: a locally generated key in a file beside the sealed data.
//!   Anyone who can read the directory can unseal; it only exists so the
//!   development path exercises the same code. Warns loudly.
//! - `sev-snp`: a key derived by the secure processor (MSG_KEY_REQ through
//!   `/dev/sev-guest`) from the VCEK root and mixed with the launch
//!   MEASUREMENT and guest policy, so only the same measured image on the
//!   same chip can derive it again.
//! - `tdx`: no sealing. A TDX node receives its secrets from other attested
//!   nodes, or members restore them with recovery shares.
//!
//! Sealed blob: `"TXSEAL" ‖ version (1) ‖ platform id ‖ 12-byte nonce ‖
//! ChaCha20-Poly1305 ciphertext`, with associated data
//! `"txnchain-seal-v1" ‖ platform id ‖ u32-le label length ‖ label`.

use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::TeeError;
use crate::evidence::EvidencePlatform;

const MAGIC: &[u8; 6] = b"TXSEAL";
const VERSION: u8 = 1;
const HEADER_LEN: usize = MAGIC.len() + 2 + 12;

/// The warning logged whenever virtual sealing is used.
pub const VIRTUAL_SEALING_WARNING: &str = "INSECURE virtual sealing: secrets are sealed with a key \
     stored in a plain file; anyone who can read the node's data directory can unseal them";

/// Seals and unseals node secrets.
pub trait Sealer: Send + Sync {
    /// The platform whose sealing this is.
    fn platform(&self) -> EvidencePlatform;
    /// Encrypt `plaintext` under the sealing key, bound to `label`.
    fn seal(&self, label: &str, plaintext: &[u8]) -> Result<Vec<u8>, TeeError>;
    /// Decrypt a sealed blob made with the same `label`.
    fn unseal(&self, label: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, TeeError>;
}

fn platform_id(p: EvidencePlatform) -> u8 {
    match p {
        EvidencePlatform::Virtual => 0,
        EvidencePlatform::SevSnp => 1,
        EvidencePlatform::Tdx => 2,
        EvidencePlatform::Sgx => 3,
    }
}

fn aad(pid: u8, label: &str) -> Vec<u8> {
    let mut a = b"txnchain-seal-v1".to_vec();
    a.push(pid);
    a.extend_from_slice(&(label.len() as u32).to_le_bytes());
    a.extend_from_slice(label.as_bytes());
    a
}

fn seal_with(
    key: &[u8; 32],
    platform: EvidencePlatform,
    label: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, TeeError> {
    use rand::TryRngCore;
    let cipher =
        ChaCha20Poly1305::new_from_slice(key).map_err(|e| TeeError::Unseal(format!("key: {e}")))?;
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng
        .try_fill_bytes(&mut nonce)
        .map_err(|e| TeeError::Identity(format!("operating system RNG failed: {e}")))?;
    let pid = platform_id(platform);
    let ct = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad: &aad(pid, label),
            },
        )
        .map_err(|_| TeeError::Unseal("encryption failed".into()))?;
    let mut out = Vec::with_capacity(HEADER_LEN + ct.len());
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(pid);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

fn unseal_with(
    key: &[u8; 32],
    platform: EvidencePlatform,
    label: &str,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, TeeError> {
    if sealed.len() < HEADER_LEN + 16 || &sealed[..MAGIC.len()] != MAGIC {
        return Err(TeeError::Unseal("not a sealed blob".into()));
    }
    if sealed[6] != VERSION {
        return Err(TeeError::Unseal(format!("unknown version {}", sealed[6])));
    }
    let pid = platform_id(platform);
    if sealed[7] != pid {
        return Err(TeeError::Unseal(format!(
            "sealed on platform id {}, this is {platform} ({pid})",
            sealed[7]
        )));
    }
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&sealed[8..HEADER_LEN]);
    let cipher =
        ChaCha20Poly1305::new_from_slice(key).map_err(|e| TeeError::Unseal(format!("key: {e}")))?;
    cipher
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &sealed[HEADER_LEN..],
                aad: &aad(pid, label),
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| {
            TeeError::Unseal("authentication failed (wrong key, wrong label or tampered)".into())
        })
}

/// `virtual` sealing with a key file. INSECURE.
pub struct VirtualSealer {
    key: Zeroizing<[u8; 32]>,
    key_path: PathBuf,
}

impl std::fmt::Debug for VirtualSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualSealer")
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

/// File name of the virtual sealing key inside the state directory.
pub const VIRTUAL_KEY_FILE: &str = "virtual-sealing.key";

impl VirtualSealer {
    /// Load the key from `<dir>/virtual-sealing.key`, creating it (mode 0600) if absent.
    pub fn open_or_create(dir: &Path) -> Result<Self, TeeError> {
        tracing::warn!("{VIRTUAL_SEALING_WARNING}");
        let key_path = dir.join(VIRTUAL_KEY_FILE);
        let mut key = Zeroizing::new([0u8; 32]);
        match std::fs::read(&key_path) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                if bytes.len() != 32 {
                    return Err(TeeError::malformed(
                        "virtual sealing key",
                        format!(
                            "{} has {} bytes, expected 32",
                            key_path.display(),
                            bytes.len()
                        ),
                    ));
                }
                key.copy_from_slice(&bytes);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                use rand::TryRngCore;
                std::fs::create_dir_all(dir).map_err(|e| TeeError::io(dir, e))?;
                rand::rngs::OsRng
                    .try_fill_bytes(key.as_mut())
                    .map_err(|e| TeeError::Identity(format!("operating system RNG failed: {e}")))?;
                write_private(&key_path, key.as_ref())?;
                tracing::warn!(path = %key_path.display(), "created a virtual sealing key (INSECURE)");
            }
            Err(e) => return Err(TeeError::io(&key_path, e)),
        }
        Ok(Self { key, key_path })
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TeeError> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| TeeError::io(path, e))?;
    f.write_all(bytes).map_err(|e| TeeError::io(path, e))?;
    f.sync_all().map_err(|e| TeeError::io(path, e))
}

impl Sealer for VirtualSealer {
    fn platform(&self) -> EvidencePlatform {
        EvidencePlatform::Virtual
    }
    fn seal(&self, label: &str, plaintext: &[u8]) -> Result<Vec<u8>, TeeError> {
        tracing::warn!(label, "{VIRTUAL_SEALING_WARNING}");
        seal_with(&self.key, EvidencePlatform::Virtual, label, plaintext)
    }
    fn unseal(&self, label: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, TeeError> {
        unseal_with(&self.key, EvidencePlatform::Virtual, label, sealed)
    }
}

/// SEV-SNP sealing with a key derived by the secure processor.
pub struct SevSnpSealer {
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for SevSnpSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SevSnpSealer").finish_non_exhaustive()
    }
}

/// The SEV guest device.
pub const SEV_GUEST_DEVICE: &str = "/dev/sev-guest";

impl SevSnpSealer {
    /// Derive the sealing key with MSG_KEY_REQ: root key VCEK, mixing in the
    /// guest policy and the launch MEASUREMENT, at `vmpl` (the guest's own
    /// VMPL or higher), guest SVN 0 and TCB version 0 so that firmware
    /// updates do not lose sealed data. Fails clearly when `/dev/sev-guest` is absent.
    #[cfg(target_os = "linux")]
    pub fn new(vmpl: u32) -> Result<Self, TeeError> {
        use sev::firmware::guest::{DerivedKey, Firmware, GuestFieldSelect};
        if !Path::new(SEV_GUEST_DEVICE).exists() {
            return Err(TeeError::DeviceUnavailable {
                device: SEV_GUEST_DEVICE,
                detail: "not present: this is not an SEV-SNP guest, or the sev-guest driver \
                         is not loaded"
                    .into(),
            });
        }
        let mut fw = Firmware::open().map_err(|e| TeeError::DeviceUnavailable {
            device: SEV_GUEST_DEVICE,
            detail: format!("cannot open: {e}"),
        })?;
        let mut select = GuestFieldSelect::default();
        select.set_guest_policy(true);
        select.set_measurement(true);
        let request = DerivedKey::new(false, select, vmpl, 0, 0, None);
        let hw_key = Zeroizing::new(fw.get_derived_key(Some(1), request).map_err(|e| {
            TeeError::DeviceUnavailable {
                device: SEV_GUEST_DEVICE,
                detail: format!("MSG_KEY_REQ failed: {e}"),
            }
        })?);
        let mut h = Sha256::new();
        h.update(b"txnchain-seal-key-v1");
        h.update(hw_key.as_ref());
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&h.finalize());
        Ok(Self { key })
    }

    /// Not available off Linux.
    #[cfg(not(target_os = "linux"))]
    pub fn new(_vmpl: u32) -> Result<Self, TeeError> {
        Err(TeeError::DeviceUnavailable {
            device: SEV_GUEST_DEVICE,
            detail: "SEV-SNP sealing needs Linux".into(),
        })
    }
}

impl Sealer for SevSnpSealer {
    fn platform(&self) -> EvidencePlatform {
        EvidencePlatform::SevSnp
    }
    fn seal(&self, label: &str, plaintext: &[u8]) -> Result<Vec<u8>, TeeError> {
        seal_with(&self.key, EvidencePlatform::SevSnp, label, plaintext)
    }
    fn unseal(&self, label: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, TeeError> {
        unseal_with(&self.key, EvidencePlatform::SevSnp, label, sealed)
    }
}

/// Why TDX has no sealing.
pub const TDX_NO_SEALING: &str = "TDX has no sealing key bound to the measurement; a restarted TDX \
     node receives its secrets from other attested nodes, or members restore them from recovery shares";

/// The sealer for a platform: `virtual` keeps its key in `state_dir`.
pub fn sealer_for(
    platform: EvidencePlatform,
    state_dir: &Path,
) -> Result<Box<dyn Sealer>, TeeError> {
    match platform {
        EvidencePlatform::Virtual => Ok(Box::new(VirtualSealer::open_or_create(state_dir)?)),
        EvidencePlatform::SevSnp => Ok(Box::new(SevSnpSealer::new(0)?)),
        EvidencePlatform::Tdx => Err(TeeError::SealingUnsupported {
            platform: "tdx",
            reason: TDX_NO_SEALING,
        }),
        EvidencePlatform::Sgx => Err(TeeError::SealingUnsupported {
            platform: "sgx",
            reason: "nodes do not run in SGX enclaves",
        }),
    }
}

/// Seal `plaintext` and write it to `path` atomically (temporary file, then rename).
pub fn seal_to_file(
    sealer: &dyn Sealer,
    label: &str,
    plaintext: &[u8],
    path: &Path,
) -> Result<(), TeeError> {
    let blob = sealer.seal(label, plaintext)?;
    let tmp = path.with_extension("sealing-tmp");
    let _ = std::fs::remove_file(&tmp);
    write_private(&tmp, &blob)?;
    std::fs::rename(&tmp, path).map_err(|e| TeeError::io(path, e))
}

/// Read and unseal a file written by [`seal_to_file`].
pub fn unseal_file(
    sealer: &dyn Sealer,
    label: &str,
    path: &Path,
) -> Result<Zeroizing<Vec<u8>>, TeeError> {
    let blob = std::fs::read(path).map_err(|e| TeeError::io(path, e))?;
    sealer.unseal(label, &blob)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_seal_round_trip_and_persistence() {
        let dir = tempfile::tempdir().unwrap();
        let s = VirtualSealer::open_or_create(dir.path()).unwrap();
        let blob = s.seal("ledger-secret", b"top secret").unwrap();
        assert!(
            !blob.windows(10).any(|w| w == b"top secret"),
            "plaintext leaked"
        );
        assert_eq!(&*s.unseal("ledger-secret", &blob).unwrap(), b"top secret");
        // Same key after reopening.
        let again = VirtualSealer::open_or_create(dir.path()).unwrap();
        assert_eq!(
            &*again.unseal("ledger-secret", &blob).unwrap(),
            b"top secret"
        );
        // Two seals of the same data differ (fresh nonce).
        assert_ne!(blob, s.seal("ledger-secret", b"top secret").unwrap());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(VIRTUAL_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "key file readable by others: {mode:o}");
        }
    }

    #[test]
    fn virtual_unseal_rejects_tampering_and_wrong_context() {
        let dir = tempfile::tempdir().unwrap();
        let s = VirtualSealer::open_or_create(dir.path()).unwrap();
        let blob = s.seal("a", b"data").unwrap();
        assert!(matches!(s.unseal("b", &blob), Err(TeeError::Unseal(_))));
        for i in [0, 6, 7, 8, HEADER_LEN, blob.len() - 1] {
            let mut t = blob.clone();
            t[i] ^= 1;
            assert!(s.unseal("a", &t).is_err(), "flip at {i} accepted");
        }
        assert!(s.unseal("a", &blob[..blob.len() - 1]).is_err());
        assert!(s.unseal("a", b"").is_err());
        let other_dir = tempfile::tempdir().unwrap();
        let other = VirtualSealer::open_or_create(other_dir.path()).unwrap();
        assert!(other.unseal("a", &blob).is_err(), "another key unsealed it");
        // A blob claiming to be from SNP is refused by the virtual sealer.
        let snp_blob = seal_with(&[7; 32], EvidencePlatform::SevSnp, "a", b"x").unwrap();
        assert!(s.unseal("a", &snp_blob).is_err());
    }

    #[test]
    fn corrupt_key_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(VIRTUAL_KEY_FILE), b"short").unwrap();
        assert!(matches!(
            VirtualSealer::open_or_create(dir.path()),
            Err(TeeError::Malformed { .. })
        ));
    }

    #[test]
    fn files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let s = VirtualSealer::open_or_create(dir.path()).unwrap();
        let path = dir.path().join("secret.sealed");
        seal_to_file(&s, "l", b"abc", &path).unwrap();
        seal_to_file(&s, "l", b"abcd", &path).unwrap();
        assert_eq!(&*unseal_file(&s, "l", &path).unwrap(), b"abcd");
        assert!(matches!(
            unseal_file(&s, "l", &dir.path().join("missing")),
            Err(TeeError::Io { .. })
        ));
    }

    #[test]
    fn hardware_paths_fail_clearly() {
        let dir = tempfile::tempdir().unwrap();
        match sealer_for(EvidencePlatform::Tdx, dir.path()) {
            Err(TeeError::SealingUnsupported { platform, reason }) => {
                assert_eq!(platform, "tdx");
                assert!(reason.contains("recovery shares"));
            }
            other => panic!("unexpected: {:?}", other.map(|s| s.platform())),
        }
        if !Path::new(SEV_GUEST_DEVICE).exists() {
            match SevSnpSealer::new(0) {
                Err(e @ TeeError::DeviceUnavailable { .. }) => {
                    assert!(e.to_string().contains("/dev/sev-guest"), "{e}")
                }
                other => panic!("unexpected: {other:?}"),
            }
        }
    }
}
