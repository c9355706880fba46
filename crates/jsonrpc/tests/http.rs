//! JSON-RPC over HTTP against a real socket: geth's codes, messages and HTTP statuses.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{eventually, raw_http, raw_http_from, start};
use serde_json::{Value, json};
use txnchain_jsonrpc::ServerConfig;

async fn post(url: &str, body: &str) -> (u16, String) {
    let resp = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

/// Exact response text for `body`.
async fn call(url: &str, body: &str) -> String {
    let (status, text) = post(url, body).await;
    assert_eq!(status, 200, "{text}");
    text
}

#[tokio::test]
async fn single_calls_and_ids() {
    let s = start(ServerConfig::default()).await;
    let url = s.url();
    assert_eq!(
        call(
            &url,
            r#"{"jsonrpc":"2.0","id":1,"method":"test_add","params":[1,2]}"#
        )
        .await,
        r#"{"jsonrpc":"2.0","id":1,"result":3}"#
    );
    assert_eq!(
        call(
            &url,
            r#"{"jsonrpc":"2.0","id":"abc","method":"test_add","params":[1,2]}"#
        )
        .await,
        r#"{"jsonrpc":"2.0","id":"abc","result":3}"#
    );
    assert_eq!(
        call(
            &url,
            r#"{"jsonrpc":"2.0","id":null,"method":"test_add","params":[1,2]}"#
        )
        .await,
        r#"{"jsonrpc":"2.0","id":null,"result":3}"#
    );
    // ids are echoed verbatim, like geth's json.RawMessage
    assert_eq!(
        call(
            &url,
            r#"{"jsonrpc":"2.0","id":1.50,"method":"test_add","params":[1,2]}"#
        )
        .await,
        r#"{"jsonrpc":"2.0","id":1.50,"result":3}"#
    );
    assert_eq!(
        call(
            &url,
            r#"{"jsonrpc":"2.0","id":7,"method":"test_echo","params":null}"#
        )
        .await,
        r#"{"jsonrpc":"2.0","id":7,"result":null}"#
    );
    assert_eq!(
        call(&url, r#"{"jsonrpc":"2.0","id":8,"method":"test_revert"}"#).await,
        r#"{"jsonrpc":"2.0","id":8,"error":{"code":3,"message":"execution reverted","data":"0x1234"}}"#
    );
}

#[tokio::test]
async fn protocol_errors_match_geth() {
    let s = start(ServerConfig::default()).await;
    let url = s.url();
    let cases: &[(&str, &str)] = &[
        // malformed JSON
        (
            r#"{"jsonrpc":"2.0","id":1,"#,
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}"#,
        ),
        (
            "'f",
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}"#,
        ),
        // non-object requests
        (
            "1",
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"invalid request"}}"#,
        ),
        (
            "null",
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"invalid request"}}"#,
        ),
        // invalid ids
        (
            r#"{"id":[],"method":"test_echo"}"#,
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"invalid request"}}"#,
        ),
        (
            r#"{"jsonrpc":"2.0","id":{},"method":"test_echo"}"#,
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"invalid request"}}"#,
        ),
        // wrong or missing version: id is echoed
        (
            r#"{"jsonrpc":"2.1","id":1,"method":"test_add","params":[1,2]}"#,
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32600,"message":"invalid request"}}"#,
        ),
        (
            r#"{"jsonrpc":2.0,"id":1,"method":"test_add","params":[1,2]}"#,
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32600,"message":"invalid request"}}"#,
        ),
        (
            r#"{"id":1,"method":"test_add","params":[1,2]}"#,
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32600,"message":"invalid request"}}"#,
        ),
        // id only
        (
            r#"{"jsonrpc":"2.0","id":1}"#,
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32600,"message":"invalid request"}}"#,
        ),
        // unknown method
        (
            r#"{"jsonrpc":"2.0","id":2,"method":"invalid_method","params":[2,3]}"#,
            r#"{"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"the method invalid_method does not exist/is not available"}}"#,
        ),
        // params
        (
            r#"{"jsonrpc":"2.0","id":3,"method":"test_add","params":"x"}"#,
            r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"non-array args"}}"#,
        ),
        (
            r#"{"jsonrpc":"2.0","id":3,"method":"test_add","params":{"a":1}}"#,
            r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"non-array args"}}"#,
        ),
        (
            r#"{"jsonrpc":"2.0","id":3,"method":"test_add","params":[]}"#,
            r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"missing value for required argument 0"}}"#,
        ),
        (
            r#"{"jsonrpc":"2.0","id":3,"method":"test_add","params":[1,null]}"#,
            r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"missing value for required argument 1"}}"#,
        ),
        (
            r#"{"jsonrpc":"2.0","id":3,"method":"test_add","params":["a",1]}"#,
            r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"invalid argument 0: invalid type: string \"a\", expected u64"}}"#,
        ),
        (
            r#"{"jsonrpc":"2.0","id":3,"method":"test_add","params":[1,2,3]}"#,
            r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"too many arguments, want at most 2"}}"#,
        ),
        // handler panic
        (
            r#"{"jsonrpc":"2.0","id":4,"method":"test_panic"}"#,
            r#"{"jsonrpc":"2.0","id":4,"error":{"code":-32603,"message":"method handler crashed"}}"#,
        ),
        // subscriptions over HTTP
        (
            r#"{"jsonrpc":"2.0","id":5,"method":"test_subscribe","params":["ticks"]}"#,
            r#"{"jsonrpc":"2.0","id":5,"error":{"code":-32601,"message":"notifications not supported"}}"#,
        ),
        (
            r#"{"jsonrpc":"2.0","id":5,"method":"eth_subscribe","params":["newHeads"]}"#,
            r#"{"jsonrpc":"2.0","id":5,"error":{"code":-32601,"message":"notifications not supported"}}"#,
        ),
        (
            r#"{"jsonrpc":"2.0","id":6,"method":"test_unsubscribe","params":["0x1"]}"#,
            r#"{"jsonrpc":"2.0","id":6,"error":{"code":-32000,"message":"subscription not found"}}"#,
        ),
        // empty batch is a single error object
        (
            "[]",
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"empty batch"}}"#,
        ),
    ];
    for (req, want) in cases {
        assert_eq!(&call(&url, req).await, want, "request: {req}");
    }
    let long = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"{}"}}"#,
        "a".repeat(2049)
    );
    assert_eq!(
        call(&url, &long).await,
        r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32600,"message":"method name too long: 2049 > 2048"}}"#
    );
}

