//! The isolate runs ES modules, exposes the Convex ABI, and behaves deterministically in
//! deterministic mode.

mod common;

use std::sync::Arc;

use common::*;
use nimbus_runtime::{ErrorCode, ExecutionMode, HostCall};
use serde_json::json;

#[test]
fn runs_an_exported_function_and_returns_its_value() {
    let value = run_ok(
        "export function run() { return { sum: 1 + 2, list: [1, 'a'] }; }",
        DETERMINISTIC,
    );
    assert_eq!(value, json!({ "sum": 3, "list": [1, "a"] }));
}

#[test]
fn awaits_async_functions_and_async_host_calls_in_order() {
    let source = r#"
        export async function run() {
            const a = Convex.asyncSyscall("slow", "{}");
            const b = Convex.asyncSyscall("echo", JSON.stringify({ n: 2 }));
            const sync = JSON.parse(Convex.syscall("echo", JSON.stringify({ n: 1 })));
            return [await a, JSON.parse(await b), sync];
        }
    "#;
    assert_eq!(
        run_ok(source, DETERMINISTIC),
        json!(["\"slow\"", { "n": 2 }, { "n": 1 }])
    );
}

#[test]
fn host_errors_reject_with_message_and_data() {
    let source = r#"
        export async function run() {
            try { await Convex.asyncSyscall("fail", "{}"); return "no error"; }
            catch (e) { return { message: e.message, data: e.data }; }
        }
    "#;
    assert_eq!(
        run_ok(source, DETERMINISTIC),
        json!({ "message": "host said no", "data": "{\"code\":42}" })
    );
}

#[test]
fn thrown_errors_carry_message_stack_and_data() {
    let source = r#"
        export function run() { const e = new Error("boom"); e.data = '{"x":1}'; throw e; }
    "#;
    let err = run_js(source, DETERMINISTIC).unwrap_err();
    assert_eq!(err.code, ErrorCode::JsException);
    assert_eq!(err.message, "Error: boom");
    assert_eq!(err.data.as_deref(), Some("{\"x\":1}"));
    assert!(err.stack.unwrap().contains("main.js"));
}

#[test]
fn deterministic_mode_freezes_time_and_seeds_randomness() {
    let source = r#"
        export function run() {
            const bytes = crypto.getRandomValues(new Uint8Array(4));
            return { now: Date.now(), date: new Date().getTime(), r: Math.random(),
                     bytes: [...bytes], uuid: crypto.randomUUID(), perf: performance.now() };
        }
    "#;
    let a = run_ok(source, DETERMINISTIC);
    let b = run_ok(source, DETERMINISTIC);
    assert_eq!(a, b, "same seed and clock must give the same result");
    assert_eq!(a["now"].as_f64(), Some(1_700_000_000_000.0));
    assert_eq!(a["date"].as_f64(), Some(1_700_000_000_000.0));
    let other_seed = run_ok(
        source,
        ExecutionMode::Deterministic {
            seed: 8,
            now_ms: 1.0,
        },
    );
    assert_ne!(a["r"], other_seed["r"]);
    assert!(a["uuid"].as_str().unwrap().chars().nth(14) == Some('4'));
}

#[test]
fn fetch_and_timers_throw_convex_text_in_deterministic_mode() {
    let source = r#"
        export async function run() {
            const out = [];
            try { await fetch("https://example.com"); } catch (e) { out.push(e.message); }
            try { setTimeout(() => {}, 1); } catch (e) { out.push(e.message); }
            return out;
        }
    "#;
    let value = run_ok(source, DETERMINISTIC);
    assert_eq!(
        value[0],
        json!(
            "Can't use fetch() in queries and mutations. Please consider using an action. See https://docs.convex.dev/functions/actions for more details."
        )
    );
    assert!(
        value[1]
            .as_str()
            .unwrap()
            .starts_with("Can't use setTimeout in queries and mutations.")
    );
}

