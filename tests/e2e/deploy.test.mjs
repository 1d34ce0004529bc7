// `npx convex deploy` against a Nimbus tenant, then the HTTP API through ConvexHttpClient.

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { ConvexHttpClient, decodeTs, postJson } from "./lib/clients.mjs";
import { deploy, describeRun, prepareApp, randomName, removeApp, useServer } from "./lib/server.mjs";

const ctx = useServer();
let tenant; // {name, url, siteUrl, adminKey}
let appDir;
let deployed = false;

function requireDeployed() {
  if (!deployed) throw new Error("skipped: the initial `convex deploy` did not succeed (see the first test)");
}

const EXTRA_MODULE = `
import { query } from "./_generated/server";
export const hello = query({ args: {}, handler: async () => "hello from extra" });
`;

ctx.test("convex deploy --yes to a fresh tenant exits 0 and runs codegen", async () => {
  tenant = await ctx.server.createTenant(randomName("chat"));
  assert.equal(tenant.url, ctx.server.tenantUrl(tenant.name), "tenant url is <server>/t/<name>");
  assert.match(tenant.adminKey, new RegExp(`^${tenant.name}\\|[0-9a-f]+$`), "admin key is <name>|<hex>");
  appDir = await prepareApp("chat");
  ctx.defer(() => removeApp(appDir));

  const r = await deploy(appDir, tenant);
  assert.equal(r.code, 0, describeRun(r));
  for (const f of ["api.d.ts", "api.js", "server.d.ts", "server.js", "dataModel.d.ts"]) {
    assert.ok(existsSync(path.join(appDir, "convex", "_generated", f)), `codegen wrote convex/_generated/${f}`);
  }
  deployed = true;
});

ctx.test("ConvexHttpClient: send then list returns the message, in creation order", async () => {
  requireDeployed();
  const client = new ConvexHttpClient(tenant.url);
  assert.deepEqual(await client.query("messages:list", {}), [], "a fresh tenant has no messages");

  const id = await client.mutation("messages:send", { author: "alice", body: "hello" });
  assert.equal(typeof id, "string", `send returns the new document id, got ${JSON.stringify(id)}`);
  await client.mutation("messages:send", { author: "bob", body: "hi alice" });

  const list = await client.query("messages:list", {});
  assert.equal(list.length, 2, `two messages, got ${JSON.stringify(list)}`);
  assert.deepEqual(
    list.map((m) => [m.author, m.body]),
    [
      ["alice", "hello"],
      ["bob", "hi alice"],
    ],
  );
  assert.equal(list[0]._id, id, "list()[0]._id is the id send returned");
  for (const m of list) {
    assert.equal(typeof m._id, "string");
    assert.equal(typeof m._creationTime, "number");
  }
  assert.ok(list[0]._creationTime <= list[1]._creationTime, "creation order");
  assert.equal(await client.query("messages:count", {}), 2);
});

ctx.test("argument validation errors reach the client", async () => {
  requireDeployed();
  const client = new ConvexHttpClient(tenant.url);
  await assert.rejects(
    client.mutation("messages:send", { author: "alice" }),
    (e) => /body|validat/i.test(e.message),
    "send without `body` must be rejected by the args validator",
  );
  assert.equal(await client.query("messages:count", {}), 2, "the invalid call wrote nothing");
});

ctx.test("query_ts / consistentQuery read a stable snapshot", async () => {
  requireDeployed();
  const raw = await postJson(`${tenant.url}/api/query_ts`);
  assert.equal(raw.status, 200, `POST /api/query_ts: ${raw.text}`);
  const tsNs = decodeTs(raw.body.ts);
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  const hourNs = 3_600n * 1_000_000_000n;
  assert.ok(tsNs > nowNs - hourNs && tsNs < nowNs + hourNs, `query_ts ${tsNs} ns is not near now (${nowNs} ns)`);

  const client = new ConvexHttpClient(tenant.url);
  const before = await client.consistentQuery("messages:list", {}); // fixes the snapshot ts
  assert.equal(before.length, 2);
  await new ConvexHttpClient(tenant.url).mutation("messages:send", { author: "carol", body: "late" });
  const again = await client.consistentQuery("messages:list", {});
  assert.equal(again.length, 2, "consistentQuery keeps reading at the first query_ts snapshot");
  assert.equal((await client.query("messages:list", {})).length, 3, "a plain query sees the new write");
});

ctx.test("query_batch, /api/run and /api/function", async () => {
  requireDeployed();
  const batch = await postJson(`${tenant.url}/api/query_batch`, {
    queries: [
      { path: "messages:count", args: {} },
      { path: "messages:list", args: {} },
    ],
  });
  assert.equal(batch.status, 200, `query_batch: ${batch.text}`);
  assert.equal(batch.body.results?.length, 2, batch.text);
  assert.equal(batch.body.results[0].status, "success", batch.text);
  assert.equal(batch.body.results[0].value, 3);
  assert.equal(batch.body.results[1].value.length, 3);

  const run = await postJson(`${tenant.url}/api/run/messages/count`, { args: {} });
  assert.equal(run.status, 200, `/api/run/messages/count: ${run.text}`);
  assert.equal(run.body.status, "success", run.text);
  assert.equal(run.body.value, 3);

  const fn = await postJson(`${tenant.url}/api/function`, { path: "messages:count", args: {} });
  assert.equal(fn.status, 200, `/api/function: ${fn.text}`);
  assert.equal(fn.body.value, 3, fn.text);
});

