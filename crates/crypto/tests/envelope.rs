#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Envelope round trips, every binding / epoch / tamper failure, sealed results, and the
//! committed test vector of `specs/confidential.md` §7 (`docs/vectors/confidential-v1.json`,
//! also checked by the JS SDK).

use alloy_primitives::{Address, Bytes, Log, LogData, U256, address, b256, hex};
use txnchain_crypto::envelope::{
    self, Binding, Envelope, MIN_LEN, Payload, classify, seal, seal_with_ephemeral_ikm,
};
use txnchain_crypto::keys::{EpochKeyPair, LedgerSecret, ServiceIdentity, verify_encryption_key};
use txnchain_crypto::result::{ExecutionResult, ResultKey, open_result, seal_result};
use txnchain_crypto::{CryptoError, EnvelopeError};
use zeroize::Zeroizing;

const CHAIN: u64 = 424_242;
const SENDER: Address = address!("1111111111111111111111111111111111111111");
const TO: Address = address!("2222222222222222222222222222222222222222");

fn tx_binding() -> Binding {
    Binding::Tx {
        sender: SENDER,
        to: Some(TO),
        nonce: 7,
    }
}

fn key() -> EpochKeyPair {
    LedgerSecret::from_bytes(Zeroizing::new([9; 32])).epoch_key(CHAIN, 1)
}

#[test]
fn round_trip_and_result_key_agree() {
    let k = key();
    let sealed = seal(k.public(), CHAIN, 1, &tx_binding(), b"calldata-canary").unwrap();
    assert!(!sealed.envelope.windows(15).any(|w| w == b"calldata-canary"));
    assert_eq!(classify(&sealed.envelope), Payload::Envelope);
    let env = Envelope::parse(&sealed.envelope).unwrap();
    assert_eq!(env.epoch, 1);
    assert_eq!(env.plaintext_len(), 15);
    let opened = env.open(&k, CHAIN, &tx_binding()).unwrap();
    assert_eq!(opened.plaintext.as_slice(), b"calldata-canary");
    assert_eq!(opened.result_key.expose(), sealed.result_key.expose());
    // Two seals of the same plaintext differ (fresh ephemeral key) and have different keys.
    let again = seal(k.public(), CHAIN, 1, &tx_binding(), b"calldata-canary").unwrap();
    assert_ne!(again.envelope, sealed.envelope);
    assert_ne!(again.result_key.expose(), sealed.result_key.expose());
}

#[test]
fn every_binding_epoch_and_chain_mismatch_fails_to_open() {
    let k = key();
    let sealed = seal(k.public(), CHAIN, 1, &tx_binding(), b"x").unwrap();
    let env = Envelope::parse(&sealed.envelope).unwrap();
    let wrong = [
        Binding::Tx {
            sender: TO,
            to: Some(TO),
            nonce: 7,
        },
        Binding::Tx {
            sender: SENDER,
            to: Some(SENDER),
            nonce: 7,
        },
        Binding::Tx {
            sender: SENDER,
            to: None,
            nonce: 7,
        },
        Binding::Tx {
            sender: SENDER,
            to: Some(TO),
            nonce: 8,
        },
        Binding::Call {
            from: Some(SENDER),
            to: TO,
        },
    ];
    for b in wrong {
        assert_eq!(
            env.open(&k, CHAIN, &b).unwrap_err(),
            EnvelopeError::DoesNotOpen,
            "{b:?}"
        );
    }
    assert_eq!(
        env.open(&k, CHAIN + 1, &tx_binding()).unwrap_err(),
        EnvelopeError::DoesNotOpen
    );
    let other_epoch = LedgerSecret::from_bytes(Zeroizing::new([9; 32])).epoch_key(CHAIN, 2);
    assert_eq!(
        env.open(&other_epoch, CHAIN, &tx_binding()).unwrap_err(),
        EnvelopeError::DoesNotOpen
    );
    // The epoch is inside `info`: rewriting the header's epoch breaks the envelope.
    let mut relabelled = sealed.envelope.clone();
    relabelled[12] = 2;
    let e2 = Envelope::parse(&relabelled).unwrap();
    assert_eq!(
        e2.open(&k, CHAIN, &tx_binding()).unwrap_err(),
        EnvelopeError::DoesNotOpen
    );
}

#[test]
fn every_tampered_byte_fails() {
    let k = key();
    let sealed = seal(k.public(), CHAIN, 1, &tx_binding(), b"tamper me").unwrap();
    for i in 13..sealed.envelope.len() {
        let mut t = sealed.envelope.clone();
        t[i] ^= 0x40;
        let env = Envelope::parse(&t).unwrap();
        assert!(env.open(&k, CHAIN, &tx_binding()).is_err(), "byte {i}");
    }
}

