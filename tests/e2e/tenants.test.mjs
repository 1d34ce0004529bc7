// Multi-tenancy: isolation of data and keys, the operator API, suspend/resume/delete.

import assert from "node:assert/strict";
import { ConvexHttpClient, postJson } from "./lib/clients.mjs";
import { deployOk, fetchWithTimeout, prepareApp, randomName, removeApp, useServer } from "./lib/server.mjs";

const ctx = useServer();
let a;
let b;

function requireSetup() {
  if (!a || !b) throw new Error("skipped: setup (create + deploy two tenants) failed");
}

const query = (t, path, args = {}, opts) => postJson(`${t.url}/api/query`, { path, args: [args], format: "convex_encoded_json" }, opts);
const configHashes = (t, adminKey) =>
  postJson(`${t.url}/api/get_config_hashes`, { version: "1.48.0", adminKey }, { adminKey });

ctx.test("setup: two tenants on one server, the chat app deployed to both", async () => {
  const ta = await ctx.server.createTenant(randomName("a"));
  const tb = await ctx.server.createTenant(randomName("b"));
  assert.notEqual(ta.adminKey, tb.adminKey);
  const appDir = await prepareApp("chat");
  ctx.defer(() => removeApp(appDir));
  await deployOk(appDir, ta);
  await deployOk(appDir, tb);
  [a, b] = [ta, tb];

  const listed = await ctx.server.adminJson("/_nimbus/tenants");
  for (const t of [a, b]) {
    const row = listed.tenants?.find((x) => x.name === t.name);
    assert.deepEqual(row, { name: t.name, status: "active" }, `GET /_nimbus/tenants lists ${t.name}: ${JSON.stringify(listed)}`);
  }
});

ctx.test("creating a tenant twice is rejected", async () => {
  requireSetup();
  const res = await ctx.server.adminFetch("/_nimbus/tenants", { method: "POST", body: { name: a.name } });
  assert.ok(res.status >= 400 && res.status < 500, `duplicate tenant name: expected 4xx, got ${res.status} ${await res.text()}`);
});

ctx.test("data is isolated between tenants", async () => {
  requireSetup();
  const ca = new ConvexHttpClient(a.url);
  const cb = new ConvexHttpClient(b.url);
  await ca.mutation("messages:send", { author: "alice", body: "only in A" });
  assert.equal((await ca.query("messages:list", {})).length, 1);
  assert.deepEqual(await cb.query("messages:list", {}), [], "tenant B does not see tenant A's write");
  await cb.mutation("messages:send", { author: "bob", body: "only in B" });
  assert.deepEqual(
    (await ca.query("messages:list", {})).map((m) => m.body),
    ["only in A"],
    "tenant A does not see tenant B's write",
  );
});

ctx.test("admin keys only work for their own tenant", async () => {
  requireSetup();
  const own = await configHashes(b, b.adminKey);
  assert.equal(own.status, 200, `B's key on B's get_config_hashes: ${own.text}`);
  const cross = await configHashes(b, a.adminKey);
  assert.equal(cross.status, 401, `A's key on B's get_config_hashes must be 401, got ${cross.status} ${cross.text}`);
  const crossFn = await postJson(`${b.url}/api/function`, { path: "messages:internalCount", args: {} }, { adminKey: a.adminKey });
  assert.ok(
    crossFn.status === 401 || crossFn.body?.status === "error",
    `A's key must not run B's internal function: ${crossFn.status} ${crossFn.text}`,
  );
});

ctx.test("public functions need no key; internal functions need the admin key", async () => {
  requireSetup();
  const pub = await query(a, "messages:count");
  assert.equal(pub.status, 200, pub.text);
  assert.deepEqual([pub.body.status, pub.body.value], ["success", 1], pub.text);

  const anonInternal = await postJson(`${a.url}/api/function`, { path: "messages:internalCount", args: {} });
  assert.ok(
    anonInternal.status !== 200 || anonInternal.body?.status === "error",
    `/api/function on an internal function without a key must fail: ${anonInternal.status} ${anonInternal.text}`,
  );
  const anonViaQuery = await query(a, "messages:internalCount");
  assert.ok(
    anonViaQuery.status !== 200 || anonViaQuery.body?.status === "error",
    `/api/query on an internal function without a key must fail: ${anonViaQuery.text}`,
  );
  if (anonViaQuery.body?.status === "error") {
    assert.match(anonViaQuery.body.errorMessage, /Could not find public function/);
  }

  const admin = await postJson(`${a.url}/api/function`, { path: "messages:internalCount", args: {} }, { adminKey: a.adminKey });
  assert.equal(admin.status, 200, admin.text);
  assert.deepEqual([admin.body.status, admin.body.value], ["success", 1], admin.text);
});

