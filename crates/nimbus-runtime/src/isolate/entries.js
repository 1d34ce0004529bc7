// Request entries: HTTP actions, Workers-style fetch requests and their WebSocket connections.
// Loaded by the prelude on first use (an isolate that only runs queries, mutations and actions
// never pays for it); receives the host natives through `globalThis.__nimbus_entries_env`.

const { natives, toBytes } = globalThis.__nimbus_entries_env;
delete globalThis.__nimbus_entries_env;

// HTTP actions: the router turns the host's request description into a `Request` and the
// handler's `Response` back into a description. Small bodies travel inline (base64); a large or
// unsized request body is pulled from the host as the handler reads it, and a `ReadableStream`
// response body is written to the host as the handler produces it, after its head was sent
// (only inside `httpActionEntry`, which waits for the body before the invocation ends).
let httpResponsePump = null;
let httpStreaming = false;
export function requestFromConvexJson({ convexJson }) {
  return new Request(convexJson.url, { method: convexJson.method, headers: convexJson.headers, body: requestBody(convexJson) });
}
export function convexJsonFromResponse({ response }) {
  if (!(response instanceof Response)) {
    throw new Error("HTTP actions must return a Response");
  }
  const head = { status: response.status, statusText: response.statusText, headers: response.headers._pairs() };
  if (httpStreaming && httpResponsePump === null) {
    const { bytes, stream } = response._hostBody();
    if (stream) {
      natives.syscall("fetch/respond", JSON.stringify({ ...head, streamed: true }));
      httpResponsePump = pumpResponseBody(stream);
      return { ...head, bodyBase64: null, streamed: true };
    }
    return { ...head, bodyBase64: bytes == null ? null : natives.bytesToBase64(bytes) };
  }
  const body = response._syncBytes();
  return { ...head, bodyBase64: body === null ? null : natives.bytesToBase64(body) };
}

// A request body as the handler sees it: inline bytes, a stream pulled from the host, or none.
function requestBody(described) {
  if (described.streamed) {
    return new ReadableStream({
      async pull(controller) {
        const chunk = JSON.parse(await natives.asyncSyscall("fetch/read", "{}"));
        if (chunk === null) controller.close();
        else controller.enqueue(new Uint8Array(natives.base64ToBytes(chunk)));
      },
    });
  }
  return described.bodyBase64 == null ? null : new Uint8Array(natives.base64ToBytes(described.bodyBase64));
}

// Writes a streamed response body to the host chunk by chunk; each write waits for room in the
// host's bounded queue, so a slow client slows the handler instead of filling memory.
async function pumpResponseBody(stream) {
  const reader = stream.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const chunk = typeof value === "string" ? new Uint8Array(natives.utf8Encode(value)) : toBytes(value);
    if (chunk.length > 0) await natives.asyncSyscall("fetch/write", JSON.stringify(natives.bytesToBase64(chunk)));
  }
  natives.syscall("fetch/end", "{}");
}

// Runs one HTTP action through the app's own router (`runRequest`, as Convex runs it) and, when
// the response body is a stream, writes it out before the invocation ends.
export async function httpActionEntry(router, requestJson, route) {
  if (!router || typeof router.runRequest !== "function") {
    throw new TypeError("http.js must `export default` an HttpRouter (httpRouter() from convex/server)");
  }
  httpResponsePump = null;
  httpStreaming = true;
  try {
    const result = await router.runRequest(requestJson, route);
    if (httpResponsePump !== null) await httpResponsePump;
    return result;
  } finally {
    httpStreaming = false;
    httpResponsePump = null;
  }
}

// ---- Workers-style fetch apps --------------------------------------------------------------