#[tokio::test]
async fn batches() {
    let s = start(ServerConfig {
        max_batch_len: 4,
        ..ServerConfig::default()
    })
    .await;
    let url = s.url();
    // junk entries (geth's invalid-batch.js)
    assert_eq!(
        call(&url, "[1]").await,
        r#"[{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"invalid request"}}]"#
    );
    assert_eq!(
        call(
            &url,
            r#"[{"jsonrpc":"2.0","id":1,"method":"test_add","params":[1,1]},55,{"jsonrpc":"2.0","id":2,"method":"unknown_method"},{"foo":"bar"}]"#
        )
        .await,
        concat!(
            r#"[{"jsonrpc":"2.0","id":1,"result":2},"#,
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"invalid request"}},"#,
            r#"{"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"the method unknown_method does not exist/is not available"}},"#,
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"invalid request"}}]"#
        )
    );
    // too large: the first call's id, or null
    let n = r#"{"jsonrpc":"2.0","method":"test_echo","params":["x",99]}"#;
    let c = r#"{"jsonrpc":"2.0","id":3,"method":"test_echo","params":["x",99]}"#;
    assert_eq!(
        call(&url, &format!("[{n},{n},{n},{n},{n}]")).await,
        r#"[{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"batch too large"}}]"#
    );
    assert_eq!(
        call(&url, &format!("[{n},{c},{n},{n},{n}]")).await,
        r#"[{"jsonrpc":"2.0","id":3,"error":{"code":-32600,"message":"batch too large"}}]"#
    );
    // ordering follows the request, while calls run concurrently
    let started = Instant::now();
    let text = call(
        &url,
        r#"[{"jsonrpc":"2.0","id":1,"method":"test_sleep","params":[400]},
            {"jsonrpc":"2.0","id":2,"method":"test_sleep","params":[10]},
            {"jsonrpc":"2.0","method":"test_notify"},
            {"jsonrpc":"2.0","id":3,"method":"test_sleep","params":[300]}]"#,
    )
    .await;
    let elapsed = started.elapsed();
    assert_eq!(
        text,
        r#"[{"jsonrpc":"2.0","id":1,"result":400},{"jsonrpc":"2.0","id":2,"result":10},{"jsonrpc":"2.0","id":3,"result":300}]"#
    );
    assert!(
        elapsed < Duration::from_millis(650),
        "not concurrent: {elapsed:?}"
    );
    assert_eq!(s.ctx.notified.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn notifications_get_no_response() {
    let s = start(ServerConfig::default()).await;
    let url = s.url();
    let (status, body) = post(&url, r#"{"jsonrpc":"2.0","method":"test_notify"}"#).await;
    assert_eq!((status, body.as_str()), (200, ""));
    let (status, body) = post(
        &url,
        r#"[{"jsonrpc":"2.0","method":"test_notify"},{"jsonrpc":"2.0","method":"test_notify","params":[]}]"#,
    )
    .await;
    assert_eq!((status, body.as_str()), (200, ""));
    assert_eq!(s.ctx.notified.load(std::sync::atomic::Ordering::SeqCst), 3);
    // responses sent to a server are ignored, like geth
    let (status, body) = post(&url, r#"{"jsonrpc":"2.0","id":1,"result":"0x1"}"#).await;
    assert_eq!((status, body.as_str()), (200, ""));
    // empty body: nothing to answer
    let (status, body) = post(&url, "  ").await;
    assert_eq!((status, body.as_str()), (200, ""));
}

#[tokio::test]
async fn batch_response_size_limit() {
    let s = start(ServerConfig {
        max_batch_response_bytes: 1500,
        ..ServerConfig::default()
    })
    .await;
    let text = call(
        &s.url(),
        r#"[{"jsonrpc":"2.0","id":1,"method":"test_big","params":[1000]},
            {"jsonrpc":"2.0","id":2,"method":"test_big","params":[1000]},
            {"jsonrpc":"2.0","id":3,"method":"test_big","params":[10]}]"#,
    )
    .await;
    let v: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(v.len(), 3);
    assert_eq!(v[0]["result"].as_str().map(str::len), Some(1000));
    assert_eq!(v[1]["result"].as_str().map(str::len), Some(1000));
    assert_eq!(
        v[2],
        json!({"jsonrpc":"2.0","id":3,"error":{"code":-32003,"message":"response too large"}})
    );
}

#[tokio::test]
async fn http_transport_rules() {
    let s = start(ServerConfig {
        max_body_bytes: 1024,
        ..ServerConfig::default()
    })
    .await;
    let client = reqwest::Client::new();
    let url = s.url();

    // body over the limit, declared by Content-Length
    let resp = client
        .post(&url)
        .header("content-type", "application/json")
        .body("x".repeat(2000))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    assert_eq!(
        resp.text().await.unwrap(),
        "content length too large (2000>1024)\n"
    );

    // body over the limit, chunked (no Content-Length)
    let chunk = "a".repeat(800);
    let req = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{len:x}\r\n{chunk}\r\n{len:x}\r\n{chunk}\r\n0\r\n\r\n",
        len = chunk.len()
    );
    let (status, _, _) = raw_http(s.addr, req.as_bytes()).await;
    assert_eq!(status, 413);

    // a chunked body within the limit is served
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"test_add","params":[2,2]}"#;
    let req = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    let (status, head, resp) = raw_http(s.addr, req.as_bytes()).await;
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json")
    );
    assert!(String::from_utf8_lossy(&resp).contains(r#""result":4"#));

    // content types: geth accepts three JSON types (with parameters), rejects others with 415
    for (ct, want) in [
        (Some("application/json; charset=utf-8"), 200),
        (Some("application/json-rpc"), 200),
        (Some("application/jsonrequest"), 200),
        (Some("text/plain"), 415),
        (Some("application/x-www-form-urlencoded"), 415),
        (None, 415),
    ] {
        let mut req = client.post(&url).body(body);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), want, "{ct:?}");
        if want == 415 {
            assert_eq!(
                resp.text().await.unwrap(),
                "invalid content type, only application/json is supported\n"
            );
        }
    }

    // plain GET: geth's empty 200 (health checks); PUT/DELETE: 405
    let resp = client.get(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.text().await.unwrap(), "");
    let resp = client.put(&url).body(body).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    let resp = client.delete(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 405);
}

