//! AMD SEV-SNP reports through configfs-tsm.

use std::path::{Path, PathBuf};

use super::configfs::{ConfigfsTsm, PROVIDER_SEV};
use super::{Platform, PlatformEvidence};
use crate::TeeError;
use crate::evidence::{Endorsements, EvidencePlatform, encode_cert_der};

/// SEV-SNP through configfs-tsm. Certificates come from `auxblob` when the
/// host provides them, otherwise from the configured certificate directory;
/// AMD's CRL (`crl.der`) always comes from that directory when it holds one.
#[derive(Debug)]
pub struct SevSnpPlatform {
    tsm: ConfigfsTsm,
    cert_dir: Option<PathBuf>,
}

const GUID_ARK: &str = "c0b406a4-a803-4952-9743-3fb6014cd0ae";
const GUID_ASK: &str = "4ab7b379-bbac-4fe4-a02f-05aef327c782";
const GUID_VCEK: &str = "63da758d-e664-4564-adc5-f4b93be8accd";
const GUID_VLEK: &str = "a8074bc2-a25a-483e-aae6-39c045a0b8a1";

fn guid_bytes(text: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    let digits: Vec<u8> = text.bytes().filter(|b| *b != b'-').collect();
    for (i, pair) in digits.chunks(2).take(16).enumerate() {
        let s = std::str::from_utf8(pair).unwrap_or("00");
        out[i] = u8::from_str_radix(s, 16).unwrap_or(0);
    }
    out
}

/// The same GUID in the mixed-endian (EFI) byte order.
fn guid_bytes_le(text: &str) -> [u8; 16] {
    let mut b = guid_bytes(text);
    b[0..4].reverse();
    b[4..6].reverse();
    b[6..8].reverse();
    b
}

fn guid_is(entry: &[u8; 16], text: &str) -> bool {
    *entry == guid_bytes(text) || *entry == guid_bytes_le(text)
}

/// Parse the SEV-SNP certificate table (as returned in `auxblob` or by
/// SNP_GET_EXT_REPORT) into endorsements. Entries are 24 bytes (GUID,
/// offset, length, little-endian) ended by an all-zero entry; offsets are
/// from the start of the table.
pub fn parse_snp_cert_table(table: &[u8]) -> Result<Endorsements, TeeError> {
    let bad = |d: &str| TeeError::malformed("SEV-SNP certificate table", d);
    let mut end = Endorsements::default();
    let mut i = 0usize;
    for _ in 0..64 {
        let entry = table
            .get(i..i + 24)
            .ok_or_else(|| bad("no terminating entry"))?;
        let mut guid = [0u8; 16];
        guid.copy_from_slice(&entry[..16]);
        let word = |o: usize| {
            let mut w = [0u8; 4];
            w.copy_from_slice(&entry[o..o + 4]);
            u32::from_le_bytes(w) as usize
        };
        let (offset, len) = (word(16), word(20));
        if guid == [0; 16] {
            return Ok(end);
        }
        let data = offset
            .checked_add(len)
            .and_then(|stop| table.get(offset..stop))
            .ok_or_else(|| bad("entry points outside the table"))?;
        let b64 = Some(encode_cert_der(data));
        if guid_is(&guid, GUID_VCEK) {
            end.vcek = b64;
        } else if guid_is(&guid, GUID_VLEK) {
            end.vlek = b64;
        } else if guid_is(&guid, GUID_ASK) {
            end.ask = b64;
        } else if guid_is(&guid, GUID_ARK) {
            end.ark = b64;
        }
        i += 24;
    }
    Err(bad("more than 64 entries"))
}

fn read_cert_file(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    match std::str::from_utf8(&bytes) {
        Ok(text) if text.trim_start().starts_with("-----BEGIN") => Some(text.to_string()),
        _ => Some(encode_cert_der(&bytes)),
    }
}

impl SevSnpPlatform {
    /// Use configfs-tsm at `tsm`; fails unless its provider is `sev_guest`.
    pub fn open(tsm: ConfigfsTsm, cert_dir: Option<PathBuf>) -> Result<Self, TeeError> {
        let provider = tsm.provider()?;
        if provider != PROVIDER_SEV {
            return Err(TeeError::WrongProvider {
                requested: "sev-snp",
                expected: PROVIDER_SEV,
                found: provider,
            });
        }
        Ok(Self { tsm, cert_dir })
    }

    /// AMD's CRL from the certificate directory (`crl.der`, DER or PEM).
    fn cached_crl(&self) -> Option<String> {
        read_cert_file(&self.cert_dir.as_ref()?.join("crl.der"))
    }

