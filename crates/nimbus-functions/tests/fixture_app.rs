//! The fixture Convex app, bundled with the real `convex` npm package, behaves as it does on
//! Convex: every database syscall, validation, errors, nested calls, identity, actions and HTTP
//! actions.

mod support;

use nimbus_functions::{Caller, FailureKind, FunctionKind, Visibility};
use serde_json::json;
use support::Harness;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analysis_finds_every_function_route_cron_and_the_schema() {
    let h = Harness::new().await;
    let deployment = h.runner.deployment(&h.tenant).await.unwrap().unwrap();
    let function = |p: &str| {
        deployment
            .function(&nimbus_functions::FunctionPath::parse(p).unwrap())
            .cloned()
            .unwrap()
    };
    assert_eq!(function("messages:list").kind, FunctionKind::Query);
    assert_eq!(function("messages:send").kind, FunctionKind::Mutation);
    assert_eq!(function("actions:fetchUrl").kind, FunctionKind::Action);
    assert_eq!(
        function("nested:innerQuery").visibility,
        Visibility::Internal
    );
    assert!(function("messages:send").args.is_some());
    let routes: Vec<(String, String)> = deployment
        .http_routes
        .clone()
        .unwrap()
        .into_iter()
        .map(|r| (r.path, r.method))
        .collect();
    assert!(routes.contains(&("/hello".into(), "GET".into())));
    assert!(routes.contains(&("/echo/*".into(), "POST".into())));
    assert_eq!(
        deployment
            .crons
            .as_ref()
            .unwrap()
            .as_object()
            .unwrap()
            .len(),
        6
    );
    let db = h.runner.engine().database(&h.tenant).await.unwrap();
    assert!(
        db.catalog()
            .index_by_name("messages", "by_author")
            .is_some(),
        "the schema's indexes exist"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_syscalls_work_end_to_end() {
    let h = Harness::new().await;
    let a = h
        .ok("messages:send", json!({ "body": "one", "author": "ann" }))
        .await;
    let id_a = a.as_str().unwrap().to_owned();
    h.ok("messages:send", json!({ "body": "two", "author": "bob" }))
        .await;
    h.ok("messages:send", json!({ "body": "three", "author": "ann" }))
        .await;
    let list = h.ok("messages:list", json!({})).await;
    let bodies: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, vec!["one", "two", "three"]);
    let by_ann = h.ok("messages:byAuthor", json!({ "author": "ann" })).await;
    let bodies: Vec<&str> = by_ann
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, vec!["three", "one"], "withIndex + order desc");
    assert_eq!(
        h.ok("messages:firstByAuthor", json!({ "author": "bob" }))
            .await["body"],
        "two"
    );
    assert_eq!(
        h.ok("messages:uniqueByAuthor", json!({ "author": "bob" }))
            .await["body"],
        "two"
    );
    let err = h
        .err("messages:uniqueByAuthor", json!({ "author": "ann" }))
        .await;
    assert!(err.message.contains("unique"), "{}", err.message);
    assert_eq!(
        h.ok("messages:filtered", json!({ "author": "bob" }))
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let got = h.ok("messages:get", json!({ "id": id_a })).await;
    assert_eq!(got["body"], "one");
    assert!(got["_creationTime"].as_f64().unwrap() > 0.0);
    assert_eq!(
        h.ok("messages:normalize", json!({ "id": id_a })).await,
        json!(id_a)
    );
    assert_eq!(
        h.ok("messages:normalize", json!({ "id": "nonsense" }))
            .await,
        json!(null)
    );
    h.ok("messages:edit", json!({ "id": id_a, "body": "edited" }))
        .await;
    assert_eq!(
        h.ok("messages:get", json!({ "id": id_a })).await["body"],
        "edited"
    );
    h.ok(
        "messages:replaceBody",
        json!({ "id": id_a, "body": "replaced", "author": "cy" }),
    )
    .await;
    assert_eq!(
        h.ok("messages:get", json!({ "id": id_a })).await["author"],
        "cy"
    );
    h.ok("messages:remove", json!({ "id": id_a })).await;
    assert_eq!(
        h.ok("messages:get", json!({ "id": id_a })).await,
        json!(null)
    );
    h.ok("messages:sendMany", json!({ "count": 7.0 })).await;
    // Paginate through everything, two at a time.
    let mut cursor = json!(null);
    let mut seen = 0;
    for _ in 0..20 {
        let page = h
            .ok(
                "messages:page",
                json!({ "paginationOpts": { "numItems": 2.0, "cursor": cursor } }),
            )
            .await;
        seen += page["page"].as_array().unwrap().len();
        if page["isDone"] == json!(true) {
            break;
        }
        cursor = page["continueCursor"].clone();
    }
    assert_eq!(seen, 9);
    assert_eq!(
        h.ok("counters:increment", json!({ "name": "c" }))
            .await
            .as_f64(),
        Some(1.0)
    );
    assert_eq!(
        h.ok("counters:increment", json!({ "name": "c" }))
            .await
            .as_f64(),
        Some(2.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_errors_use_convex_texts() {
    let h = Harness::new().await;
    assert_eq!(
        h.ok("errors:needsNumber", json!({ "n": 4.0 }))
            .await
            .as_f64(),
        Some(8.0)
    );
    let err = h.err("errors:needsNumber", json!({ "n": "four" })).await;
    assert!(
        err.message
            .starts_with("ArgumentValidationError: Value does not match validator."),
        "{}",
        err.message
    );
    assert!(err.message.contains("Path: .n"), "{}", err.message);
    let err = h.err("errors:needsNumber", json!({})).await;
    assert!(
        err.message
            .contains("Object is missing the required field `n`"),
        "{}",
        err.message
    );
    let err = h
        .err("errors:needsNumber", json!({ "n": 1.0, "extra": true }))
        .await;
    assert!(
        err.message.contains("Object contains extra field `extra`"),
        "{}",
        err.message
    );
    let err = h.err("errors:badReturn", json!({})).await;
    assert!(
        err.message.starts_with("ReturnsValidationError:"),
        "{}",
        err.message
    );
    let err = h.err("messages:nope", json!({})).await;
    assert_eq!(err.kind, FailureKind::NotFound);
    assert!(
        err.message
            .starts_with("Could not find public function for 'messages:nope'"),
        "{}",
        err.message
    );
    let err = h.err("nested:innerQuery", json!({})).await;
    assert_eq!(
        err.kind,
        FailureKind::NotFound,
        "internal functions are hidden from clients"
    );
    assert!(
        h.call_as(Caller::Admin, None, "nested:innerQuery", json!({}))
            .await
            .is_ok(),
        "admins may call internal functions"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thrown_errors_and_convex_error_data_are_carried_through() {
    let h = Harness::new().await;
    let err = h.err("errors:throwsError", json!({})).await;
    assert!(
        err.message.starts_with("Uncaught Error: boom"),
        "{}",
        err.message
    );
    assert!(err.data.is_none());
    let err = h.err("errors:throwsConvexError", json!({})).await;
    assert!(
        err.message.starts_with("Uncaught ConvexError:"),
        "{}",
        err.message
    );
    assert_eq!(
        err.data.unwrap().to_json(),
        json!({ "code": 42, "message": "custom" })
    );
    let err = h.err("errors:throwsConvexErrorString", json!({})).await;
    assert_eq!(err.data.unwrap().to_json(), json!("just a string"));
    let before = h
        .ok("messages:list", json!({}))
        .await
        .as_array()
        .unwrap()
        .len();
    h.err("errors:writesThenThrows", json!({})).await;
    let after = h
        .ok("messages:list", json!({}))
        .await
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after, "a mutation that throws writes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_calls_from_mutations_and_actions() {
    let h = Harness::new().await;
    h.ok("messages:send", json!({ "body": "x", "author": "a" }))
        .await;
    let out = h.ok("nested:outerMutation", json!({})).await;
    assert_eq!(out["count"].as_f64(), Some(1.0));
    let list = h.ok("messages:list", json!({})).await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|m| m["author"] == "inner")
    );
    let summary = h.ok("nested:actionCallsAll", json!({})).await;
    assert_eq!(summary["product"].as_f64(), Some(20.0));
    assert!(summary["id"].is_string());

    // A nested mutation that fails is a sub-transaction: its writes vanish, the caller's stay.
    let out = h.ok("nested:outerCatchesInnerFailure", json!({})).await;
    assert!(
        out["caught"].as_str().unwrap().contains("inner failed"),
        "{out}"
    );
    assert_eq!(
        out["seen"],
        json!(["kept", "after"]),
        "inside the transaction"
    );
    let list = h.ok("messages:list", json!({})).await;
    let committed: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["author"] == "sub")
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(committed, ["kept", "after"], "after the commit");

    // The caller's own write made while the failing nested mutation runs survives its rollback.
    let out = h.ok("nested:outerWritesWhileInnerFails", json!({})).await;
    assert_eq!(
        out,
        json!({ "inner": "rejected", "mine": "fulfilled", "seen": ["concurrent"] })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_logs_and_unsupported_storage() {
    let h = Harness::new().await;
    assert_eq!(h.ok("identity:whoami", json!({})).await, json!(null));
    let identity = json!({ "tokenIdentifier": "issuer|user1", "issuer": "issuer", "subject": "user1", "name": "Ann" });
    let out = h
        .call_as(
            Caller::Public,
            Some(identity.clone()),
            "identity:whoami",
            json!({}),
        )
        .await
        .unwrap();
    assert_eq!(out.value.to_json()["subject"], "user1");
    let logged = h.call("messages:loud", json!({})).await.unwrap();
    assert_eq!(
        logged.log_lines,
        vec![
            "[LOG] 'listing' { n: 1 }".to_owned(),
            "[WARN] 'careful'".to_owned()
        ]
    );
    let err = h.err("storage:uploadUrl", json!({})).await;
    assert!(
        err.message.contains("not supported by Nimbus yet"),
        "{}",
        err.message
    );
    let err = h.err("determinism:tryFetch", json!({})).await;
    assert!(
        err.message
            .contains("Can't use fetch() in queries and mutations"),
        "{}",
        err.message
    );
}
