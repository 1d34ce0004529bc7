//! HTTP actions (the fixture app's `http.js`) through the real server: routing under the
//! tenant's `/http/…`, bodies streamed both ways, 413 over the body limit with or without a
//! Content-Length, and a stream that fails midway breaking the response.

mod support;

use serde_json::{Value as Json, json};
use support::{chunked_body, start_with};

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

    // Response streaming: the client reads the first chunk while the handler still runs, and
    // the handler goes on only after the client reacted to it. A buffered response deadlocks.
    let mut response = server
        .http
        .get(format!("{base}/stream/handshake"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/plain");
    let first = response.chunk().await.unwrap().unwrap();
    assert_eq!(&first[..], b"first\n");
    let (status, _) = server
        .post(
            "/t/web/api/mutation",
            json!({ "path": "messages:send", "args": { "body": "go", "author": "client" } }),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let mut rest = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        rest.extend_from_slice(&chunk);
    }
    assert_eq!(String::from_utf8(rest).unwrap(), "after go\n");

    // Both ways: a chunked 512 KiB request is read as a stream and answered as one.
    let chunks: Vec<Vec<u8>> = (0..8).map(|i| vec![b'a' + i as u8; 64 * 1024]).collect();
    let expected: Vec<u8> = chunks.concat().iter().map(u8::to_ascii_uppercase).collect();
    let response = server
        .http
        .post(format!("{base}/stream/upper"))
        .body(chunked_body(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer = response.bytes().await.unwrap();
    let newline = answer.iter().rposition(|&b| b == b'\n').unwrap();
    assert_eq!(
        &answer[..newline],
        &expected[..],
        "the streamed echo matches"
    );
    let count: usize = std::str::from_utf8(&answer[newline + 1..])
        .unwrap()
        .parse()
        .unwrap();
    assert!(count > 1, "the request arrived in several chunks ({count})");

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
    let response = server
        .http
        .post(format!("{base}/stream/count"))
        .body(chunked_body({
            // The limit is crossed by the very last byte, so the client has written everything
            // by the time the server answers.
            let mut chunks = vec![vec![1u8; 64 * 1024]; BODY_LIMIT / (64 * 1024)];
            chunks.push(vec![1]);
            chunks
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    // A stream that fails midway breaks the response instead of ending it as if complete.
    let response = server
        .http
        .get(format!("{base}/stream/broken"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.bytes().await.is_err(),
        "a failed stream must not look like a complete body"
    );

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
