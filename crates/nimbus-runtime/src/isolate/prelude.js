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
// handler's `Response` back into a description; both live in entries.js, loaded on first use.
jsSyscalls.set("requestFromConvexJson", (args) => loadEntries().requestFromConvexJson(args));
jsSyscalls.set("convexJsonFromResponse", (args) => loadEntries().convexJsonFromResponse(args));

// ---- console, loaded on first use -------------------------------------------------------------

// console.js (Convex-style log lines) is evaluated the first time code touches `console`.
let consoleModule = null;
function loadConsole() {
  if (consoleModule === null) {
    globalThis.__nimbus_console_env = { natives };
    consoleModule = natives.loadBuiltin("console");
    defineGlobal("console", consoleModule.console);
  }
  return consoleModule;
}
Object.defineProperty(globalThis, "console", {
  get() {
    return loadConsole().console;
  },
  set(value) {
    defineGlobal("console", value);
  },
  configurable: true,
  enumerable: false,
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
  natives.loadBuiltin("web");
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

// ---- request entries, loaded on first use -----------------------------------------------------

// HTTP actions, fetch apps and their WebSockets enter through entries.js. Isolates that only run
// queries, mutations and actions never load it, which keeps an idle pooled isolate small.
let entries = null;
function loadEntries() {
  if (entries === null) {
    globalThis.__nimbus_entries_env = { natives, toBytes };
    entries = natives.loadBuiltin("entries");
  }
  return entries;
}

// The host's entry for a fetch request (`fetchEntry`), a WebSocket connection
// (`websocketEntry`) or an HTTP action (`httpActionEntry`).
export function entry(kind, app, requestJson, extra) {
  return loadEntries()[kind](app, requestJson, extra);
}

// Per-invocation reset used by warm isolates.
export function reset() {
  if (consoleModule !== null) consoleModule.reset();
  intervals.clear();
}
