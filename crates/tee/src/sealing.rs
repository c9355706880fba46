//! Sealing node secrets to the platform.
//!
//! - `virtual`: a locally generated key in a file beside the sealed data.
//!   Anyone who can read the directory can unseal; it only exists so the
//!   development path exercises the same code. Warns loudly.
//! - `sev-snp`: a key derived by the secure processor (MSG_KEY_REQ through
//!   `/dev/sev-guest`) from the VCEK root and mixed with the launch
//!   MEASUREMENT, the guest policy and a **TCB version**, so only the same
//!   measured image on the same chip, running firmware at that TCB or newer,
//!   can derive it again. Rolled-back (vulnerable) firmware below that TCB
//!   cannot: the secure processor refuses to derive keys above its own
//!   committed TCB.
//! - `tdx`: no sealing. A TDX node receives its secrets from other attested
//!   nodes, or members restore them with recovery shares.
//!
//! # Which TCB an SEV-SNP key is derived at
//!
//! [`snp_seal_tcb`] and [`snp_unseal_plan`] decide, from the platform's
//! committed TCB (the highest a key can be derived at) and the configured
//! minimum ([`SealingConfig::snp_min_tcb`], normally the verification
//! policy's `min_tcb.sev_snp`):
//!
//! - new blobs are sealed at the committed TCB; a platform below the minimum
//!   refuses to seal ([`TeeError::SealingTcbBelowMinimum`]);
//! - a blob sealed at an older TCB is unsealed with the old key and re-sealed
//!   at the committed one ([`Sealer::unseal_refreshing`], [`unseal_file`]
//!   writes it back); a blob is never re-sealed downward: one bound to a TCB
//!   the platform does not reach is refused ([`TeeError::SealedTcbNotDerivable`]);
//! - a blob bound to a TCB below the minimum is refused
//!   ([`TeeError::SealedTcbBelowMinimum`]): firmware at that TCB could have
//!   made it.
//!
//! [`snp_key_request`] builds the MSG_KEY_REQ; [`SnpKeyDeriver`] is the
//! secure processor (the `/dev/sev-guest` implementation, or a stand-in in tests).
//!
//! # Format
//!
//! Sealed blob, version 2 (written now): `"TXSEAL" ‖ 2 ‖ platform id ‖ TCB
//! layout ‖ TCB_VERSION (u64, little-endian) ‖ 12-byte nonce ‖
//! ChaCha20-Poly1305 ciphertext`, with associated data `"txnchain-seal-v2" ‖
//! platform id ‖ TCB layout ‖ TCB_VERSION ‖ u32-le label length ‖ label`.
//! TCB layout: 0 = none (`virtual`), 1 = SEV-SNP Milan/Genoa encoding, 2 =
//! SEV-SNP Turin encoding (with an FMC SVN). TCB_VERSION is the value the key
//! was derived at, in the firmware's encoding (0 for `virtual`).
//!
//! Version 1 (still read): `"TXSEAL" ‖ 1 ‖ platform id ‖ 12-byte nonce ‖
//! ciphertext`, associated data `"txnchain-seal-v1" ‖ platform id ‖ u32-le
//! label length ‖ label`. Virtual v1 blobs are read as they are; SEV-SNP v1
//! keys were derived without a TCB, so such blobs are read only when the
//! configured minimum TCB is zero, and are then re-sealed as version 2.

use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::TeeError;
use crate::evidence::EvidencePlatform;
use crate::policy::{Policy, SnpMinTcb};

const MAGIC: &[u8; 6] = b"TXSEAL";
const VERSION_1: u8 = 1;
const VERSION_2: u8 = 2;
const V1_HEADER_LEN: usize = MAGIC.len() + 2 + 12;
const V2_HEADER_LEN: usize = MAGIC.len() + 3 + 8 + 12;
const TAG_LEN: usize = 16;

const LAYOUT_NONE: u8 = 0;
const LAYOUT_SNP_LEGACY: u8 = 1;
const LAYOUT_SNP_TURIN: u8 = 2;

/// The warning logged whenever virtual sealing is used.
pub const VIRTUAL_SEALING_WARNING: &str = "INSECURE virtual sealing: secrets are sealed with a key \
     stored in a plain file; anyone who can read the node's data directory can unseal them";

/// The result of [`Sealer::unseal_refreshing`].
pub struct Unsealed {
    /// The plaintext.
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The same plaintext sealed again at the platform's current TCB, when the
    /// blob was bound to an older one. The caller should store it in place of
    /// the old blob ([`unseal_file`] does).
    pub resealed: Option<Vec<u8>>,
}

impl std::fmt::Debug for Unsealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unsealed")
            .field(
                "plaintext",
                &format_args!("<{} bytes>", self.plaintext.len()),
            )
            .field("resealed", &self.resealed.as_ref().map(Vec::len))
            .finish()
    }
}

/// Seals and unseals node secrets.
pub trait Sealer: Send + Sync {
    /// The platform whose sealing this is.
    fn platform(&self) -> EvidencePlatform;
    /// Encrypt `plaintext` under the sealing key, bound to `label`.
    fn seal(&self, label: &str, plaintext: &[u8]) -> Result<Vec<u8>, TeeError>;
    /// Decrypt a sealed blob made with the same `label`; when the blob is bound
    /// to an older TCB than the platform's, also re-seal it at the current one
    /// (never downward).
    fn unseal_refreshing(&self, label: &str, sealed: &[u8]) -> Result<Unsealed, TeeError>;
    /// Decrypt a sealed blob made with the same `label` (any re-sealed blob is dropped).
    fn unseal(&self, label: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, TeeError> {
        self.unseal_refreshing(label, sealed).map(|u| u.plaintext)
    }
}

fn platform_id(p: EvidencePlatform) -> u8 {
    match p {
        EvidencePlatform::Virtual => 0,
        EvidencePlatform::SevSnp => 1,
        EvidencePlatform::Tdx => 2,
        EvidencePlatform::Sgx => 3,
    }
}

/// An SEV-SNP TCB version: the SVNs of the firmware components. The TCB a
/// sealing key is derived at, and what the policy's `min_tcb.sev_snp` names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SnpTcbVersion {
    /// PSP bootloader SVN.
    pub bootloader: u8,
    /// PSP OS (TEE) SVN.
    pub tee: u8,
    /// SNP firmware SVN.
    pub snp: u8,
    /// Microcode patch level.
    pub microcode: u8,
    /// FMC SVN: Turin and later only, whose TCB_VERSION has another layout.
    pub fmc: Option<u8>,
}

