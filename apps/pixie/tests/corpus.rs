//! Replays the `pixie_call` fuzz corpus (every seed, its truncations and one-bit mutations)
//! through the harness the `cargo fuzz` target runs; `PIXIE_WRITE_CORPUS=1` rewrites the seeds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use alloy_primitives::{Address, U256};
use alloy_sol_types::SolCall;
use common::*;
use txnchain_pixie::abi::IPixieDex;
use txnchain_pixie::fuzzing::{self, CALLERS};

fn callers() -> Vec<Address> {
    CALLERS.to_vec()
}

#[test]
fn the_harness_callers_are_the_test_keys() {
    for (i, n) in (1u8..=3).enumerate() {
        assert_eq!(CALLERS[i], trader(n).address(), "caller {i}");
    }
    assert_eq!(CALLERS[3], Address::ZERO);
}

fn frame(caller: u8, flags: u8, calldata: &[u8]) -> Vec<u8> {
    let mut out = vec![caller, flags];
    out.extend_from_slice(&u16::try_from(calldata.len()).unwrap().to_be_bytes());
    out.extend_from_slice(calldata);
    out
}

/// The seeds: each interface function once, and a whole batch (two crossing signed orders, a
/// resting one, a cancel, a close, the views).
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    // The harness's exchange, for the orders' EIP-712 domain.
    let ex = fuzzing::exchange(&callers());
    let signed = |n: u8, buy: bool, price: u64, lots: u64, nonce: u64| {
        let signer = trader(n);
        let o = order(&signer, buy, price, lots, nonce);
        IPixieDex::placeOrderCall {
            signature: sign(&ex, &signer, &o).into(),
            order: o,
        }
        .abi_encode()
    };
    let deposit = IPixieDex::depositCall {
        token: fuzzing::QUOTE,
        amount: U256::from(1_000),
    }
    .abi_encode();
    let withdraw = IPixieDex::withdrawCall {
        token: fuzzing::BASE,
        amount: U256::from(1_000),
    }
    .abi_encode();
    let views = [
        IPixieDex::marketsCall {}.abi_encode(),
        IPixieDex::balanceOfCall {
            token: fuzzing::QUOTE,
        }
        .abi_encode(),
        IPixieDex::openOrdersCall {}.abi_encode(),
        IPixieDex::fillsCall {}.abi_encode(),
        IPixieDex::currentBatchCall {}.abi_encode(),
        IPixieDex::nonceUsedCall { nonce: 1 }.abi_encode(),
        IPixieDex::clearingsCall { market: 1 }.abi_encode(),
    ];
    let mut batch = Vec::new();
    batch.extend(frame(0, 0, &signed(1, true, 105, 10, 1)));
    batch.extend(frame(1, 0, &signed(2, false, 100, 6, 1)));
    batch.extend(frame(2, 0, &signed(3, false, 104, 9, 1)));
    batch.extend(frame(
        2,
        0,
        &IPixieDex::cancelNonceCall { nonce: 7 }.abi_encode(),
    ));
    batch.extend(frame(0, 2, &deposit));
    for v in &views {
        batch.extend(frame(0, 1, v));
    }
    let mut all = vec![
        ("deposit", frame(0, 0, &deposit)),
        ("withdraw", frame(1, 0, &withdraw)),
        ("place", frame(0, 2, &signed(1, true, 100, 3, 2))),
        (
            "cancel",
            frame(
                0,
                0,
                &IPixieDex::cancelOrderCall {
                    id: Default::default(),
                }
                .abi_encode(),
            ),
        ),
        (
            "permit",
            frame(
                1,
                0,
                &IPixieDex::depositWithPermitCall {
                    token: fuzzing::BASE,
                    amount: U256::from(5),
                    deadline: U256::MAX,
                    v: 28,
                    r: Default::default(),
                    s: Default::default(),
                }
                .abi_encode(),
            ),
        ),
        ("batch", batch),
    ];
    for (i, v) in views.iter().enumerate() {
        let name = [
            "markets",
            "balance",
            "orders",
            "fills",
            "current",
            "nonce",
            "clearings",
        ][i];
        all.push((name, frame(3, 1, v)));
    }
    all
}

#[test]
fn corpus_replays_without_panics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/pixie_call");
    if std::env::var_os("PIXIE_WRITE_CORPUS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, data) in seeds() {
            std::fs::write(dir.join(name), data).unwrap();
        }
    }
    let mut committed: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    committed.sort();
    let mut generated: Vec<Vec<u8>> = seeds().into_iter().map(|(_, d)| d).collect();
    generated.sort();
    // The committed seeds are what this file generates (signatures are deterministic, RFC 6979).
    assert_eq!(committed, generated);
    let callers = callers();
    for data in &committed {
        fuzzing::calls(data, &callers);
        for cut in (0..data.len()).step_by(7) {
            fuzzing::calls(&data[..cut], &callers);
        }
        for bit in (0..data.len() * 8).step_by(13) {
            let mut m = data.clone();
            m[bit / 8] ^= 1 << (bit % 8);
            fuzzing::calls(&m, &callers);
        }
    }
}
