//! The verification policy: what evidence a verifier accepts once its
//! signatures and certificate chains check out.
//!
//! The same policy code runs for every platform, `virtual` included. Policies
//! are TOML files (format in `docs/attestation.md`):
//!
//! ```toml
//! allow_insecure_virtual = false
//! allow_debug = false
//! accepted_tcb_statuses = ["UpToDate"]
//! require_nonce = false
//! max_vmpl = 0                   # SEV-SNP: highest VMPL a report may come from
//! forbid_migrate_ma = true       # SEV-SNP: reject guests that allow a migration agent
//! require_crl = false            # SEV-SNP: reject evidence when no AMD CRL is available
//!
//! [[measurement]]
//! platform = "sev-snp"
//! name = "txnchain 0.1.0 image"
//! value = "7a1e5c26…"            # 48-byte MEASUREMENT, hex
//!
//! [[measurement]]
//! platform = "tdx"
//! mrtd = "…"                     # 48 bytes, hex; rtmr0..rtmr3 optional
//!
//! [min_tcb.sev_snp]
//! bootloader = 3
//! snp = 8
//! microcode = 115
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{EvidencePlatform, TeeError};

/// The TCB status given to a TDX / SGX platform whose TCB is below every
/// level Intel's TCB info lists (Intel's QVL: `TCB_NOT_SUPPORTED`). It is
/// worse than `OutOfDate`: Intel no longer describes the platform at all, so
/// a policy accepts it only by naming it.
pub const TCB_NOT_SUPPORTED: &str = "TcbNotSupported";

/// TCB statuses a policy may list (Intel's names, plus [`TCB_NOT_SUPPORTED`];
/// `Revoked` is never acceptable).
pub const KNOWN_TCB_STATUSES: &[&str] = &[
    "UpToDate",
    "SWHardeningNeeded",
    "ConfigurationNeeded",
    "ConfigurationAndSWHardeningNeeded",
    "OutOfDate",
    "OutOfDateConfigurationNeeded",
    "TDRelaunchAdvised",
    "TDRelaunchAdvisedConfigurationNeeded",
    TCB_NOT_SUPPORTED,
];

fn default_statuses() -> Vec<String> {
    vec!["UpToDate".to_string()]
}

fn default_true() -> bool {
    true
}

/// The highest VMPL an SEV-SNP guest has (VMPL 0 is the most privileged, 3 the least).
pub const MAX_SNP_VMPL: u32 = 3;

