//! JSON-RPC over WebSocket against a real socket: calls, subscriptions, cleanup,
//! limits, keepalive and slow consumers.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{eventually, start};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use txnchain_jsonrpc::{ServerConfig, SlowConsumerPolicy};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

async fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).await.unwrap();
}

/// Next text message as JSON (skipping control frames), within 5 s.
async fn recv(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("timed out waiting for a message")
            .expect("connection closed")
            .expect("websocket error");
        match msg {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

#[tokio::test]
async fn calls_and_batches_over_ws() {
    let s = start(ServerConfig::default()).await;
    let mut ws = connect(&s.ws_url()).await;
    send(
        &mut ws,
        r#"{"jsonrpc":"2.0","id":1,"method":"test_add","params":[1,2]}"#,
    )
    .await;
    assert_eq!(
        recv(&mut ws).await,
        json!({"jsonrpc":"2.0","id":1,"result":3})
    );
    send(&mut ws, "[]").await;
    assert_eq!(
        recv(&mut ws).await,
        json!({"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"empty batch"}})
    );
    send(&mut ws, "{oops").await;
    assert_eq!(
        recv(&mut ws).await,
        json!({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}})
    );
    // a notification gets no answer: the next message is the answer to id 2
    send(&mut ws, r#"{"jsonrpc":"2.0","method":"test_notify"}"#).await;
    send(
        &mut ws,
        r#"[{"jsonrpc":"2.0","id":2,"method":"test_sleep","params":[100]},{"jsonrpc":"2.0","id":3,"method":"test_add","params":[2,2]}]"#,
    )
    .await;
    assert_eq!(
        recv(&mut ws).await,
        json!([{"jsonrpc":"2.0","id":2,"result":100},{"jsonrpc":"2.0","id":3,"result":4}])
    );
    assert_eq!(s.ctx.notified.load(Ordering::SeqCst), 1);
    // binary frames are accepted too (geth reads both)
    ws.send(Message::binary(
        br#"{"jsonrpc":"2.0","id":4,"method":"test_add","params":[3,3]}"#.to_vec(),
    ))
    .await
    .unwrap();
    assert_eq!(
        recv(&mut ws).await,
        json!({"jsonrpc":"2.0","id":4,"result":6})
    );
    // requests on one connection run concurrently: a fast call overtakes a slow one
    send(
        &mut ws,
        r#"{"jsonrpc":"2.0","id":5,"method":"test_sleep","params":[300]}"#,
    )
    .await;
    send(
        &mut ws,
        r#"{"jsonrpc":"2.0","id":6,"method":"test_add","params":[1,1]}"#,
    )
    .await;
    assert_eq!(recv(&mut ws).await["id"], 6);
    assert_eq!(recv(&mut ws).await["id"], 5);
}

#[tokio::test]
async fn subscription_delivery_and_unsubscribe() {
    let s = start(ServerConfig::default()).await;
    let mut ws = connect(&s.ws_url()).await;

    send(
        &mut ws,
        r#"{"jsonrpc":"2.0","id":1,"method":"test_subscribe","params":["bogus"]}"#,
    )
    .await;
    assert_eq!(
        recv(&mut ws).await,
        json!({"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"no \"bogus\" subscription in test namespace"}})
    );
    send(
        &mut ws,
        r#"{"jsonrpc":"2.0","id":1,"method":"test_subscribe","params":[]}"#,
    )
    .await;
    assert_eq!(
        recv(&mut ws).await,
        json!({"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"expected subscription name as first argument"}})
    );
    send(
        &mut ws,
        r#"{"jsonrpc":"2.0","id":1,"method":"test_subscribe"}"#,
    )
    .await;
    assert_eq!(
        recv(&mut ws).await,
        json!({"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"non-array args"}})
    );

    // 3 items: the id arrives first, then the notifications in order
    send(
        &mut ws,
        r#"{"jsonrpc":"2.0","id":2,"method":"test_subscribe","params":["ticks",3]}"#,
    )
    .await;
    let resp = recv(&mut ws).await;
    assert_eq!(resp["id"], 2);
    let id = resp["result"].as_str().unwrap().to_owned();
    assert!(
        id.starts_with("0x") && id.len() <= 34 && id.len() > 2,
        "{id}"
    );
    assert!(id[2..].bytes().all(|b| b.is_ascii_hexdigit()));
    for i in 0..3 {
        assert_eq!(
            recv(&mut ws).await,
            json!({"jsonrpc":"2.0","method":"test_subscription","params":{"subscription":id,"result":i}})
        );
    }
    // the stream ended, so the id is gone (geth: error, not false)
    eventually("finite stream dropped", || {
        s.ctx.active_streams.load(Ordering::SeqCst) == 0
    })
    .await;
    send(
        &mut ws,
        &format!(r#"{{"jsonrpc":"2.0","id":3,"method":"test_unsubscribe","params":["{id}"]}}"#),
    )
    .await;
    assert_eq!(
        recv(&mut ws).await,
        json!({"jsonrpc":"2.0","id":3,"error":{"code":-32000,"message":"subscription not found"}})
    );

    // an endless one, then unsubscribe
    send(
        &mut ws,
        r#"{"jsonrpc":"2.0","id":4,"method":"test_subscribe","params":["ticks"]}"#,
    )
    .await;
    let id = recv(&mut ws).await["result"].as_str().unwrap().to_owned();
    let first = recv(&mut ws).await;
    assert_eq!(first["params"]["subscription"], id.as_str());
    send(
        &mut ws,
        &format!(r#"{{"jsonrpc":"2.0","id":5,"method":"test_unsubscribe","params":["{id}"]}}"#),
    )
    .await;
    loop {
        let msg = recv(&mut ws).await;
        if msg.get("id") == Some(&json!(5)) {
            assert_eq!(msg, json!({"jsonrpc":"2.0","id":5,"result":true}));
            break;
        }
        assert_eq!(msg["method"], "test_subscription"); // in flight before the unsubscribe
    }
    eventually("stream dropped after unsubscribe", || {
        s.ctx.active_streams.load(Ordering::SeqCst) == 0
    })
    .await;
    // nothing more arrives for that id
    send(
        &mut ws,
        r#"{"jsonrpc":"2.0","id":6,"method":"test_add","params":[1,1]}"#,
    )
    .await;
    loop {
        let msg = recv(&mut ws).await;
        if msg.get("id") == Some(&json!(6)) {
            break;
        }
        assert_eq!(msg["method"], "test_subscription");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    send(
        &mut ws,
        r#"{"jsonrpc":"2.0","id":7,"method":"test_add","params":[1,1]}"#,
    )
    .await;
    assert_eq!(recv(&mut ws).await["id"], 7);
    // unsubscribe argument errors follow geth's positional rules
    send(
        &mut ws,
        r#"{"jsonrpc":"2.0","id":8,"method":"test_unsubscribe","params":[]}"#,
    )
    .await;
    assert_eq!(
        recv(&mut ws).await["error"],
        json!({"code":-32602,"message":"missing value for required argument 0"})
    );
    send(
        &mut ws,
        r#"{"jsonrpc":"2.0","id":9,"method":"test_unsubscribe","params":["0x1","0x2"]}"#,
    )
    .await;
    assert_eq!(
        recv(&mut ws).await["error"],
        json!({"code":-32602,"message":"too many arguments, want at most 1"})
    );
}

#[tokio::test]
async fn subscription_in_batch_and_limit() {
    let s = start(ServerConfig {
        max_subscriptions_per_connection: 2,
        ..ServerConfig::default()
    })
    .await;
    let mut ws = connect(&s.ws_url()).await;
    send(
        &mut ws,
        r#"[{"jsonrpc":"2.0","id":1,"method":"test_subscribe","params":["ticks"]},
            {"jsonrpc":"2.0","id":2,"method":"test_subscribe","params":["ticks"]},
            {"jsonrpc":"2.0","id":3,"method":"test_subscribe","params":["ticks"]}]"#,
    )
    .await;
    let resp = recv(&mut ws).await;
    let arr = resp.as_array().unwrap();
    assert_eq!(arr.len(), 3);
    let ok: Vec<_> = arr.iter().filter(|r| r.get("result").is_some()).collect();
    assert_eq!(ok.len(), 2, "{resp}");
    let err = arr.iter().find(|r| r.get("error").is_some()).unwrap();
    assert_eq!(err["error"]["code"], -32000);
    assert_eq!(err["error"]["message"], "too many subscriptions (limit 2)");
    let n = recv(&mut ws).await;
    assert_eq!(n["method"], "test_subscription");
    let m = s.module.render_prometheus();
    assert!(m.contains("txnchain_rpc_subscriptions_active 2"), "{m}");
}

#[tokio::test]
async fn subscriptions_end_on_disconnect() {
    let s = start(ServerConfig::default()).await;
    let mut ws = connect(&s.ws_url()).await;
    for i in 0..3 {
        send(
            &mut ws,
            &format!(
                r#"{{"jsonrpc":"2.0","id":{i},"method":"test_subscribe","params":["ticks"]}}"#
            ),
        )
        .await;
    }
    let mut answered = 0;
    while answered < 3 {
        if recv(&mut ws).await.get("id").is_some() {
            answered += 1;
        }
    }
    assert_eq!(s.ctx.active_streams.load(Ordering::SeqCst), 3);
    drop(ws); // no close handshake: plain TCP drop
    eventually("streams dropped after disconnect", || {
        s.ctx.active_streams.load(Ordering::SeqCst) == 0
    })
    .await;
    eventually("gauges back to zero", || {
        let m = s.module.render_prometheus();
        m.contains("txnchain_rpc_ws_connections_active 0")
            && m.contains("txnchain_rpc_subscriptions_active 0")
    })
    .await;
}

#[tokio::test]
async fn websocket_connection_limit() {
    let s = start(ServerConfig {
        max_ws_connections: 2,
        ..ServerConfig::default()
    })
    .await;
    let a = connect(&s.ws_url()).await;
    let _b = connect(&s.ws_url()).await;
    let err = tokio_tungstenite::connect_async(s.ws_url())
        .await
        .unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(resp) => {
            assert_eq!(resp.status().as_u16(), 503);
        }
        other => panic!("expected HTTP 503, got {other:?}"),
    }
    drop(a);
    // the slot is freed once the server notices the disconnect
    let mut ok = false;
    for _ in 0..100 {
        if tokio_tungstenite::connect_async(s.ws_url()).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ok, "connection slot not released");
}

#[tokio::test]
async fn oversized_ws_message_closes_connection() {
    let s = start(ServerConfig {
        max_ws_message_bytes: 1024,
        ..ServerConfig::default()
    })
    .await;
    let mut ws = connect(&s.ws_url()).await;
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"test_echo","params":["{}"]}}"#,
        "z".repeat(4096)
    );
    let _ = ws.send(Message::text(big)).await;
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                None | Some(Err(_) | Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(end.is_ok(), "connection not closed");
}

#[tokio::test]
async fn server_pings_and_closes_silent_clients() {
    let s = start(ServerConfig {
        ws_ping_interval: Duration::from_millis(100),
        ws_pong_timeout: Duration::from_millis(100),
        ..ServerConfig::default()
    })
    .await;
    // A reading client answers pings automatically and stays connected.
    let mut ws = connect(&s.ws_url()).await;
    let mut pings = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(700);
    while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, ws.next()).await {
        if matches!(msg, Message::Ping(_)) {
            pings += 1;
        }
    }
    assert!(pings >= 3, "pings: {pings}");
    send(
        &mut ws,
        r#"{"jsonrpc":"2.0","id":1,"method":"test_add","params":[1,1]}"#,
    )
    .await;
    assert_eq!(recv(&mut ws).await["result"], 2);

    // A client that never reads never pongs, and is disconnected.
    let mut silent = connect(&s.ws_url()).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match silent.next().await {
                None | Some(Err(_) | Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(end.is_ok(), "silent client not disconnected");
}

/// Subscribe to the flood stream, stop reading, and return what the connection ended with.
async fn flood(config: ServerConfig) -> (common::Server, Option<u16>) {
    let s = start(config).await;
    let mut ws = connect(&s.ws_url()).await;
    send(
        &mut ws,
        r#"{"jsonrpc":"2.0","id":1,"method":"test_subscribe","params":["flood"]}"#,
    )
    .await;
    // don't read: socket buffers fill, then the bounded queue
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let close_code = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .expect("flooded connection did not end");
    (s, close_code)
}

#[tokio::test]
async fn slow_consumer_is_disconnected() {
    let (s, code) = flood(ServerConfig {
        ws_outbound_queue: 8,
        ..ServerConfig::default()
    })
    .await;
    assert_eq!(code, Some(1008));
    eventually("flood stream dropped", || {
        s.ctx.active_streams.load(Ordering::SeqCst) == 0
    })
    .await;
    assert!(
        s.module
            .render_prometheus()
            .contains("txnchain_rpc_subscriptions_dropped_total 1")
    );
}

#[tokio::test]
async fn slow_consumer_loses_only_the_subscription() {
    let s = start(ServerConfig {
        ws_outbound_queue: 8,
        slow_consumer: SlowConsumerPolicy::DropSubscription,
        ..ServerConfig::default()
    })
    .await;
    let mut ws = connect(&s.ws_url()).await;
    send(
        &mut ws,
        r#"{"jsonrpc":"2.0","id":1,"method":"test_subscribe","params":["flood"]}"#,
    )
    .await;
    eventually("flood subscription dropped", || {
        s.ctx.active_streams.load(Ordering::SeqCst) == 0
    })
    .await;
    // the connection still works: drain, then call
    send(
        &mut ws,
        r#"{"jsonrpc":"2.0","id":2,"method":"test_add","params":[1,1]}"#,
    )
    .await;
    loop {
        let msg = recv(&mut ws).await;
        if msg.get("id") == Some(&json!(2)) {
            assert_eq!(msg["result"], 2);
            break;
        }
    }
}

#[tokio::test]
async fn ws_origin_checked_against_cors_list() {
    let s = start(ServerConfig {
        cors_origins: Some(vec!["https://good.example".into()]),
        ..ServerConfig::default()
    })
    .await;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = s.ws_url().into_client_request().unwrap();
    req.headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 403);
        }
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
    let mut req = s.ws_url().into_client_request().unwrap();
    req.headers_mut()
        .insert("origin", "https://good.example".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(req).await.is_ok());
}

#[tokio::test]
async fn large_frames_are_answered_from_the_large_message_lane() {
    let s = start(ServerConfig {
        large_message_bytes: 16 * 1024,
        ..ServerConfig::default()
    })
    .await;
    let mut ws = connect(&s.ws_url()).await;
    let pad = "p".repeat(64 * 1024);
    send(
        &mut ws,
        &format!(r#"{{"jsonrpc":"2.0","id":9,"method":"test_add","params":[2,3],"pad":"{pad}"}}"#),
    )
    .await;
    assert_eq!(
        recv(&mut ws).await,
        json!({"jsonrpc": "2.0", "id": 9, "result": 5})
    );
    // A subscription made by a large frame delivers like any other.
    send(
        &mut ws,
        &format!(r#"{{"jsonrpc":"2.0","id":10,"method":"test_subscribe","params":["ticks",2],"pad":"{pad}"}}"#),
    )
    .await;
    let id = recv(&mut ws).await["result"].as_str().unwrap().to_owned();
    for i in 0..2 {
        let n = recv(&mut ws).await;
        assert_eq!(n["params"]["subscription"], json!(id));
        assert_eq!(n["params"]["result"], json!(i));
    }
    assert!(
        s.module
            .render_prometheus()
            .contains("txnchain_rpc_large_messages_total 2")
    );
}