impl std::fmt::Display for SnpTcbVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "bootloader={} tee={} snp={} microcode={}",
            self.bootloader, self.tee, self.snp, self.microcode
        )?;
        if let Some(fmc) = self.fmc {
            write!(f, " fmc={fmc}")?;
        }
        Ok(())
    }
}

impl SnpTcbVersion {
    /// The firmware's TCB_VERSION encoding (as in MSG_KEY_REQ and the report's
    /// TCB fields): Milan/Genoa `[bootloader, tee, 0, 0, 0, 0, snp, microcode]`,
    /// Turin (with FMC) `[fmc, bootloader, tee, snp, 0, 0, 0, microcode]`,
    /// read as a little-endian u64.
    pub fn to_raw(self) -> u64 {
        let b = match self.fmc {
            None => [
                self.bootloader,
                self.tee,
                0,
                0,
                0,
                0,
                self.snp,
                self.microcode,
            ],
            Some(fmc) => [
                fmc,
                self.bootloader,
                self.tee,
                self.snp,
                0,
                0,
                0,
                self.microcode,
            ],
        };
        u64::from_le_bytes(b)
    }

    /// Decode a TCB_VERSION; `turin` selects the layout with an FMC SVN.
    pub fn from_raw(raw: u64, turin: bool) -> Self {
        let b = raw.to_le_bytes();
        if turin {
            Self {
                fmc: Some(b[0]),
                bootloader: b[1],
                tee: b[2],
                snp: b[3],
                microcode: b[7],
            }
        } else {
            Self {
                fmc: None,
                bootloader: b[0],
                tee: b[1],
                snp: b[6],
                microcode: b[7],
            }
        }
    }

    /// The minimum named by a policy's `[min_tcb.sev_snp]` (guest_svn is not a TCB component).
    pub fn from_min(min: &SnpMinTcb) -> Self {
        Self {
            bootloader: min.bootloader,
            tee: min.tee,
            snp: min.snp,
            microcode: min.microcode,
            fmc: min.fmc,
        }
    }

    fn components(self) -> [u8; 4] {
        [self.bootloader, self.tee, self.snp, self.microcode]
    }

    /// Every component is at least `min`'s (FMC compared only when both have one).
    pub fn meets(self, min: SnpTcbVersion) -> bool {
        self.components()
            .iter()
            .zip(min.components().iter())
            .all(|(have, need)| have >= need)
            && match (self.fmc, min.fmc) {
                (Some(have), Some(need)) => have >= need,
                _ => true,
            }
    }

    /// Whether firmware whose committed TCB is `committed` can derive a key at
    /// this TCB: same layout, and no component above `committed`'s.
    pub fn derivable_at(self, committed: SnpTcbVersion) -> bool {
        self.fmc.is_some() == committed.fmc.is_some() && committed.meets(self)
    }

    /// Every component zero: no minimum.
    pub fn is_zero(self) -> bool {
        self.components() == [0; 4] && self.fmc.unwrap_or(0) == 0
    }

    fn layout(self) -> u8 {
        if self.fmc.is_some() {
            LAYOUT_SNP_TURIN
        } else {
            LAYOUT_SNP_LEGACY
        }
    }
}

/// Sealing configuration, part of [`crate::PlatformConfig`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SealingConfig {
    /// SEV-SNP: the VMPL mixed into the key (the guest's own VMPL or higher).
    pub snp_vmpl: u32,
    /// SEV-SNP: the minimum TCB. A platform whose committed TCB is below it
    /// refuses to seal, and blobs bound to a TCB below it are refused. Normally
    /// the verification policy's `min_tcb.sev_snp` ([`SealingConfig::from_policy`]).
    pub snp_min_tcb: SnpTcbVersion,
}

impl SealingConfig {
    /// Sealing with the minimum TCB of a verification policy (zero when it names none).
    pub fn from_policy(policy: &Policy) -> Self {
        Self {
            snp_vmpl: 0,
            snp_min_tcb: policy
                .min_tcb
                .sev_snp
                .as_ref()
                .map(SnpTcbVersion::from_min)
                .unwrap_or_default(),
        }
    }
}

/// The TCB new SEV-SNP blobs are sealed at: the platform's committed TCB,
/// which must meet the minimum.
pub fn snp_seal_tcb(
    committed: SnpTcbVersion,
    minimum: SnpTcbVersion,
) -> Result<SnpTcbVersion, TeeError> {
    if committed.meets(minimum) {
        Ok(committed)
    } else {
        Err(TeeError::SealingTcbBelowMinimum { committed, minimum })
    }
}

/// What to do with an SEV-SNP blob when unsealing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnpUnsealPlan {
    /// The blob is bound to the committed TCB: unseal it, nothing else.
    AsIs,
    /// Unseal with the key of the blob's TCB (`None`: a version 1 blob, whose
    /// key has no TCB), then re-seal at `to`, which is higher.
    Reseal {
        /// The blob's TCB.
        from: Option<SnpTcbVersion>,
        /// The committed TCB.
        to: SnpTcbVersion,
    },
}