/// A verification policy. [`Policy::default`] is strict: hardware only,
/// `UpToDate` only, no debug, SEV-SNP reports from VMPL 0 only and no
/// migration agent, and an empty measurement allow-list (so it accepts
/// nothing until measurements are added).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Accept `virtual` evidence (which proves nothing). Only for development.
    #[serde(default)]
    pub allow_insecure_virtual: bool,
    /// Accept evidence whose debug attribute is set (SNP policy DEBUG, TDX
    /// TD_ATTRIBUTES.TUD, SGX ATTRIBUTES.DEBUG, virtual `debug`).
    #[serde(default)]
    pub allow_debug: bool,
    /// TDX / SGX TCB statuses accepted (default `["UpToDate"]`).
    #[serde(default = "default_statuses")]
    pub accepted_tcb_statuses: Vec<String>,
    /// Intel advisories (e.g. `INTEL-SA-00615`) that reject a quote even when
    /// its status is accepted.
    #[serde(default)]
    pub rejected_advisories: Vec<String>,
    /// Skip the measurement allow-list. Only for development (`Policy::dev`).
    #[serde(default)]
    pub allow_any_measurement: bool,
    /// The measurement allow-list (TOML: `[[measurement]]` tables).
    #[serde(default, rename = "measurement")]
    pub measurements: Vec<MeasurementEntry>,
    /// Allow-list of host data, hex: SNP HOST_DATA (32 bytes), TDX MRCONFIGID
    /// (48 bytes), virtual `host_data`. Empty: not checked.
    #[serde(default)]
    pub host_data: Vec<String>,
    /// Minimum TCB / SVN values per platform.
    #[serde(default)]
    pub min_tcb: MinTcb,
    /// Require the evidence to be bound to a nonce the verifier chose.
    #[serde(default)]
    pub require_nonce: bool,
    /// TDX / SGX: reject collateral whose newest issue date is older than this.
    #[serde(default)]
    pub max_collateral_age_secs: Option<u64>,
    /// `virtual`: reject claim sets whose timestamp is older than this (the only
    /// evidence with a timestamp; hardware reports have none).
    #[serde(default)]
    pub max_evidence_age_secs: Option<u64>,
    /// SEV-SNP: the highest VMPL (0..=3) a report may have been requested from
    /// (default 0). Software at a higher VMPL runs under, and is observable
    /// by, whatever runs at the lower ones (e.g. an SVSM or paravisor).
    #[serde(default)]
    pub max_vmpl: u32,
    /// SEV-SNP: reject guests whose policy sets MIGRATE_MA (a migration agent
    /// may be associated and can export the guest's memory). Default true.
    #[serde(default = "default_true")]
    pub forbid_migrate_ma: bool,
    /// SEV-SNP: reject evidence when no AMD CRL is available (neither in the
    /// bundle's endorsements nor in the collateral directory). Default false:
    /// without a CRL, revocation of the ASK / VCEK is not checked and the
    /// verdict says so. A CRL that is present is always checked.
    #[serde(default)]
    pub require_crl: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            allow_insecure_virtual: false,
            allow_debug: false,
            accepted_tcb_statuses: default_statuses(),
            rejected_advisories: Vec::new(),
            allow_any_measurement: false,
            measurements: Vec::new(),
            host_data: Vec::new(),
            min_tcb: MinTcb::default(),
            require_nonce: false,
            max_collateral_age_secs: None,
            max_evidence_age_secs: None,
            max_vmpl: 0,
            forbid_migrate_ma: true,
            require_crl: false,
        }
    }
}

/// Minimum TCB values, one optional table per platform.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinTcb {
    /// SEV-SNP: compared with REPORTED_TCB and GUEST_SVN.
    #[serde(default)]
    pub sev_snp: Option<SnpMinTcb>,
    /// TDX: compared with TEE_TCB_SVN component by component.
    #[serde(default)]
    pub tdx: Option<TdxMinTcb>,
    /// SGX: compared with the enclave's ISVSVN.
    #[serde(default)]
    pub sgx: Option<SgxMinTcb>,
}

/// SEV-SNP minimum REPORTED_TCB components and guest SVN.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnpMinTcb {
    /// PSP bootloader SVN.
    #[serde(default)]
    pub bootloader: u8,
    /// PSP OS (TEE) SVN.
    #[serde(default)]
    pub tee: u8,
    /// SNP firmware SVN.
    #[serde(default)]
    pub snp: u8,
    /// Microcode patch level.
    #[serde(default)]
    pub microcode: u8,
    /// FMC SVN (Turin and later; ignored when the report has none).
    #[serde(default)]
    pub fmc: Option<u8>,
    /// The guest's own SVN from its ID block.
    #[serde(default)]
    pub guest_svn: u32,
}

/// TDX minimum TEE_TCB_SVN.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TdxMinTcb {
    /// 16 bytes, hex; each byte is a minimum for the same byte of TEE_TCB_SVN.
    pub tee_tcb_svn: String,
}

/// SGX minimum enclave SVN.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SgxMinTcb {
    /// Minimum ISVSVN.
    #[serde(default)]
    pub isv_svn: u16,
}