#[test]
fn header_checks() {
    assert_eq!(
        Envelope::parse(&[0, b'T', b'X']).unwrap_err(),
        EnvelopeError::TooShort {
            len: 3,
            min: MIN_LEN
        }
    );
    assert_eq!(
        Envelope::parse(&[1, b'T', b'X', b'N', 1]).unwrap_err(),
        EnvelopeError::NoMagic
    );
    assert_eq!(
        Envelope::parse(&[0, b'T', b'X', b'N', 9, 0, 0]).unwrap_err(),
        EnvelopeError::UnknownVersion(9)
    );
    let short = [&envelope::MAGIC[..], &[1u8; MIN_LEN - 4]].concat();
    assert!(matches!(
        Envelope::parse(&short[..MIN_LEN - 1]),
        Err(EnvelopeError::TooShort { .. })
    ));
    assert!(Envelope::parse(&short).is_ok());
    assert_eq!(classify(b"\xa9\x05\x9c\xbb"), Payload::Plain);
    assert_eq!(classify(&[0, b'T', b'X', b'N', 3, 0]), Payload::Plain);
    assert_eq!(classify(&[0, b'T', b'X', b'N', 2]), Payload::SignedQuery);
    assert_eq!(
        envelope::check_epoch(7, 10).unwrap_err().to_string(),
        "epoch 7 is not accepted (current epoch 10, oldest accepted 8)"
    );
    assert!(envelope::check_epoch(8, 10).is_ok());
    assert!(envelope::check_epoch(10, 10).is_ok());
    assert!(envelope::check_epoch(11, 10).is_err());
    assert!(envelope::check_epoch(0, 1).is_ok());
    assert!(matches!(
        seal(key().public(), CHAIN, 1, &tx_binding(), b""),
        Err(CryptoError::Envelope(EnvelopeError::EmptyPlaintext))
    ));
}

#[test]
fn sealed_results_are_deterministic_and_bound_to_their_key() {
    let k = key();
    let sealed = seal(k.public(), CHAIN, 1, &tx_binding(), b"x").unwrap();
    let result = ExecutionResult {
        status: 1,
        output: Bytes::from_static(b"return-canary"),
        logs: vec![Log {
            address: TO,
            data: LogData::new_unchecked(
                vec![b256!(
                    "00000000000000000000000000000000000000000000000000000000000000aa"
                )],
                Bytes::from_static(b"log-canary"),
            ),
        }],
    };
    let a = seal_result(&sealed.result_key, &result).unwrap();
    assert_eq!(a, seal_result(&sealed.result_key, &result).unwrap());
    assert!(!a.windows(13).any(|w| w == b"return-canary"));
    assert_eq!(open_result(&sealed.result_key, &a).unwrap(), result);
    let other = ResultKey::from_bytes([1; 32]);
    assert!(open_result(&other, &a).is_err());
    let mut t = a.clone();
    let last = t.len() - 1;
    t[last] ^= 1;
    assert!(open_result(&sealed.result_key, &t).is_err());
    assert!(open_result(&sealed.result_key, &a[1..]).is_err());
    let failed = seal_result(&sealed.result_key, &ExecutionResult::not_opened()).unwrap();
    assert!(!open_result(&sealed.result_key, &failed).unwrap().success());
}

#[test]
fn epoch_keys_are_stable_and_independent() {
    let s = LedgerSecret::from_bytes(Zeroizing::new([5; 32]));
    let again = LedgerSecret::from_bytes(Zeroizing::new([5; 32]));
    assert_eq!(
        s.epoch_key(CHAIN, 3).public(),
        again.epoch_key(CHAIN, 3).public()
    );
    assert_ne!(
        s.epoch_key(CHAIN, 3).public(),
        s.epoch_key(CHAIN, 4).public()
    );
    assert_ne!(
        s.epoch_key(CHAIN, 3).public(),
        s.epoch_key(CHAIN + 1, 3).public()
    );
    // The derivation is part of the on-disk format: a node restarted with the same ledger
    // secret must find the same keys. This pins it.
    assert_eq!(
        hex::encode(s.epoch_key(CHAIN, 3).public().to_bytes()),
        VECTOR_STABLE_EPOCH_KEY
    );
    let id = ServiceIdentity::from_seed(&[3; 32]);
    let pk = s.epoch_key(CHAIN, 3).public().to_bytes();
    let sig = id.sign_encryption_key(CHAIN, 3, &pk);
    verify_encryption_key(&id.public(), CHAIN, 3, &pk, &sig).unwrap();
    assert!(verify_encryption_key(&id.public(), CHAIN, 4, &pk, &sig).is_err());
    assert!(verify_encryption_key(&id.public(), CHAIN + 1, 3, &pk, &sig).is_err());
    let other = ServiceIdentity::from_seed(&[4; 32]);
    assert!(verify_encryption_key(&other.public(), CHAIN, 3, &pk, &sig).is_err());
    assert!(!format!("{s:?}{id:?}").contains("0505"));
}