/// Decide how to unseal a blob bound to `sealed` (`None` for version 1) on a
/// platform whose committed TCB is `committed`. Never plans a re-seal downward.
pub fn snp_unseal_plan(
    sealed: Option<SnpTcbVersion>,
    committed: SnpTcbVersion,
    minimum: SnpTcbVersion,
) -> Result<SnpUnsealPlan, TeeError> {
    if !committed.meets(minimum) {
        return Err(TeeError::SealingTcbBelowMinimum { committed, minimum });
    }
    let Some(tcb) = sealed else {
        // A version 1 key has no TCB: any firmware can derive it.
        if minimum.is_zero() {
            return Ok(SnpUnsealPlan::Reseal {
                from: None,
                to: committed,
            });
        }
        return Err(TeeError::SealedTcbBelowMinimum {
            sealed: None,
            minimum,
        });
    };
    if !tcb.meets(minimum) {
        return Err(TeeError::SealedTcbBelowMinimum {
            sealed: Some(tcb),
            minimum,
        });
    }
    if !tcb.derivable_at(committed) {
        return Err(TeeError::SealedTcbNotDerivable {
            sealed: tcb,
            committed,
        });
    }
    if tcb == committed {
        Ok(SnpUnsealPlan::AsIs)
    } else {
        Ok(SnpUnsealPlan::Reseal {
            from: Some(tcb),
            to: committed,
        })
    }
}

/// GUEST_FIELD_SELECT bit: mix in the guest policy.
pub const KEY_FIELD_GUEST_POLICY: u64 = 1 << 0;
/// GUEST_FIELD_SELECT bit: mix in the launch MEASUREMENT.
pub const KEY_FIELD_MEASUREMENT: u64 = 1 << 3;
/// GUEST_FIELD_SELECT bit: mix in the request's TCB_VERSION.
pub const KEY_FIELD_TCB_VERSION: u64 = 1 << 5;

/// An SEV-SNP MSG_KEY_REQ, as sent to the secure processor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnpKeyRequest {
    /// Root key: always the VCEK (ROOT_KEY_SELECT = 0), which is chip-specific.
    pub root_key_vcek: bool,
    /// GUEST_FIELD_SELECT bits ([`KEY_FIELD_GUEST_POLICY`], ...).
    pub guest_field_select: u64,
    /// The VMPL mixed in (at least the guest's own).
    pub vmpl: u32,
    /// The guest SVN mixed in (not selected: 0).
    pub guest_svn: u32,
    /// The TCB_VERSION mixed in (0 when not selected).
    pub tcb_version: u64,
}

/// The sealing key request: VCEK root, guest policy and MEASUREMENT, and the
/// TCB version `tcb` (`None` builds the version 1 request, which mixes in no
/// TCB; it is only used to read version 1 blobs).
pub fn snp_key_request(vmpl: u32, tcb: Option<SnpTcbVersion>) -> SnpKeyRequest {
    let mut fields = KEY_FIELD_GUEST_POLICY | KEY_FIELD_MEASUREMENT;
    if tcb.is_some() {
        fields |= KEY_FIELD_TCB_VERSION;
    }
    SnpKeyRequest {
        root_key_vcek: true,
        guest_field_select: fields,
        vmpl,
        guest_svn: 0,
        tcb_version: tcb.map_or(0, SnpTcbVersion::to_raw),
    }
}

impl SnpKeyRequest {
    /// The `sev` crate's form of the request.
    pub fn to_derived_key(&self) -> sev::firmware::guest::DerivedKey {
        use sev::firmware::guest::{DerivedKey, GuestFieldSelect};
        let mut select = GuestFieldSelect::default();
        select.set_guest_policy(self.guest_field_select & KEY_FIELD_GUEST_POLICY != 0);
        select.set_measurement(self.guest_field_select & KEY_FIELD_MEASUREMENT != 0);
        select.set_tcb_version(self.guest_field_select & KEY_FIELD_TCB_VERSION != 0);
        DerivedKey::new(
            !self.root_key_vcek,
            select,
            self.vmpl,
            self.guest_svn,
            self.tcb_version,
            None,
        )
    }
}

/// The SEV-SNP secure processor, as far as sealing needs it.
pub trait SnpKeyDeriver: Send + Sync {
    /// The platform's committed TCB: the highest TCB a key can be derived at.
    fn committed_tcb(&self) -> Result<SnpTcbVersion, TeeError>;
    /// Run MSG_KEY_REQ.
    fn derive_key(&self, request: &SnpKeyRequest) -> Result<Zeroizing<[u8; 32]>, TeeError>;
}

fn aad(version: u8, pid: u8, tcb: Option<(u8, u64)>, label: &str) -> Result<Vec<u8>, TeeError> {
    let label_len = u32::try_from(label.len())
        .map_err(|_| TeeError::Unseal("sealing label longer than 4 GiB".into()))?;
    let mut a = if version == VERSION_1 {
        b"txnchain-seal-v1".to_vec()
    } else {
        b"txnchain-seal-v2".to_vec()
    };
    a.push(pid);
    if let Some((layout, raw)) = tcb {
        a.push(layout);
        a.extend_from_slice(&raw.to_le_bytes());
    }
    a.extend_from_slice(&label_len.to_le_bytes());
    a.extend_from_slice(label.as_bytes());
    Ok(a)
}

fn cipher(key: &[u8; 32]) -> Result<ChaCha20Poly1305, TeeError> {
    ChaCha20Poly1305::new_from_slice(key).map_err(|e| TeeError::Unseal(format!("key: {e}")))
}