/// One allowed measurement. Which fields apply depends on `platform`:
///
/// | platform | required | optional |
/// |---|---|---|
/// | `virtual`, `sev-snp` | `value` (48 bytes) | |
/// | `tdx` | `mrtd` (48 bytes) | `rtmr0`…`rtmr3` (48 bytes each; omitted = any) |
/// | `sgx` | `mrenclave` or `mrsigner` (32 bytes) | the other one |
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasurementEntry {
    /// The platform this entry is for.
    pub platform: Option<EvidencePlatform>,
    /// A label shown in verdicts (e.g. the release it belongs to).
    #[serde(default)]
    pub name: Option<String>,
    /// `virtual` / `sev-snp`: the 48-byte measurement.
    #[serde(default)]
    pub value: Option<String>,
    /// TDX MRTD.
    #[serde(default)]
    pub mrtd: Option<String>,
    /// TDX RTMR0 (firmware configuration).
    #[serde(default)]
    pub rtmr0: Option<String>,
    /// TDX RTMR1 (kernel, initrd).
    #[serde(default)]
    pub rtmr1: Option<String>,
    /// TDX RTMR2 (kernel command line).
    #[serde(default)]
    pub rtmr2: Option<String>,
    /// TDX RTMR3 (runtime extensions).
    #[serde(default)]
    pub rtmr3: Option<String>,
    /// SGX MRENCLAVE.
    #[serde(default)]
    pub mrenclave: Option<String>,
    /// SGX MRSIGNER.
    #[serde(default)]
    pub mrsigner: Option<String>,
}

/// A measurement taken from verified evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Measured {
    /// `virtual` claim-set measurement.
    Virtual([u8; 48]),
    /// SEV-SNP MEASUREMENT.
    SevSnp([u8; 48]),
    /// TDX MRTD and RTMR0..3.
    Tdx {
        /// MRTD.
        mrtd: [u8; 48],
        /// RTMR0..RTMR3.
        rtmr: [[u8; 48]; 4],
    },
    /// SGX MRENCLAVE and MRSIGNER.
    Sgx {
        /// MRENCLAVE.
        mrenclave: [u8; 32],
        /// MRSIGNER.
        mrsigner: [u8; 32],
    },
}

impl Measured {
    /// The platform the measurement comes from.
    pub fn platform(&self) -> EvidencePlatform {
        match self {
            Self::Virtual(_) => EvidencePlatform::Virtual,
            Self::SevSnp(_) => EvidencePlatform::SevSnp,
            Self::Tdx { .. } => EvidencePlatform::Tdx,
            Self::Sgx { .. } => EvidencePlatform::Sgx,
        }
    }

    /// The `[[measurement]]` entry that would allow exactly this measurement.
    pub fn to_entry(&self) -> MeasurementEntry {
        let mut e = MeasurementEntry {
            platform: Some(self.platform()),
            ..Default::default()
        };
        match self {
            Self::Virtual(v) | Self::SevSnp(v) => e.value = Some(hex::encode(v)),
            Self::Tdx { mrtd, rtmr } => {
                e.mrtd = Some(hex::encode(mrtd));
                e.rtmr0 = Some(hex::encode(rtmr[0]));
                e.rtmr1 = Some(hex::encode(rtmr[1]));
                e.rtmr2 = Some(hex::encode(rtmr[2]));
                e.rtmr3 = Some(hex::encode(rtmr[3]));
            }
            Self::Sgx {
                mrenclave,
                mrsigner,
            } => {
                e.mrenclave = Some(hex::encode(mrenclave));
                e.mrsigner = Some(hex::encode(mrsigner));
            }
        }
        e
    }
}

impl std::fmt::Display for Measured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Virtual(v) | Self::SevSnp(v) => write!(f, "{}", hex::encode(v)),
            Self::Tdx { mrtd, rtmr } => write!(
                f,
                "mrtd={} rtmr0={} rtmr1={} rtmr2={} rtmr3={}",
                hex::encode(mrtd),
                hex::encode(rtmr[0]),
                hex::encode(rtmr[1]),
                hex::encode(rtmr[2]),
                hex::encode(rtmr[3])
            ),
            Self::Sgx {
                mrenclave,
                mrsigner,
            } => write!(
                f,
                "mrenclave={} mrsigner={}",
                hex::encode(mrenclave),
                hex::encode(mrsigner)
            ),
        }
    }
}

fn hex_eq(field: &Option<String>, actual: &[u8]) -> bool {
    match field {
        None => true,
        Some(h) => hex::decode(h.trim()).is_ok_and(|b| b == actual),
    }
}

