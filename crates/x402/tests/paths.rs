//! The middleware prices the canonical path and passes on exactly that path: no spelling of
//! a priced resource costs less, and none the price list cannot judge is served.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy_primitives::{Address, U256};
use axum::body::Body;
use axum::http::{Request, StatusCode, Uri};
use axum::routing::get;
use tower::ServiceExt;
use txnchain_x402::client::HttpFacilitator;
use txnchain_x402::middleware::{
    DEFAULT_MAX_RESPONSE_BYTES, PaidRoute, PaymentAsset, X402Config, X402Layer,
};
use txnchain_x402::{PAYMENT_REQUIRED, PaymentRequired, codec};

const EXPENSIVE: u64 = 1_000_000;
const CHEAP: u64 = 10_000;

fn app() -> axum::Router {
    let pay_to = Address::repeat_byte(0x22);
    let mut premium = PaidRoute::new("/premium/*", U256::from(EXPENSIVE), pay_to);
    premium.settle_first = true;
    let config = X402Config {
        asset: PaymentAsset {
            network: "eip155:424242".into(),
            asset: Address::repeat_byte(0x44),
            name: "TxnChain USD".into(),
            version: "1".into(),
            decimals: 6,
        },
        // Never reached: every request here is refused before verification.
        facilitator: HttpFacilitator::new("http://127.0.0.1:9/x402", None).unwrap(),
        routes: vec![
            PaidRoute::new("/expensive", U256::from(EXPENSIVE), pay_to),
            premium,
        ],
        default_route: Some(PaidRoute::new("*", U256::from(CHEAP), pay_to)),
        max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
    };
    axum::Router::new()
        .fallback(get(|uri: Uri| async move { uri.to_string() }))
        .layer(X402Layer::new(config))
}

async fn price_of(path: &str) -> Result<u64, (StatusCode, String)> {
    let req = Request::builder()
        .uri(path)
        .header("host", "shop.example")
        .body(Body::empty())
        .unwrap();
    let resp = app().oneshot(req).await.unwrap();
    let status = resp.status();
    if status != StatusCode::PAYMENT_REQUIRED {
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        return Err((status, String::from_utf8_lossy(&body).to_string()));
    }
    let header = resp.headers()[PAYMENT_REQUIRED]
        .to_str()
        .unwrap()
        .to_string();
    let required: PaymentRequired = codec::decode(&header).unwrap();
    Ok(required.accepts[0].amount.parse().unwrap())
}

#[tokio::test]
async fn every_spelling_of_a_priced_path_pays_its_price() {
    for p in [
        "/expensive",
        "//expensive",
        "/expensive/",
        "/%65xpensive",
        "/./expensive",
        "/x/../expensive",
        "/x/y/../../expensive?q=1",
    ] {
        assert_eq!(price_of(p).await, Ok(EXPENSIVE), "{p}");
    }
    for p in [
        "/premium",
        "/premium/",
        "/premium/gold",
        "//premium//gold",
        "/a/../premium/x",
    ] {
        assert_eq!(price_of(p).await, Ok(EXPENSIVE), "{p}");
    }
    assert_eq!(price_of("/other").await, Ok(CHEAP));
    assert_eq!(price_of("/expensive-not").await, Ok(CHEAP));
}

#[tokio::test]
async fn paths_that_cannot_be_canonical_are_refused() {
    for p in [
        "/x%2F..%2Fexpensive",
        "/x/..;/expensive",
        "/../expensive",
        "/%252e%252e/expensive",
        "/x%5C..%5Cexpensive",
    ] {
        let err = price_of(p).await.unwrap_err();
        assert_eq!(err.0, StatusCode::BAD_REQUEST, "{p}: {err:?}");
        assert!(err.1.contains("request path refused"), "{p}: {err:?}");
    }
}

#[tokio::test]
async fn the_handler_sees_the_canonical_path_that_was_priced() {
    let app = axum::Router::new()
        .fallback(get(|uri: Uri| async move { uri.to_string() }))
        .layer(X402Layer::new(X402Config {
            asset: PaymentAsset {
                network: "eip155:424242".into(),
                asset: Address::repeat_byte(0x44),
                name: "TxnChain USD".into(),
                version: "1".into(),
                decimals: 6,
            },
            facilitator: HttpFacilitator::new("http://127.0.0.1:9/x402", None).unwrap(),
            routes: vec![PaidRoute::new(
                "/expensive",
                U256::from(EXPENSIVE),
                Address::repeat_byte(0x22),
            )],
            default_route: None,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }));
    let req = Request::builder()
        .uri("/x/../%66ree//page?a=1")
        .body(Body::empty())
        .unwrap();
    let resp = app.oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    assert_eq!(&body[..], b"/free/page?a=1");
}
