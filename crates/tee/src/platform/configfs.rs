//! Linux configfs-tsm (`/sys/kernel/config/tsm/report`), the kernel's one
//! interface to SEV-SNP and TDX attestation reports.
//!
//! A request creates an entry directory, writes 64 bytes to `inblob`, reads
//! `outblob` (and `auxblob`, which holds certificates only when the host
//! provides them) and `provider`, then checks `generation`: the kernel bumps
//! it on every write to the entry, so after our single write it must be
//! exactly one more than before. Anything else means another writer raced us
//! and the report is discarded. Requests from this process are serialised by
//! a mutex; the generation check covers other processes.
//!
//! The root is configurable so that the code runs against a prepared
//! directory tree in tests, where a [`TsmEmulator`] stands in for the kernel.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::TeeError;

/// The standard location of configfs-tsm reports.
pub const DEFAULT_CONFIGFS_TSM_ROOT: &str = "/sys/kernel/config/tsm/report";

/// Provider name of the SEV-SNP guest driver.
pub const PROVIDER_SEV: &str = "sev_guest";
/// Provider name of the TDX guest driver.
pub const PROVIDER_TDX: &str = "tdx_guest";

/// Stands in for the kernel when the root is an ordinary directory (tests).
///
/// On real configfs the kernel creates the attribute files when the entry is
/// made and produces the report when `outblob` is read; an ordinary
/// directory does neither, so an emulator writes them at those two points.
pub trait TsmEmulator: Send + Sync {
    /// Called right after the entry directory was created.
    fn entry_created(&self, entry: &Path) -> std::io::Result<()>;
    /// Called right after `inblob` was written.
    fn inblob_written(&self, entry: &Path) -> std::io::Result<()>;
}

/// What one configfs-tsm request returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsmReport {
    /// `sev_guest` or `tdx_guest`.
    pub provider: String,
    /// The report (SNP) or quote (TDX).
    pub outblob: Vec<u8>,
    /// Certificates supplied by the host, if any (SNP: a GUID-keyed table).
    pub auxblob: Option<Vec<u8>>,
    /// The entry's generation after the request.
    pub generation: u64,
}

/// Access to a configfs-tsm report directory.
pub struct ConfigfsTsm {
    root: PathBuf,
    lock: Mutex<()>,
    seq: AtomicU64,
    emulator: Option<Arc<dyn TsmEmulator>>,
}

impl std::fmt::Debug for ConfigfsTsm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigfsTsm")
            .field("root", &self.root)
            .field("emulated", &self.emulator.is_some())
            .finish()
    }
}

fn configfs_err(path: &Path, detail: impl Into<String>) -> TeeError {
    TeeError::Configfs {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

impl ConfigfsTsm {
    /// Use the report directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            lock: Mutex::new(()),
            seq: AtomicU64::new(0),
            emulator: None,
        }
    }

    /// Install a kernel stand-in (for tests on an ordinary directory).
    pub fn with_emulator(mut self, emulator: Arc<dyn TsmEmulator>) -> Self {
        self.emulator = Some(emulator);
        self
    }

    /// The report directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn create_entry(&self) -> Result<PathBuf, TeeError> {
        match std::fs::metadata(&self.root) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(configfs_err(&self.root, "is not a directory")),
            Err(e) => {
                return Err(configfs_err(
                    &self.root,
                    format!(
                        "{e} (is configfs mounted and is the sev-guest or tdx-guest driver \
                         loaded with TSM reports enabled?)"
                    ),
                ));
            }
        }
        for _ in 0..16 {
            let n = self.seq.fetch_add(1, Ordering::Relaxed);
            let entry = self
                .root
                .join(format!("txnchain-{}-{n}", std::process::id()));
            match std::fs::create_dir(&entry) {
                Ok(()) => {
                    if let Some(emu) = &self.emulator {
                        emu.entry_created(&entry)
                            .map_err(|e| configfs_err(&entry, format!("emulator: {e}")))?;
                    }
                    return Ok(entry);
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(configfs_err(
                        &entry,
                        format!("cannot create a report entry: {e}"),
                    ));
                }
            }
        }
        Err(configfs_err(
            &self.root,
            "could not create a fresh report entry",
        ))
    }

    fn remove_entry(entry: &Path) {
        // On configfs rmdir removes the entry with its attributes; on an
        // ordinary directory (tests) it fails because files remain.
        if let Err(e) = std::fs::remove_dir(entry) {
            tracing::debug!(entry = %entry.display(), error = %e, "configfs-tsm entry not removed");
        }
    }

    fn read_generation(entry: &Path) -> Result<u64, TeeError> {
        let path = entry.join("generation");
        let text = std::fs::read_to_string(&path).map_err(|e| TeeError::io(&path, e))?;
        text.trim()
            .parse()
            .map_err(|e| configfs_err(&path, format!("not a number: {e}")))
    }

    fn read_provider(entry: &Path) -> Result<String, TeeError> {
        let path = entry.join("provider");
        let text = std::fs::read_to_string(&path).map_err(|e| TeeError::io(&path, e))?;
        Ok(text.trim().to_string())
    }

    /// The provider (`sev_guest` / `tdx_guest`) serving this root, without requesting a report.
    pub fn provider(&self) -> Result<String, TeeError> {
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = self.create_entry()?;
        let provider = Self::read_provider(&entry);
        Self::remove_entry(&entry);
        provider
    }

    /// Request a report carrying `inblob` as its report_data.
    pub fn request(&self, inblob: &[u8; 64]) -> Result<TsmReport, TeeError> {
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = self.create_entry()?;
        let result = self.request_in(&entry, inblob);
        Self::remove_entry(&entry);
        result
    }

    fn request_in(&self, entry: &Path, inblob: &[u8; 64]) -> Result<TsmReport, TeeError> {
        let before = Self::read_generation(entry)?;
        let inblob_path = entry.join("inblob");
        std::fs::write(&inblob_path, inblob).map_err(|e| TeeError::io(&inblob_path, e))?;
        if let Some(emu) = &self.emulator {
            emu.inblob_written(entry)
                .map_err(|e| configfs_err(entry, format!("emulator: {e}")))?;
        }
        let out_path = entry.join("outblob");
        let outblob = std::fs::read(&out_path).map_err(|e| TeeError::io(&out_path, e))?;
        let aux_path = entry.join("auxblob");
        let auxblob = match std::fs::read(&aux_path) {
            Ok(b) if !b.is_empty() => Some(b),
            Ok(_) => None,
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(TeeError::io(&aux_path, e)),
        };
        let provider = Self::read_provider(entry)?;
        let after = Self::read_generation(entry)?;
        let expected = before.saturating_add(1);
        if after != expected {
            return Err(TeeError::GenerationMismatch {
                path: entry.to_path_buf(),
                expected,
                found: after,
            });
        }
        if outblob.is_empty() {
            return Err(configfs_err(&out_path, "empty report"));
        }
        Ok(TsmReport {
            provider,
            outblob,
            auxblob,
            generation: after,
        })
    }
}