#[test]
fn action_mode_has_timers_real_clock_and_fetch_through_the_bridge() {
    let source = r#"
        export async function run() {
            const start = Date.now();
            const order = [];
            await new Promise((resolve) => { setTimeout(() => { order.push("t2"); resolve(); }, 15); setTimeout(() => order.push("t1"), 5); });
            const cleared = setTimeout(() => order.push("never"), 1); clearTimeout(cleared);
            const response = await fetch("https://example.com/x?y=1", { method: "POST", body: "hi" });
            return { order, elapsed: Date.now() - start >= 10, status: response.status, ok: response.ok,
                     type: response.headers.get("Content-Type"), body: await response.text(),
                     realClock: Date.now() > 1.7e12 };
        }
    "#;
    let bridge = Arc::new(RecordingBridge::default());
    let outcome = run_js_with(
        source,
        ExecutionMode::Action,
        policy_all_grants(),
        bridge.clone(),
    )
    .unwrap();
    let value: serde_json::Value = serde_json::from_str(&outcome.result_json).unwrap();
    assert_eq!(value["order"], json!(["t1", "t2"]));
    assert_eq!(value["elapsed"], json!(true));
    assert_eq!(value["status"], json!(200));
    assert_eq!(value["type"], json!("text/plain"));
    assert_eq!(value["body"], json!("POST https://example.com/x?y=1"));
    assert_eq!(value["realClock"], json!(true));
    let calls = bridge.calls.lock();
    let HostCall::Fetch(req) = &calls[0] else {
        panic!("expected a fetch, got {calls:?}")
    };
    assert_eq!(req.body.as_deref(), Some(&b"hi"[..]));
}

#[test]
fn console_lines_are_captured_in_convex_form() {
    let source = r#"
        export function run() { console.log("hi", { a: 1, b: [1, 2] }, 3n); console.error(new Error("x").message); return null; }
    "#;
    let outcome = run_js(source, DETERMINISTIC).unwrap();
    let lines: Vec<String> = outcome.logs.iter().map(|l| l.to_convex_string()).collect();
    assert_eq!(
        lines,
        vec![
            "[LOG] 'hi' { a: 1, b: [ 1, 2 ] } 3n".to_owned(),
            "[ERROR] 'x'".to_owned()
        ]
    );
}

#[test]
fn log_lines_are_bounded() {
    let outcome = run_js(
        "export function run() { for (let i = 0; i < 1000; i++) console.log(i); }",
        DETERMINISTIC,
    )
    .unwrap();
    assert_eq!(outcome.logs.len(), nimbus_runtime::LOG_LINES_MAX + 1);
    assert!(outcome.logs.last().unwrap().messages[0].contains("Log overflow"));
}

#[test]
fn web_globals_work() {
    let source = r#"
        export async function run() {
            const u = new URL("a b?x=1&y=2#h", "https://user@example.com:8080/base/");
            u.searchParams.append("z", "3 4");
            const enc = new TextEncoder().encode("héllo");
            const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode("abc")));
            return {
                href: u.href, host: u.host, path: u.pathname, q: u.searchParams.get("y"), search: u.search,
                bytes: enc.length, text: new TextDecoder().decode(enc),
                b64: btoa("hello"), unb64: atob("aGVsbG8="),
                digest: [...digest.slice(0, 4)],
                canParse: URL.canParse("not a url"),
                env: process.env.GREETING, missing: process.env.NOPE === undefined,
            };
        }
    "#;
    let value = run_ok(source, DETERMINISTIC);
    assert_eq!(
        value["href"],
        json!("https://user@example.com:8080/base/a%20b?x=1&y=2&z=3+4#h")
    );
    assert_eq!(value["host"], json!("example.com:8080"));
    assert_eq!(value["path"], json!("/base/a%20b"));
    assert_eq!(value["q"], json!("2"));
    assert_eq!(value["bytes"], json!(6));
    assert_eq!(value["text"], json!("héllo"));
    assert_eq!(value["b64"], json!("aGVsbG8="));
    assert_eq!(value["unb64"], json!("hello"));
    assert_eq!(value["digest"], json!([0xba, 0x78, 0x16, 0xbf]));
    assert_eq!(value["canParse"], json!(false));
    assert_eq!(value["env"], json!("hello"));
    assert_eq!(value["missing"], json!(true));
}

#[test]
fn relative_imports_resolve_inside_the_bundle_and_bare_imports_are_refused() {
    let bundle = nimbus_runtime::RuntimeBundle::from_sources([
        (
            "main.js",
            "import { two } from './lib/two.js'; export function run() { return two(); }",
        ),
        (
            "lib/two.js",
            "import { one } from '../one.js'; export const two = () => one() + 1;",
        ),
        ("one.js", "export const one = () => 1;"),
        (
            "bad.js",
            "import React from 'react'; export function run() { return 1; }",
        ),
    ]);
    let policy = policy_all_grants();
    let bridge: Arc<dyn nimbus_runtime::HostBridge> = Arc::new(RecordingBridge::default());
    let mut isolate = nimbus_runtime::Isolate::new(
        nimbus_runtime::TenantId::new("t1"),
        &bundle,
        policy.limits(),
        nimbus_runtime::BytecodeCache::default(),
    )
    .unwrap();
    let blocker = nimbus_runtime::Blocker::own();
    let watchdog = nimbus_runtime::Watchdog::start();
    let req = request(
        &bundle,
        policy.clone(),
        bridge.clone(),
        "main.js",
        "run",
        DETERMINISTIC,
    );
    assert_eq!(
        isolate
            .invoke(&req, &blocker, &watchdog)
            .unwrap()
            .result_json,
        "2"
    );
    let req = request(&bundle, policy, bridge, "bad.js", "run", DETERMINISTIC);
    let err = isolate.invoke(&req, &blocker, &watchdog).unwrap_err();
    assert_eq!(err.code, ErrorCode::ModuleLoad);
    assert!(err.message.contains("'react'"), "{}", err.message);
}