/// Seal as version 2, recording the TCB the key was derived at.
fn seal_with(
    key: &[u8; 32],
    platform: EvidencePlatform,
    tcb: Option<SnpTcbVersion>,
    label: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, TeeError> {
    use rand::TryRngCore;
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng
        .try_fill_bytes(&mut nonce)
        .map_err(|e| TeeError::Identity(format!("operating system RNG failed: {e}")))?;
    let pid = platform_id(platform);
    let (layout, raw) = match tcb {
        None => (LAYOUT_NONE, 0),
        Some(t) => (t.layout(), t.to_raw()),
    };
    let aad = aad(VERSION_2, pid, Some((layout, raw)), label)?;
    let ct = cipher(key)?
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| TeeError::Unseal("encryption failed".into()))?;
    let mut out = Vec::with_capacity(V2_HEADER_LEN + ct.len());
    out.extend_from_slice(MAGIC);
    out.push(VERSION_2);
    out.push(pid);
    out.push(layout);
    out.extend_from_slice(&raw.to_le_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// A parsed sealed blob (not yet decrypted).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Blob<'a> {
    version: u8,
    /// The TCB recorded in a version 2 SEV-SNP blob.
    tcb: Option<SnpTcbVersion>,
    nonce: [u8; 12],
    ciphertext: &'a [u8],
    aad: Vec<u8>,
}

fn parse_blob<'a>(
    platform: EvidencePlatform,
    label: &str,
    sealed: &'a [u8],
) -> Result<Blob<'a>, TeeError> {
    if sealed.len() < V1_HEADER_LEN + TAG_LEN || sealed.get(..MAGIC.len()) != Some(&MAGIC[..]) {
        return Err(TeeError::Unseal("not a sealed blob".into()));
    }
    let version = sealed[6];
    let pid = platform_id(platform);
    if sealed[7] != pid {
        return Err(TeeError::Unseal(format!(
            "sealed on platform id {}, this is {platform} ({pid})",
            sealed[7]
        )));
    }
    let (tcb_field, rest) = match version {
        VERSION_1 => (None, &sealed[8..]),
        VERSION_2 => {
            if sealed.len() < V2_HEADER_LEN + TAG_LEN {
                return Err(TeeError::Unseal("truncated sealed blob".into()));
            }
            let layout = sealed[8];
            let mut raw = [0u8; 8];
            raw.copy_from_slice(&sealed[9..17]);
            (Some((layout, u64::from_le_bytes(raw))), &sealed[17..])
        }
        other => return Err(TeeError::Unseal(format!("unknown version {other}"))),
    };
    let tcb = match (platform, tcb_field) {
        (_, None) => None,
        (EvidencePlatform::SevSnp, Some((LAYOUT_SNP_LEGACY, raw))) => {
            Some(SnpTcbVersion::from_raw(raw, false))
        }
        (EvidencePlatform::SevSnp, Some((LAYOUT_SNP_TURIN, raw))) => {
            Some(SnpTcbVersion::from_raw(raw, true))
        }
        (EvidencePlatform::SevSnp, Some((layout, _))) => {
            return Err(TeeError::Unseal(format!(
                "SEV-SNP blob with TCB layout {layout}"
            )));
        }
        (_, Some((LAYOUT_NONE, 0))) => None,
        (_, Some((layout, raw))) => {
            return Err(TeeError::Unseal(format!(
                "{platform} blob with a TCB (layout {layout}, {raw:#x})"
            )));
        }
    };
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&rest[..12]);
    Ok(Blob {
        version,
        tcb,
        nonce,
        ciphertext: &rest[12..],
        aad: aad(version, pid, tcb_field, label)?,
    })
}

fn open_blob(key: &[u8; 32], blob: &Blob<'_>) -> Result<Zeroizing<Vec<u8>>, TeeError> {
    cipher(key)?
        .decrypt(
            &Nonce::from(blob.nonce),
            Payload {
                msg: blob.ciphertext,
                aad: &blob.aad,
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
        seal_with(&self.key, EvidencePlatform::Virtual, None, label, plaintext)
    }
    fn unseal_refreshing(&self, label: &str, sealed: &[u8]) -> Result<Unsealed, TeeError> {
        let blob = parse_blob(EvidencePlatform::Virtual, label, sealed)?;
        Ok(Unsealed {
            plaintext: open_blob(&self.key, &blob)?,
            resealed: None,
        })
    }
}

/// SEV-SNP sealing with keys derived by the secure processor at a TCB version.
pub struct SevSnpSealer {
    deriver: Box<dyn SnpKeyDeriver>,
    vmpl: u32,
    min_tcb: SnpTcbVersion,
}

impl std::fmt::Debug for SevSnpSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SevSnpSealer")
            .field("vmpl", &self.vmpl)
            .field("min_tcb", &self.min_tcb)
            .finish_non_exhaustive()
    }
}

/// The SEV guest device.
pub const SEV_GUEST_DEVICE: &str = "/dev/sev-guest";

/// The `/dev/sev-guest` key deriver.
#[cfg(target_os = "linux")]
struct DevSevGuest {
    fw: std::sync::Mutex<sev::firmware::guest::Firmware>,
    vmpl: u32,
}

#[cfg(target_os = "linux")]
impl DevSevGuest {
    fn open(vmpl: u32) -> Result<Self, TeeError> {
        if !Path::new(SEV_GUEST_DEVICE).exists() {
            return Err(TeeError::DeviceUnavailable {
                device: SEV_GUEST_DEVICE,
                detail: "not present: this is not an SEV-SNP guest, or the sev-guest driver \
                         is not loaded"
                    .into(),
            });
        }
        let fw =
            sev::firmware::guest::Firmware::open().map_err(|e| TeeError::DeviceUnavailable {
                device: SEV_GUEST_DEVICE,
                detail: format!("cannot open: {e}"),
            })?;
        Ok(Self {
            fw: std::sync::Mutex::new(fw),
            vmpl,
        })
    }

    fn unavailable(detail: String) -> TeeError {
        TeeError::DeviceUnavailable {
            device: SEV_GUEST_DEVICE,
            detail,
        }
    }
}

#[cfg(target_os = "linux")]
impl SnpKeyDeriver for DevSevGuest {
    fn committed_tcb(&self) -> Result<SnpTcbVersion, TeeError> {
        use sev::firmware::guest::AttestationReport;
        use sev::parser::ByteParser;
        let raw = {
            let mut fw = self
                .fw
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            fw.get_report(None, Some([0u8; 64]), Some(self.vmpl))
                .map_err(|e| Self::unavailable(format!("MSG_REPORT_REQ failed: {e}")))?
        };
        let report = AttestationReport::from_bytes(&raw)
            .map_err(|e| TeeError::malformed("SEV-SNP report from /dev/sev-guest", e))?;
        let t = report.committed_tcb;
        Ok(SnpTcbVersion {
            bootloader: t.bootloader,
            tee: t.tee,
            snp: t.snp,
            microcode: t.microcode,
            fmc: t.fmc,
        })
    }

    fn derive_key(&self, request: &SnpKeyRequest) -> Result<Zeroizing<[u8; 32]>, TeeError> {
        let mut fw = self
            .fw
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        fw.get_derived_key(Some(1), request.to_derived_key())
            .map(Zeroizing::new)
            .map_err(|e| Self::unavailable(format!("MSG_KEY_REQ failed: {e}")))
    }
}

