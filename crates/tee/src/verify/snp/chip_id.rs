//! Step 7, hwID: a VCEK is issued to one chip, so its hwID extension must equal the report's
//! CHIP_ID (which must not be masked); a VLEK is not chip-specific. Records `snp.chip_id`
//! (pass, not applicable for a VLEK, or the failure).

use super::cert::hw_id;
use crate::verdict::{FailureKind, Verdict};

/// Compares the VCEK's hwID with CHIP_ID and records `snp.chip_id`.
pub(super) fn check(
    vlek: bool,
    vek: &x509_cert::Certificate,
    chip: &[u8; 64],
    v: &mut Verdict,
) -> Option<()> {
    // hwID (VCEK only; a VLEK is not chip-specific).
    if vlek {
        v.not_applicable("snp.chip_id", "VLEK-signed: not bound to one chip");
    } else if let Err(e) = check_chip_id(vek, chip) {
        v.fail(FailureKind::ChipIdMismatch, "snp.chip_id", e);
        return None;
    } else {
        v.pass("snp.chip_id", "VCEK hwID equals CHIP_ID");
    }
    Some(())
}

/// The VCEK's hwID must equal CHIP_ID (64 bytes; Turin VCEKs carry the first 8).
pub(super) fn check_chip_id(vcek: &x509_cert::Certificate, chip: &[u8; 64]) -> Result<(), String> {
    if chip.iter().all(|b| *b == 0) {
        return Err("CHIP_ID is masked (all zero): the VCEK cannot be bound to the chip".into());
    }
    match hw_id(vcek) {
        Some(id)
            if !id.is_empty()
                && chip.get(..id.len()) == Some(id)
                && chip
                    .get(id.len()..)
                    .is_some_and(|rest| rest.iter().all(|b| *b == 0)) =>
        {
            Ok(())
        }
        Some(id) => Err(format!(
            "VCEK hwID {} differs from CHIP_ID {}",
            hex::encode(id),
            hex::encode(chip)
        )),
        None => Err("the VCEK has no hwID extension".into()),
    }
}
