//! Actions and HTTP actions: real `fetch` behind the network policy, timers, crypto, and the
//! `http.js` router with exact and prefix routes.

mod support;

use std::sync::Arc;

use nimbus_functions::{
    FetchPolicy, HttpRequest, HttpRequestBody, HttpResponse, HttpResponseBody, RunnerConfig,
};
use nimbus_storage::MemoryPersistence;
use serde_json::json;
use support::Harness;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A one-route HTTP server on loopback that answers every request with `pong <path>`.
async fn pong_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 8192];
                let n = socket.read(&mut buffer).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buffer[..n]);
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let body = format!("pong {path}");
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    format!("http://{address}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_reaches_loopback_only_when_the_policy_allows_it() {
    let server = pong_server().await;
    let h = Harness::new().await;
    let err = h
        .err("actions:fetchUrl", json!({ "url": format!("{server}/x") }))
        .await;
    assert!(err.message.contains("loopback"), "{}", err.message);
    let config = RunnerConfig {
        fetch: FetchPolicy {
            allow_loopback: true,
            ..FetchPolicy::default()
        },
        ..RunnerConfig::default()
    };
    let h = Harness::with(Arc::new(MemoryPersistence::new()), config).await;
    let out = h
        .ok(
            "actions:fetchUrl",
            json!({ "url": format!("{server}/hello?q=1") }),
        )
        .await;
    assert_eq!(out["status"].as_f64(), Some(200.0));
    assert_eq!(out["body"], "pong /hello?q=1");
    let denied = RunnerConfig {
        fetch: FetchPolicy {
            allow_loopback: true,
            deny_hosts: vec!["127.0.0.1".into()],
            ..FetchPolicy::default()
        },
        ..RunnerConfig::default()
    };
    let h = Harness::with(Arc::new(MemoryPersistence::new()), denied).await;
    let err = h
        .err("actions:fetchUrl", json!({ "url": format!("{server}/x") }))
        .await;
    assert!(err.message.contains("denied"), "{}", err.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_have_timers_and_crypto() {
    let h = Harness::new().await;
    assert_eq!(h.ok("actions:sleepy", json!({})).await, json!("slept"));
    assert_eq!(
        h.ok("actions:digest", json!({})).await,
        json!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
}

fn request(method: &str, path: &str, body: Option<&str>) -> HttpRequest {
    HttpRequest {
        url: format!("http://fixture.localhost:3211{path}"),
        path: path.split('?').next().unwrap().to_owned(),
        method: method.into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: HttpRequestBody::Inline(body.map(|b| b.as_bytes().to_vec())),
    }
}

fn full_body(response: &HttpResponse) -> &[u8] {
    match &response.body {
        HttpResponseBody::Full(bytes) => bytes,
        HttpResponseBody::Streamed(_) => panic!("expected a complete body"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_actions_route_exact_and_prefix_paths() {
    let h = Harness::new().await;
    let hello = h
        .runner
        .http_action(&h.tenant, request("GET", "/hello", None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hello.status, 200);
    assert_eq!(full_body(&hello), b"hello world");
    assert!(
        hello
            .headers
            .iter()
            .any(|(k, v)| k == "content-type" && v == "text/plain")
    );
    let head = h
        .runner
        .http_action(&h.tenant, request("HEAD", "/hello", None))
        .await
        .unwrap();
    assert!(head.is_some(), "HEAD is routed as GET");
    let echo = h
        .runner
        .http_action(&h.tenant, request("POST", "/echo/a/b?x=1", Some("payload")))
        .await
        .unwrap()
        .unwrap();
    let echoed: serde_json::Value = serde_json::from_slice(full_body(&echo)).unwrap();
    assert_eq!(echoed["body"], "payload");
    assert_eq!(echoed["method"], "POST");
    assert_eq!(echoed["url"], "http://fixture.localhost:3211/echo/a/b?x=1");
    let sent = h
        .runner
        .http_action(
            &h.tenant,
            request("POST", "/send", Some(r#"{"body":"via http"}"#)),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sent.status, 201);
    let list = h.ok("messages:list", json!({})).await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|m| m["body"] == "via http" && m["author"] == "http")
    );
    assert!(
        h.runner
            .http_action(&h.tenant, request("GET", "/nope", None))
            .await
            .unwrap()
            .is_none(),
        "unrouted: no code runs"
    );
    assert!(
        h.runner
            .http_action(&h.tenant, request("GET", "/echo/x", None))
            .await
            .unwrap()
            .is_none(),
        "wrong method"
    );
}
