//! Step 6, TCB: a VCEK/VLEK certifies one TCB, so its SPL extensions (blSPL, teeSPL, snpSPL,
//! ucodeSPL, and fmcSPL when the report has an FMC component) must equal the report's
//! REPORTED_TCB. Records `snp.vek_tcb` (pass, or the failure).

use x509_cert::der::oid::ObjectIdentifier;

use super::cert::ext_u8;
use crate::verdict::{FailureKind, Verdict};
use crate::verify::SnpTcb;

const OID_BL_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.1");
const OID_TEE_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.2");
const OID_SNP_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.3");
const OID_UCODE_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.8");
const OID_FMC_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.9");

/// Compares the VEK's TCB with REPORTED_TCB and records `snp.vek_tcb`.
pub(super) fn check(
    key_name: &str,
    vek: &x509_cert::Certificate,
    reported: &SnpTcb,
    v: &mut Verdict,
) -> Option<()> {
    // The VEK certifies one TCB: it must be the one the report claims.
    match check_vek_tcb(vek, reported) {
        Ok(()) => v.pass(
            "snp.vek_tcb",
            format!("{key_name} TCB extensions equal REPORTED_TCB ({reported})"),
        ),
        Err(e) => {
            v.fail(
                FailureKind::TcbMismatch,
                "snp.vek_tcb",
                format!("{key_name} TCB extensions do not match REPORTED_TCB: {e}"),
            );
            return None;
        }
    }
    Some(())
}

/// The VEK's TCB extensions must equal REPORTED_TCB.
pub(super) fn check_vek_tcb(vek: &x509_cert::Certificate, reported: &SnpTcb) -> Result<(), String> {
    let mut mismatches = Vec::new();
    for (n, oid, have) in [
        ("blSPL", OID_BL_SPL, reported.bootloader),
        ("teeSPL", OID_TEE_SPL, reported.tee),
        ("snpSPL", OID_SNP_SPL, reported.snp),
        ("ucodeSPL", OID_UCODE_SPL, reported.microcode),
    ] {
        match ext_u8(vek, &oid) {
            Some(c) if c == have => {}
            Some(c) => mismatches.push(format!("{n}: certificate {c}, report {have}")),
            None => mismatches.push(format!("{n}: missing or malformed in the certificate")),
        }
    }
    if let Some(have) = reported.fmc {
        match ext_u8(vek, &OID_FMC_SPL) {
            Some(c) if c == have => {}
            Some(c) => mismatches.push(format!("fmcSPL: certificate {c}, report {have}")),
            None => mismatches.push("fmcSPL: missing in the certificate".to_string()),
        }
    }
    if mismatches.is_empty() {
        Ok(())
    } else {
        Err(mismatches.join("; "))
    }
}