#[tokio::test]
async fn cors() {
    let s = start(ServerConfig {
        cors_origins: Some(vec!["*".into()]),
        ..ServerConfig::default()
    })
    .await;
    let client = reqwest::Client::new();
    let resp = client
        .request(reqwest::Method::OPTIONS, s.url())
        .header("origin", "https://dapp.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    let resp = client
        .post(s.url())
        .header("origin", "https://dapp.example")
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"test_add","params":[1,2]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    assert_eq!(resp.headers()["access-control-expose-headers"], "*");

    // list of origins
    let s = start(ServerConfig {
        cors_origins: Some(vec!["https://good.example".into()]),
        ..ServerConfig::default()
    })
    .await;
    let resp = client
        .post(s.url())
        .header("origin", "https://good.example")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://good.example"
    );
    let resp = client
        .post(s.url())
        .header("origin", "https://evil.example")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());

    // default: no CORS headers (geth)
    let s = start(ServerConfig::default()).await;
    let resp = client
        .post(s.url())
        .header("origin", "https://dapp.example")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn request_timeout() {
    let s = start(ServerConfig {
        request_timeout: Some(Duration::from_millis(50)),
        ..ServerConfig::default()
    })
    .await;
    assert_eq!(
        call(
            &s.url(),
            r#"{"jsonrpc":"2.0","id":1,"method":"test_sleep","params":[1000]}"#
        )
        .await,
        r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32002,"message":"request timed out"}}"#
    );
}

