//! Harness shared by the `jsonrpc_request` fuzz target and the seed-corpus test.
//!
//! [`request`] feeds arbitrary bytes through the same processing path as HTTP and
//! WebSocket messages, against a small module, and panics if the output is not a
//! well-formed JSON-RPC response (or nothing). Not for production use.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::dispatch::{self, CallEnv, Subscriptions};
use crate::error::RpcError;
use crate::module::{ConnectionInfo, RpcModule, Transport};
use crate::server::ServerConfig;

struct Harness {
    module: RpcModule<()>,
    ctx: Arc<()>,
    config: ServerConfig,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let mut module = RpcModule::new();
        let registered = module
            .method(
                "test_echo",
                |_, params| async move { params.parse::<Value>() },
            )
            .and_then(|m| {
                m.method("test_add", |_, params| async move {
                    let a: u64 = params.required(0)?;
                    let b: Option<u64> = params.optional(1)?;
                    params.check_max(2)?;
                    Ok(json!(a.wrapping_add(b.unwrap_or(0))))
                })
            })
            .and_then(|m| {
                m.method("test_fail", |_, _| async move {
                    Err(RpcError::custom(
                        3,
                        "execution reverted",
                        Some(json!("0x08c379a0")),
                    ))
                })
            })
            .and_then(|m| {
                m.subscription(
                    "test_subscribe",
                    "test_subscription",
                    "test_unsubscribe",
                    |_, params, _| async move {
                        let name = params.subscription_name()?;
                        if name != "ticks" {
                            return Err(RpcError::unknown_subscription("test", &name));
                        }
                        Ok(futures::stream::iter([json!(1), json!(2)]))
                    },
                )
            });
        if let Err(e) = registered {
            unreachable!("static harness registration failed: {e}");
        }
        Harness {
            module,
            ctx: Arc::new(()),
            config: ServerConfig {
                max_batch_len: 64,
                max_batch_response_bytes: 64 * 1024,
                max_subscriptions_per_connection: 4,
                ..ServerConfig::default()
            },
        }
    })
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| unreachable!("cannot build tokio runtime: {e}"));
}

/// Process `data` as an HTTP body and as a WebSocket message; panic on any malformed
/// output. Returns the HTTP-mode response.
pub fn request(data: &[u8]) -> Option<Vec<u8>> {
    let h = harness();
    RUNTIME.with(|rt| {
        rt.block_on(async {
            let http_info = Arc::new(ConnectionInfo::in_process());
            let env = CallEnv {
                module: &h.module,
                ctx: &h.ctx,
                config: &h.config,
                subs: None,
                info: &http_info,
            };
            let http = dispatch::process(&env, data).await;
            assert!(http.subscriptions.is_empty(), "subscription over HTTP");
            if let Some(resp) = &http.response {
                check_response(resp);
            }

            let subs = Arc::new(Subscriptions::new(
                h.config.max_subscriptions_per_connection,
            ));
            let ws_info = Arc::new(ConnectionInfo {
                transport: Transport::Ws,
                ..ConnectionInfo::in_process()
            });
            let env = CallEnv {
                subs: Some(&subs),
                info: &ws_info,
                ..env
            };
            let ws = dispatch::process(&env, data).await;
            if let Some(resp) = &ws.response {
                check_response(resp);
            }
            for sub in &ws.subscriptions {
                assert!(sub.id.starts_with("0x"), "bad subscription id {}", sub.id);
            }
            http.response
        })
    })
}

/// Panics unless `resp` is a JSON-RPC response object or a non-empty array of them.
///
/// Checked with raw values rather than `serde_json::Value`, because ids are echoed
/// verbatim (like geth) and may be numbers that are valid JSON but exceed `f64`.
pub fn check_response(resp: &[u8]) {
    let text = match std::str::from_utf8(resp) {
        Ok(t) => t,
        Err(e) => panic!("response is not UTF-8: {e}"),
    };
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        panic!("response is not JSON ({e}): {text}");
    }
    let raw: &RawValue = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(e) => panic!("response is not JSON ({e}): {text}"),
    };
    if raw.get().starts_with('[') {
        let items: Vec<&RawValue> = match serde_json::from_str(raw.get()) {
            Ok(items) => items,
            Err(e) => panic!("bad batch response ({e}): {text}"),
        };
        assert!(!items.is_empty(), "empty batch response");
        items.into_iter().for_each(check_object);
    } else {
        check_object(raw);
    }
}

fn check_object(v: &RawValue) {
    #[derive(serde::Deserialize)]
    struct ErrorObject {
        #[allow(dead_code)]
        code: i64,
        #[allow(dead_code)]
        message: String,
        #[allow(dead_code)]
        data: Option<serde::de::IgnoredAny>,
    }
    let obj: HashMap<String, &RawValue> = match serde_json::from_str(v.get()) {
        Ok(o) => o,
        Err(e) => panic!("response entry is not an object ({e}): {v}"),
    };
    assert_eq!(
        obj.get("jsonrpc").map(|v| v.get()),
        Some("\"2.0\""),
        "bad version: {v}"
    );
    assert!(obj.contains_key("id"), "missing id: {v}");
    match (obj.get("result"), obj.get("error")) {
        (Some(_), None) => {}
        (None, Some(err)) => {
            if let Err(e) = serde_json::from_str::<ErrorObject>(err.get()) {
                panic!("bad error object ({e}): {v}");
            }
        }
        _ => panic!("need exactly one of result/error: {v}"),
    }
    let known = ["jsonrpc", "id", "result", "error"];
    assert!(
        obj.keys().all(|k| known.contains(&k.as_str())),
        "unexpected member: {v}"
    );
}
