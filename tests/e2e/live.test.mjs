// Reactivity over the WebSocket sync protocol: two ConvexClients on one tenant.

import assert from "node:assert/strict";
import { closeAll, subscribe, wsClient } from "./lib/clients.mjs";
import { deployOk, prepareApp, randomName, removeApp, useServer, withTimeout } from "./lib/server.mjs";

const ctx = useServer();
let tenant;
let clientA;
let clientB;

ctx.test("setup: tenant with the chat app deployed", async () => {
  tenant = await ctx.server.createTenant(randomName("live"));
  const appDir = await prepareApp("chat");
  ctx.defer(() => removeApp(appDir));
  await deployOk(appDir, tenant);
  clientA = wsClient(tenant.url);
  clientB = wsClient(tenant.url);
  ctx.defer(() => closeAll(clientA, clientB));
});

ctx.test("A's subscription sees B's mutation; B's mutation promise resolves", async () => {
  assert.ok(clientA, "setup failed");
  const sub = subscribe(clientA, "messages:list", {});
  await sub.waitUntil((list) => Array.isArray(list) && list.length === 0, {
    what: "the initial (empty) result",
  });

  // Resolves only after the server sent MutationResponse{ts} and a Transition with ts >= that.
  const id = await withTimeout(
    clientB.mutation("messages:send", { author: "bob", body: "hello from B" }),
    10_000,
    "clientB.mutation(messages:send) to resolve (needs MutationResponse and a later Transition)",
  );
  assert.equal(typeof id, "string", `send returns an id, got ${JSON.stringify(id)}`);

  const list = await sub.waitUntil((l) => l.length === 1, { timeoutMs: 10_000, what: "B's message" });
  assert.equal(list[0].author, "bob");
  assert.equal(list[0].body, "hello from B");
  assert.equal(list[0]._id, id);
  sub.unsubscribe();
});

ctx.test("a mutation resolves only once the sender's own subscriptions reflect it", async () => {
  assert.ok(clientA, "setup failed");
  const subA = subscribe(clientA, "messages:list", {});
  const countA = subscribe(clientA, "messages:count", {});
  await subA.waitUntil((l) => l.length === 1, { what: "the current list" });
  await countA.waitUntil((n) => n === 1, { what: "the current count" });

  for (let i = 0; i < 3; i++) {
    const body = `own write ${i}`;
    await withTimeout(
      clientA.mutation("messages:send", { author: "alice", body }),
      10_000,
      `clientA.mutation #${i} to resolve`,
    );
    // The promise resolved after a Transition at ts >= commit ts, so the local query results
    // the client holds right now must already include the write.
    const local = subA.current();
    assert.ok(
      local?.some((m) => m.body === body),
      `after await mutation, A's local messages:list includes "${body}"; it is ${JSON.stringify(local)}`,
    );
    assert.equal(countA.current(), 2 + i, "messages:count is consistent with messages:list at the same ts");
  }
  subA.unsubscribe();
  countA.unsubscribe();
});

ctx.test("several clients' writes all arrive, in order, at every subscriber", async () => {
  assert.ok(clientA, "setup failed");
  const subA = subscribe(clientA, "messages:list", {});
  const subB = subscribe(clientB, "messages:list", {});
  await subA.waitUntil((l) => l.length === 4, { what: "the current list on A" });
  await subB.waitUntil((l) => l.length === 4, { what: "the current list on B" });

  const sends = [];
  for (let i = 0; i < 10; i++) {
    const client = i % 2 ? clientA : clientB;
    sends.push(client.mutation("messages:send", { author: i % 2 ? "alice" : "bob", body: `burst ${i}` }));
  }
  await withTimeout(Promise.all(sends), 20_000, "10 concurrent mutations from A and B to resolve");

  for (const [name, sub] of [
    ["A", subA],
    ["B", subB],
  ]) {
    const list = await sub.waitUntil((l) => l.length === 14, { what: `all 14 messages on ${name}` });
    const bursts = list.filter((m) => m.body.startsWith("burst "));
    assert.equal(bursts.length, 10, `${name} sees every burst message exactly once`);
    // Each client sends its mutations in order; their relative order must be preserved.
    for (const author of ["alice", "bob"]) {
      const mine = bursts.filter((m) => m.author === author).map((m) => Number(m.body.split(" ")[1]));
      assert.deepEqual(mine, [...mine].sort((a, b) => a - b), `${author}'s messages in send order on ${name}`);
    }
  }
  subA.unsubscribe();
  subB.unsubscribe();
});
