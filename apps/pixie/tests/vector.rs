//! The committed order vector (`docs/vectors/pixie-order-v1.json`): an order, its EIP-712 id
//! and a signature by a fixed key, as this engine computes them. The JS SDK's test reproduces
//! the id and recovers the signer from the same file; `PIXIE_WRITE_VECTOR=1` rewrites it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use txnchain_pixie::Order;

/// The exchange's address on TxnChain networks (`txnchain_executor::pixie::PIXIE`).
const PIXIE: alloy_primitives::Address =
    alloy_primitives::address!("0000000000000000000000000000000000000c02");

fn vector() -> serde_json::Value {
    let ex = txnchain_pixie::Exchange::new(
        txnchain_pixie::Config {
            exchange: PIXIE,
            ..exchange(0).config().clone()
        },
        txnchain_pixie::MemorySlots::default(),
    );
    let signer = trader(1);
    let order = Order {
        trader: signer.address(),
        market: 1,
        buy: true,
        price: 300_000,
        lots: 1_500,
        expiry: 1_900_000_000,
        clientId: 42,
        nonce: 7,
        immediateOrCancel: true,
    };
    let id = txnchain_pixie::order::order_id(&order, ex.domain());
    let signature = sign(&ex, &signer, &order);
    // The engine accepts it.
    assert_eq!(
        txnchain_pixie::order::recover_signer(id, &signature).unwrap(),
        signer.address()
    );
    serde_json::json!({
        "chainId": CHAIN_ID,
        "verifyingContract": PIXIE.to_checksum(None),
        "order": {
            "trader": order.trader.to_checksum(None),
            "market": order.market,
            "buy": order.buy,
            "price": order.price.to_string(),
            "lots": order.lots.to_string(),
            "expiry": order.expiry.to_string(),
            "clientId": order.clientId.to_string(),
            "nonce": order.nonce.to_string(),
            "immediateOrCancel": order.immediateOrCancel,
        },
        "id": id.to_string(),
        "signature": format!("0x{}", alloy_primitives::hex::encode(&signature)),
    })
}

#[test]
fn the_committed_order_vector_is_what_the_engine_computes() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/vectors/pixie-order-v1.json"
    );
    let ours = vector();
    if std::env::var_os("PIXIE_WRITE_VECTOR").is_some() {
        std::fs::write(
            path,
            format!("{}\n", serde_json::to_string_pretty(&ours).unwrap()),
        )
        .unwrap();
    }
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(committed, ours);
}
