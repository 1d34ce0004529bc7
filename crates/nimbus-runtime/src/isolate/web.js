// The isolate's web-platform globals: TextEncoder/TextDecoder, atob/btoa, URL and
// URLSearchParams, Headers/Request/Response and fetch. Evaluated lazily, the first time code
// touches one of these names (see prelude.js), from cached bytecode.

const { natives, defineGlobal, NOT_IN_QUERIES, toBytes } = globalThis.__nimbus_web_env;
delete globalThis.__nimbus_web_env;

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
      for (const [k, v] of init._pairs()) this.append(k, v);
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
    if (v === undefined) return null;
    return v.includes("\n") ? v.split("\n").join(", ") : v;
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
    yield* this._pairs();
  }
  // Sorted `[name, value]` pairs as one array (what the host needs, without a generator per
  // header); each `set-cookie` stays a pair of its own, as the standard iterates them.
  _pairs() {
    const keys = [...this.#map.keys()];
    if (keys.length > 1) keys.sort();
    const pairs = [];
    for (const k of keys) {
      if (k === "set-cookie") {
        for (const cookie of this.#map.get(k).split("\n")) pairs.push([k, cookie]);
      } else {
        pairs.push([k, this.get(k)]);
      }
    }
    return pairs;
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

// ---- streams ----------------------------------------------------------------------------------

// A ReadableStream of chunks, enough for streamed bodies: an underlying source with
// start/pull/cancel, one reader at a time, async iteration and `ReadableStream.from`. `pull` runs
// only while a read is waiting, so a producer never runs ahead of its consumer; chunks enqueued
// without a waiting read are queued up to a bound.
const STREAM_QUEUED_CHUNKS_MAX = 1024;

class ReadableStreamDefaultController {
  #stream;
  constructor(stream) {
    this.#stream = stream;
  }
  get desiredSize() {
    return this.#stream._desiredSize();
  }
  enqueue(chunk) {
    this.#stream._enqueue(chunk);
  }
  close() {
    this.#stream._close();
  }
  error(reason) {
    this.#stream._error(reason);
  }
}

class ReadableStreamDefaultReader {
  #stream;
  constructor(stream) {
    if (!(stream instanceof ReadableStream)) throw new TypeError("a reader needs a ReadableStream");
    stream._lock(this);
    this.#stream = stream;
  }
  get closed() {
    return this.#stream ? this.#stream._closed : Promise.reject(new TypeError("the reader was released"));
  }
  read() {
    return this.#stream ? this.#stream._read() : Promise.reject(new TypeError("the reader was released"));
  }
  cancel(reason) {
    return this.#stream ? this.#stream._cancel(reason) : Promise.reject(new TypeError("the reader was released"));
  }
  releaseLock() {
    if (this.#stream) this.#stream._unlock();
    this.#stream = null;
  }
}

class ReadableStream {
  #source;
  #controller;
  #started;
  #queue = [];
  #waiting = [];
  #state = "readable";
  #closeRequested = false;
  #error;
  #reader = null;
  #pulling = false;
  #enqueuedDuringPull = false;
  #disturbed = false;
  #closedSettle;
  // A queuing strategy, if given, is ignored: `pull` runs only while a read waits.
  constructor(source = {}) {
    this.#source = source || {};
    this.#controller = new ReadableStreamDefaultController(this);
    this._closed = new Promise((resolve, reject) => (this.#closedSettle = { resolve, reject }));
    this._closed.catch(() => {});
    // `start` runs now, as the standard says; a throw fails the constructor.
    const start = typeof this.#source.start === "function" ? this.#source.start(this.#controller) : undefined;
    this.#started = Promise.resolve(start);
    this.#started.catch((e) => this._error(e));
  }
  static from(iterable) {
    const iterator = iterable[Symbol.asyncIterator] ? iterable[Symbol.asyncIterator]() : iterable[Symbol.iterator]();
    return new ReadableStream({
      async pull(controller) {
        const { value, done } = await iterator.next();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      async cancel(reason) {
        if (typeof iterator.return === "function") await iterator.return(reason);
      },
    });
  }
  get locked() {
    return this.#reader !== null;
  }
  getReader(options = {}) {
    if (options && options.mode === "byob") throw new TypeError("BYOB readers are not supported; use getReader()");
    return new ReadableStreamDefaultReader(this);
  }
  cancel(reason) {
    if (this.locked) return Promise.reject(new TypeError("cannot cancel a locked ReadableStream"));
    return this._cancel(reason);
  }
  async *values() {
    const reader = this.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        yield value;
      }
    } finally {
      reader.releaseLock();
    }
  }
  [Symbol.asyncIterator]() {
    return this.values();
  }
  // Two streams of this one's chunks (the same chunk objects, as the standard does). Reading
  // either pulls from this stream; the chunk is queued for the other branch, which may fall at
  // most STREAM_QUEUED_CHUNKS_MAX chunks behind before it errors. This stream stays locked.
  tee() {
    const reader = this.getReader();
    const controllers = [];
    const cancelled = [false, false];
    let pulling = null;
    let finished = false;
    // A branch that already errored (it fell behind) refuses further chunks and the close;
    // that must not stop delivery to the other.
    const deliver = (each) => {
      controllers.forEach((controller, i) => {
        if (cancelled[i]) return;
        try {
          each(controller);
        } catch {
          // This branch is closed or errored already.
        }
      });
    };
    const pull = () => {
      if (pulling === null && !finished) {
        pulling = reader.read().then(
          ({ value, done }) => {
            pulling = null;
            if (done) {
              finished = true;
              deliver((controller) => controller.close());
              return;
            }
            deliver((controller) => {
              if (controller.desiredSize === null) return;
              try {
                controller.enqueue(value);
              } catch {
                controller.error(
                  new RangeError(
                    `a branch of a tee()'d stream fell more than ${STREAM_QUEUED_CHUNKS_MAX} chunks behind the other; read both branches`,
                  ),
                );
              }
            });
            // A branch that errored is done with the source: cancelling the other one now
            // cancels the source.
            controllers.forEach((controller, i) => {
              if (controller.desiredSize === null) cancelled[i] = true;
            });
          },
          (error) => {
            pulling = null;
            finished = true;
            deliver((controller) => controller.error(error));
          },
        );
      }
      return pulling;
    };
    const branch = (i) =>
      new ReadableStream({
        start(controller) {
          controllers[i] = controller;
        },
        pull,
        cancel(reason) {
          cancelled[i] = true;
          if (cancelled[0] && cancelled[1]) return reader.cancel(reason);
        },
      });
    return [branch(0), branch(1)];
  }
  _disturbed() {
    return this.#disturbed;
  }
  _lock(reader) {
    if (this.#reader !== null) throw new TypeError("ReadableStream is locked to another reader");
    this.#reader = reader;
  }
  _unlock() {
    this.#reader = null;
  }
  _desiredSize() {
    if (this.#state === "errored") return null;
    if (this.#state === "closed") return 0;
    return Math.max(0, 1 - this.#queue.length);
  }
  _enqueue(chunk) {
    if (this.#state !== "readable" || this.#closeRequested) {
      throw new TypeError("cannot enqueue into a closed or errored ReadableStream");
    }
    this.#enqueuedDuringPull = true;
    const waiter = this.#waiting.shift();
    if (waiter) {
      waiter.resolve({ value: chunk, done: false });
      return;
    }
    if (this.#queue.length >= STREAM_QUEUED_CHUNKS_MAX) {
      throw new RangeError(
        `a ReadableStream holds at most ${STREAM_QUEUED_CHUNKS_MAX} unread chunks; enqueue from pull() so the reader sets the pace`,
      );
    }
    this.#queue.push(chunk);
  }
  _close() {
    if (this.#state !== "readable" || this.#closeRequested) throw new TypeError("the ReadableStream is already closed");
    this.#closeRequested = true;
    if (this.#queue.length === 0) this.#finish();
  }
  _error(reason) {
    if (this.#state !== "readable") return;
    this.#state = "errored";
    this.#error = reason;
    this.#queue = [];
    for (const waiter of this.#waiting.splice(0)) waiter.reject(reason);
    this.#closedSettle.reject(reason);
  }
  #finish() {
    this.#state = "closed";
    for (const waiter of this.#waiting.splice(0)) waiter.resolve({ value: undefined, done: true });
    this.#closedSettle.resolve();
  }
  _read() {
    this.#disturbed = true;
    if (this.#queue.length > 0) {
      const value = this.#queue.shift();
      if (this.#closeRequested && this.#queue.length === 0) this.#finish();
      return Promise.resolve({ value, done: false });
    }
    if (this.#state === "closed") return Promise.resolve({ value: undefined, done: true });
    if (this.#state === "errored") return Promise.reject(this.#error);
    const read = new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
    this.#pull();
    return read;
  }
  _cancel(reason) {
    this.#disturbed = true;
    if (this.#state === "closed") return Promise.resolve();
    if (this.#state === "errored") return Promise.reject(this.#error);
    this.#queue = [];
    this.#finish();
    const cancel = this.#source.cancel;
    return Promise.resolve(typeof cancel === "function" ? cancel.call(this.#source, reason) : undefined).then(() => undefined);
  }
  #pull() {
    if (this.#pulling || typeof this.#source.pull !== "function") return;
    this.#pulling = true;
    this.#enqueuedDuringPull = false;
    this.#started
      .then(() => this.#source.pull(this.#controller))
      .then(
        () => {
          this.#pulling = false;
          // Pull again only if the last pull made progress: a source that enqueues nothing
          // is waiting on something else and must not be spun.
          if (this.#enqueuedDuringPull && this.#waiting.length > 0 && this.#state === "readable" && !this.#closeRequested) {
            this.#pull();
          }
        },
        (e) => {
          this.#pulling = false;
          this._error(e);
        },
      );
  }
}

function chunkToBytes(chunk) {
  if (typeof chunk === "string") return new Uint8Array(natives.utf8Encode(chunk));
  if (chunk instanceof ArrayBuffer || ArrayBuffer.isView(chunk)) return toBytes(chunk);
  throw new TypeError("body stream chunks must be Uint8Array, ArrayBuffer or string");
}

async function readAll(stream) {
  const parts = [];
  let length = 0;
  const reader = stream.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const bytes = chunkToBytes(value);
    parts.push(bytes);
    length += bytes.length;
  }
  reader.releaseLock();
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
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
  #bytes = null;
  #stream = null;
  #streamFromBytes = false;
  #used = false;
  _initBody(body, headers) {
    if (body instanceof ReadableStream) {
      this.#stream = body;
      return;
    }
    this.#bytes = bodyToBytes(body);
    const type = defaultContentType(body);
    if (type !== null && !headers.has("content-type")) headers.set("content-type", type);
  }
  get bodyUsed() {
    return this.#used || (this.#stream !== null && this.#stream._disturbed());
  }
  // A ReadableStream (or null), per the standard; a buffered body is wrapped on first access.
  get body() {
    if (this.#stream === null && this.#bytes !== null) {
      const bytes = this.#bytes;
      this.#streamFromBytes = true;
      this.#stream = new ReadableStream({
        pull(controller) {
          controller.enqueue(bytes.slice());
          controller.close();
        },
      });
    }
    return this.#stream;
  }
  // The buffered bytes, while nobody has started reading a stream of them.
  #buffered() {
    return this.#stream === null || (this.#streamFromBytes && !this.#stream.locked && !this.#stream._disturbed());
  }
  // For the host, synchronously: the buffered body, or an error for a stream body.
  _syncBytes() {
    if (!this.#buffered()) {
      throw new TypeError("this body is a ReadableStream; HTTP actions answer with buffered bodies (a string or bytes)");
    }
    return this.#bytes;
  }
  // The body for a clone: the same bytes, or one branch of a tee (this body keeps the other).
  _cloneBody() {
    if (this.bodyUsed) throw new TypeError("cannot clone a body that has already been read");
    if (this.#buffered()) return this.#bytes;
    if (this.#stream.locked) throw new TypeError("cannot clone a body while it is being read");
    const [mine, theirs] = this.#stream.tee();
    this.#stream = mine;
    this.#streamFromBytes = false;
    return theirs;
  }
  // For the host: `{ bytes }` for a buffered body, `{ stream }` for a streamed one.
  _hostBody() {
    return this.#buffered() ? { bytes: this.#bytes } : { stream: this.#stream };
  }
  async #consume() {
    if (this.bodyUsed) throw new TypeError("Body has already been consumed");
    this.#used = true;
    if (this.#buffered()) return this.#bytes || new Uint8Array(0);
    return readAll(this.#stream);
  }
  async arrayBuffer() {
    const b = await this.#consume();
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  }
  async bytes() {
    return (await this.#consume()).slice();
  }
  async text() {
    return natives.utf8Decode(await this.#consume(), false, false);
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
    const body = init.body !== undefined ? init.body : source ? source._transferBody() : null;
    if (body !== null && body !== undefined && (this.method === "GET" || this.method === "HEAD")) {
      throw new TypeError("Request with GET/HEAD method cannot have body");
    }
    this._initBody(body, this.headers);
  }
  clone() {
    return new Request(this, { body: this._cloneBody() });
  }
  // `new Request(request)` takes over the body: its bytes, or its stream.
  _transferBody() {
    const { bytes, stream } = this._hostBody();
    return stream || bytes;
  }
}

class Response extends Body {
  constructor(body = null, init = {}) {
    super();
    this.status = init.status === undefined ? 200 : Number(init.status);
    this.webSocket = init.webSocket instanceof WebSocket ? init.webSocket : null;
    if (this.webSocket !== null && this.status !== 101) {
      throw new RangeError("a Response carrying a webSocket must have status 101");
    }
    if (!(this.status >= 200 && this.status <= 599) && this.webSocket === null) {
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
    return new Response(this._cloneBody(), this);
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

// ---- WebSocketPair ------------------------------------------------------------------------------

// Workers-style WebSockets: `new WebSocketPair()` gives a client end, returned to the host in
// `new Response(null, { status: 101, webSocket: client })`, and a server end the app keeps:
// `accept()`, listeners (`addEventListener("message" | "close" | "error")` or `onmessage`…),
// `send()`, `close()`. The host delivers the connection's frames to the server end.
const WS_EVENTS = ["message", "close", "error"];

class WebSocket {
  constructor() {
    throw new TypeError("outbound WebSockets are not supported; accept connections with new WebSocketPair()");
  }
  static _end(role) {
    const end = Object.create(WebSocket.prototype);
    end._role = role;
    end._accepted = false;
    end._listeners = new Map(WS_EVENTS.map((type) => [type, []]));
    end.readyState = 1;
    for (const type of WS_EVENTS) end[`on${type}`] = null;
    return end;
  }
  accept() {
    if (this._role !== "server") throw new TypeError("accept() belongs to the server end of a WebSocketPair");
    this._accepted = true;
  }
  addEventListener(type, listener) {
    const list = this._listeners.get(type);
    if (list && typeof listener === "function" && !list.includes(listener)) list.push(listener);
  }
  removeEventListener(type, listener) {
    const list = this._listeners.get(type);
    const at = list ? list.indexOf(listener) : -1;
    if (at >= 0) list.splice(at, 1);
  }
  send(data) {
    if (this._role !== "server" || !this._accepted) throw new TypeError("send() needs the accepted server end of a WebSocketPair");
    if (this.readyState !== 1) throw new TypeError("the WebSocket is closed");
    const frame = typeof data === "string" ? { text: data } : { bytesBase64: natives.bytesToBase64(toBytes(data)) };
    natives.syscall("ws/send", JSON.stringify(frame));
  }
  close(code = 1000, reason = "") {
    if (this._role !== "server") throw new TypeError("close() belongs to the server end of a WebSocketPair");
    if (this.readyState !== 1) return;
    this.readyState = 2;
    natives.syscall("ws/close", JSON.stringify({ code, reason: String(reason) }));
  }
  // Host side: runs the listeners of one event and waits for what they return.
  async _dispatch(type, fields) {
    if (type === "close") this.readyState = 3;
    const event = { type, target: this, ...fields };
    const handlers = [...this._listeners.get(type)];
    if (typeof this[`on${type}`] === "function") handlers.push(this[`on${type}`]);
    await Promise.all(handlers.map((handler) => handler.call(this, event)));
  }
}

class WebSocketPair {
  constructor() {
    const client = WebSocket._end("client");
    const server = WebSocket._end("server");
    client._peer = server;
    this[0] = client;
    this[1] = server;
  }
}

async function fetch(input, init = {}) {
  if (natives.deterministic()) throw new Error(NOT_IN_QUERIES("fetch()"));
  const request = new Request(input, init);
  const outgoing = request._hostBody();
  const body = outgoing.stream ? await readAll(outgoing.stream) : outgoing.bytes;
  const answer = JSON.parse(
    await natives.fetch(
      JSON.stringify({
        url: request.url,
        method: request.method,
        headers: request.headers._pairs(),
        bodyBase64: body === null ? null : natives.bytesToBase64(body),
      }),
    ),
  );
  const bytes = answer.bodyBase64 ? new Uint8Array(natives.base64ToBytes(answer.bodyBase64)) : null;
  const response = new Response(bytes, { status: answer.status, statusText: answer.statusText, headers: answer.headers });
  response.url = answer.url || request.url;
  return response;
}

defineGlobal("ReadableStream", ReadableStream);
defineGlobal("ReadableStreamDefaultReader", ReadableStreamDefaultReader);
defineGlobal("ReadableStreamDefaultController", ReadableStreamDefaultController);
defineGlobal("WebSocket", WebSocket);
defineGlobal("WebSocketPair", WebSocketPair);
defineGlobal("Headers", Headers);
defineGlobal("Request", Request);
defineGlobal("Response", Response);
defineGlobal("fetch", fetch);

