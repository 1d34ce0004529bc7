// The isolate's core JS glue, evaluated once per context (from cached bytecode).
//
// It receives the host natives on `globalThis.__nimbus_natives`, captures them in this module's
// scope, deletes the global, and installs the web-facing globals built on them: the Convex ABI
// object, console, deterministic Date / Math.random / crypto, timers and process.env; the web
// classes (URL, TextEncoder, Headers, Request, Response, fetch, ...) come from web.js on first use. Everything that touches
// the outside world goes through `natives`, which the Rust side routes into one HostCall channel.

const natives = globalThis.__nimbus_natives;
delete globalThis.__nimbus_natives;

const NOT_IN_QUERIES = (what) =>
  `Can't use ${what} in queries and mutations. Please consider using an action. ` +
  "See https://docs.convex.dev/functions/actions for more details.";

function defineGlobal(name, value) {
  Object.defineProperty(globalThis, name, {
    value,
    writable: true,
    configurable: true,
    enumerable: false,
  });
}

// ---- Convex ABI -------------------------------------------------------------------------------

const jsSyscalls = new Map();
defineGlobal("Convex", {
  syscall: (op, args) => natives.syscall(String(op), String(args)),
  asyncSyscall: (op, args) => natives.asyncSyscall(String(op), String(args)),
  jsSyscall: (op, args) => {
    const handler = jsSyscalls.get(op);
    if (handler === undefined) {
      throw new Error(`Unknown JS syscall: ${op}`);
    }
    return handler(args);
  },
});

// HTTP actions: the router turns the host's request description into a `Request` and the
// handler's `Response` back into a description. Small bodies travel inline (base64); a large or
// unsized request body is pulled from the host as the handler reads it, and a `ReadableStream`
// response body is written to the host as the handler produces it, after its head was sent
// (only inside `httpActionEntry`, which waits for the body before the invocation ends).
let httpResponsePump = null;
let httpStreaming = false;
jsSyscalls.set("requestFromConvexJson", ({ convexJson }) => {
  return new Request(convexJson.url, { method: convexJson.method, headers: convexJson.headers, body: requestBody(convexJson) });
});
jsSyscalls.set("convexJsonFromResponse", ({ response }) => {
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
});

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

// ---- console ----------------------------------------------------------------------------------

const INSPECT_DEPTH_MAX = 4;
const INSPECT_ITEMS_MAX = 100;

function inspect(value, depth, seen) {
  switch (typeof value) {
    case "string":
      return `'${value.replace(/'/g, "\\'")}'`;
    case "number":
      return Object.is(value, -0) ? "-0" : String(value);
    case "bigint":
      return `${value}n`;
    case "undefined":
      return "undefined";
    case "boolean":
      return String(value);
    case "symbol":
      return value.toString();
    case "function":
      return `[Function: ${value.name || "(anonymous)"}]`;
  }
  if (value === null) return "null";
  if (seen.includes(value)) return "[Circular]";
  if (value instanceof Error) {
    return value.stack ? `${value.name}: ${value.message}\n${value.stack}` : `${value.name}: ${value.message}`;
  }
  if (depth > INSPECT_DEPTH_MAX) return Array.isArray(value) ? "[Array]" : "[Object]";
  const inner = seen.concat([value]);
  if (Array.isArray(value)) {
    const items = value.slice(0, INSPECT_ITEMS_MAX).map((v) => inspect(v, depth + 1, inner));
    if (value.length > INSPECT_ITEMS_MAX) items.push(`... ${value.length - INSPECT_ITEMS_MAX} more items`);
    return items.length === 0 ? "[]" : `[ ${items.join(", ")} ]`;
  }
  if (value instanceof Date) return value.toISOString();
  if (value instanceof ArrayBuffer) return `ArrayBuffer { byteLength: ${value.byteLength} }`;
  if (value instanceof Map) {
    const items = [...value].slice(0, INSPECT_ITEMS_MAX).map(([k, v]) => `${inspect(k, depth + 1, inner)} => ${inspect(v, depth + 1, inner)}`);
    return `Map(${value.size}) { ${items.join(", ")} }`;
  }
  if (value instanceof Set) {
    const items = [...value].slice(0, INSPECT_ITEMS_MAX).map((v) => inspect(v, depth + 1, inner));
    return `Set(${value.size}) { ${items.join(", ")} }`;
  }
  const keys = Object.keys(value);
  const items = keys.slice(0, INSPECT_ITEMS_MAX).map((k) => {
    const key = /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? k : `'${k}'`;
    return `${key}: ${inspect(value[k], depth + 1, inner)}`;
  });
  if (keys.length > INSPECT_ITEMS_MAX) items.push(`... ${keys.length - INSPECT_ITEMS_MAX} more items`);
  return items.length === 0 ? "{}" : `{ ${items.join(", ")} }`;
}