#[test]
fn syntax_errors_name_the_module() {
    let err = run_js("export function run() { return 1 +; }", DETERMINISTIC).unwrap_err();
    assert_eq!(err.code, ErrorCode::ModuleLoad);
    assert!(err.message.contains("main.js"), "{}", err.message);
    assert!(err.message.contains("SyntaxError"), "{}", err.message);
}

#[test]
fn missing_export_is_entry_point_not_found() {
    let err = run_js("export const x = 1;", DETERMINISTIC).unwrap_err();
    assert_eq!(err.code, ErrorCode::EntryPointNotFound);
    assert!(err.message.contains("'run'"));
}

#[test]
fn a_promise_that_cannot_settle_is_reported() {
    let err = run_js(
        "export function run() { return new Promise(() => {}); }",
        DETERMINISTIC,
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::NeverResolves);
}

#[test]
fn workers_style_fetch_apps_answer_requests() {
    let source = r#"
        let served = 0;
        export default {
            async fetch(request, env, ctx) {
                served += 1;
                let later = false;
                ctx.waitUntil(Promise.resolve().then(() => { later = true; }));
                const body = await request.text();
                return new Response(JSON.stringify({ method: request.method, url: request.url, body, greeting: env.GREETING, served }), {
                    status: 201,
                    headers: { "x-app": "yes" },
                });
            },
        };
    "#;
    let bundle = nimbus_runtime::RuntimeBundle::from_sources([("index.js", source)]);
    let policy = policy_all_grants();
    let mut req = request(
        &bundle,
        policy.clone(),
        Arc::new(RecordingBridge::default()),
        "index.js",
        "",
        ExecutionMode::Action,
    );
    req.entry = nimbus_runtime::EntryPoint::Fetch {
        module: "index.js".into(),
        request_json: json!({ "url": "http://app.localhost/x?y=1", "method": "POST", "headers": [["content-type", "text/plain"]], "bodyBase64": "aGk=" }).to_string(),
        env_json: json!({ "GREETING": "hello" }).to_string(),
    };
    let mut isolate = nimbus_runtime::Isolate::new(
        req.tenant.clone(),
        &bundle,
        policy.limits(),
        nimbus_runtime::BytecodeCache::default(),
    )
    .unwrap();
    let blocker = nimbus_runtime::Blocker::own();
    let watchdog = nimbus_runtime::Watchdog::start();
    let first: serde_json::Value = serde_json::from_str(
        &isolate
            .invoke(&req, &blocker, &watchdog)
            .unwrap()
            .result_json,
    )
    .unwrap();
    assert_eq!(first["status"], 201);
    assert!(
        first["headers"]
            .as_array()
            .unwrap()
            .contains(&json!(["x-app", "yes"]))
    );
    let body = String::from_utf8(
        base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            first["bodyBase64"].as_str().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        json!({ "method": "POST", "url": "http://app.localhost/x?y=1", "body": "hi", "greeting": "hello", "served": 1 })
    );
    let second: serde_json::Value = serde_json::from_str(
        &isolate
            .invoke(&req, &blocker, &watchdog)
            .unwrap()
            .result_json,
    )
    .unwrap();
    let body = String::from_utf8(
        base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            second["bodyBase64"].as_str().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(
        body.contains("\"served\":2"),
        "module state persists in a warm isolate: {body}"
    );
}

#[test]
fn readable_streams_carry_bodies() {
    let source = r#"
        export async function run() {
            const out = {};
            // A buffered body is a stream too, and reading it consumes it.
            const buffered = new Response("hello");
            out.isStream = buffered.body instanceof ReadableStream;
            const reader = buffered.body.getReader();
            out.locked = buffered.body.locked;
            const first = await reader.read();
            out.first = new TextDecoder().decode(first.value);
            out.end = (await reader.read()).done;
            out.used = buffered.bodyUsed;
            // A pulled stream as a body, read back as text.
            let n = 0;
            const counted = new ReadableStream({
                pull(controller) {
                    if (n < 3) controller.enqueue(`part${n++};`);
                    else controller.close();
                },
            });
            out.text = await new Response(counted).text();
            // Async iteration and ReadableStream.from.
            const seen = [];
            for await (const chunk of ReadableStream.from(["a", "b", "c"])) seen.push(chunk);
            out.seen = seen.join("");
            // Errors reach the reader; a second reader is refused while one holds the lock.
            const failing = new ReadableStream({ pull() { throw new Error("source failed"); } });
            try { await failing.getReader().read(); } catch (e) { out.error = e.message; }
            try { failing.getReader(); } catch (e) { out.lockError = e instanceof TypeError; }
            // Unread chunks are bounded.
            try {
                new ReadableStream({ start(c) { for (let i = 0; i < 5000; i++) c.enqueue("x"); } });
            } catch (e) { out.bounded = e.message; }
            // A streamed body clones through a tee: both copies read every chunk, in any order.
            const original = new Response(ReadableStream.from(["x", "y", "z"]), { status: 201 });
            const copy = original.clone();
            out.cloneStatus = copy.status;
            out.cloneText = await copy.text();
            out.originalText = await original.text();
            const request = new Request("https://example.com/", { method: "POST", body: ReadableStream.from(["r1", "r2"]) });
            const requestCopy = request.clone();
            out.requestTexts = [await request.text(), await requestCopy.text()];
            // A body already read cannot be cloned.
            try { original.clone(); } catch (e) { out.cloneUsed = e instanceof TypeError; }
            // A branch left unread falls behind only so far, then errors; the other reads on.
            let k = 0;
            const long = new ReadableStream({ pull(c) { if (k < 1100) c.enqueue(`c${k++}`); else c.close(); } });
            const [slow, fast] = long.tee();
            let fastChunks = 0;
            for await (const _ of fast) fastChunks++;
            out.fastChunks = fastChunks;
            try { await new Response(slow).text(); } catch (e) { out.slowError = e.message; }
            // With one branch errored, cancelling the other cancels the source.
            let sourceCancelled = false;
            let m = 0;
            const endless = new ReadableStream({
                pull(c) { c.enqueue(`e${m++}`); },
                cancel() { sourceCancelled = true; },
            });
            const [lagging, reading] = endless.tee();
            const readingReader = reading.getReader();
            for (let i = 0; i < 1100; i++) await readingReader.read();
            await readingReader.cancel("enough");
            out.sourceCancelled = sourceCancelled;
            out.laggingErrored = await lagging.getReader().read().then(() => false, () => true);
            return out;
        }
    "#;
    let value = run_ok(source, ExecutionMode::Action);
    assert_eq!(value["isStream"], true);
    assert_eq!(value["locked"], true);
    assert_eq!(value["first"], "hello");
    assert_eq!(value["end"], true);
    assert_eq!(value["used"], true);
    assert_eq!(value["text"], "part0;part1;part2;");
    assert_eq!(value["seen"], "abc");
    assert_eq!(value["error"], "source failed");
    assert_eq!(value["lockError"], true);
    assert_eq!(value["cloneStatus"], 201);
    assert_eq!(value["cloneText"], "xyz");
    assert_eq!(value["originalText"], "xyz");
    assert_eq!(value["requestTexts"], serde_json::json!(["r1r2", "r1r2"]));
    assert_eq!(value["cloneUsed"], true);
    assert_eq!(value["fastChunks"], 1100);
    assert_eq!(value["sourceCancelled"], true);
    assert_eq!(value["laggingErrored"], true);
    assert!(
        value["slowError"]
            .as_str()
            .unwrap()
            .contains("fell more than 1024"),
        "{value}"
    );
    assert!(
        value["bounded"].as_str().unwrap().contains("at most 1024"),
        "{value}"
    );
}

#[test]
fn headers_iterate_sorted_with_each_cookie_apart() {
    let source = r#"
        export async function run() {
            const h = new Headers([["X-B", "2"], ["set-cookie", "a=1"], ["x-a", "1"], ["Set-Cookie", "b=2"], ["x-a", "3"]]);
            return { pairs: [...h], cookie: h.get("set-cookie"), cookies: h.getSetCookie(), xa: h.get("X-A") };
        }
    "#;
    let value = run_ok(source, DETERMINISTIC);
    assert_eq!(
        value["pairs"],
        json!([
            ["set-cookie", "a=1"],
            ["set-cookie", "b=2"],
            ["x-a", "1, 3"],
            ["x-b", "2"]
        ])
    );
    assert_eq!(value["cookie"], "a=1, b=2");
    assert_eq!(value["cookies"], json!(["a=1", "b=2"]));
    assert_eq!(value["xa"], "1, 3");
}