impl SevSnpSealer {
    /// Open `/dev/sev-guest` and check that the platform's committed TCB meets
    /// `config.snp_min_tcb`. Keys mix in the guest policy, the launch
    /// MEASUREMENT, `config.snp_vmpl` and the TCB they are derived at. Fails
    /// clearly when `/dev/sev-guest` is absent.
    #[cfg(target_os = "linux")]
    pub fn new(config: &SealingConfig) -> Result<Self, TeeError> {
        Self::with_deriver(Box::new(DevSevGuest::open(config.snp_vmpl)?), config)
    }

    /// Not available off Linux.
    #[cfg(not(target_os = "linux"))]
    pub fn new(_config: &SealingConfig) -> Result<Self, TeeError> {
        Err(TeeError::DeviceUnavailable {
            device: SEV_GUEST_DEVICE,
            detail: "SEV-SNP sealing needs Linux".into(),
        })
    }

    /// Seal with another implementation of the secure processor (tests, or
    /// another guest driver). Fails if the committed TCB is below the minimum.
    pub fn with_deriver(
        deriver: Box<dyn SnpKeyDeriver>,
        config: &SealingConfig,
    ) -> Result<Self, TeeError> {
        snp_seal_tcb(deriver.committed_tcb()?, config.snp_min_tcb)?;
        Ok(Self {
            deriver,
            vmpl: config.snp_vmpl,
            min_tcb: config.snp_min_tcb,
        })
    }

    fn key_at(&self, tcb: Option<SnpTcbVersion>) -> Result<Zeroizing<[u8; 32]>, TeeError> {
        let hw_key = self.deriver.derive_key(&snp_key_request(self.vmpl, tcb))?;
        let mut h = Sha256::new();
        h.update(b"txnchain-seal-key-v1");
        h.update(hw_key.as_ref());
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&h.finalize());
        Ok(key)
    }
}

impl Sealer for SevSnpSealer {
    fn platform(&self) -> EvidencePlatform {
        EvidencePlatform::SevSnp
    }

    fn seal(&self, label: &str, plaintext: &[u8]) -> Result<Vec<u8>, TeeError> {
        let tcb = snp_seal_tcb(self.deriver.committed_tcb()?, self.min_tcb)?;
        let key = self.key_at(Some(tcb))?;
        seal_with(&key, EvidencePlatform::SevSnp, Some(tcb), label, plaintext)
    }

    fn unseal_refreshing(&self, label: &str, sealed: &[u8]) -> Result<Unsealed, TeeError> {
        let blob = parse_blob(EvidencePlatform::SevSnp, label, sealed)?;
        if blob.version == VERSION_2 && blob.tcb.is_none() {
            return Err(TeeError::Unseal(
                "SEV-SNP version 2 blob without a TCB".into(),
            ));
        }
        let committed = self.deriver.committed_tcb()?;
        let plan = snp_unseal_plan(blob.tcb, committed, self.min_tcb)?;
        let plaintext = open_blob(&*self.key_at(blob.tcb)?, &blob)?;
        let resealed = match plan {
            SnpUnsealPlan::AsIs => None,
            SnpUnsealPlan::Reseal { from, to } => {
                tracing::info!(
                    label,
                    from = %from.map_or_else(|| "none (version 1)".to_string(), |t| t.to_string()),
                    to = %to,
                    "re-sealing to the platform's newer TCB"
                );
                let key = self.key_at(Some(to))?;
                Some(seal_with(
                    &key,
                    EvidencePlatform::SevSnp,
                    Some(to),
                    label,
                    &plaintext,
                )?)
            }
        };
        Ok(Unsealed {
            plaintext,
            resealed,
        })
    }
}

/// Why TDX has no sealing.
pub const TDX_NO_SEALING: &str = "TDX has no sealing key bound to the measurement; a restarted TDX \
     node receives its secrets from other attested nodes, or members restore them from recovery shares";