function makeLogger(level) {
  return (...args) => {
    natives.log(level, args.map((a) => inspect(a, 0, [])));
  };
}

const timers = new Map();
const counts = new Map();
defineGlobal("console", {
  log: makeLogger("LOG"),
  info: makeLogger("INFO"),
  warn: makeLogger("WARN"),
  error: makeLogger("ERROR"),
  debug: makeLogger("DEBUG"),
  trace: makeLogger("LOG"),
  time(label = "default") {
    timers.set(label, natives.perfNow());
  },
  timeLog(label = "default", ...rest) {
    const start = timers.get(label);
    if (start === undefined) return makeLogger("WARN")(`Timer '${label}' does not exist`);
    makeLogger("INFO")(`${label}: ${natives.perfNow() - start}ms`, ...rest);
  },
  timeEnd(label = "default") {
    const start = timers.get(label);
    if (start === undefined) return makeLogger("WARN")(`Timer '${label}' does not exist`);
    timers.delete(label);
    makeLogger("INFO")(`${label}: ${natives.perfNow() - start}ms`);
  },
  count(label = "default") {
    const n = (counts.get(label) || 0) + 1;
    counts.set(label, n);
    makeLogger("INFO")(`${label}: ${n}`);
  },
  assert(condition, ...rest) {
    if (!condition) makeLogger("ERROR")("Assertion failed", ...rest);
  },
});

// ---- clock and randomness ---------------------------------------------------------------------

const RealDate = Date;
function NimbusDate(...args) {
  if (!new.target) return new RealDate(natives.now()).toString();
  if (args.length === 0) return Reflect.construct(RealDate, [natives.now()], new.target);
  return Reflect.construct(RealDate, args, new.target);
}
NimbusDate.prototype = RealDate.prototype;
Object.defineProperty(RealDate.prototype, "constructor", { value: NimbusDate, writable: true, configurable: true });
NimbusDate.now = () => natives.now();
NimbusDate.parse = RealDate.parse;
NimbusDate.UTC = RealDate.UTC;
defineGlobal("Date", NimbusDate);

Math.random = () => natives.random();

defineGlobal("performance", {
  now: () => natives.perfNow(),
  get timeOrigin() {
    return natives.now();
  },
});

function getRandomValues(array) {
  if (!ArrayBuffer.isView(array) || array instanceof Float32Array || array instanceof Float64Array || array instanceof DataView) {
    throw new TypeError("crypto.getRandomValues: argument must be an integer TypedArray");
  }
  if (array.byteLength > 65536) {
    throw new RangeError(`crypto.getRandomValues: ${array.byteLength} bytes requested, at most 65536 allowed`);
  }
  new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(new Uint8Array(natives.randomBytes(array.byteLength)));
  return array;
}

