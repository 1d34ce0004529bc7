//! Workers-style fetch apps through the real server: routing by path and Host, isolation of
//! globals between apps, warm module state, env, calling the tenant's Convex functions,
//! redeploys, and limits answered with clear errors while other apps keep serving.

mod support;

use std::time::Duration;

use serde_json::{Value as Json, json};
use support::{Running, chunked_body, start_with, streaming};

const COUNTER_APP: &str = r#"
let served = 0;
export default {
  async fetch(request, env) {
    served += 1;
    globalThis.mark = env.NAME;
    const url = new URL(request.url);
    if (url.pathname === "/convex") {
      await env.NIMBUS.mutation("messages:send", { body: "from an app", author: env.NAME });
      const list = await env.NIMBUS.query("messages:list", {});
      return Response.json({ count: list.length });
    }
    if (url.pathname === "/echo") {
      return new Response(await request.text(), { headers: { "content-type": "text/plain" } });
    }
    return Response.json({ name: env.NAME, served, path: url.pathname, q: url.searchParams.get("q"), secret: env.SECRET ?? null, seenMark: globalThis.mark });
  },
};
"#;

const SPY_APP: &str = r#"
export default {
  fetch() {
    return Response.json({ markVisible: typeof globalThis.mark !== "undefined" });
  },
};
"#;

const HOSTILE_APP: &str = r#"
export default {
  async fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/loop") { while (true) {} }
    if (path === "/memory") { const a = []; while (true) a.push(new Array(1000).fill(a.length)); }
    if (path === "/throw") { throw new Error("app exploded"); }
    return new Response("fine");
  },
};
"#;