/// The sealer for a platform: `virtual` keeps its key in `state_dir`;
/// `sev-snp` derives keys as `config` says.
pub fn sealer_for(
    platform: EvidencePlatform,
    state_dir: &Path,
    config: &SealingConfig,
) -> Result<Box<dyn Sealer>, TeeError> {
    match platform {
        EvidencePlatform::Virtual => Ok(Box::new(VirtualSealer::open_or_create(state_dir)?)),
        EvidencePlatform::SevSnp => Ok(Box::new(SevSnpSealer::new(config)?)),
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

fn write_atomically(path: &Path, blob: &[u8]) -> Result<(), TeeError> {
    let tmp = path.with_extension("sealing-tmp");
    let _ = std::fs::remove_file(&tmp);
    write_private(&tmp, blob)?;
    std::fs::rename(&tmp, path).map_err(|e| TeeError::io(path, e))
}

/// Seal `plaintext` and write it to `path` atomically (temporary file, then rename).
pub fn seal_to_file(
    sealer: &dyn Sealer,
    label: &str,
    plaintext: &[u8],
    path: &Path,
) -> Result<(), TeeError> {
    write_atomically(path, &sealer.seal(label, plaintext)?)
}

/// Read and unseal a file written by [`seal_to_file`]. When the blob was bound
/// to an older TCB than the platform's, the file is re-sealed at the current
/// one (atomically; a failure to write it back is logged, the plaintext is
/// still returned).
pub fn unseal_file(
    sealer: &dyn Sealer,
    label: &str,
    path: &Path,
) -> Result<Zeroizing<Vec<u8>>, TeeError> {
    let blob = std::fs::read(path).map_err(|e| TeeError::io(path, e))?;
    let unsealed = sealer.unseal_refreshing(label, &blob)?;
    if let Some(resealed) = unsealed.resealed {
        match write_atomically(path, &resealed) {
            Ok(()) => {
                tracing::info!(path = %path.display(), "sealed file re-sealed at the current TCB");
            }
            Err(e) => tracing::warn!(
                path = %path.display(),
                error = %e,
                "could not write the re-sealed file back; it stays bound to its older TCB"
            ),
        }
    }
    Ok(unsealed.plaintext)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Virtual blobs written by the version 1 code (key `[7; 32]`, label
    /// `ledger-secret`, plaintext `sealed by v1`), checked against that code.
    const V1_VIRTUAL_BLOB: &str = "54585345414c0100000102030405060708090a0b5f10904f09ff8f4e6e5677fb7c2af080533ea7fd1e8a59ab23b51fd7";
    /// The same, sealed for SEV-SNP (platform id 1) with the same key.
    const V1_SNP_BLOB: &str = "54585345414c0101000102030405060708090a0b5f10904f09ff8f4e6e5677fb44a9ec254797b09ab24b4a59b73e0e36";

    /// REPORTED_TCB of the real Milan report in the test vectors.
    const MILAN: SnpTcbVersion = SnpTcbVersion {
        bootloader: 3,
        tee: 0,
        snp: 8,
        microcode: 115,
        fmc: None,
    };

    fn tcb(bootloader: u8, snp: u8, microcode: u8) -> SnpTcbVersion {
        SnpTcbVersion {
            bootloader,
            tee: 0,
            snp,
            microcode,
            fmc: None,
        }
    }

    #[test]
    fn virtual_seal_round_trip_and_persistence() {
        let dir = tempfile::tempdir().unwrap();
        let s = VirtualSealer::open_or_create(dir.path()).unwrap();
        let blob = s.seal("ledger-secret", b"top secret").unwrap();
        assert!(
            !blob.windows(10).any(|w| w == b"top secret"),
            "plaintext leaked"
        );
        assert_eq!(blob[6], VERSION_2);
        assert_eq!(&blob[8..17], &[0u8; 9], "virtual blobs record no TCB");
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
    fn version_1_virtual_files_are_still_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(VIRTUAL_KEY_FILE), [7u8; 32]).unwrap();
        let s = VirtualSealer::open_or_create(dir.path()).unwrap();
        let path = dir.path().join("ledger.sealed");
        std::fs::write(&path, hex::decode(V1_VIRTUAL_BLOB).unwrap()).unwrap();
        assert_eq!(
            &*unseal_file(&s, "ledger-secret", &path).unwrap(),
            b"sealed by v1"
        );
        // Not rewritten: virtual sealing has no TCB to move to.
        assert_eq!(
            std::fs::read(&path).unwrap(),
            hex::decode(V1_VIRTUAL_BLOB).unwrap()
        );
        assert!(
            s.unseal("other-label", &std::fs::read(&path).unwrap())
                .is_err()
        );
    }

    #[test]
    fn virtual_unseal_rejects_tampering_and_wrong_context() {
        let dir = tempfile::tempdir().unwrap();
        let s = VirtualSealer::open_or_create(dir.path()).unwrap();
        let blob = s.seal("a", b"data").unwrap();
        assert!(matches!(s.unseal("b", &blob), Err(TeeError::Unseal(_))));
        for i in [
            0,
            6,
            7,
            8,
            9,
            16,
            V2_HEADER_LEN - 1,
            V2_HEADER_LEN,
            blob.len() - 1,
        ] {
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
        let snp_blob =
            seal_with(&[7; 32], EvidencePlatform::SevSnp, Some(MILAN), "a", b"x").unwrap();
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
        let config = SealingConfig::default();
        match sealer_for(EvidencePlatform::Tdx, dir.path(), &config) {
            Err(TeeError::SealingUnsupported { platform, reason }) => {
                assert_eq!(platform, "tdx");
                assert!(reason.contains("recovery shares"));
            }
            other => panic!("unexpected: {:?}", other.map(|s| s.platform())),
        }
        if !Path::new(SEV_GUEST_DEVICE).exists() {
            match SevSnpSealer::new(&config) {
                Err(e @ TeeError::DeviceUnavailable { .. }) => {
                    assert!(e.to_string().contains("/dev/sev-guest"), "{e}");
                }
                other => panic!("unexpected: {other:?}"),
            }
        }
    }

    #[test]
    fn tcb_version_encoding_matches_the_firmware() {
        // The Milan report's REPORTED_TCB bytes are 03 00 00 00 00 00 08 73.
        let raw = u64::from_le_bytes([0x03, 0, 0, 0, 0, 0, 0x08, 0x73]);
        assert_eq!(MILAN.to_raw(), raw);
        assert_eq!(SnpTcbVersion::from_raw(raw, false), MILAN);
        let turin = SnpTcbVersion {
            fmc: Some(1),
            ..MILAN
        };
        assert_eq!(
            turin.to_raw().to_le_bytes(),
            [0x01, 0x03, 0x00, 0x08, 0, 0, 0, 0x73]
        );
        assert_eq!(SnpTcbVersion::from_raw(turin.to_raw(), true), turin);
        // The same as the sev crate's encoding.
        use sev::parser::ByteParser;
        let sev_tcb = sev::firmware::host::TcbVersion::new(None, 3, 0, 8, 115);
        assert_eq!(
            sev_tcb.to_bytes_with(sev::Generation::Milan).unwrap(),
            raw.to_le_bytes()
        );
    }

    #[test]
    fn key_request_mixes_in_the_tcb_it_is_derived_at() {
        let r = snp_key_request(0, Some(MILAN));
        assert!(r.root_key_vcek);
        assert_eq!(
            r.guest_field_select,
            KEY_FIELD_GUEST_POLICY | KEY_FIELD_MEASUREMENT | KEY_FIELD_TCB_VERSION
        );
        assert_eq!(r.tcb_version, MILAN.to_raw());
        assert_ne!(r.tcb_version, 0, "never TCB 0");
        assert_eq!((r.vmpl, r.guest_svn), (0, 0));
        assert_eq!(snp_key_request(2, Some(MILAN)).vmpl, 2);
        // Version 1 request: what old blobs were sealed with.
        let legacy = snp_key_request(0, None);
        assert_eq!(
            legacy.guest_field_select,
            KEY_FIELD_GUEST_POLICY | KEY_FIELD_MEASUREMENT
        );
        assert_eq!(legacy.tcb_version, 0);
        // The sev crate's request carries the same fields.
        let dk = r.to_derived_key();
        assert_eq!(dk.get_root_key_select(), 0, "VCEK root");
        assert!(dk.guest_field_select.get_guest_policy());
        assert!(dk.guest_field_select.get_measurement());
        assert!(dk.guest_field_select.get_tcb_version());
        assert!(!dk.guest_field_select.get_svn());
        assert_eq!(dk.tcb_version, MILAN.to_raw());
        assert!(!legacy.to_derived_key().guest_field_select.get_tcb_version());
    }

    #[test]
    fn seal_tcb_is_the_committed_one_and_never_below_the_minimum() {
        assert_eq!(snp_seal_tcb(MILAN, tcb(3, 8, 115)).unwrap(), MILAN);
        assert_eq!(
            snp_seal_tcb(MILAN, SnpTcbVersion::default()).unwrap(),
            MILAN
        );
        for min in [tcb(4, 8, 115), tcb(3, 9, 115), tcb(3, 8, 116)] {
            assert!(
                matches!(
                    snp_seal_tcb(MILAN, min),
                    Err(TeeError::SealingTcbBelowMinimum { .. })
                ),
                "{min}"
            );
        }
    }

    #[test]
    fn unseal_plan_reseals_upward_only() {
        let min = tcb(3, 8, 100);
        let old = tcb(3, 8, 115);
        let new = tcb(3, 9, 120);
        assert_eq!(
            snp_unseal_plan(Some(old), old, min).unwrap(),
            SnpUnsealPlan::AsIs
        );
        assert_eq!(
            snp_unseal_plan(Some(old), new, min).unwrap(),
            SnpUnsealPlan::Reseal {
                from: Some(old),
                to: new
            }
        );
        // Rolled back below the blob's TCB: refused, not re-sealed downward.
        assert!(matches!(
            snp_unseal_plan(Some(new), old, min),
            Err(TeeError::SealedTcbNotDerivable { .. })
        ));
        // Higher in one component, lower in another: not derivable either.
        assert!(matches!(
            snp_unseal_plan(Some(tcb(3, 9, 110)), tcb(3, 8, 120), min),
            Err(TeeError::SealedTcbNotDerivable { .. })
        ));
        // Another layout (a Turin blob on a Milan platform).
        let turin = SnpTcbVersion {
            fmc: Some(0),
            ..old
        };
        assert!(matches!(
            snp_unseal_plan(Some(turin), old, min),
            Err(TeeError::SealedTcbNotDerivable { .. })
        ));
        // A blob below the minimum could have been made by vulnerable firmware.
        assert!(matches!(
            snp_unseal_plan(Some(tcb(3, 8, 99)), old, min),
            Err(TeeError::SealedTcbBelowMinimum { .. })
        ));
        // A platform below the minimum does not unseal at all.
        assert!(matches!(
            snp_unseal_plan(Some(tcb(3, 8, 99)), tcb(3, 8, 99), min),
            Err(TeeError::SealingTcbBelowMinimum { .. })
        ));
        // Version 1 blobs: only with no minimum, and then re-sealed.
        assert_eq!(
            snp_unseal_plan(None, old, SnpTcbVersion::default()).unwrap(),
            SnpUnsealPlan::Reseal {
                from: None,
                to: old
            }
        );
        assert!(matches!(
            snp_unseal_plan(None, old, min),
            Err(TeeError::SealedTcbBelowMinimum { sealed: None, .. })
        ));
    }

    /// Stands in for the secure processor: keys are a hash of the request and
    /// a per-chip secret, and like the firmware it refuses TCBs above the
    /// committed one.
    struct FakePsp {
        committed: Mutex<SnpTcbVersion>,
        requests: Mutex<Vec<SnpKeyRequest>>,
    }

    impl FakePsp {
        fn new(committed: SnpTcbVersion) -> std::sync::Arc<Self> {
            std::sync::Arc::new(Self {
                committed: Mutex::new(committed),
                requests: Mutex::new(Vec::new()),
            })
        }
        fn set(&self, t: SnpTcbVersion) {
            *self.committed.lock().unwrap() = t;
        }
    }

    impl SnpKeyDeriver for std::sync::Arc<FakePsp> {
        fn committed_tcb(&self) -> Result<SnpTcbVersion, TeeError> {
            Ok(*self.committed.lock().unwrap())
        }
        fn derive_key(&self, r: &SnpKeyRequest) -> Result<Zeroizing<[u8; 32]>, TeeError> {
            self.requests.lock().unwrap().push(*r);
            let committed = *self.committed.lock().unwrap();
            if r.guest_field_select & KEY_FIELD_TCB_VERSION != 0
                && !SnpTcbVersion::from_raw(r.tcb_version, false).derivable_at(committed)
            {
                return Err(TeeError::DeviceUnavailable {
                    device: SEV_GUEST_DEVICE,
                    detail: "MSG_KEY_REQ failed: TCB_VERSION exceeds CommittedTcb".into(),
                });
            }
            let mut h = Sha256::new();
            h.update(b"fake chip secret");
            h.update(r.guest_field_select.to_le_bytes());
            h.update(r.vmpl.to_le_bytes());
            if r.guest_field_select & KEY_FIELD_TCB_VERSION != 0 {
                h.update(r.tcb_version.to_le_bytes());
            }
            Ok(Zeroizing::new(h.finalize().into()))
        }
    }

    #[test]
    fn snp_sealer_records_its_tcb_and_reseals_after_an_upgrade() {
        let psp = FakePsp::new(tcb(3, 8, 115));
        let config = SealingConfig {
            snp_vmpl: 0,
            snp_min_tcb: tcb(3, 8, 115),
        };
        let s = SevSnpSealer::with_deriver(Box::new(psp.clone()), &config).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sealed");
        seal_to_file(&s, "ledger", b"secret", &path).unwrap();
        let blob = std::fs::read(&path).unwrap();
        assert_eq!(blob[6], VERSION_2);
        assert_eq!(blob[8], LAYOUT_SNP_LEGACY);
        assert_eq!(&blob[9..17], &tcb(3, 8, 115).to_raw().to_le_bytes());
        assert!(
            psp.requests
                .lock()
                .unwrap()
                .iter()
                .all(|r| r.tcb_version == tcb(3, 8, 115).to_raw()),
            "derived at the committed TCB"
        );
        // A blob claiming a lower TCB is refused (below the minimum) ...
        let mut forged = blob.clone();
        forged[15] = 7; // snp SVN 8 -> 7
        assert!(matches!(
            s.unseal("ledger", &forged),
            Err(TeeError::SealedTcbBelowMinimum { .. })
        ));
        // ... and the recorded TCB is authenticated even under the right key.
        let key = s.key_at(Some(tcb(3, 8, 115))).unwrap();
        let parsed = parse_blob(EvidencePlatform::SevSnp, "ledger", &forged).unwrap();
        assert_eq!(parsed.tcb, Some(tcb(3, 7, 115)));
        assert!(open_blob(&key, &parsed).is_err());
        let parsed = parse_blob(EvidencePlatform::SevSnp, "ledger", &blob).unwrap();
        assert_eq!(&*open_blob(&key, &parsed).unwrap(), b"secret");

        // Same TCB: nothing to re-seal.
        let u = s.unseal_refreshing("ledger", &blob).unwrap();
        assert_eq!(&*u.plaintext, b"secret");
        assert!(u.resealed.is_none());

        // Firmware update: unsealed with the old key, re-sealed at the new TCB.
        psp.set(tcb(3, 9, 120));
        assert_eq!(&*unseal_file(&s, "ledger", &path).unwrap(), b"secret");
        let upgraded = std::fs::read(&path).unwrap();
        assert_ne!(upgraded, blob);
        assert_eq!(&upgraded[9..17], &tcb(3, 9, 120).to_raw().to_le_bytes());
        assert!(
            s.unseal_refreshing("ledger", &upgraded)
                .unwrap()
                .resealed
                .is_none()
        );

        // Rolled back to the old firmware: the new blob cannot be derived, and
        // nothing is re-sealed downward (the file is left as it is).
        psp.set(tcb(3, 8, 115));
        assert!(matches!(
            unseal_file(&s, "ledger", &path),
            Err(TeeError::SealedTcbNotDerivable { .. })
        ));
        assert_eq!(std::fs::read(&path).unwrap(), upgraded);

        // Below the minimum the sealer refuses to seal, or to be opened.
        psp.set(tcb(3, 8, 114));
        assert!(matches!(
            s.seal("ledger", b"x"),
            Err(TeeError::SealingTcbBelowMinimum { .. })
        ));
        assert!(SevSnpSealer::with_deriver(Box::new(psp.clone()), &config).is_err());
    }

    #[test]
    fn version_1_snp_blobs_move_to_version_2_only_without_a_minimum() {
        // The v1 fixture was sealed under key [7; 32]: make the fake derive it.
        struct V1Psp;
        impl SnpKeyDeriver for V1Psp {
            fn committed_tcb(&self) -> Result<SnpTcbVersion, TeeError> {
                Ok(MILAN)
            }
            fn derive_key(&self, r: &SnpKeyRequest) -> Result<Zeroizing<[u8; 32]>, TeeError> {
                Ok(Zeroizing::new(
                    if r.guest_field_select & KEY_FIELD_TCB_VERSION == 0 {
                        [1; 32]
                    } else {
                        [2; 32]
                    },
                ))
            }
        }
        // Re-create the v1 blob under the key SevSnpSealer derives from [1; 32].
        let mut h = Sha256::new();
        h.update(b"txnchain-seal-key-v1");
        h.update([1u8; 32]);
        let v1_key: [u8; 32] = h.finalize().into();
        let fixture = hex::decode(V1_SNP_BLOB).unwrap();
        let parsed = parse_blob(EvidencePlatform::SevSnp, "ledger-secret", &fixture).unwrap();
        assert_eq!((parsed.version, parsed.tcb), (VERSION_1, None));
        assert_eq!(
            &*open_blob(&[7; 32], &parsed).unwrap(),
            b"sealed by v1",
            "fixture"
        );
        let mut v1 = fixture[..V1_HEADER_LEN].to_vec();
        v1.extend_from_slice(
            &ChaCha20Poly1305::new_from_slice(&v1_key)
                .unwrap()
                .encrypt(
                    &Nonce::from(parsed.nonce),
                    Payload {
                        msg: b"sealed by v1",
                        aad: &parsed.aad,
                    },
                )
                .unwrap(),
        );

        let s = SevSnpSealer::with_deriver(Box::new(V1Psp), &SealingConfig::default()).unwrap();
        let u = s.unseal_refreshing("ledger-secret", &v1).unwrap();
        assert_eq!(&*u.plaintext, b"sealed by v1");
        let resealed = u.resealed.expect("re-sealed as version 2");
        assert_eq!(resealed[6], VERSION_2);
        assert_eq!(&resealed[9..17], &MILAN.to_raw().to_le_bytes());
        assert_eq!(
            &*s.unseal("ledger-secret", &resealed).unwrap(),
            b"sealed by v1"
        );

        let strict = SealingConfig {
            snp_vmpl: 0,
            snp_min_tcb: tcb(1, 1, 1),
        };
        let s = SevSnpSealer::with_deriver(Box::new(V1Psp), &strict).unwrap();
        assert!(matches!(
            s.unseal("ledger-secret", &v1),
            Err(TeeError::SealedTcbBelowMinimum { sealed: None, .. })
        ));
    }

    #[test]
    fn sealing_config_takes_the_policy_minimum() {
        let mut p = Policy::default();
        assert_eq!(
            SealingConfig::from_policy(&p).snp_min_tcb,
            SnpTcbVersion::default()
        );
        p.min_tcb.sev_snp = Some(SnpMinTcb {
            bootloader: 3,
            snp: 8,
            microcode: 115,
            ..Default::default()
        });
        assert_eq!(SealingConfig::from_policy(&p).snp_min_tcb, MILAN);
    }
}
