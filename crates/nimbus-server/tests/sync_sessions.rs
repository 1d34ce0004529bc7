//! Sync-session semantics over a raw WebSocket: one commit that changes two subscribed queries
//! reaches the client in one Transition, and a mutation never looks resolved (its
//! `MutationResponse` plus a Transition at or past its ts) while a query it changed is stale; a
//! failing query stays subscribed; a paginated subscription keeps its page boundaries through
//! its journal.

mod support;

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};
use support::start;
use support::sync_socket::{Socket, connect, decode_ts, next_message, send};

const LIST: u32 = 0;
const BY_AUTHOR: u32 = 1;

/// What the client holds: each query's latest value and the version it is at.
#[derive(Default)]
struct ClientView {
    results: BTreeMap<u32, Json>,
    ts: u64,
}

impl ClientView {
    fn lengths(&self) -> (usize, usize) {
        let len = |id| {
            self.results
                .get(&id)
                .and_then(Json::as_array)
                .map_or(usize::MAX, Vec::len)
        };
        (len(LIST), len(BY_AUTHOR))
    }
}

/// Applies one Transition; both queries read the same table, so they must always agree.
fn apply_transition(view: &mut ClientView, message: &Json) {
    for modification in message["modifications"].as_array().unwrap() {
        assert_eq!(modification["type"], "QueryUpdated", "{message}");
        let id = modification["queryId"].as_u64().unwrap() as u32;
        view.results.insert(id, modification["value"].clone());
    }
    view.ts = decode_ts(&message["endVersion"]["ts"]);
    let (list, by_author) = view.lengths();
    assert_eq!(
        list, by_author,
        "one Transition must carry every query a commit changed: {message}"
    );
}