async fn deploy(
    server: &Running,
    admin_key: &str,
    tenant: &str,
    app: &str,
    source: &str,
    extra: Json,
) -> (u16, Json) {
    let mut body =
        json!({ "main": "index.js", "modules": [{ "path": "index.js", "source": source }] });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let response = server
        .http
        .put(format!("{}/t/{tenant}/api/nimbus/apps/{app}", server.base))
        .header("authorization", format!("Convex {admin_key}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Json::Null))
}

async fn get(server: &Running, path: &str, host: Option<&str>) -> (u16, String) {
    let mut request = server.http.get(format!("{}{path}", server.base));
    if let Some(host) = host {
        request = request.header("host", host);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_apps_route_isolate_and_reach_the_tenants_functions() {
    let server = start_with(None, |c| c.fetch_app_timeout = Duration::from_millis(500)).await;
    let key = server.create_tenant("shop").await;
    let (status, body) = deploy(&server, &key, "shop", "counter", COUNTER_APP, json!({ "env": { "NAME": "counter" }, "secrets": { "SECRET": "hidden" }, "hostnames": ["counter.example.test"] })).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["url"]
            .as_str()
            .unwrap()
            .ends_with("/t/shop/apps/counter")
    );
    let (status, _) = deploy(&server, &key, "shop", "spy", SPY_APP, json!({})).await;
    assert_eq!(status, 200);

    // By path (the app sees the path after its prefix) and by Host.
    let (status, text) = get(&server, "/t/shop/apps/counter/hello?q=1", None).await;
    assert_eq!(status, 200, "{text}");
    let first: Json = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (
            first["name"].as_str(),
            first["path"].as_str(),
            first["q"].as_str()
        ),
        (Some("counter"), Some("/hello"), Some("1"))
    );
    assert_eq!(
        first["secret"],
        Json::Null,
        "secrets stay hidden without the secrets grant"
    );
    let (_, text) = get(&server, "/anything", Some("counter.example.test")).await;
    let second: Json = serde_json::from_str(&text).unwrap();
    assert_eq!(second["path"], "/anything");
    // Every app is also reachable as `<app>.<tenant>.<domain>` without configuration.
    let (status, text) = get(&server, "/by-name", Some("counter.shop.localhost:3210")).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        serde_json::from_str::<Json>(&text).unwrap()["path"],
        "/by-name"
    );
    assert_eq!(get(&server, "/", Some("nope.shop.localhost")).await.0, 404);
    // Module state persists across the requests one warm isolate serves (an app may have a few
    // isolates, one per executor worker at most).
    let mut most = 0.0f64;
    for _ in 0..8 {
        let (_, text) = get(&server, "/again", Some("counter.example.test")).await;
        most = most.max(
            serde_json::from_str::<Json>(&text).unwrap()["served"]
                .as_f64()
                .unwrap(),
        );
    }
    assert!(
        most >= 4.0,
        "module state persists across requests of one app (most served {most})"
    );
    // Another app never sees the first one's globals.
    let (_, text) = get(&server, "/t/shop/apps/spy", None).await;
    assert_eq!(
        serde_json::from_str::<Json>(&text).unwrap()["markVisible"],
        false
    );
    // Request bodies in, response bodies out.
    let echoed = server
        .http
        .post(format!("{}/t/shop/apps/counter/echo", server.base))
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.text().await.unwrap(), "payload");
    // env.NIMBUS reaches the tenant's Convex functions through the single mutation path.
    let (status, text) = get(&server, "/t/shop/apps/counter/convex", None).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        serde_json::from_str::<Json>(&text).unwrap()["count"].as_f64(),
        Some(1.0)
    );
    let (_, body) = server
        .post(
            "/t/shop/api/query",
            json!({ "path": "messages:list", "args": {} }),
            None,
        )
        .await;
    assert_eq!(body["value"][0]["author"], "counter");
    // A redeploy swaps the version atomically.
    deploy(
        &server,
        &key,
        "shop",
        "spy",
        "export default { fetch() { return new Response('v2'); } };",
        json!({}),
    )
    .await;
    assert_eq!(get(&server, "/t/shop/apps/spy", None).await.1, "v2");
    // Deploying needs the admin key, and hostnames belong to one app.
    let (status, _) = deploy(&server, "shop|wrong", "shop", "x", SPY_APP, json!({})).await;
    assert_eq!(status, 401);
    let (status, _) = deploy(
        &server,
        &key,
        "shop",
        "thief",
        SPY_APP,
        json!({ "hostnames": ["counter.example.test"] }),
    )
    .await;
    assert_eq!(status, 409);
    let (status, body) = deploy(
        &server,
        &key,
        "shop",
        "broken",
        "export const nope = 1;",
        json!({}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("export default"),
        "{body}"
    );
    assert_eq!(get(&server, "/t/shop/apps/missing", None).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_apps_get_clear_errors_while_others_keep_serving() {
    let server = start_with(None, |c| c.fetch_app_timeout = Duration::from_millis(500)).await;
    let key = server.create_tenant("lab").await;
    deploy(&server, &key, "lab", "hostile", HOSTILE_APP, json!({})).await;
    deploy(&server, &key, "lab", "calm", SPY_APP, json!({})).await;
    let (status, text) = get(&server, "/t/lab/apps/hostile/loop", None).await;
    assert_eq!(status, 504, "{text}");
    assert!(text.contains("Timeout"), "{text}");
    let (status, text) = get(&server, "/t/lab/apps/hostile/memory", None).await;
    assert_eq!(status, 500, "{text}");
    assert!(text.contains("OutOfMemory"), "{text}");
    let (status, text) = get(&server, "/t/lab/apps/hostile/throw", None).await;
    assert_eq!(status, 500);
    let error: Json = serde_json::from_str(&text).unwrap();
    assert!(error["error"].as_str().unwrap().contains("app exploded"));
    assert!(error["requestId"].is_string());
    // A body declared too large is refused before a byte of it is read (over a raw socket: an
    // HTTP client still writing the body would see the early answer as a broken pipe).
    let mut socket = tokio::net::TcpStream::connect(server.base.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "POST /t/lab/apps/calm HTTP/1.1\r\nhost: localhost\r\ncontent-length: {}\r\n\r\n",
        nimbus_server::fetch_apps::FETCH_APP_BODY_BYTES_MAX + 1
    );
    tokio::io::AsyncWriteExt::write_all(&mut socket, head.as_bytes())
        .await
        .unwrap();
    let mut answer = vec![0u8; 512];
    let n = tokio::io::AsyncReadExt::read(&mut socket, &mut answer)
        .await
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let (status, _) = get(&server, "/t/lab/apps/calm", None).await;
    assert_eq!(status, 200, "the calm app keeps serving");
    assert_eq!(
        get(&server, "/t/lab/apps/hostile/ok", None).await,
        (200, "fine".to_owned()),
        "and the hostile one recovers"
    );
}

const SOCKET_APP: &str = r#"
let opened = 0;
export default {
  fetch() { return new Response("this app speaks WebSocket"); },
  websocket: {
    open(ws) { opened += 1; ws.send(JSON.stringify({ opened })); },
    message(ws, data) {
      if (data === "boom") { while (true) {} }
      ws.send("echo:" + data);
    },
  },
};
"#;

async fn connect(
    server: &Running,
    path: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let url = format!("{}{path}", server.base.replace("http://", "ws://"));
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

async fn next_message(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> tokio_tungstenite::tungstenite::Message {
    use futures::StreamExt;
    tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .expect("a message in time")
        .expect("the socket is open")
        .expect("a valid frame")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_apps_echo_with_fresh_isolates_and_enforce_their_limits() {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let server = start_with(None, |c| {
        c.fetch_app_timeout = Duration::from_millis(300);
        c.app_ws_idle_timeout = Duration::from_millis(400);
        c.app_ws_message_bytes_max = 1024;
    })
    .await;
    let key = server.create_tenant("sockets").await;
    let (status, body) = deploy(&server, &key, "sockets", "echo", SOCKET_APP, json!({})).await;
    assert_eq!(status, 200, "{body}");

    // Many concurrent connections, each with its own isolate (state never carries over).
    let mut sockets = Vec::new();
    for _ in 0..16 {
        sockets.push(connect(&server, "/t/sockets/apps/echo").await);
    }
    for (i, socket) in sockets.iter_mut().enumerate() {
        assert_eq!(
            next_message(socket).await,
            Message::Text("{\"opened\":1}".into()),
            "a fresh isolate per connection"
        );
        socket
            .send(Message::Text(format!("hi-{i}").into()))
            .await
            .unwrap();
    }
    for (i, socket) in sockets.iter_mut().enumerate() {
        assert_eq!(
            next_message(socket).await,
            Message::Text(format!("echo:hi-{i}").into())
        );
        socket.close(None).await.unwrap();
    }
    // Reconnecting gets a recycled (new) isolate again.
    let mut again = connect(&server, "/t/sockets/apps/echo").await;
    assert_eq!(
        next_message(&mut again).await,
        Message::Text("{\"opened\":1}".into())
    );

    // Idle connections are closed with 1001.
    let Message::Close(Some(frame)) = next_message(&mut again).await else {
        panic!("expected a close frame")
    };
    assert_eq!(u16::from(frame.code), 1001);

    // Oversized messages are refused with 1009.
    let mut big = connect(&server, "/t/sockets/apps/echo").await;
    next_message(&mut big).await;
    big.send(Message::Text("x".repeat(2048).into()))
        .await
        .unwrap();
    let Message::Close(Some(frame)) = next_message(&mut big).await else {
        panic!("expected a close frame")
    };
    assert_eq!(u16::from(frame.code), 1009);

    // A handler that overruns the per-frame time limit is stopped: 1011 with the reason.
    let mut slow = connect(&server, "/t/sockets/apps/echo").await;
    next_message(&mut slow).await;
    slow.send(Message::Text("boom".into())).await.unwrap();
    let Message::Close(Some(frame)) = next_message(&mut slow).await else {
        panic!("expected a close frame")
    };
    assert_eq!(u16::from(frame.code), 1011);
    assert!(frame.reason.contains("Timeout"), "{}", frame.reason);
    // Plain requests to the same app still work.
    assert_eq!(
        get(&server, "/t/sockets/apps/echo", None).await,
        (200, "this app speaks WebSocket".to_owned())
    );
}

const WAIT_UNTIL_APP: &str = r#"
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export default {
  async fetch(request, env, ctx) {
    const path = new URL(request.url).pathname;
    if (path === "/later") {
      ctx.waitUntil(sleep(1000).then(() => env.NIMBUS.mutation("messages:send", { body: "later", author: "waitUntil" })));
      return new Response("accepted", { status: 202 });
    }
    if (path === "/too-late") {
      ctx.waitUntil(sleep(3000).then(() => env.NIMBUS.mutation("messages:send", { body: "too late", author: "waitUntil" })));
      return new Response("accepted", { status: 202 });
    }
    const list = await env.NIMBUS.query("messages:list", {});
    return Response.json(list.map((m) => m.body));
  },
};
"#;

async fn bodies(server: &Running) -> Vec<String> {
    let (status, text) = get(server, "/t/bg/apps/worker/list", None).await;
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_until_work_runs_after_the_response_within_its_grace() {
    let server = start_with(None, |c| c.wait_until_grace = Duration::from_millis(2000)).await;
    let key = server.create_tenant("bg").await;
    let (status, body) = deploy(&server, &key, "bg", "worker", WAIT_UNTIL_APP, json!({})).await;
    assert_eq!(status, 200, "{body}");

    // The client has its answer while the waitUntil work is still sleeping.
    let (status, text) = get(&server, "/t/bg/apps/worker/later", None).await;
    assert_eq!((status, text.as_str()), (202, "accepted"));
    assert!(
        bodies(&server).await.is_empty(),
        "the response did not wait for ctx.waitUntil"
    );
    // ... and the work finishes afterwards.
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = bodies(&server).await;
        if !seen.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen, vec!["later".to_owned()]);

    // Work that outlives the grace period is abandoned: its write never happens.
    let (status, _) = get(&server, "/t/bg/apps/worker/too-late", None).await;
    assert_eq!(status, 202);
    tokio::time::sleep(Duration::from_millis(4000)).await;
    assert_eq!(bodies(&server).await, vec!["later".to_owned()]);
}

const STREAMING_APP: &str = r#"
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export default {
  async fetch(request, env) {
    const path = new URL(request.url).pathname;
    if (path === "/handshake") {
      // Sends a first chunk, then waits until the client, having read it, writes "go".
      let step = 0;
      return new Response(new ReadableStream({
        async pull(controller) {
          if (step === 0) {
            step = 1;
            controller.enqueue("first\n");
            return;
          }
          for (;;) {
            const list = await env.NIMBUS.query("messages:list", {});
            if (list.some((m) => m.body === "go")) break;
            await sleep(50);
          }
          controller.enqueue("after go\n");
          controller.close();
        },
      }), { headers: { "content-type": "text/plain" } });
    }
    if (path === "/upper") {
      // Reads the request as a stream and answers with a stream of the same bytes, upper-cased.
      const reader = request.body.getReader();
      let chunks = 0;
      return new Response(new ReadableStream({
        async pull(controller) {
          const { value, done } = await reader.read();
          if (done) {
            controller.enqueue(`\n${chunks}`);
            controller.close();
            return;
          }
          chunks += 1;
          controller.enqueue(value.map((b) => (b >= 97 && b <= 122 ? b - 32 : b)));
        },
      }));
    }
    if (path === "/count") {
      let bytes = 0;
      for await (const chunk of request.body) bytes += chunk.length;
      return Response.json({ bytes });
    }
    if (path === "/broken") {
      let sent = false;
      return new Response(new ReadableStream({
        pull(controller) {
          if (!sent) { sent = true; controller.enqueue("partial"); return; }
          throw new Error("stream exploded");
        },
      }));
    }
    return Response.json({ text: await request.text() });
  },
};
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_stream_both_ways_within_their_limits() {
    let server = start_with(None, |c| c.fetch_app_timeout = Duration::from_secs(20)).await;
    let key = server.create_tenant("st").await;
    let (status, body) = deploy(&server, &key, "st", "s", STREAMING_APP, json!({})).await;
    assert_eq!(status, 200, "{body}");
    let base = format!("{}/t/st/apps/s", server.base);

    // Response streaming, and a chunked 2 MiB request read as a stream and answered as one.
    streaming::assert_response_streams(&server, &format!("{base}/handshake"), "st").await;
    let chunks: Vec<Vec<u8>> = (0..32)
        .map(|i| vec![b'a' + (i % 26) as u8; 64 * 1024])
        .collect();
    streaming::assert_streamed_echo(&server, &format!("{base}/upper"), chunks).await;

    // `for await` over a streamed body, and small bodies still arrive in one piece.
    let response = server
        .http
        .post(format!("{base}/count"))
        .body(chunked_body(vec![vec![7; 100_000], vec![7; 23]]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.json::<Json>().await.unwrap()["bytes"], 100_023);
    let response = server
        .http
        .post(format!("{base}/small"))
        .body("tiny")
        .send()
        .await
        .unwrap();
    assert_eq!(response.json::<Json>().await.unwrap()["text"], "tiny");

    // A streamed request over the limit is refused with 413, without a Content-Length too.
    streaming::assert_unsized_body_over_limit_refused(
        &server,
        &format!("{base}/count"),
        nimbus_server::fetch_apps::FETCH_APP_BODY_BYTES_MAX,
    )
    .await;
    streaming::assert_failed_stream_breaks_the_body(&server, &format!("{base}/broken")).await;
    // And the app keeps serving.
    let response = server
        .http
        .post(format!("{base}/small"))
        .body("still here")
        .send()
        .await
        .unwrap();
    assert_eq!(response.json::<Json>().await.unwrap()["text"], "still here");
}

const PAIR_APP: &str = r#"
let connections = 0;
export default {
  fetch(request) {
    const path = new URL(request.url).pathname;
    if (request.headers.get("upgrade") !== "websocket") return new Response("plain http");
    if (path === "/refuse") return new Response("no sockets here");
    connections += 1;
    const [client, server] = Object.values(new WebSocketPair());
    server.accept();
    let count = 0;
    server.addEventListener("message", (event) => {
      count += 1;
      server.send(`${connections}/${count}:${event.data}`);
      if (event.data === "bye") server.close(4000, "see you");
    });
    return new Response(null, { status: 101, webSocket: client });
  },
};
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_style_websocket_pairs_accept_connections() {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let server = start_with(None, |_| {}).await;
    let key = server.create_tenant("pairs").await;
    let (status, body) = deploy(&server, &key, "pairs", "chat", PAIR_APP, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        get(&server, "/t/pairs/apps/chat/", None).await.1,
        "plain http"
    );

    // Two connections at once, each in its own isolate (the module counter starts over).
    let mut first = connect(&server, "/t/pairs/apps/chat/room").await;
    let mut second = connect(&server, "/t/pairs/apps/chat/room").await;
    for (socket, word) in [(&mut first, "a"), (&mut second, "b")] {
        socket.send(Message::Text(word.into())).await.unwrap();
        assert_eq!(
            next_message(socket).await,
            Message::Text(format!("1/1:{word}").into())
        );
        socket.send(Message::Text("again".into())).await.unwrap();
        assert_eq!(
            next_message(socket).await,
            Message::Text("1/2:again".into())
        );
    }
    // The app closes with its own code and reason.
    first.send(Message::Text("bye".into())).await.unwrap();
    assert_eq!(
        next_message(&mut first).await,
        Message::Text("1/3:bye".into())
    );
    let Message::Close(Some(frame)) = next_message(&mut first).await else {
        panic!("expected a close frame");
    };
    assert_eq!(
        (u16::from(frame.code), frame.reason.as_str()),
        (4000, "see you")
    );
    second.close(None).await.unwrap();

    // An upgrade that fetch() answers without a WebSocketPair is closed with a clear reason.
    let mut refused = connect(&server, "/t/pairs/apps/chat/refuse").await;
    let Message::Close(Some(frame)) = next_message(&mut refused).await else {
        panic!("expected a close frame");
    };
    assert_eq!(u16::from(frame.code), 1011);
    assert!(frame.reason.contains("WebSocket"), "{}", frame.reason);
}
