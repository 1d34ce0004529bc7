// Paginated subscriptions with the official ConvexClient: a reactive page keeps the boundaries
// its first execution found (the query journal), the way `usePaginatedQuery` relies on.

import assert from "node:assert/strict";
import { ConvexHttpClient, closeAll, subscribe, wsClient } from "./lib/clients.mjs";
import { deployOk, prepareApp, randomName, removeApp, useServer } from "./lib/server.mjs";

const ctx = useServer();
let tenant;

ctx.test("setup: tenant with the chat app deployed", async () => {
  tenant = await ctx.server.createTenant(randomName("pages"));
  const appDir = await prepareApp("chat");
  ctx.defer(() => removeApp(appDir));
  await deployOk(appDir, tenant);
});

const bodies = (result) => result.page.map((m) => m.body);

ctx.test("a subscribed page keeps its end while documents before and after it change", async () => {
  assert.ok(tenant, "setup failed");
  const http = new ConvexHttpClient(tenant.url);
  const ids = [];
  for (const body of ["m1", "m2", "m3", "m4"]) {
    ids.push(await http.mutation("messages:send", { author: "pager", body }));
  }
  const client = wsClient(tenant.url);
  ctx.defer(() => closeAll(client));

  // Page 1 and page 2, as usePaginatedQuery subscribes them: page 2 starts at page 1's
  // continueCursor.
  const first = subscribe(client, "messages:page", { paginationOpts: { numItems: 2, cursor: null } });
  const page1 = await first.waitUntil((r) => r.page.length === 2, { what: "page 1" });
  assert.deepEqual(bodies(page1), ["m1", "m2"]);
  const second = subscribe(client, "messages:page", {
    paginationOpts: { numItems: 2, cursor: page1.continueCursor },
  });
  const page2 = await second.waitUntil((r) => r.page.length === 2, { what: "page 2" });
  assert.deepEqual(bodies(page2), ["m3", "m4"]);

  // Deleting m1 must not pull m3 into page 1 (the client would show it twice); page 1 shrinks.
  // The mutation resolves only once the client holds every query result it changed.
  await client.mutation("messages:remove", { id: ids[0] });
  assert.deepEqual(bodies(first.current()), ["m2"], "page 1 without m1");
  assert.deepEqual(bodies(second.current()), ["m3", "m4"], "page 2 is unchanged");

  // A new message goes after m4: it joins page 2 only if page 2 reached the end of the data.
  await client.mutation("messages:send", { author: "pager", body: "m5" });
  assert.deepEqual(bodies(first.current()), ["m2"], "page 1 keeps its boundaries");
  assert.deepEqual(bodies(second.current()), page2.isDone ? ["m3", "m4", "m5"] : ["m3", "m4"]);
  first.unsubscribe();
  second.unsubscribe();
});
