//! A sync client that stops reading is disconnected once its bounded outbound queue fills,
//! instead of the server buffering updates for it without limit; other clients are unaffected.

mod support;

use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use support::start_with;
use support::sync_socket::{connect, next_message, send};
use tokio_tungstenite::tungstenite::Message;

const OUTBOUND_QUEUE_MAX: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_disconnected_as_too_slow() {
    let server = start_with(None, |config| {
        config.ws_outbound_queue_max = OUTBOUND_QUEUE_MAX;
    })
    .await;
    server.create_tenant("slow").await;
    let subscribe = json!({ "type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": [
        { "type": "Add", "queryId": 0, "udfPath": "messages:list", "args": [{}] },
    ] });
    let mut stalled = connect(&server.base, "slow", "0f0e0d0c-0b0a-4909-8807-060504030201").await;
    send(&mut stalled, subscribe.clone()).await;
    assert_eq!(next_message(&mut stalled).await["type"], "Transition");
    let mut healthy = connect(&server.base, "slow", "1f1e1d1c-1b1a-4919-8817-161514131211").await;
    send(&mut healthy, subscribe).await;
    assert_eq!(next_message(&mut healthy).await["type"], "Transition");

    // Every insert grows the subscribed list by 32 KiB; `stalled` reads nothing from here on,
    // so the kernel's socket buffers fill, then the server's queue for it.
    let body = "x".repeat(32 * 1024);
    let mut closed_after = None;
    for round in 0..200 {
        server
            .mutation(
                "slow",
                "messages:send",
                json!({ "author": "a", "body": body }),
            )
            .await;
        // The healthy client keeps up: it sees the list at the new length.
        loop {
            let message = next_message(&mut healthy).await;
            let value = &message["modifications"][0]["value"];
            if message["type"] == "Transition" && value.as_array().map(Vec::len) == Some(round + 1)
            {
                break;
            }
        }
        if open_sockets(&server.metrics().await) == 1 {
            closed_after = Some(round);
            break;
        }
    }
    let round = closed_after.expect("the stalled client was never disconnected");
    assert!(
        round >= OUTBOUND_QUEUE_MAX,
        "disconnected too early, after {round} updates"
    );

    // What the stalled client finds when it reads again: the updates that were already on
    // their way, then the end of the connection, with the reason if the close frame fit.
    let mut close_reason = None;
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(frame) = stalled.next().await {
            match frame {
                Ok(Message::Close(Some(frame))) => close_reason = Some(frame.reason.to_string()),
                Ok(_) => {}
                Err(_) => break,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stalled connection was not closed");
    if let Some(reason) = close_reason {
        assert!(reason.starts_with("ClientTooSlow"), "{reason}");
    }
}

/// The `nimbus_websocket_connections` gauge from the metrics text.
fn open_sockets(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("nimbus_websocket_connections "))
        .and_then(|value| value.trim().parse().ok())
        .expect("the metrics report nimbus_websocket_connections")
}