impl MeasurementEntry {
    /// Whether this entry allows `m`.
    pub fn matches(&self, m: &Measured) -> bool {
        if self.platform != Some(m.platform()) {
            return false;
        }
        match m {
            Measured::Virtual(v) | Measured::SevSnp(v) => {
                self.value.is_some() && hex_eq(&self.value, v)
            }
            Measured::Tdx { mrtd, rtmr } => {
                self.mrtd.is_some()
                    && hex_eq(&self.mrtd, mrtd)
                    && hex_eq(&self.rtmr0, &rtmr[0])
                    && hex_eq(&self.rtmr1, &rtmr[1])
                    && hex_eq(&self.rtmr2, &rtmr[2])
                    && hex_eq(&self.rtmr3, &rtmr[3])
            }
            Measured::Sgx {
                mrenclave,
                mrsigner,
            } => {
                (self.mrenclave.is_some() || self.mrsigner.is_some())
                    && hex_eq(&self.mrenclave, mrenclave)
                    && hex_eq(&self.mrsigner, mrsigner)
            }
        }
    }

    fn validate(&self, index: usize) -> Result<(), TeeError> {
        let err = |msg: String| TeeError::Policy(format!("measurement #{}: {msg}", index + 1));
        let check = |name: &str, v: &Option<String>, len: usize| -> Result<(), TeeError> {
            if let Some(v) = v {
                let bytes =
                    hex::decode(v.trim()).map_err(|e| err(format!("`{name}` is not hex: {e}")))?;
                if bytes.len() != len {
                    return Err(err(format!(
                        "`{name}` has {} bytes, expected {len}",
                        bytes.len()
                    )));
                }
            }
            Ok(())
        };
        let forbid = |names: &[(&str, &Option<String>)]| -> Result<(), TeeError> {
            for (n, v) in names {
                if v.is_some() {
                    return Err(err(format!("`{n}` does not apply to this platform")));
                }
            }
            Ok(())
        };
        let Some(platform) = self.platform else {
            return Err(err("missing `platform`".into()));
        };
        match platform {
            EvidencePlatform::Virtual | EvidencePlatform::SevSnp => {
                if self.value.is_none() {
                    return Err(err("missing `value`".into()));
                }
                check("value", &self.value, 48)?;
                forbid(&[
                    ("mrtd", &self.mrtd),
                    ("rtmr0", &self.rtmr0),
                    ("rtmr1", &self.rtmr1),
                    ("rtmr2", &self.rtmr2),
                    ("rtmr3", &self.rtmr3),
                    ("mrenclave", &self.mrenclave),
                    ("mrsigner", &self.mrsigner),
                ])
            }
            EvidencePlatform::Tdx => {
                if self.mrtd.is_none() {
                    return Err(err("missing `mrtd`".into()));
                }
                for (n, v) in [
                    ("mrtd", &self.mrtd),
                    ("rtmr0", &self.rtmr0),
                    ("rtmr1", &self.rtmr1),
                    ("rtmr2", &self.rtmr2),
                    ("rtmr3", &self.rtmr3),
                ] {
                    check(n, v, 48)?;
                }
                forbid(&[
                    ("value", &self.value),
                    ("mrenclave", &self.mrenclave),
                    ("mrsigner", &self.mrsigner),
                ])
            }
            EvidencePlatform::Sgx => {
                if self.mrenclave.is_none() && self.mrsigner.is_none() {
                    return Err(err("needs `mrenclave` or `mrsigner`".into()));
                }
                check("mrenclave", &self.mrenclave, 32)?;
                check("mrsigner", &self.mrsigner, 32)?;
                forbid(&[
                    ("value", &self.value),
                    ("mrtd", &self.mrtd),
                    ("rtmr0", &self.rtmr0),
                    ("rtmr1", &self.rtmr1),
                    ("rtmr2", &self.rtmr2),
                    ("rtmr3", &self.rtmr3),
                ])
            }
        }
    }

    /// A short description for verdicts.
    pub fn label(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| "unnamed allow-list entry".to_string())
    }
}