/// Sends a mutation and reads until the client would resolve it: its response has arrived and
/// the client holds a Transition at or past its ts. Returns the mutation's result.
async fn mutate(
    socket: &mut Socket,
    view: &mut ClientView,
    request_id: u32,
    path: &str,
    args: Json,
) -> Json {
    send(
        socket,
        json!({ "type": "Mutation", "requestId": request_id, "udfPath": path, "args": [args] }),
    )
    .await;
    let mut response: Option<(u64, Json)> = None;
    loop {
        if let Some((ts, result)) = &response
            && view.ts >= *ts
        {
            return result.clone();
        }
        let message = next_message(socket).await;
        match message["type"].as_str().unwrap() {
            "Transition" => apply_transition(view, &message),
            "MutationResponse" => {
                assert_eq!(message["requestId"], request_id, "{message}");
                assert_eq!(message["success"], true, "{message}");
                response = Some((decode_ts(&message["ts"]), message["result"].clone()));
            }
            "Ping" => {}
            other => panic!("unexpected {other}: {message}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_reaches_every_query_it_changed_before_its_mutation_resolves() {
    let server = start(None).await;
    server.create_tenant("ordering").await;
    let mut socket = connect(
        &server.base,
        "ordering",
        "9b2b1f4e-4d5c-4a8e-9d1e-2f6a7c3b5e10",
    )
    .await;
    send(
        &mut socket,
        json!({ "type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": [
            { "type": "Add", "queryId": LIST, "udfPath": "messages:list", "args": [{}] },
            { "type": "Add", "queryId": BY_AUTHOR, "udfPath": "messages:byAuthor", "args": [{ "author": "ada" }] },
        ] }),
    )
    .await;
    let mut view = ClientView::default();
    while view.results.len() < 2 {
        let message = next_message(&mut socket).await;
        if message["type"] == "Transition" {
            apply_transition(&mut view, &message);
        }
    }
    assert_eq!(view.lengths(), (0, 0));

    // Each round's insert and delete both change the two queries; a wake of only one of them
    // would show as a Transition where they disagree, or a resolution with a stale result.
    let mut request_id = 0;
    for round in 0..40 {
        let id = mutate(
            &mut socket,
            &mut view,
            request_id,
            "messages:send",
            json!({ "author": "ada", "body": format!("round {round}") }),
        )
        .await;
        request_id += 1;
        assert_eq!(view.lengths(), (1, 1), "after insert {round}");
        assert_eq!(view.results[&LIST][0]["_id"], id);
        mutate(
            &mut socket,
            &mut view,
            request_id,
            "messages:remove",
            json!({ "id": id }),
        )
        .await;
        request_id += 1;
        assert_eq!(view.lengths(), (0, 0), "after delete {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_query_stays_subscribed_and_recovers_when_its_data_appears() {
    let server = start(None).await;
    server.create_tenant("recovers").await;
    let mut socket = connect(
        &server.base,
        "recovers",
        "5d0c7a52-8f7e-4f43-a0d6-0c1b9e3f2a77",
    )
    .await;
    send(
        &mut socket,
        json!({ "type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": [
            { "type": "Add", "queryId": 7, "udfPath": "errors:throwsUntilAuthorWrote", "args": [{ "author": "grace" }] },
        ] }),
    )
    .await;
    let first = next_message(&mut socket).await;
    assert_eq!(first["type"], "Transition", "{first}");
    let failed = &first["modifications"][0];
    assert_eq!(failed["type"], "QueryFailed", "{first}");
    assert!(
        failed["errorMessage"]
            .as_str()
            .unwrap()
            .contains("nothing from grace yet"),
        "{first}"
    );

    // Another author's message is outside what the failing run read: no update for it.
    server
        .mutation(
            "recovers",
            "messages:send",
            json!({ "author": "other", "body": "unrelated" }),
        )
        .await;
    server
        .mutation(
            "recovers",
            "messages:send",
            json!({ "author": "grace", "body": "first words" }),
        )
        .await;
    let update = loop {
        let message = next_message(&mut socket).await;
        if message["type"] == "Transition" {
            break message;
        }
    };
    let modifications = update["modifications"].as_array().unwrap();
    assert_eq!(modifications.len(), 1, "{update}");
    assert_eq!(modifications[0]["type"], "QueryUpdated", "{update}");
    assert_eq!(modifications[0]["value"], "first words", "{update}");
}

/// Bodies of a `messages:page` result.
fn page_bodies(result: &Json) -> Vec<String> {
    result["page"]
        .as_array()
        .unwrap()
        .iter()
        .map(|doc| doc["body"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribed_page_keeps_its_boundaries_through_its_journal() {
    let server = start(None).await;
    server.create_tenant("pages").await;
    let mut ids = Vec::new();
    for body in ["m1", "m2", "m3"] {
        ids.push(
            server
                .mutation(
                    "pages",
                    "messages:send",
                    json!({ "author": "a", "body": body }),
                )
                .await,
        );
    }
    let add = |journal: Json| {
        json!({ "type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": [
            { "type": "Add", "queryId": 0, "udfPath": "messages:page",
              "args": [{ "paginationOpts": { "numItems": 2, "cursor": null } }], "journal": journal },
        ] })
    };
    let mut socket = connect(
        &server.base,
        "pages",
        "6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    )
    .await;
    send(&mut socket, add(Json::Null)).await;
    let first = next_message(&mut socket).await;
    let result = &first["modifications"][0];
    assert_eq!(page_bodies(&result["value"]), ["m1", "m2"], "{first}");
    let journal = result["journal"].clone();
    assert!(
        journal.is_string(),
        "a paginated result carries a journal: {first}"
    );

    // Deleting m1 must not pull m3 into page 1: the page still ends after m2 (where the next
    // page, fetched with continueCursor, begins), or the client would show m3 twice.
    server
        .mutation("pages", "messages:remove", json!({ "id": ids[0] }))
        .await;
    let update = loop {
        let message = next_message(&mut socket).await;
        if message["type"] == "Transition" && !message["modifications"][0].is_null() {
            break message;
        }
    };
    assert_eq!(
        page_bodies(&update["modifications"][0]["value"]),
        ["m2"],
        "{update}"
    );
    let value = &update["modifications"][0]["value"];
    assert_eq!(value["isDone"], false, "m3 still follows: {update}");
    assert_eq!(
        value["continueCursor"],
        first["modifications"][0]["value"]["continueCursor"]
    );

    // A client reconnecting with the journal it holds gets the same pinned page; without one
    // the page is filled to numItems again.
    let mut again = connect(
        &server.base,
        "pages",
        "7b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e",
    )
    .await;
    send(&mut again, add(journal)).await;
    let pinned = next_message(&mut again).await;
    assert_eq!(
        page_bodies(&pinned["modifications"][0]["value"]),
        ["m2"],
        "{pinned}"
    );
    let mut fresh = connect(
        &server.base,
        "pages",
        "8c3d4e5f-6a7b-4c8d-0e9f-1a2b3c4d5e6f",
    )
    .await;
    send(&mut fresh, add(Json::Null)).await;
    let unpinned = next_message(&mut fresh).await;
    assert_eq!(
        page_bodies(&unpinned["modifications"][0]["value"]),
        ["m2", "m3"],
        "{unpinned}"
    );

    // A journal that is not one of ours fails the query with a clear error.
    let mut forged = connect(
        &server.base,
        "pages",
        "9d4e5f6a-7b8c-4d9e-1f0a-2b3c4d5e6f7a",
    )
    .await;
    send(&mut forged, add(json!("not a journal"))).await;
    let failed = next_message(&mut forged).await;
    assert_eq!(
        failed["modifications"][0]["type"], "QueryFailed",
        "{failed}"
    );
    assert!(
        failed["modifications"][0]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("InvalidQueryJournal"),
        "{failed}"
    );
}