    fn cached_endorsements(&self, report: &[u8]) -> Endorsements {
        let mut end = Endorsements::default();
        let Some(dir) = &self.cert_dir else {
            return end;
        };
        let chip = report
            .get(0x1A0..0x1E0)
            .map(hex::encode)
            .unwrap_or_default();
        let mut tcb = [0u8; 8];
        if let Some(b) = report.get(0x180..0x188) {
            tcb.copy_from_slice(b);
        }
        let specific = dir.join(format!("vcek-{chip}-{:016x}.der", u64::from_le_bytes(tcb)));
        end.vcek = read_cert_file(&specific).or_else(|| read_cert_file(&dir.join("vcek.der")));
        end.vlek = read_cert_file(&dir.join("vlek.der"));
        end.ask =
            read_cert_file(&dir.join("ask.der")).or_else(|| read_cert_file(&dir.join("ask.pem")));
        end.ark =
            read_cert_file(&dir.join("ark.der")).or_else(|| read_cert_file(&dir.join("ark.pem")));
        end
    }
}

impl Platform for SevSnpPlatform {
    fn kind(&self) -> EvidencePlatform {
        EvidencePlatform::SevSnp
    }

    fn attest(&self, report_data: &[u8; 64]) -> Result<PlatformEvidence, TeeError> {
        let r = self.tsm.request(report_data)?;
        if r.provider != PROVIDER_SEV {
            return Err(TeeError::WrongProvider {
                requested: "sev-snp",
                expected: PROVIDER_SEV,
                found: r.provider,
            });
        }
        if r.outblob.len() != crate::verify::SNP_REPORT_LEN {
            return Err(TeeError::malformed(
                "SEV-SNP report",
                format!("{} bytes from configfs-tsm", r.outblob.len()),
            ));
        }
        if r.outblob.get(0x50..0x90) != Some(&report_data[..]) {
            return Err(TeeError::ReportDataMismatch);
        }
        let mut endorsements = match &r.auxblob {
            Some(aux) => parse_snp_cert_table(aux)?,
            None => Endorsements::default(),
        };
        if endorsements.vcek.is_none() && endorsements.vlek.is_none() {
            let cached = self.cached_endorsements(&r.outblob);
            endorsements.vcek = cached.vcek;
            endorsements.vlek = cached.vlek;
            endorsements.ask = endorsements.ask.or(cached.ask);
            endorsements.ark = endorsements.ark.or(cached.ark);
        }
        if endorsements.crl.is_none() {
            endorsements.crl = self.cached_crl();
        }
        if endorsements.vcek.is_none() && endorsements.vlek.is_none() {
            tracing::warn!(
                "SEV-SNP report has no VCEK/VLEK: the host supplied none in auxblob and no \
                 certificate directory holds one; verifiers must have it in their collateral cache"
            );
        }
        Ok(PlatformEvidence {
            evidence: r.outblob,
            endorsements,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(entries: &[(&str, &[u8])], le: bool) -> Vec<u8> {
        let header = 24 * (entries.len() + 1);
        let mut out = Vec::new();
        let mut data = Vec::new();
        for (guid, body) in entries {
            out.extend_from_slice(&if le {
                guid_bytes_le(guid)
            } else {
                guid_bytes(guid)
            });
            out.extend_from_slice(&u32::try_from(header + data.len()).unwrap().to_le_bytes());
            out.extend_from_slice(&u32::try_from(body.len()).unwrap().to_le_bytes());
            data.extend_from_slice(body);
        }
        out.extend_from_slice(&[0u8; 24]);
        out.extend_from_slice(&data);
        out
    }

    #[test]
    fn cert_table_parses_both_guid_orders() {
        for le in [false, true] {
            let t = table(
                &[(GUID_VCEK, b"vcek"), (GUID_ASK, b"ask"), (GUID_ARK, b"ark")],
                le,
            );
            let e = parse_snp_cert_table(&t).unwrap();
            assert_eq!(e.vcek, Some(encode_cert_der(b"vcek")));
            assert_eq!(e.ask, Some(encode_cert_der(b"ask")));
            assert_eq!(e.ark, Some(encode_cert_der(b"ark")));
            assert_eq!(e.vlek, None);
        }
    }

    #[test]
    fn cert_table_rejects_bad_input() {
        assert!(parse_snp_cert_table(&[]).is_err());
        assert!(parse_snp_cert_table(&[1u8; 30]).is_err());
        let mut t = table(&[(GUID_VLEK, b"vlek")], false);
        t[16] = 0xff; // offset beyond the end
        assert!(parse_snp_cert_table(&t).is_err());
        let endless: Vec<u8> = std::iter::repeat_n(guid_bytes(GUID_ASK), 70)
            .flat_map(|g| g.into_iter().chain([0u8; 8]))
            .collect();
        assert!(parse_snp_cert_table(&endless).is_err());
    }
}