impl Policy {
    /// The development policy (`txnchain dev`): accepts `virtual` evidence
    /// with any measurement. Never use it for a network that holds value.
    pub fn dev() -> Self {
        Self {
            allow_insecure_virtual: true,
            allow_any_measurement: true,
            ..Self::default()
        }
    }

    /// Parse and validate a TOML policy.
    pub fn from_toml_str(text: &str) -> Result<Self, TeeError> {
        let policy: Policy = toml::from_str(text).map_err(|e| TeeError::Policy(e.to_string()))?;
        policy.validate()?;
        Ok(policy)
    }

    /// Read, parse and validate a TOML policy file.
    pub fn load(path: &Path) -> Result<Self, TeeError> {
        let text = std::fs::read_to_string(path).map_err(|e| TeeError::io(path, e))?;
        Self::from_toml_str(&text)
    }

    /// Check the policy for errors that would otherwise surface only at verification time.
    pub fn validate(&self) -> Result<(), TeeError> {
        for s in &self.accepted_tcb_statuses {
            if !KNOWN_TCB_STATUSES.contains(&s.as_str()) {
                return Err(TeeError::Policy(format!(
                    "unknown TCB status `{s}` in accepted_tcb_statuses (known: {})",
                    KNOWN_TCB_STATUSES.join(", ")
                )));
            }
        }
        if self.max_vmpl > MAX_SNP_VMPL {
            return Err(TeeError::Policy(format!(
                "max_vmpl = {} is out of range (0..={MAX_SNP_VMPL})",
                self.max_vmpl
            )));
        }
        for (i, m) in self.measurements.iter().enumerate() {
            m.validate(i)?;
        }
        for h in &self.host_data {
            let b = hex::decode(h.trim())
                .map_err(|e| TeeError::Policy(format!("host_data `{h}` is not hex: {e}")))?;
            if !matches!(b.len(), 32 | 48) {
                return Err(TeeError::Policy(format!(
                    "host_data `{h}` has {} bytes (32 for SNP/virtual, 48 for TDX MRCONFIGID)",
                    b.len()
                )));
            }
        }
        if let Some(tdx) = &self.min_tcb.tdx {
            let b = hex::decode(tdx.tee_tcb_svn.trim()).map_err(|e| {
                TeeError::Policy(format!("min_tcb.tdx.tee_tcb_svn is not hex: {e}"))
            })?;
            if b.len() != 16 {
                return Err(TeeError::Policy(format!(
                    "min_tcb.tdx.tee_tcb_svn has {} bytes, expected 16",
                    b.len()
                )));
            }
        }
        Ok(())
    }