const VECTOR_STABLE_EPOCH_KEY: &str =
    "89e30d45daa16e1d3377d7966fe64a7d52784ef70a9e277e596bb662f164ce2a";

/// The §7 vector. Inputs are fixed; outputs are checked against the committed JSON. Run with
/// `TXNCHAIN_WRITE_VECTOR=1` once to (re)write the file after a deliberate format change.
#[test]
fn committed_test_vector() {
    let epoch_ikm = [0x01u8; 32];
    let ephemeral_ikm = [0x02u8; 32];
    let identity = ServiceIdentity::from_seed(&[0x03; 32]);
    let k = EpochKeyPair::derive(&epoch_ikm);
    let pk = k.public().to_bytes();
    let recipient = address!("3333333333333333333333333333333333333333");
    let mut calldata = hex!("a9059cbb").to_vec();
    calldata.extend_from_slice(&[0u8; 12]);
    calldata.extend_from_slice(recipient.as_slice());
    calldata.extend_from_slice(&U256::from(1000).to_be_bytes::<32>());
    let binding = tx_binding();
    let sealed =
        seal_with_ephemeral_ikm(k.public(), CHAIN, 1, &binding, &calldata, &ephemeral_ikm).unwrap();
    let opened = Envelope::parse(&sealed.envelope)
        .unwrap()
        .open(&k, CHAIN, &binding)
        .unwrap();
    assert_eq!(opened.plaintext.as_slice(), calldata.as_slice());
    let transfer = b256!("ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");
    let word = |a: Address| {
        let mut w = [0u8; 32];
        w[12..].copy_from_slice(a.as_slice());
        alloy_primitives::B256::from(w)
    };
    let result = ExecutionResult {
        status: 1,
        output: Bytes::from(U256::from(1).to_be_bytes::<32>().to_vec()),
        logs: vec![Log {
            address: TO,
            data: LogData::new_unchecked(
                vec![transfer, word(SENDER), word(recipient)],
                Bytes::from(U256::from(1000).to_be_bytes::<32>().to_vec()),
            ),
        }],
    };
    let sealed_result = seal_result(&opened.result_key, &result).unwrap();
    let mut rlp = Vec::new();
    alloy_rlp::Encodable::encode(&result, &mut rlp);
    let vector = serde_json::json!({
        "description": "TxnChain confidential envelope test vector (specs/confidential.md §7): HPKE base, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305",
        "chainId": CHAIN,
        "epoch": 1,
        "epochKeyIkm": hex::encode_prefixed(epoch_ikm),
        "epochSecretKey": hex::encode_prefixed(
            hpke::Serializable::to_bytes(&epoch_secret(&epoch_ikm))),
        "epochPublicKey": hex::encode_prefixed(pk),
        "ephemeralIkm": hex::encode_prefixed(ephemeral_ikm),
        "sender": SENDER.to_string(),
        "to": TO.to_string(),
        "nonce": 7,
        "calldata": hex::encode_prefixed(&calldata),
        "info": hex::encode_prefixed(envelope::info(CHAIN, 1)),
        "aad": hex::encode_prefixed(binding.aad()),
        "envelope": hex::encode_prefixed(&sealed.envelope),
        "resultKey": hex::encode_prefixed(sealed.result_key.expose()),
        "result": {
            "status": 1,
            "output": hex::encode_prefixed(&result.output),
            "logs": [{
                "address": TO.to_string(),
                "topics": result.logs[0].topics().iter().map(ToString::to_string).collect::<Vec<_>>(),
                "data": hex::encode_prefixed(&result.logs[0].data.data),
            }],
            "rlp": hex::encode_prefixed(&rlp),
        },
        "sealedResult": hex::encode_prefixed(&sealed_result),
        "serviceIdentitySeed": hex::encode_prefixed([0x03u8; 32]),
        "serviceIdentity": hex::encode_prefixed(identity.public()),
        "encryptionKeySignature": hex::encode_prefixed(identity.sign_encryption_key(CHAIN, 1, &pk)),
    });
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/vectors/confidential-v1.json"
    );
    let text = serde_json::to_string_pretty(&vector).unwrap() + "\n";
    if std::env::var_os("TXNCHAIN_WRITE_VECTOR").is_some() {
        std::fs::write(path, &text).unwrap();
    }
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("committed vector")).unwrap();
    assert_eq!(
        vector, committed,
        "the implementation no longer reproduces the committed vector"
    );
}

fn epoch_secret(ikm: &[u8; 32]) -> <hpke::kem::X25519HkdfSha256 as hpke::Kem>::PrivateKey {
    <hpke::kem::X25519HkdfSha256 as hpke::Kem>::derive_keypair(ikm).0
}
