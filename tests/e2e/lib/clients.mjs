// Helpers around the official convex@1.48.0 clients.

import { ConvexClient, ConvexHttpClient } from "convex/browser";
import WebSocket from "ws";
import { fetchWithTimeout, waitFor, withTimeout } from "./server.mjs";

export { ConvexClient, ConvexHttpClient, WebSocket };

/** A WebSocket ConvexClient on a deployment URL (Node: `ws` as the WebSocket implementation). */
export function wsClient(url) {
  return new ConvexClient(url, { webSocketConstructor: WebSocket, unsavedChangesWarning: false });
}

/** Closes clients, bounded (a hung close must not hang the test run). */
export async function closeAll(...clients) {
  await Promise.all(
    clients
      .filter(Boolean)
      .map((c) => withTimeout(Promise.resolve(c.close()), 5_000, "ConvexClient.close()").catch(() => {})),
  );
}

/**
 * Subscribes with `client.onUpdate` and records every value and error. `waitUntil(pred)` waits
 * (bounded) until the latest value satisfies `pred`.
 */
export function subscribe(client, fn, args = {}) {
  const rec = {
    values: [],
    errors: [],
    get latest() {
      return rec.values.at(-1);
    },
    get hasValue() {
      return rec.values.length > 0;
    },
    unsubscribe: null,
    /** Current local value as the client sees it right now (undefined before the first result). */
    current() {
      return rec.unsubscribe.getCurrentValue();
    },
    async waitUntil(pred, { timeoutMs = 10_000, what } = {}) {
      let matched;
      await waitFor(
        () => {
          if (rec.errors.length) {
            throw Object.assign(new Error(`subscription to ${fn} failed: ${rec.errors.at(-1).message}`));
          }
          if (rec.hasValue && pred(rec.latest)) {
            matched = rec.latest;
            return true;
          }
          return false;
        },
        {
          timeoutMs,
          intervalMs: 20,
          what: `${what ?? "a matching value"} from the subscription to ${fn}`,
          describe: () =>
            `${rec.values.length} update(s), latest ${JSON.stringify(rec.latest)?.slice(0, 500)}` +
            (rec.errors.length ? `, errors: ${rec.errors.map((e) => e.message).join(" | ")}` : ""),
        },
      );
      return matched;
    },
  };
  rec.unsubscribe = client.onUpdate(
    fn,
    args,
    (v) => rec.values.push(v),
    (e) => rec.errors.push(e),
  );
  return rec;
}

/** POST a JSON body to `<deploymentUrl><path>` and return {status, body (parsed or text)}. */
export async function postJson(url, body, { adminKey, headers = {} } = {}) {
  const h = { "Content-Type": "application/json", ...headers };
  if (adminKey) h.Authorization = `Convex ${adminKey}`;
  const res = await fetchWithTimeout(url, {
    method: "POST",
    headers: h,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: res.status, body: parsed, text };
}

/** Decodes a Convex wire timestamp (base64 of a u64 little-endian, nanoseconds) to a BigInt. */
export function decodeTs(b64) {
  const buf = Buffer.from(b64, "base64");
  if (buf.length !== 8) throw new Error(`timestamp ${JSON.stringify(b64)} does not decode to 8 bytes`);
  return buf.readBigUInt64LE(0);
}