    /// Whether evidence from `platform` can ever pass the measurement check.
    pub fn lists_platform(&self, platform: EvidencePlatform) -> bool {
        self.allow_any_measurement
            || self
                .measurements
                .iter()
                .any(|m| m.platform == Some(platform))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M48: &str = "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f";

    #[test]
    fn parses_full_policy() {
        let text = format!(
            r#"
            allow_insecure_virtual = false
            accepted_tcb_statuses = ["UpToDate", "SWHardeningNeeded"]
            rejected_advisories = ["INTEL-SA-00615"]
            host_data = ["{h32}"]
            require_nonce = true
            max_collateral_age_secs = 2592000
            max_vmpl = 1
            forbid_migrate_ma = false
            require_crl = true

            [[measurement]]
            platform = "sev-snp"
            name = "release 0.1.0"
            value = "{M48}"

            [[measurement]]
            platform = "tdx"
            mrtd = "{M48}"
            rtmr1 = "{M48}"

            [[measurement]]
            platform = "sgx"
            mrsigner = "{h32}"

            [min_tcb.sev_snp]
            bootloader = 3
            snp = 8
            microcode = 115

            [min_tcb.tdx]
            tee_tcb_svn = "{h16}"
            "#,
            h32 = "11".repeat(32),
            h16 = "00".repeat(16),
        );
        let p = Policy::from_toml_str(&text).unwrap();
        assert_eq!(p.measurements.len(), 3);
        assert_eq!(p.min_tcb.sev_snp.as_ref().unwrap().microcode, 115);
        assert!(p.require_nonce);
        assert!(!p.allow_debug);
        assert_eq!(p.max_vmpl, 1);
        assert!(!p.forbid_migrate_ma && p.require_crl);
        let snp = Measured::SevSnp(hex::decode(M48).unwrap().try_into().unwrap());
        assert!(p.measurements[0].matches(&snp));
        assert!(!p.measurements[1].matches(&snp));
        assert!(p.lists_platform(EvidencePlatform::Tdx));
        assert!(!p.lists_platform(EvidencePlatform::Virtual));
    }

    #[test]
    fn defaults_are_strict() {
        let p = Policy::from_toml_str("").unwrap();
        assert_eq!(p, Policy::default());
        assert!(!p.allow_insecure_virtual);
        assert_eq!(p.accepted_tcb_statuses, vec!["UpToDate".to_string()]);
        assert_eq!(p.max_vmpl, 0, "only VMPL 0 by default");
        assert!(p.forbid_migrate_ma, "no migration agent by default");
        assert!(!p.require_crl);
        let d = Policy::dev();
        assert!(d.forbid_migrate_ma && d.max_vmpl == 0);
        let named = Policy::from_toml_str("accepted_tcb_statuses = [\"TcbNotSupported\"]").unwrap();
        assert_eq!(
            named.accepted_tcb_statuses,
            vec![TCB_NOT_SUPPORTED.to_string()]
        );
        assert!(d.allow_insecure_virtual && d.allow_any_measurement && !d.allow_debug);
    }

    #[test]
    fn rejects_bad_policies() {
        for bad in [
            "allow_insecure_virtal = true",
            "accepted_tcb_statuses = [\"Revoked\"]",
            "accepted_tcb_statuses = [\"uptodate\"]",
            "host_data = [\"zz\"]",
            "host_data = [\"1122\"]",
            "[[measurement]]\nvalue = \"00\"",
            "[[measurement]]\nplatform = \"sev-snp\"\nvalue = \"00\"",
            "[[measurement]]\nplatform = \"sev-snp\"",
            "[[measurement]]\nplatform = \"tdx\"\nrtmr0 = \"00\"",
            "[[measurement]]\nplatform = \"sgx\"",
            "[[measurement]]\nplatform = \"nitro\"\nvalue = \"00\"",
            "[min_tcb.tdx]\ntee_tcb_svn = \"00\"",
            "max_vmpl = 4",
            "max_vmpl = -1",
            "require_crl = \"yes\"",
        ] {
            assert!(Policy::from_toml_str(bad).is_err(), "accepted: {bad}");
        }
        let wrong_field =
            format!("[[measurement]]\nplatform = \"sev-snp\"\nvalue = \"{M48}\"\nmrtd = \"{M48}\"");
        assert!(Policy::from_toml_str(&wrong_field).is_err());
    }

    #[test]
    fn tdx_and_sgx_matching() {
        let m: [u8; 48] = [7; 48];
        let tdx = Measured::Tdx {
            mrtd: m,
            rtmr: [[1; 48], [2; 48], [3; 48], [4; 48]],
        };
        let mut e = tdx.to_entry();
        assert!(e.matches(&tdx));
        e.rtmr3 = None;
        assert!(e.matches(&tdx), "omitted RTMR matches any value");
        e.rtmr2 = Some(hex::encode([9u8; 48]));
        assert!(!e.matches(&tdx));
        let sgx = Measured::Sgx {
            mrenclave: [1; 32],
            mrsigner: [2; 32],
        };
        let only_signer = MeasurementEntry {
            platform: Some(EvidencePlatform::Sgx),
            mrsigner: Some(hex::encode([2u8; 32])),
            ..Default::default()
        };
        assert!(only_signer.matches(&sgx));
        let empty = MeasurementEntry {
            platform: Some(EvidencePlatform::Sgx),
            ..Default::default()
        };
        assert!(
            !empty.matches(&sgx),
            "an entry with no fields must not match"
        );
    }
}
