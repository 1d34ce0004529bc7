//! HTTP actions (the fixture app's `http.js`) through the real server: routing under the
//! tenant's `/http/…`, bodies streamed both ways, 413 over the body limit with or without a
//! Content-Length, and a stream that fails midway breaking the response.

mod support;

use serde_json::Value as Json;
use support::{start_with, streaming};

/// The body limit the tests run with: small, so crossing it is cheap.
const BODY_LIMIT: usize = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_actions_route_and_stream_bodies_both_ways() {
    let server = start_with(None, |c| c.runner.http_body_bytes_max = BODY_LIMIT).await;
    server.create_tenant("web").await;
    let base = format!("{}/t/web/http", server.base);

    let response = server
        .http
        .get(format!("{base}/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "hello world");
    let response = server
        .http
        .get(format!("{base}/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    // Response streaming, and a chunked 512 KiB request read as a stream and answered as one.
    streaming::assert_response_streams(&server, &format!("{base}/stream/handshake"), "web").await;
    let chunks: Vec<Vec<u8>> = (0..8).map(|i| vec![b'a' + i as u8; 64 * 1024]).collect();
    streaming::assert_streamed_echo(&server, &format!("{base}/stream/upper"), chunks).await;

    // A sized body under the inline threshold arrives whole; one over it streams.
    for size in [100usize, 300_000] {
        let response = server
            .http
            .post(format!("{base}/stream/count"))
            .body(vec![7u8; size])
            .send()
            .await
            .unwrap();
        assert_eq!(response.json::<Json>().await.unwrap()["bytes"], size);
    }

    // Over the limit: 413, whether the client declared the size or streamed without one.
    let response = server
        .http
        .post(format!("{base}/stream/count"))
        .body(vec![1u8; BODY_LIMIT + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    streaming::assert_unsized_body_over_limit_refused(
        &server,
        &format!("{base}/stream/count"),
        BODY_LIMIT,
    )
    .await;
    streaming::assert_failed_stream_breaks_the_body(&server, &format!("{base}/stream/broken"))
        .await;

    // And the tenant keeps serving.
    let response = server
        .http
        .post(format!("{base}/echo/after"))
        .body("still here")
        .send()
        .await
        .unwrap();
    let echoed: Json = response.json().await.unwrap();
    assert_eq!(echoed["body"], "still here");
}
