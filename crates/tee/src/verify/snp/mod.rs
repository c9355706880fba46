//! SEV-SNP: report signature and ARK → ASK → VCEK/VLEK chain with the `sev`
//! crate, then our own checks that the `sev` crate does not do: certificate
//! validity at `now`, the VEK's TCB extensions against REPORTED_TCB, the
//! VCEK's hwID against CHIP_ID, and revocation of the ASK and VCEK/VLEK in
//! AMD's CRL when one is available ([`super::amd_crl`]).
//!
//! [`verify`] runs the steps in this order, each in its own module, and stops at the first
//! that fails; the verdict lists their claims in the same order:
//!
//! 1. [`parse`]: the report (`snp.parse`);
//! 2. [`endorsement`]: VCEK/VLEK from the bundle or the collateral directory, and the
//!    bundle's ASK and ARK (`snp.certificates`, failures only);
//! 3. [`chain`]: ARK → ASK → VCEK/VLEK (`snp.chain`);
//! 4. [`signature`]: the report signature (`snp.signature`);
//! 5. [`validity`]: certificate dates (`snp.cert_validity`);
//! 6. [`tcb`]: the VEK's TCB against REPORTED_TCB (`snp.vek_tcb`);
//! 7. [`chip_id`]: the VCEK's hwID against CHIP_ID (`snp.chip_id`);
//! 8. [`revocation`]: AMD's CRL (`snp.crl`).
//!
//! [`cert`] holds the certificate decoding the steps share.

mod cert;
mod chain;
mod chip_id;
mod endorsement;
mod parse;
mod revocation;
mod signature;
mod tcb;
mod validity;

use super::{Attested, SnpGuestFacts, TcbFacts, VerifyOptions};
use crate::evidence::Endorsements;
use crate::policy::Measured;
use crate::verdict::Verdict;

pub use cert::certificate_validity;
pub(crate) use parse::{REPORT_LEN, measurement_hex};

/// Verifies an SEV-SNP report `raw` with its endorsements: the steps above in order, stopping
/// at the first failure; what the report attests, once every step has passed.
pub(crate) fn verify(
    raw: &[u8],
    end: &Endorsements,
    opts: &VerifyOptions,
    v: &mut Verdict,
) -> Option<Attested> {
    let parsed = parse::parse(raw, v)?;
    let key_name = parsed.key_name();
    let certs = endorsement::load(&parsed, raw, end, opts, v)?;
    let chained = chain::verify(key_name, &certs, opts, v)?;
    let report = parsed.report;
    signature::verify(key_name, &chained.vek_sev, &report, v)?;
    validity::check(
        [
            ("ARK", &chained.root.ark_der),
            ("ASK", &chained.ask_der),
            (key_name, &certs.vek_der),
        ],
        opts.now,
        v,
    )?;
    tcb::check(key_name, &certs.vek, &parsed.reported, v)?;
    chip_id::check(parsed.vlek, &certs.vek, &report.chip_id, v)?;
    let revocation = revocation::check(
        end,
        opts,
        chained.root,
        &chained.ask_der,
        key_name,
        if parsed.vlek { "crl-vlek-" } else { "crl-" },
        v,
    )?;

    Some(Attested {
        measured: Measured::SevSnp(report.measurement),
        report_data: report.report_data,
        host_data: Some(report.host_data.to_vec()),
        debug: report.policy.debug_allowed(),
        snp_guest: Some(SnpGuestFacts {
            vmpl: report.vmpl,
            migrate_ma: report.policy.migrate_ma_allowed(),
        }),
        revocation,
        tcb: TcbFacts::Snp {
            reported: parsed.reported,
            guest_svn: report.guest_svn,
        },
        tcb_status: None,
        advisories: Vec::new(),
        collateral_issued: None,
        timestamp: None,
    })
}

#[cfg(test)]
mod tests {
    use sev::firmware::guest::AttestationReport;
    use sev::parser::ByteParser;
    use x509_cert::der::Decode as _;

    use super::cert::{der_content, product_name};
    use super::chip_id::check_chip_id;
    use super::tcb::check_vek_tcb;
    use crate::verify::SnpTcb;

    const VECTORS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/attestation-vectors"
    );

    fn milan() -> (x509_cert::Certificate, SnpTcb, [u8; 64]) {
        let der = std::fs::read(format!("{VECTORS}/sev/vcek_milan.der")).unwrap();
        let text = std::fs::read_to_string(format!("{VECTORS}/sev/report_milan.hex")).unwrap();
        let raw = hex::decode(text.trim()).unwrap();
        let report = AttestationReport::from_bytes(&raw).unwrap();
        let t = report.reported_tcb;
        let tcb = SnpTcb {
            bootloader: t.bootloader,
            tee: t.tee,
            snp: t.snp,
            microcode: t.microcode,
            fmc: t.fmc,
        };
        (
            x509_cert::Certificate::from_der(&der).unwrap(),
            tcb,
            report.chip_id,
        )
    }

    #[test]
    fn real_vcek_binds_tcb_and_chip_id() {
        let (vcek, tcb, chip) = milan();
        assert_eq!(product_name(&vcek).as_deref(), Some("Milan"));
        check_vek_tcb(&vcek, &tcb).unwrap();
        check_chip_id(&vcek, &chip).unwrap();
        // Each component is compared.
        for i in 0..4 {
            let mut t = tcb;
            match i {
                0 => t.bootloader += 1,
                1 => t.tee += 1,
                2 => t.snp = t.snp.wrapping_sub(1),
                _ => t.microcode += 1,
            }
            let e = check_vek_tcb(&vcek, &t).unwrap_err();
            assert!(
                e.contains(["blSPL", "teeSPL", "snpSPL", "ucodeSPL"][i]),
                "{e}"
            );
        }
        // A Turin-style report with an FMC component the Milan VCEK lacks.
        let turin = SnpTcb {
            fmc: Some(1),
            ..tcb
        };
        assert!(check_vek_tcb(&vcek, &turin).unwrap_err().contains("fmcSPL"));
        let mut other = chip;
        other[63] ^= 1;
        assert!(
            check_chip_id(&vcek, &other)
                .unwrap_err()
                .contains("differs")
        );
        assert!(
            check_chip_id(&vcek, &[0; 64])
                .unwrap_err()
                .contains("masked")
        );
    }

    #[test]
    fn der_helpers() {
        assert_eq!(der_content(&[0x02, 0x01, 0x05], &[0x02]), Some(&[5u8][..]));
        assert_eq!(der_content(&[0x02, 0x02, 0x05], &[0x02]), None);
        assert_eq!(
            der_content(&[0x04, 0x81, 0x01, 9], &[0x04]),
            Some(&[9u8][..])
        );
        assert_eq!(der_content(&[0x04], &[0x04]), None);
        assert_eq!(der_content(&[], &[0x04]), None);
        assert_eq!(der_content(&[0x16, 0x01, 9], &[0x04]), None);
    }
}
