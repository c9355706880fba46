//! Step 4, signature: the report's signature verifies with the chained VCEK/VLEK (ECDSA
//! P-384/SHA-384, by the `sev` crate). Records `snp.signature` (pass, or the failure).

use sev::certs::snp::{Certificate, Verifiable};
use sev::firmware::guest::AttestationReport;

use crate::verdict::{FailureKind, Verdict};

/// Verifies the report signature and records `snp.signature`.
pub(super) fn verify(
    key_name: &str,
    vek_sev: &Certificate,
    report: &AttestationReport,
    v: &mut Verdict,
) -> Option<()> {
    if let Err(e) = (vek_sev, report).verify() {
        v.fail(
            FailureKind::Signature,
            "snp.signature",
            format!("report signature does not verify with the {key_name}: {e}"),
        );
        return None;
    }
    v.pass(
        "snp.signature",
        format!("report signed by the {key_name} (ECDSA P-384/SHA-384)"),
    );
    Some(())
}