// Calls the app's `fetch(request, env, ctx)` and describes the Response for the host. The
// `NIMBUS` binding reaches the tenant's Convex functions through the host (grant: functions).
export async function fetchEntry(app, requestJson, envJson) {
  if (!app || typeof app.fetch !== "function") {
    throw new TypeError("the app's main module must `export default { fetch(request, env, ctx) { … } }`");
  }
  const described = JSON.parse(requestJson);
  const body = requestBody(described);
  const request = new Request(described.url, { method: described.method, headers: described.headers, body });
  const call = (kind) => async (name, args = {}) =>
    JSON.parse(await natives.asyncSyscall(`nimbus/${kind}`, JSON.stringify({ name, args })));
  const env = { ...JSON.parse(envJson), NIMBUS: { query: call("query"), mutation: call("mutation"), action: call("action") } };
  const pending = [];
  const ctx = {
    waitUntil(promise) {
      pending.push(Promise.resolve(promise));
    },
    passThroughOnException() {},
  };
  const response = await app.fetch(request, env, ctx);
  if (!(response instanceof Response)) {
    throw new TypeError("fetch() must return a Response");
  }
  const { bytes, stream } = response._hostBody();
  const head = { status: response.status, statusText: response.statusText, headers: response.headers._pairs() };
  const describedResponse = JSON.stringify({ ...head, bodyBase64: bytes == null ? null : natives.bytesToBase64(bytes) });
  if (stream) {
    // Send the head now and the body as the app produces it; each write waits for room in the
    // host's bounded queue, so a slow client slows the app instead of filling memory.
    natives.syscall("fetch/respond", JSON.stringify({ ...head, streamed: true }));
    await pumpResponseBody(stream);
  } else if (pending.length > 0) {
    try {
      natives.syscall("fetch/respond", describedResponse);
    } catch {
      // This host cannot answer early: it sends the response when the invocation ends.
    }
  }
  if (pending.length > 0) {
    // The client has its answer; `ctx.waitUntil` work goes on for at most the grace period.
    const grace = Number(described.waitUntilGraceMs) || 0;
    await Promise.race([Promise.allSettled(pending), new Promise((resolve) => setTimeout(resolve, grace))]);
  }
  return describedResponse;
}

// Runs one WebSocket connection of a fetch app: frames arrive through the host (`ws/recv`
// resolves with {type: "text"|"binary"|"close", ...}), sends leave through it. The app either
// exports `websocket` handlers, or answers the upgrade request from `fetch` with the client end
// of a `WebSocketPair` (Workers style) and listens on the server end.
export async function websocketEntry(app, requestJson, envJson) {
  const env = JSON.parse(envJson);
  const handler = app && app.websocket;
  if (handler && typeof handler.message === "function") {
    return runSocketHandlers(handler, env);
  }
  if (!app || typeof app.fetch !== "function") {
    throw new TypeError(
      "this app does not accept WebSockets: export `websocket: { message(ws, data) { … } }`, or answer the upgrade in fetch() with a WebSocketPair",
    );
  }
  const described = JSON.parse(requestJson);
  const request = new Request(described.url, { method: described.method, headers: described.headers });
  const pending = [];
  const ctx = { waitUntil: (promise) => pending.push(Promise.resolve(promise)), passThroughOnException() {} };
  const response = await app.fetch(request, env, ctx);
  const client = response instanceof Response ? response.webSocket : null;
  const server = client && client._peer;
  if (!server) {
    throw new TypeError(
      "fetch() answered a WebSocket upgrade without one: return new Response(null, { status: 101, webSocket: client }) from a WebSocketPair",
    );
  }
  if (!server._accepted) {
    throw new TypeError("call server.accept() on the WebSocketPair's server end before returning the client end");
  }
  for (;;) {
    const event = JSON.parse(await natives.asyncSyscall("ws/recv", "{}"));
    if (event.type === "close") {
      await server._dispatch("close", { code: event.code, reason: event.reason, wasClean: true });
      await Promise.allSettled(pending);
      return JSON.stringify({ closed: true });
    }
    const data = event.type === "text" ? event.text : new Uint8Array(natives.base64ToBytes(event.bytesBase64)).buffer;
    await server._dispatch("message", { data });
  }
}

async function runSocketHandlers(handler, env) {
  const ws = {
    send(data) {
      const frame = typeof data === "string" ? { text: data } : { bytesBase64: natives.bytesToBase64(toBytes(data)) };
      natives.syscall("ws/send", JSON.stringify(frame));
    },
    close(code = 1000, reason = "") {
      natives.syscall("ws/close", JSON.stringify({ code, reason: String(reason) }));
    },
  };
  if (typeof handler.open === "function") await handler.open(ws, env);
  for (;;) {
    const event = JSON.parse(await natives.asyncSyscall("ws/recv", "{}"));
    if (event.type === "close") {
      if (typeof handler.close === "function") await handler.close(ws, event.code, event.reason, env);
      return JSON.stringify({ closed: true });
    }
    const data = event.type === "text" ? event.text : new Uint8Array(natives.base64ToBytes(event.bytesBase64)).buffer;
    await handler.message(ws, data, env);
  }
}

