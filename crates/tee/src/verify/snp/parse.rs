//! Step 1, parse: the report is exactly [`REPORT_LEN`] bytes the `sev` crate accepts and
//! re-encodes to the same signed bytes, is signed by a VCEK or VLEK, with ECDSA
//! P-384/SHA-384. Records `snp.parse` (pass, or the failure).

use sev::firmware::guest::AttestationReport;
use sev::parser::ByteParser;

use crate::verdict::{FailureKind, Verdict};
use crate::verify::SnpTcb;

/// Size of an SEV-SNP attestation report.
pub(crate) const REPORT_LEN: usize = 1184;
/// The signed part of the report.
const SIGNED_LEN: usize = 0x2A0;

/// A report that passed [`parse`].
pub(super) struct Parsed {
    pub(super) report: AttestationReport,
    /// Signed by a VLEK (SIGNING_KEY = 1) rather than a VCEK (0).
    pub(super) vlek: bool,
    /// REPORTED_TCB.
    pub(super) reported: SnpTcb,
}

impl Parsed {
    /// `"VLEK"` or `"VCEK"`, as the messages name the endorsement key.
    pub(super) fn key_name(&self) -> &'static str {
        if self.vlek { "VLEK" } else { "VCEK" }
    }
}

/// Parses the report and records `snp.parse`.
pub(super) fn parse(raw: &[u8], v: &mut Verdict) -> Option<Parsed> {
    if raw.len() != REPORT_LEN {
        v.fail(
            FailureKind::Malformed,
            "snp.parse",
            format!("report is {} bytes, expected {REPORT_LEN}", raw.len()),
        );
        return None;
    }
    let report = match AttestationReport::from_bytes(raw) {
        Ok(r) => r,
        Err(e) => {
            v.fail(FailureKind::Unsupported, "snp.parse", format!("sev: {e}"));
            return None;
        }
    };
    // The sev crate verifies the signature over its own re-encoding of the
    // report; insist that this is exactly the bytes we were given.
    match report.to_bytes() {
        Ok(again) if again.get(..SIGNED_LEN) == raw.get(..SIGNED_LEN) => {}
        _ => {
            v.fail(
                FailureKind::Malformed,
                "snp.parse",
                "report has non-zero reserved bytes in its signed part",
            );
            return None;
        }
    }
    let signing_key = report.key_info.signing_key();
    let vlek = match signing_key {
        0 => false,
        1 => true,
        other => {
            v.fail(
                FailureKind::Unsupported,
                "snp.parse",
                format!("report is not signed by a VCEK or VLEK (SIGNING_KEY = {other})"),
            );
            return None;
        }
    };
    if report.sig_algo != 1 {
        v.fail(
            FailureKind::Unsupported,
            "snp.parse",
            format!(
                "signature algorithm {} (only 1 = ECDSA P-384/SHA-384)",
                report.sig_algo
            ),
        );
        return None;
    }
    let reported = SnpTcb {
        bootloader: report.reported_tcb.bootloader,
        tee: report.reported_tcb.tee,
        snp: report.reported_tcb.snp,
        microcode: report.reported_tcb.microcode,
        fmc: report.reported_tcb.fmc,
    };
    v.pass(
        "snp.parse",
        format!(
            "report v{}, VMPL {}, signed by {}, REPORTED_TCB {reported}",
            report.version,
            report.vmpl,
            if vlek { "VLEK" } else { "VCEK" }
        ),
    );
    Some(Parsed {
        report,
        vlek,
        reported,
    })
}

/// Parse-only access for the node: measurement of a report, hex.
pub(crate) fn measurement_hex(raw: &[u8]) -> Option<String> {
    raw.get(0x90..0xC0).map(hex::encode)
}