ctx.test("calling an unknown function rejects with 'Could not find public function'", async () => {
  requireDeployed();
  const client = new ConvexHttpClient(tenant.url);
  await assert.rejects(client.query("messages:nope", {}), /Could not find public function/);
  await assert.rejects(client.mutation("nosuchmodule:send", {}), /Could not find public function/);
});

ctx.test("a deploy with a syntax error fails and the old functions keep working", async () => {
  requireDeployed();
  const bad = await prepareApp("chat", {
    "convex/extra.ts": EXTRA_MODULE,
    "convex/broken.ts": `import { query } from "./_generated/server";\nexport const x = query({ args: {}, handler: async () => { return 1 +; } });\n`,
  });
  ctx.defer(() => removeApp(bad));
  const r = await deploy(bad, tenant, { timeoutMs: 90_000 });
  assert.ok(!r.timedOut, describeRun(r));
  assert.notEqual(r.code, 0, `a module with a syntax error must fail the deploy\n${describeRun(r)}`);
  await assertOldFunctionsStillServed();
});

ctx.test("a deploy whose module throws at import time is rejected by the server; old functions keep working", async () => {
  requireDeployed();
  const bad = await prepareApp("chat", {
    "convex/extra.ts": EXTRA_MODULE,
    // Valid JS, so the CLI bundles it; only evaluating the module (server-side analysis) fails.
    "convex/broken.ts": `import { query } from "./_generated/server";\nthrow new Error("boom at import time");\nexport const x = query({ args: {}, handler: async () => 1 });\n`,
  });
  ctx.defer(() => removeApp(bad));
  const r = await deploy(bad, tenant, { timeoutMs: 90_000 });
  assert.ok(!r.timedOut, `the CLI must not hang (e.g. retrying a 404)\n${describeRun(r)}`);
  assert.notEqual(r.code, 0, `start_push must reject a module that throws on import\n${describeRun(r)}`);
  assert.match(r.output, /boom at import time/, `the CLI shows the server's error\n${describeRun(r)}`);
  await assertOldFunctionsStillServed();
});

async function assertOldFunctionsStillServed() {
  const client = new ConvexHttpClient(tenant.url);
  assert.equal(await client.query("messages:count", {}), 3, "data and old functions survive a failed deploy");
  await assert.rejects(
    client.query("extra:hello", {}),
    /Could not find public function/,
    "nothing from the failed deploy may become visible",
  );
}

ctx.test("a later good deploy adds a module, keeps data, and a no-op redeploy succeeds", async () => {
  requireDeployed();
  const next = await prepareApp("chat", { "convex/extra.ts": EXTRA_MODULE });
  ctx.defer(() => removeApp(next));
  let r = await deploy(next, tenant);
  assert.equal(r.code, 0, describeRun(r));
  const client = new ConvexHttpClient(tenant.url);
  assert.equal(await client.query("extra:hello", {}), "hello from extra");
  assert.equal(await client.query("messages:count", {}), 3);

  // Same code again: the CLI only sends unchangedModuleHashes (server-side hashes must match).
  r = await deploy(next, tenant);
  assert.equal(r.code, 0, `redeploying unchanged code\n${describeRun(r)}`);
  assert.equal(await client.query("extra:hello", {}), "hello from extra");

  // And back to the original app: extra.ts is removed.
  r = await deploy(appDir, tenant);
  assert.equal(r.code, 0, describeRun(r));
  await assert.rejects(client.query("extra:hello", {}), /Could not find public function/, "removed module is gone");
  assert.equal(await client.query("messages:count", {}), 3);
});

ctx.test("push endpoints require the admin key", async () => {
  requireDeployed();
  const noKey = await postJson(`${tenant.url}/api/get_config_hashes`, { version: "1.48.0" });
  assert.equal(noKey.status, 401, `get_config_hashes without Authorization: ${noKey.status} ${noKey.text}`);
  const withKey = await postJson(
    `${tenant.url}/api/get_config_hashes`,
    { version: "1.48.0", adminKey: tenant.adminKey },
    { adminKey: tenant.adminKey },
  );
  assert.equal(withKey.status, 200, `get_config_hashes with the admin key: ${withKey.text}`);
  assert.equal(withKey.body.config?.functions, "convex/", withKey.text);
  assert.ok(
    withKey.body.moduleHashes.some((m) => m.path === "messages.js"),
    `moduleHashes lists messages.js: ${withKey.text}`,
  );
});

ctx.test("deploying with a wrong admin key fails", async () => {
  requireDeployed();
  const r = await deploy(appDir, tenant, { adminKey: `${tenant.name}|${"0".repeat(64)}`, timeoutMs: 90_000 });
  assert.ok(!r.timedOut, describeRun(r));
  assert.notEqual(r.code, 0, `deploy with a wrong admin key must fail\n${describeRun(r)}`);
});

ctx.test("deploying without an admin key fails", async () => {
  requireDeployed();
  const r = await deploy(appDir, tenant, { adminKey: null, timeoutMs: 90_000 });
  assert.ok(!r.timedOut, describeRun(r));
  assert.notEqual(r.code, 0, `deploy without CONVEX_SELF_HOSTED_ADMIN_KEY must fail\n${describeRun(r)}`);
  const client = new ConvexHttpClient(tenant.url);
  assert.equal(await client.query("messages:count", {}), 3, "still serving after the rejected deploys");
});