ctx.test("unknown tenant is 404 TenantNotFound", async () => {
  const r = await query({ url: ctx.server.tenantUrl("no-such-tenant") }, "messages:list");
  assert.equal(r.status, 404, r.text);
  assert.equal(r.body.code, "TenantNotFound", r.text);
});

ctx.test("operator API requires the operator key", async () => {
  for (const [what, init] of [
    ["no key", { operatorKey: null }],
    ["wrong key", { operatorKey: "wrong-operator-key" }],
    ["a tenant admin key", { headers: { Authorization: `Convex ${a?.adminKey ?? "x|00"}` } }],
  ]) {
    const res = await ctx.server.adminFetch("/_nimbus/tenants", init);
    const text = await res.text();
    assert.equal(res.status, 401, `GET /_nimbus/tenants with ${what}: ${res.status} ${text}`);
    assert.equal(JSON.parse(text).code, "Unauthenticated", text);
  }
  const res = await ctx.server.adminFetch("/_nimbus/tenants", { method: "POST", operatorKey: null, body: { name: "sneaky" } });
  assert.equal(res.status, 401, `creating a tenant without the key: ${res.status}`);
});

ctx.test("suspend → 403 TenantSuspended; resume → works again", async () => {
  requireSetup();
  await ctx.server.adminJson(`/_nimbus/tenants/${b.name}/suspend`, { method: "POST" });
  try {
    const r = await query(b, "messages:list");
    assert.equal(r.status, 403, r.text);
    assert.equal(r.body.code, "TenantSuspended", r.text);
    const listed = await ctx.server.adminJson("/_nimbus/tenants");
    assert.equal(listed.tenants.find((x) => x.name === b.name)?.status, "suspended", JSON.stringify(listed));
    const other = await query(a, "messages:count");
    assert.equal(other.body?.value, 1, `suspending B does not affect A: ${other.text}`);
  } finally {
    await ctx.server.adminJson(`/_nimbus/tenants/${b.name}/resume`, { method: "POST" });
  }
  const r = await query(b, "messages:list");
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.value.map((m) => m.body), ["only in B"], "data survives suspend/resume");
});

ctx.test("extra admin keys can be issued and revoked", async () => {
  requireSetup();
  const key = await ctx.server.adminJson(`/_nimbus/tenants/${a.name}/keys`, { method: "POST" });
  assert.equal(typeof key?.id, "string", JSON.stringify(key));
  assert.match(key.adminKey, new RegExp(`^${a.name}\\|[0-9a-f]+$`), JSON.stringify(key));
  assert.equal((await configHashes(a, key.adminKey)).status, 200, "the new key works");

  await ctx.server.adminJson(`/_nimbus/tenants/${a.name}/keys/${encodeURIComponent(key.id)}`, { method: "DELETE" });
  const revoked = await configHashes(a, key.adminKey);
  assert.equal(revoked.status, 401, `revoked key: ${revoked.status} ${revoked.text}`);
  const fn = await postJson(`${a.url}/api/function`, { path: "messages:internalCount", args: {} }, { adminKey: key.adminKey });
  assert.ok(fn.status === 401 || fn.body?.status === "error", `revoked key runs internal functions: ${fn.text}`);
  assert.equal((await configHashes(a, a.adminKey)).status, 200, "the original key still works");
});

ctx.test("deleting a tenant makes it 404 and leaves the other alone", async () => {
  requireSetup();
  await ctx.server.adminJson(`/_nimbus/tenants/${b.name}`, { method: "DELETE" });
  const r = await query(b, "messages:list");
  assert.equal(r.status, 404, r.text);
  assert.equal(r.body.code, "TenantNotFound", r.text);
  const listed = await ctx.server.adminJson("/_nimbus/tenants");
  assert.ok(!listed.tenants.some((x) => x.name === b.name), `deleted tenant still listed: ${JSON.stringify(listed)}`);
  const other = await query(a, "messages:count");
  assert.equal(other.body?.value, 1, other.text);
  const health = await fetchWithTimeout(`${ctx.server.url}/health`);
  assert.equal(health.status, 200);
});
