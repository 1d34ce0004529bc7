//! The official Rust `convex` crate against a real Nimbus server: mutations, queries and a
//! live subscription that updates after another client's mutation. Plus the HTTP edge:
//! tenant admission by path and Host, keys required where they must be.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value as Json, json};
use support::{OPERATOR_KEY, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_convex_client_queries_mutates_and_subscribes() {
    let server = start(Some("rusty")).await;
    server.create_tenant("rusty").await;
    let mut watcher = convex::ConvexClient::new(&server.base).await.unwrap();
    let mut writer = convex::ConvexClient::new(&server.base).await.unwrap();
    let mut subscription = watcher
        .subscribe("messages:list", BTreeMap::new())
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), subscription.next())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(first, convex::FunctionResult::Value(convex::Value::Array(ref items)) if items.is_empty()),
        "{first:?}"
    );
    let args = BTreeMap::from([
        ("body".to_owned(), convex::Value::from("from rust")),
        ("author".to_owned(), convex::Value::from("crab")),
    ]);
    let sent = writer.mutation("messages:send", args).await.unwrap();
    assert!(
        matches!(
            sent,
            convex::FunctionResult::Value(convex::Value::String(_))
        ),
        "{sent:?}"
    );
    let update = tokio::time::timeout(Duration::from_secs(10), subscription.next())
        .await
        .unwrap()
        .unwrap();
    let convex::FunctionResult::Value(convex::Value::Array(items)) = update else {
        panic!("{update:?}")
    };
    assert_eq!(items.len(), 1);
    let listed = writer
        .query("messages:list", BTreeMap::new())
        .await
        .unwrap();
    assert!(
        matches!(listed, convex::FunctionResult::Value(convex::Value::Array(ref items)) if items.len() == 1)
    );
    let failed = writer
        .query("errors:throwsConvexError", BTreeMap::new())
        .await
        .unwrap();
    assert!(
        matches!(
            failed,
            convex::FunctionResult::ErrorMessage(_) | convex::FunctionResult::ConvexError(_)
        ),
        "{failed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_are_admitted_at_the_edge_and_isolated() {
    let server = start(None).await;
    let key_a = server.create_tenant("alpha").await;
    server.create_tenant("beta").await;
    let (status, body) = server.post("/t/alpha/api/mutation", json!({ "path": "messages:send", "args": [{ "body": "a", "author": "x" }], "format": "convex_encoded_json" }), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success");
    let (_, body) = server
        .post(
            "/t/beta/api/query",
            json!({ "path": "messages:list", "args": {} }),
            None,
        )
        .await;
    assert_eq!(body["value"], json!([]), "beta never sees alpha's data");
    // Host-based routing reaches the same tenant.
    let response = server
        .http
        .post(format!("{}/api/query", server.base))
        .header("host", "alpha.localhost")
        .json(&json!({ "path": "messages:list", "args": {} }))
        .send()
        .await
        .unwrap();
    let body: Json = response.json().await.unwrap();
    assert_eq!(body["value"].as_array().unwrap().len(), 1);
    // Unknown tenants and suspended tenants are refused before any work.
    let (status, body) = server
        .post(
            "/t/nobody/api/query",
            json!({ "path": "messages:list" }),
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("TenantNotFound"))
    );
    let (status, _) = server
        .post(
            "/_nimbus/tenants/beta/suspend",
            json!({}),
            Some(&format!("Bearer {OPERATOR_KEY}")),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = server
        .post(
            "/t/beta/api/query",
            json!({ "path": "messages:list" }),
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("TenantSuspended"))
    );
    // Internal functions need an admin key; the wrong tenant's key is refused.
    let (_, body) = server
        .post(
            "/t/alpha/api/function",
            json!({ "path": "nested:innerQuery", "args": {} }),
            None,
        )
        .await;
    assert_eq!(body["status"], "error");
    let (_, body) = server
        .post(
            "/t/alpha/api/function",
            json!({ "path": "nested:innerQuery", "args": {} }),
            Some(&format!("Convex {key_a}")),
        )
        .await;
    assert_eq!(body["status"], "success", "{body}");
    let (status, _) = server
        .post(
            "/t/beta/api/get_config_hashes",
            json!({}),
            Some(&format!("Convex {key_a}")),
        )
        .await;
    assert!(
        status == 401 || status == 403,
        "a key of alpha must not work on beta, got {status}"
    );
    let (status, _) = server
        .post("/t/alpha/api/get_config_hashes", json!({}), None)
        .await;
    assert_eq!(status, 401, "push endpoints need a key");
    // Operator routes need the operator key.
    let (status, body) = server
        .post("/_nimbus/tenants", json!({ "name": "gamma" }), None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("Unauthenticated"))
    );
    // Bad input gets Convex's error shapes.
    let response = server
        .http
        .post(format!("{}/t/alpha/api/query", server.base))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let (_, body) = server
        .post(
            "/t/alpha/api/query",
            json!({ "path": "messages:nope", "args": {} }),
            None,
        )
        .await;
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap()
            .starts_with("Could not find public function for 'messages:nope'")
    );
    let (status, body) = server.post("/t/alpha/api/query_ts", json!({}), None).await;
    assert_eq!(status, 200);
    assert!(body["ts"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_operator_key_and_count_calls() {
    let server = start(None).await;
    server.create_tenant("metered").await;
    server
        .post(
            "/t/metered/api/query",
            json!({ "path": "messages:list", "args": {} }),
            None,
        )
        .await;
    let anonymous = server
        .http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let response = server
        .http
        .get(format!("{}/metrics", server.base))
        .bearer_auth(OPERATOR_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(
        text.contains(
            "nimbus_function_calls_total{tenant=\"metered\",kind=\"query\",outcome=\"success\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains("nimbus_function_latency_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains("nimbus_executor_queued_jobs"), "{text}");
    let health = server
        .http
        .get(format!("{}/health", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_user_tokens_get_convex_auth_error_over_the_socket() {
    use tokio_tungstenite::tungstenite::Message;
    let server = start(None).await;
    server.create_tenant("authy").await;
    let url = format!(
        "{}/t/authy/api/1.48.0/sync",
        server.base.replace("http://", "ws://")
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let connect = json!({ "type": "Connect", "sessionId": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "connectionCount": 0, "lastCloseReason": "InitialConnect", "clientTs": 1 });
    socket
        .send(Message::Text(connect.to_string().into()))
        .await
        .unwrap();
    let authenticate = json!({ "type": "Authenticate", "baseVersion": 0, "tokenType": "User", "value": "header.payload.signature" });
    socket
        .send(Message::Text(authenticate.to_string().into()))
        .await
        .unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Message::Text(text) = reply else {
        panic!("expected a text frame, got {reply:?}")
    };
    let message: Json = serde_json::from_str(&text).unwrap();
    assert_eq!(message["type"], "AuthError", "{message}");
    assert_eq!(message["authUpdateAttempted"], true);
    assert!(
        message["error"]
            .as_str()
            .unwrap()
            .contains("No auth provider"),
        "{message}"
    );
}
