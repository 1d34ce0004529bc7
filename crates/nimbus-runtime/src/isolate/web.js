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