#[tokio::test]
async fn request_limit_rejects_with_503() {
    let s = start(ServerConfig {
        max_http_requests: 1,
        ..ServerConfig::default()
    })
    .await;
    let url = s.url();
    let slow = tokio::spawn({
        let url = url.clone();
        async move {
            call(
                &url,
                r#"{"jsonrpc":"2.0","id":1,"method":"test_sleep","params":[500]}"#,
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (status, text) = post(
        &url,
        r#"{"jsonrpc":"2.0","id":2,"method":"test_add","params":[1,2]}"#,
    )
    .await;
    assert_eq!(
        (status, text.as_str()),
        (503, "too many concurrent requests (limit 1)\n")
    );
    assert_eq!(
        slow.await.unwrap(),
        r#"{"jsonrpc":"2.0","id":1,"result":500}"#
    );
    // the permit is released once the slow request is done
    let (status, _) = post(
        &url,
        r#"{"jsonrpc":"2.0","id":3,"method":"test_add","params":[1,2]}"#,
    )
    .await;
    assert_eq!(status, 200);
    let metrics = s.module.render_prometheus();
    assert!(
        metrics.contains("txnchain_rpc_connections_rejected_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn one_client_holding_its_share_of_requests_gets_429_and_others_are_served() {
    let s = start(ServerConfig {
        max_http_requests_per_client: 2,
        ..ServerConfig::default()
    })
    .await;
    let addr = s.addr;
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"test_sleep","params":[600]}"#;
    let request = format!(
        "POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let request = request.clone();
            tokio::spawn(
                async move { raw_http_from([127, 0, 0, 2], addr, request.as_bytes()).await },
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, head, body) = raw_http_from([127, 0, 0, 2], addr, request.as_bytes()).await;
    assert_eq!(status, 429, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 1"),
        "{head}"
    );
    assert_eq!(
        String::from_utf8_lossy(&body),
        "too many concurrent requests from this client (limit 2)\n"
    );
    // Another client is not affected.
    let quick = r#"{"jsonrpc":"2.0","id":2,"method":"test_add","params":[1,2]}"#;
    let quick = format!(
        "POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{quick}",
        quick.len()
    );
    let (status, _, body) = raw_http_from([127, 0, 0, 3], addr, quick.as_bytes()).await;
    assert_eq!(status, 200);
    assert_eq!(
        String::from_utf8_lossy(&body),
        r#"{"jsonrpc":"2.0","id":2,"result":3}"#
    );
    for t in slow {
        assert_eq!(t.await.unwrap().0, 200);
    }
}

#[tokio::test]
async fn idle_websockets_do_not_take_http_request_slots() {
    let s = start(ServerConfig {
        max_http_requests: 2,
        max_ws_connections_per_client: 0,
        ..ServerConfig::default()
    })
    .await;
    let mut sockets = Vec::new();
    for _ in 0..8 {
        sockets.push(tokio_tungstenite::connect_async(s.ws_url()).await.unwrap());
    }
    let (status, text) = post(
        &s.url(),
        r#"{"jsonrpc":"2.0","id":1,"method":"test_add","params":[1,2]}"#,
    )
    .await;
    assert_eq!(
        (status, text.as_str()),
        (200, r#"{"jsonrpc":"2.0","id":1,"result":3}"#)
    );
}

#[tokio::test]
async fn a_body_that_never_arrives_gets_408() {
    let s = start(ServerConfig {
        body_timeout: Duration::from_millis(200),
        ..ServerConfig::default()
    })
    .await;
    let started = Instant::now();
    let (status, _, body) = raw_http(
        s.addr,
        b"POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"jsonrpc\"",
    )
    .await;
    assert_eq!(status, 408);
    assert_eq!(
        String::from_utf8_lossy(&body),
        "request body not received within 200ms\n"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_batch_runs_a_few_calls_at_a_time_within_its_budget() {
    let s = start(ServerConfig {
        max_batch_concurrency: 2,
        batch_budget: Duration::from_millis(700),
        ..ServerConfig::default()
    })
    .await;
    // Six calls of 300 ms, two at a time: the first four fit in 700 ms (two rounds of
    // 300 ms), the last two start after the budget is spent and time out without running.
    let batch: Vec<String> = (1..=6)
        .map(|i| format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"test_sleep","params":[300]}}"#))
        .collect();
    let started = Instant::now();
    let (status, text) = post(&s.url(), &format!("[{}]", batch.join(","))).await;
    let elapsed = started.elapsed();
    assert_eq!(status, 200);
    let v: Vec<Value> = serde_json::from_str(&text).unwrap();
    let results: Vec<_> = v.iter().map(|r| r.get("result").is_some()).collect();
    assert_eq!(results, [true, true, true, true, false, false], "{text}");
    assert_eq!(v[4]["error"]["code"], -32002);
    // Not the 1.8 s of six sequential calls, nor 300 ms of all at once.
    assert!(elapsed >= Duration::from_millis(600), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
}

#[tokio::test]
async fn a_single_response_over_the_limit_is_an_error() {
    let s = start(ServerConfig {
        max_response_bytes: 1000,
        ..ServerConfig::default()
    })
    .await;
    assert_eq!(
        call(
            &s.url(),
            r#"{"jsonrpc":"2.0","id":7,"method":"test_big","params":[5000]}"#
        )
        .await,
        r#"{"jsonrpc":"2.0","id":7,"error":{"code":-32003,"message":"response too large"}}"#
    );
}

#[tokio::test]
async fn metrics_are_rendered() {
    let s = start(ServerConfig::default()).await;
    let url = s.url();
    call(
        &url,
        r#"{"jsonrpc":"2.0","id":1,"method":"test_add","params":[1,2]}"#,
    )
    .await;
    call(
        &url,
        r#"{"jsonrpc":"2.0","id":1,"method":"test_add","params":[]}"#,
    )
    .await;
    call(&url, r#"{"jsonrpc":"2.0","id":1,"method":"nope_nope"}"#).await;
    eventually("metrics", || {
        s.module
            .render_prometheus()
            .contains("txnchain_rpc_calls_total{method=\"test_add\"} 2")
    })
    .await;
    let m = s.module.render_prometheus();
    assert!(m.contains("# TYPE txnchain_rpc_calls_total counter"), "{m}");
    assert!(
        m.contains("txnchain_rpc_errors_total{method=\"test_add\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("txnchain_rpc_call_duration_seconds_count{method=\"test_add\"} 2"),
        "{m}"
    );
    assert!(m.contains("txnchain_rpc_unknown_method_total 1"), "{m}");
    assert!(
        !m.contains("nope_nope"),
        "unknown names must not become labels"
    );
}

/// A `test_sleep` call padded to `bytes` with a member the server ignores.
fn padded_sleep(id: u64, ms: u64, bytes: usize) -> String {
    let pad = "p".repeat(bytes);
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"test_sleep","params":[{ms}],"pad":"{pad}"}}"#)
}

#[tokio::test]
async fn large_messages_take_turns_in_their_lane_while_small_ones_are_answered() {
    let s = start(ServerConfig {
        large_message_bytes: 64 * 1024,
        max_large_messages: 1,
        ..ServerConfig::default()
    })
    .await;
    let url = s.url();
    let started = Instant::now();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    for id in [1u64, 2] {
        let (url, body, done) = (
            url.clone(),
            padded_sleep(id, 400, 100 * 1024),
            done_tx.clone(),
        );
        tokio::spawn(async move {
            let text = call(&url, &body).await;
            let _ = done.send((id, text, started.elapsed()));
        });
    }
    // A small call sent while the large ones are in their lane is answered before either.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let small = call(
        &url,
        r#"{"jsonrpc":"2.0","id":3,"method":"test_add","params":[1,2]}"#,
    )
    .await;
    assert_eq!(small, r#"{"jsonrpc":"2.0","id":3,"result":3}"#);
    let small_at = started.elapsed();
    let mut large = Vec::new();
    for _ in 0..2 {
        large.push(done_rx.recv().await.unwrap());
    }
    for (id, text, at) in &large {
        assert_eq!(
            text,
            &format!(r#"{{"jsonrpc":"2.0","id":{id},"result":400}}"#)
        );
        assert!(
            *at > small_at,
            "large call {id} answered at {at:?}, the small one at {small_at:?}"
        );
    }
    // One permit: the second large call started only when the first was done.
    let last = large.iter().map(|(_, _, at)| *at).max().unwrap();
    assert!(
        last >= Duration::from_millis(800),
        "both large calls done after {last:?}: they ran together"
    );
    let m = s.module.render_prometheus();
    assert!(m.contains("txnchain_rpc_large_messages_total 2"), "{m}");
}
