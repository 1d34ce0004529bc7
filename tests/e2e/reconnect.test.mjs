// The operator drops every WebSocket of a tenant while mutations are in flight: clients must
// reconnect, re-sent mutations must be de-duplicated, and subscriptions must resume.

import assert from "node:assert/strict";
import { ConvexHttpClient, WebSocket, closeAll, subscribe, wsClient } from "./lib/clients.mjs";
import { deployOk, prepareApp, randomName, removeApp, useServer, waitFor, withTimeout } from "./lib/server.mjs";

const ctx = useServer();
let tenant;

ctx.test("setup: tenant with the chat app deployed", async () => {
  tenant = await ctx.server.createTenant(randomName("recon"));
  const appDir = await prepareApp("chat");
  ctx.defer(() => removeApp(appDir));
  await deployOk(appDir, tenant);
});

function disconnectAll() {
  return ctx.server.adminJson(`/_nimbus/tenants/${tenant.name}/disconnect`, { method: "POST" });
}

ctx.test("disconnect closes sockets with 1011 'InternalServerError: disconnected by operator'", async () => {
  assert.ok(tenant, "setup failed");
  const wsUrl = `${tenant.url.replace(/^http/, "ws")}/api/1.48.0/sync`;
  const ws = new WebSocket(wsUrl);
  const messages = [];
  const closed = new Promise((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: `${reason}` })));
  ws.on("message", (data) => messages.push(JSON.parse(`${data}`)));
  try {
    await withTimeout(
      new Promise((resolve, reject) => {
        ws.once("open", resolve);
        ws.once("error", reject);
      }),
      10_000,
      `WebSocket upgrade at ${wsUrl}`,
    );
    ws.send(
      JSON.stringify({
        type: "Connect",
        sessionId: "00000000-0000-4000-8000-000000000001",
        connectionCount: 0,
        lastCloseReason: "InitialConnect",
        clientTs: Date.now(),
      }),
    );
    ws.send(JSON.stringify({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: [] }));
    await waitFor(() => messages.some((m) => m.type === "Transition"), {
      timeoutMs: 10_000,
      what: "a Transition answering ModifyQuerySet{0→1}",
      describe: () => JSON.stringify(messages),
    });
    const t = messages.find((m) => m.type === "Transition");
    assert.deepEqual(t.startVersion, { querySet: 0, identity: 0, ts: "AAAAAAAAAAA=" }, "first Transition starts at zero");
    assert.equal(t.endVersion.querySet, 1);

    await disconnectAll();
    const { code, reason } = await withTimeout(closed, 10_000, "the server to close the socket after /disconnect");
    assert.equal(code, 1011, `close code (reason ${JSON.stringify(reason)})`);
    assert.equal(reason, "InternalServerError: disconnected by operator");
  } finally {
    ws.terminate();
  }
});

ctx.test("mutations across forced reconnects: no loss, no duplicates, subscription resumes", async () => {
  assert.ok(tenant, "setup failed");
  const clientA = wsClient(tenant.url);
  const clientB = wsClient(tenant.url);
  try {
    const sub = subscribe(clientA, "messages:list", {});
    await sub.waitUntil((l) => l.length === 0, { what: "the initial empty list" });
    await withTimeout(
      clientB.mutation("messages:send", { author: "B", body: "warmup" }),
      10_000,
      "B's first mutation (socket established)",
    );
    await sub.waitUntil((l) => l.length === 1, { what: "the warmup message" });
    const connectionsBefore = clientA.connectionState().connectionCount;

    const N = 20;
    const disconnectAt = new Set([3, 9, 15]);
    let disconnects = 0;
    for (let i = 0; i < N; i++) {
      const pending = clientB.mutation("messages:send", { author: "B", body: `m${i}` });
      if (disconnectAt.has(i)) {
        // Drop the sockets while this mutation is (most likely) in flight: the client re-sends it
        // with the same (sessionId, requestId) after reconnecting and the server must not run it twice.
        await disconnectAll();
        disconnects++;
      }
      await withTimeout(pending, 30_000, `mutation m${i} to resolve (after ${disconnects} forced disconnect(s))`).catch(
        (e) => {
          throw new Error(
            `mutation m${i} (${disconnectAt.has(i) ? "in flight when the sockets were dropped" : "sent normally"}, ` +
              `after ${disconnects} forced disconnect(s)) failed: ${e.message}. A mutation re-sent after a ` +
              `reconnect must return the original outcome or run once, never fail because the socket dropped.`,
          );
        },
      );
    }

    // A burst: several mutations queued on the socket at once, sockets dropped in the middle.
    const BURST = 10;
    const burst = [];
    for (let i = 0; i < BURST; i++) {
      burst.push(clientB.mutation("messages:send", { author: "B", body: `burst${i}` }));
      if (i === BURST / 2) await disconnectAll();
    }
    await withTimeout(Promise.all(burst), 30_000, `${BURST} concurrent mutations to resolve across a forced disconnect`).catch(
      (e) => {
        throw new Error(`a burst mutation failed across a forced disconnect: ${e.message}`);
      },
    );

    const total = 1 + N + BURST;
    const expected = [
      "warmup",
      ...Array.from({ length: N }, (_, i) => `m${i}`),
      ...Array.from({ length: BURST }, (_, i) => `burst${i}`),
    ];
    const http = new ConvexHttpClient(tenant.url);
    const count = await http.query("messages:count", {});
    assert.equal(count, total, `exactly ${N + BURST} mutations + warmup are stored (no loss, no duplicates)`);
    const bodies = (await http.query("messages:list", {})).map((m) => m.body);
    assert.deepEqual(bodies, expected, "each message once, in send order");

    const list = await sub.waitUntil((l) => l.length === total, {
      timeoutMs: 20_000,
      what: `all ${total} messages on A's subscription after the reconnects`,
    });
    assert.deepEqual(
      list.map((m) => m.body),
      bodies,
      "A's subscription shows the same messages",
    );
    const connectionsAfter = clientA.connectionState().connectionCount;
    assert.ok(
      connectionsAfter > connectionsBefore,
      `client A reconnected (connectionCount ${connectionsBefore} → ${connectionsAfter})`,
    );
    // A keeps receiving updates on its new socket.
    await withTimeout(
      clientB.mutation("messages:send", { author: "B", body: "after" }),
      10_000,
      "a mutation after the reconnects",
    );
    await sub.waitUntil((l) => l.at(-1)?.body === "after", { what: "the post-reconnect message" });
    sub.unsubscribe();
  } finally {
    await closeAll(clientA, clientB);
  }
});
