//! Checks shared by the HTTP-action and fetch-app body tests: both run the same streaming
//! exchange, so they must pass the same handshake, echo, limit and failure checks.

use super::{Running, chunked_body};

/// GET `url` (a handler that writes `first\n`, waits until the tenant's `messages` table gets
/// a message, then writes `after <body>\n`): the client must read the first chunk while the
/// handler still runs. A buffered response deadlocks here.
pub async fn assert_response_streams(server: &Running, url: &str, tenant: &str) {
    let mut response = server.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap().unwrap();
    assert_eq!(&first[..], b"first\n");
    let (status, _) = server
        .post(
            &format!("/t/{tenant}/api/mutation"),
            serde_json::json!({ "path": "messages:send", "args": { "body": "go", "author": "client" } }),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let mut rest = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        rest.extend_from_slice(&chunk);
    }
    assert_eq!(String::from_utf8(rest).unwrap(), "after go\n");
}

/// POST `chunks` without a Content-Length to an upper-casing echo that appends `\n<chunks it
/// saw>`: the echo must match, and the body must have arrived in several pieces.
pub async fn assert_streamed_echo(server: &Running, url: &str, chunks: Vec<Vec<u8>>) {
    let expected: Vec<u8> = chunks.concat().iter().map(u8::to_ascii_uppercase).collect();
    let response = post_chunked(server, url, chunks).await;
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
}

/// POST a body without a Content-Length that crosses `limit` with its very last byte (so the
/// client has written everything by the time the server answers): 413.
pub async fn assert_unsized_body_over_limit_refused(server: &Running, url: &str, limit: usize) {
    const CHUNK: usize = 64 * 1024;
    assert_eq!(
        limit % CHUNK,
        0,
        "the limit must be a whole number of chunks"
    );
    let mut chunks = vec![vec![1u8; CHUNK]; limit / CHUNK];
    chunks.push(vec![1]);
    let response = post_chunked(server, url, chunks).await;
    assert_eq!(response.status(), 413);
    // The unread rest of the body makes the connection unusable: the client must not reuse it.
    assert_eq!(response.headers()["connection"], "close");
}

/// GET a handler whose stream fails midway: the response must break, not end as if complete.
pub async fn assert_failed_stream_breaks_the_body(server: &Running, url: &str) {
    let response = server.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.bytes().await.is_err(),
        "a failed stream must not look like a complete body"
    );
}

async fn post_chunked(server: &Running, url: &str, chunks: Vec<Vec<u8>>) -> reqwest::Response {
    server
        .http
        .post(url)
        .body(chunked_body(chunks))
        .send()
        .await
        .unwrap()
}
