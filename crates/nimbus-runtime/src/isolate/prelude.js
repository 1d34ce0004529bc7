// The isolate's JS glue, evaluated once per context (from cached bytecode).
//
// It receives the host natives on `globalThis.__nimbus_natives`, captures them in this module's
// scope, deletes the global, and installs the web-facing globals built on them: the Convex ABI
// object, console, deterministic Date / Math.random / crypto, timers, process.env, URL,
// TextEncoder/TextDecoder, atob/btoa, Headers/Request/Response and fetch. Everything that touches
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

// ---- console ----------------------------------------------------------------------------------

const INSPECT_DEPTH_MAX = 4;
const INSPECT_ITEMS_MAX = 100;

function inspect(value, depth, seen) {
  switch (typeof value) {
    case "string":
      return depth === 0 ? value : `'${value.replace(/'/g, "\\'")}'`;
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

// ---- text, base64 -----------------------------------------------------------------------------

class TextEncoder {
  get encoding() {
    return "utf-8";
  }
  encode(input = "") {
    return new Uint8Array(natives.utf8Encode(String(input)));
  }
  encodeInto(input, dest) {
    const bytes = this.encode(input);
    const n = Math.min(bytes.length, dest.length);
    dest.set(bytes.subarray(0, n));
    return { read: input.length, written: n };
  }
}

const UTF8_LABELS = new Set(["utf-8", "utf8", "unicode-1-1-utf-8"]);
class TextDecoder {
  #fatal;
  #ignoreBOM;
  constructor(label = "utf-8", options = {}) {
    if (!UTF8_LABELS.has(String(label).trim().toLowerCase())) {
      throw new RangeError(`TextDecoder: unsupported encoding '${label}' (only utf-8 is available)`);
    }
    this.#fatal = Boolean(options.fatal);
    this.#ignoreBOM = Boolean(options.ignoreBOM);
  }
  get encoding() {
    return "utf-8";
  }
  get fatal() {
    return this.#fatal;
  }
  get ignoreBOM() {
    return this.#ignoreBOM;
  }
  decode(input) {
    if (input === undefined) return "";
    return natives.utf8Decode(toBytes(input), this.#fatal, this.#ignoreBOM);
  }
}

defineGlobal("TextEncoder", TextEncoder);
defineGlobal("TextDecoder", TextDecoder);
defineGlobal("atob", (data) => natives.atob(String(data)));
defineGlobal("btoa", (data) => natives.btoa(String(data)));

// ---- URL --------------------------------------------------------------------------------------

class URLSearchParams {
  #list = [];
  #url = null;
  constructor(init = "") {
    if (typeof init === "string") {
      this.#list = natives.formDecode(init.startsWith("?") ? init.slice(1) : init);
    } else if (init instanceof URLSearchParams) {
      this.#list = [...init];
    } else if (init && typeof init[Symbol.iterator] === "function") {
      for (const pair of init) {
        const [k, v] = [...pair];
        this.#list.push([String(k), String(v)]);
      }
    } else if (init && typeof init === "object") {
      for (const k of Object.keys(init)) this.#list.push([k, String(init[k])]);
    }
  }
  static _attach(params, url) {
    params.#url = url;
  }
  static _reset(params, query) {
    params.#list = natives.formDecode(query);
  }
  #update() {
    if (this.#url) this.#url._setQueryFromParams(this.toString());
  }
  get size() {
    return this.#list.length;
  }
  append(k, v) {
    this.#list.push([String(k), String(v)]);
    this.#update();
  }
  delete(k) {
    this.#list = this.#list.filter(([key]) => key !== String(k));
    this.#update();
  }
  get(k) {
    const found = this.#list.find(([key]) => key === String(k));
    return found ? found[1] : null;
  }
  getAll(k) {
    return this.#list.filter(([key]) => key === String(k)).map(([, v]) => v);
  }
  has(k) {
    return this.#list.some(([key]) => key === String(k));
  }
  set(k, v) {
    const key = String(k);
    const i = this.#list.findIndex(([kk]) => kk === key);
    if (i < 0) this.#list.push([key, String(v)]);
    else {
      this.#list[i] = [key, String(v)];
      this.#list = this.#list.filter(([kk], j) => kk !== key || j === i);
    }
    this.#update();
  }
  sort() {
    this.#list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    this.#update();
  }
  forEach(cb, thisArg) {
    for (const [k, v] of this.#list) cb.call(thisArg, v, k, this);
  }
  keys() {
    return this.#list.map(([k]) => k)[Symbol.iterator]();
  }
  values() {
    return this.#list.map(([, v]) => v)[Symbol.iterator]();
  }
  entries() {
    return this.#list.map(([k, v]) => [k, v])[Symbol.iterator]();
  }
  [Symbol.iterator]() {
    return this.entries();
  }
  toString() {
    return natives.formEncode(this.#list);
  }
}

const URL_FIELDS = ["href", "origin", "protocol", "username", "password", "host", "hostname", "port", "pathname", "search", "hash"];
const urlState = new WeakMap();
class URL {
  constructor(input, base) {
    const parts = natives.urlParse(String(input), base === undefined ? null : String(base));
    if (parts == null) throw new TypeError(`Invalid URL: '${input}'`);
    const params = new URLSearchParams(parts[9]);
    urlState.set(this, { parts, params });
    URLSearchParams._attach(params, this);
  }
  static canParse(input, base) {
    return natives.urlParse(String(input), base === undefined ? null : String(base)) != null;
  }
  _setQueryFromParams(query) {
    const state = urlState.get(this);
    state.parts = natives.urlSet(state.parts[0], "search", query);
  }
  get searchParams() {
    return urlState.get(this).params;
  }
  toString() {
    return urlState.get(this).parts[0];
  }
  toJSON() {
    return this.toString();
  }
}
URL_FIELDS.forEach((field, i) => {
  const descriptor = {
    get() {
      return urlState.get(this).parts[i];
    },
    enumerable: true,
    configurable: true,
  };
  if (field !== "origin") {
    descriptor.set = function (value) {
      const state = urlState.get(this);
      state.parts = natives.urlSet(state.parts[0], field, String(value));
      if (field === "search" || field === "href") {
        URLSearchParams._reset(state.params, state.parts[9].replace(/^\?/, ""));
      }
    };
  }
  Object.defineProperty(URL.prototype, field, descriptor);
});
defineGlobal("URL", URL);
defineGlobal("URLSearchParams", URLSearchParams);

// ---- Headers, Request, Response, fetch --------------------------------------------------------

class Headers {
  #map = new Map();
  constructor(init) {
    if (init instanceof Headers) {
      for (const [k, v] of init) this.append(k, v);
    } else if (Array.isArray(init)) {
      for (const [k, v] of init) this.append(k, v);
    } else if (init && typeof init === "object") {
      for (const k of Object.keys(init)) this.append(k, init[k]);
    }
  }
  append(name, value) {
    const key = String(name).toLowerCase();
    const v = String(value).trim();
    const prev = this.#map.get(key);
    this.#map.set(key, prev === undefined ? v : key === "set-cookie" ? `${prev}\n${v}` : `${prev}, ${v}`);
  }
  set(name, value) {
    this.#map.set(String(name).toLowerCase(), String(value).trim());
  }
  get(name) {
    const v = this.#map.get(String(name).toLowerCase());
    return v === undefined ? null : v.replace(/\n/g, ", ");
  }
  getSetCookie() {
    const v = this.#map.get("set-cookie");
    return v === undefined ? [] : v.split("\n");
  }
  has(name) {
    return this.#map.has(String(name).toLowerCase());
  }
  delete(name) {
    this.#map.delete(String(name).toLowerCase());
  }
  forEach(cb, thisArg) {
    for (const [k, v] of this) cb.call(thisArg, v, k, this);
  }
  *entries() {
    for (const k of [...this.#map.keys()].sort()) yield [k, this.get(k)];
  }
  keys() {
    return [...this.entries()].map(([k]) => k)[Symbol.iterator]();
  }
  values() {
    return [...this.entries()].map(([, v]) => v)[Symbol.iterator]();
  }
  [Symbol.iterator]() {
    return this.entries();
  }
}

function bodyToBytes(body) {
  if (body === undefined || body === null) return null;
  if (typeof body === "string") return new Uint8Array(natives.utf8Encode(body));
  if (body instanceof URLSearchParams) return new Uint8Array(natives.utf8Encode(body.toString()));
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return toBytes(body).slice();
  return new Uint8Array(natives.utf8Encode(String(body)));
}

function defaultContentType(body) {
  if (typeof body === "string") return "text/plain;charset=UTF-8";
  if (body instanceof URLSearchParams) return "application/x-www-form-urlencoded;charset=UTF-8";
  return null;
}

class Body {
  #bytes;
  #used = false;
  _initBody(body, headers) {
    this.#bytes = bodyToBytes(body);
    const type = defaultContentType(body);
    if (type !== null && !headers.has("content-type")) headers.set("content-type", type);
  }
  get bodyUsed() {
    return this.#used;
  }
  get body() {
    return this.#bytes;
  }
  #consume() {
    if (this.#used) throw new TypeError("Body has already been consumed");
    this.#used = true;
    return this.#bytes || new Uint8Array(0);
  }
  async arrayBuffer() {
    const b = this.#consume();
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  }
  async bytes() {
    return this.#consume().slice();
  }
  async text() {
    return natives.utf8Decode(this.#consume(), false, false);
  }
  async json() {
    return JSON.parse(await this.text());
  }
}

class Request extends Body {
  constructor(input, init = {}) {
    super();
    const source = input instanceof Request ? input : null;
    this.url = source ? source.url : new URL(String(input)).href;
    this.method = String(init.method || (source ? source.method : "GET")).toUpperCase();
    this.headers = new Headers(init.headers || (source ? source.headers : undefined));
    const body = init.body !== undefined ? init.body : source ? source.body : null;
    if (body !== null && body !== undefined && (this.method === "GET" || this.method === "HEAD")) {
      throw new TypeError("Request with GET/HEAD method cannot have body");
    }
    this._initBody(body, this.headers);
  }
  clone() {
    return new Request(this);
  }
}

class Response extends Body {
  constructor(body = null, init = {}) {
    super();
    this.status = init.status === undefined ? 200 : Number(init.status);
    if (!(this.status >= 200 && this.status <= 599)) {
      throw new RangeError(`Response status ${init.status} is outside 200..599`);
    }
    this.statusText = init.statusText === undefined ? "" : String(init.statusText);
    this.headers = new Headers(init.headers);
    this.url = "";
    this.redirected = false;
    this.type = "default";
    this._initBody(body, this.headers);
  }
  get ok() {
    return this.status >= 200 && this.status < 300;
  }
  clone() {
    return new Response(this.body, this);
  }
  static json(data, init = {}) {
    const headers = new Headers(init.headers);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
    return new Response(JSON.stringify(data), { ...init, headers });
  }
  static redirect(url, status = 302) {
    return new Response(null, { status, headers: { location: new URL(url).href } });
  }
}

async function fetch(input, init = {}) {
  if (natives.deterministic()) throw new Error(NOT_IN_QUERIES("fetch()"));
  const request = new Request(input, init);
  const body = request.body;
  const answer = JSON.parse(
    await natives.fetch(
      JSON.stringify({
        url: request.url,
        method: request.method,
        headers: [...request.headers],
        bodyBase64: body === null ? null : natives.bytesToBase64(body),
      }),
    ),
  );
  const bytes = answer.bodyBase64 ? new Uint8Array(natives.base64ToBytes(answer.bodyBase64)) : null;
  const response = new Response(bytes, { status: answer.status, statusText: answer.statusText, headers: answer.headers });
  response.url = answer.url || request.url;
  return response;
}

defineGlobal("Headers", Headers);
defineGlobal("Request", Request);
defineGlobal("Response", Response);
defineGlobal("fetch", fetch);

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

// Per-invocation reset used by warm isolates.
export function reset() {
  timers.clear();
  counts.clear();
  intervals.clear();
}