function randomUUID() {
  const b = getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function toBytes(data) {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError("expected an ArrayBuffer or a view on one");
}

defineGlobal("crypto", {
  getRandomValues,
  randomUUID,
  subtle: {
    async digest(algorithm, data) {
      const name = typeof algorithm === "string" ? algorithm : algorithm && algorithm.name;
      return natives.digest(String(name).toUpperCase(), toBytes(data));
    },
  },
});

// ---- timers -----------------------------------------------------------------------------------

function setTimeout(callback, delay = 0, ...args) {
  if (natives.deterministic()) throw new Error(NOT_IN_QUERIES("setTimeout"));
  if (typeof callback !== "function") throw new TypeError("setTimeout: callback must be a function");
  return natives.timerStart(Math.max(0, Number(delay) || 0), () => callback(...args));
}

function setInterval(callback, delay = 0, ...args) {
  if (natives.deterministic()) throw new Error(NOT_IN_QUERIES("setInterval"));
  if (typeof callback !== "function") throw new TypeError("setInterval: callback must be a function");
  const ms = Math.max(1, Number(delay) || 0);
  const handle = { id: 0 };
  const tick = () => {
    handle.id = natives.timerStart(ms, tick);
    intervals.set(publicId, handle.id);
    callback(...args);
  };
  const publicId = natives.timerStart(ms, tick);
  intervals.set(publicId, publicId);
  return publicId;
}
const intervals = new Map();

function clearTimer(id) {
  const current = intervals.get(id);
  if (current !== undefined) {
    intervals.delete(id);
    natives.timerClear(current);
  } else if (typeof id === "number") {
    natives.timerClear(id);
  }
}

defineGlobal("setTimeout", setTimeout);
defineGlobal("setInterval", setInterval);
defineGlobal("clearTimeout", clearTimer);
defineGlobal("clearInterval", clearTimer);
defineGlobal("queueMicrotask", (cb) => {
  Promise.resolve().then(cb);
});

// ---- process.env ------------------------------------------------------------------------------

defineGlobal("process", {
  env: new Proxy(
    {},
    {
      get(_target, name) {
        if (typeof name !== "string") return undefined;
        const value = natives.envGet(name);
        return value == null ? undefined : value;
      },
      has(_target, name) {
        return typeof name === "string" && natives.envGet(name) != null;
      },
      set() {
        throw new TypeError("process.env is read-only");
      },
    },
  ),
});

defineGlobal("self", globalThis);

// ---- lazily installed web globals ------------------------------------------------------------

// The web classes cost memory in every isolate that never uses them, so they live in a second
// module evaluated on first touch of any of these names.
const WEB_GLOBALS = [
  "TextEncoder", "TextDecoder", "atob", "btoa", "URL", "URLSearchParams", "Headers", "Request", "Response", "fetch",
  "ReadableStream", "ReadableStreamDefaultReader", "ReadableStreamDefaultController", "WebSocket", "WebSocketPair",
];
let webLoaded = false;
function loadWeb() {
  if (webLoaded) return;
  webLoaded = true;
  globalThis.__nimbus_web_env = { natives, defineGlobal, NOT_IN_QUERIES, toBytes };
  natives.loadWeb();
}
for (const name of WEB_GLOBALS) {
  Object.defineProperty(globalThis, name, {
    get() {
      loadWeb();
      return globalThis[name];
    },
    set(value) {
      defineGlobal(name, value);
    },
    configurable: true,
    enumerable: false,
  });
}

// GC must not be observable to deterministic code.
defineGlobal(
  "WeakRef",
  class WeakRef {
    #target;
    constructor(target) {
      this.#target = target;
    }
    deref() {
      return this.#target;
    }
  },
);
defineGlobal(
  "FinalizationRegistry",
  class FinalizationRegistry {
    register() {}
    unregister() {
      return false;
    }
  },
);

// ---- Workers-style fetch apps ----------------------------------------------------------------

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

// Per-invocation reset used by warm isolates.
export function reset() {
  timers.clear();
  counts.clear();
  intervals.clear();
}
