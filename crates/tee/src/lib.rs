//! # txnchain-tee
//!
//! Everything TxnChain knows about trusted execution environments:
//!
//! - **Platforms** ([`platform`]): where evidence comes from — `virtual`
//!   (development, insecure and loudly marked so), `sev-snp` and `tdx`
//!   through Linux configfs-tsm — and `--tee auto` selection, which never
//!   falls back to `virtual`.
//! - **Node identity** ([`identity`]): a fresh Ed25519 or P-384 key per
//!   process, usable as a rustls certificate key, bound into evidence through
//!   `report_data = SHA-256("txnchain-node-v1" ‖ SPKI DER ‖ nonce) ‖ 0^32`.
//! - **Evidence bundles** ([`evidence`]): the JSON served at
//!   `GET /node/attestation` and read by `txnchain attest verify`.
//! - **Verification** ([`verify`]): pure, offline and deterministic (the
//!   time is a parameter). SEV-SNP with the `sev` crate plus our VCEK
//!   TCB/hwID checks; TDX and SGX quotes with `dcap-qvl`; then one policy
//!   layer ([`policy`]) for every platform. The result is a [`Verdict`] that
//!   lists each claim checked and names the first failure.
//! - **Node surface** ([`attestation`]): the `/node/attestation` response and
//!   a per-client rate limiter for fresh (nonce) reports.
//! - **Sealing** ([`sealing`]): node secrets sealed to the platform; on
//!   SEV-SNP at a TCB version no lower than the policy's minimum, re-sealed
//!   upward after firmware updates.
//!
//! The formats (bundle JSON, policy TOML) and the threat model are documented
//! in `docs/attestation.md`.

pub mod attestation;
mod error;
pub mod evidence;
pub mod identity;
pub mod platform;
pub mod policy;
pub mod sealing;
mod time;
pub mod verdict;
pub mod verify;

pub use attestation::{AttestationResponse, NodeAttestation, attestation_response};
pub use error::TeeError;
pub use evidence::{Endorsements, EvidenceBundle, EvidencePlatform, VirtualClaims};
pub use identity::{
    IdentityAlgorithm, MAX_NONCE_LEN, NodeIdentity, REPORT_DATA_DOMAIN, parse_nonce_hex,
    random_nonce, report_data_for,
};
pub use platform::{
    ConfigfsTsm, Platform, PlatformConfig, PlatformEvidence, TeeChoice, log_startup,
    select_platform,
};
pub use policy::{MeasurementEntry, Policy};
pub use sealing::{Sealer, SealingConfig, SnpTcbVersion, sealer_for};
pub use time::{format_utc, parse_rfc3339};
pub use verdict::{
    Claim, ClaimStatus, Failure, FailureCategory, FailureKind, INSECURE_BANNER, Verdict,
};
pub use verify::{ExpectedReportData, TrustRoots, VerifyOptions, now_unix, verify_bundle};

/// The warning logged when the `virtual` platform is in use.
pub const INSECURE_VIRTUAL_WARNING: &str = "INSECURE: TEE platform `virtual` gives NO hardware \
     protection. The operator can read and change all memory, code and secrets, and its \
     attestation evidence is an unsigned claim set anyone can forge. Use it for development only.";

/// Fuzzing harnesses, shared by the `cargo fuzz` targets and the robustness tests.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    use crate::{EvidenceBundle, ExpectedReportData, Policy, VerifyOptions, verify_bundle};

    /// Parses arbitrary bytes as an evidence bundle (what `txnchain attest verify --url`
    /// receives from a node) and verifies it. Never panics; a verdict is always produced.
    pub fn evidence_bundle(data: &[u8]) {
        if let Ok(bundle) = EvidenceBundle::from_json(data) {
            verify_evidence(&bundle);
        }
    }

    /// Verifies a bundle with a strict policy at a fixed time; the verdict must be well formed.
    pub fn verify_evidence(bundle: &EvidenceBundle) {
        let opts = VerifyOptions::new(1_700_000_000, ExpectedReportData::FromBundle);
        let verdict = verify_bundle(bundle, &Policy::default(), &opts);
        let _ = verdict.to_string();
    }
}
