// The `nimbus` CLI end to end: `init` scaffolds an app, `dev` serves it with live reload (an
// edit is re-pushed and a live client sees the new code), `tenants`, `deploy`, `run` and bad
// input against a real `nimbus serve`.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, readFile, rm, symlink, writeFile, access } from "node:fs/promises";
import path from "node:path";
import { after, test } from "node:test";

import { startDev } from "./lib/browser.mjs";
import { closeAll, wsClient } from "./lib/clients.mjs";
import { E2E_ROOT, WORK_ROOT, nimbusBinary, randomName, startServer, waitFor } from "./lib/server.mjs";

const cleanups = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

/** Runs the nimbus binary; resolves with {code, stdout, stderr} (bounded by `timeoutMs`). */
function nimbus(args, { env = {}, timeoutMs = 120_000, cwd } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(nimbusBinary(), args, { env: { ...process.env, NO_COLOR: "1", ...env }, cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`nimbus ${args.join(" ")} timed out\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function scaffold(name) {
  const dir = path.join(WORK_ROOT, name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(WORK_ROOT, { recursive: true });
  const r = await nimbus(["init", dir]);
  assert.equal(r.code, 0, `nimbus init failed:\n${r.stdout}\n${r.stderr}`);
  // The e2e package already has convex installed; share it instead of a second npm install.
  await symlink(path.join(E2E_ROOT, "node_modules"), path.join(dir, "node_modules"), "dir");
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test("init scaffolds an app; dev serves it and re-pushes an edit seen by a live client", async () => {
  const dir = await scaffold(randomName("cli"));
  for (const file of ["package.json", "convex/schema.ts", "convex/messages.ts", "convex/actions.ts", "convex/http.ts", "convex/crons.ts", "public/index.html"]) {
    await access(path.join(dir, file));
  }
  const again = await nimbus(["init", dir]);
  assert.equal(again.code, 1, "init refuses a non-empty directory");
  assert.match(again.stderr, /not empty/);

  const dev = await startDev(dir, { timeoutMs: 120_000 });
  cleanups.push(() => dev.stop());
  const tenant = path.basename(dir).toLowerCase();
  const url = `${dev.url}t/${tenant}`;
  const client = wsClient(url);
  cleanups.push(() => closeAll(client));
  const page = await fetch(dev.url);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<html/i);
  const updates = [];
  const sub = client.onUpdate("messages:list", {}, (v) => updates.push(v));
  cleanups.push(async () => sub());
  await waitFor(() => updates.length > 0, { timeoutMs: 15_000, what: "the first query result" });

  // Edit a function: the loop re-bundles and re-pushes; the live query re-runs on the new code.
  const messages = path.join(dir, "convex", "messages.ts");
  const source = await readFile(messages, "utf8");
  const edited = source.replace("return newest.reverse();", 'return [{ body: "edited!", author: "test" }];');
  assert.notEqual(edited, source, "the template's list query has the expected shape");
  await writeFile(messages, edited);
  await waitFor(() => updates.some((v) => Array.isArray(v) && v.some((m) => m.body === "edited!")), {
    timeoutMs: 30_000,
    what: "the live client to see the edited query",
    describe: () => dev.output.join("").slice(-2000),
  });

  // A syntax error is reported with file and line, and the loop keeps running.
  await writeFile(messages, "export const broken = ;\n");
  await waitFor(() => /messages\.ts:1:\d+/.test(dev.output.join("")), { timeoutMs: 30_000, what: "a located bundling error" });
  await writeFile(messages, source);
  await waitFor(() => dev.output.join("").split("change detected").length >= 3 && /ready in/.test(dev.output.join("").split("change detected").at(-1)), {
    timeoutMs: 30_000,
    what: "a successful rebuild after the fix",
  });
});

test("tenants, deploy and run against nimbus serve; bad input fails clearly", async () => {
  const dir = await scaffold(randomName("dep"));
  const server = await startServer();
  cleanups.push(() => server.stop());
  const env = { NIMBUS_URL: server.url, NIMBUS_OPERATOR_KEY: server.operatorKey };
  const created = await nimbus(["tenants", "create", "second", "--json"], { env });
  assert.equal(created.code, 0, created.stderr);
  const tenant = JSON.parse(created.stdout);
  assert.equal(tenant.name, "second");
  const listed = await nimbus(["tenants", "list"], { env });
  assert.match(listed.stdout, /second\s+active/);

  const deployEnv = { NIMBUS_URL: tenant.url, NIMBUS_ADMIN_KEY: tenant.adminKey };
  const deployed = await nimbus(["deploy", dir, "--json"], { env: deployEnv });
  assert.equal(deployed.code, 0, `${deployed.stdout}\n${deployed.stderr}`);
  assert.ok(JSON.parse(deployed.stdout).functions > 0);

  const sent = await nimbus(["run", "messages:send", JSON.stringify({ author: "cli", body: "from the cli" })], { env: deployEnv });
  assert.equal(sent.code, 0, sent.stderr);
  const listedMessages = await nimbus(["run", "messages:list", "--json"], { env: deployEnv });
  assert.equal(listedMessages.code, 0, listedMessages.stderr);
  assert.ok(JSON.stringify(JSON.parse(listedMessages.stdout).value).includes("from the cli"));

  const badJson = await nimbus(["run", "messages:list", "{not json"], { env: deployEnv });
  assert.equal(badJson.code, 1);
  assert.match(badJson.stderr, /not valid JSON/);
  const missing = await nimbus(["run", "messages:nope"], { env: deployEnv });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /Could not find public function/);
  const noKey = await nimbus(["deploy", dir], { env: { NIMBUS_URL: tenant.url, NIMBUS_ADMIN_KEY: "", CONVEX_SELF_HOSTED_ADMIN_KEY: "" } });
  assert.notEqual(noKey.code, 0);
  const wrongKey = await nimbus(["deploy", dir], { env: { NIMBUS_URL: tenant.url, NIMBUS_ADMIN_KEY: "second|nope" } });
  assert.equal(wrongKey.code, 1);
  assert.match(wrongKey.stderr, /401/);
  // A Workers-style app from examples/, deployed with `nimbus apps deploy`, by path and Host.
  const helloDir = path.join(E2E_ROOT, "..", "..", "examples", "hello-fetch");
  const app = await nimbus(["apps", "deploy", helloDir, "--name", "hello", "--env", "WHO=e2e", "--host", "hello.e2e.test", "--json"], { env: deployEnv });
  assert.equal(app.code, 0, `${app.stdout}\n${app.stderr}`);
  const byPath = await fetch(`${tenant.url}/apps/hello/`);
  assert.equal(await byPath.text(), "Hello from e2e!");
  const json = await (await fetch(`${tenant.url}/apps/hello/json?a=7`)).json();
  assert.equal(Object.keys(json).length, 100);
  assert.equal(json.key99, "7");
  const counted = await (await fetch(`${tenant.url}/apps/hello/count`)).text();
  assert.equal(counted, "line 1\nline 2\nline 3\nline 4\nline 5\n");
  const big = "streamed both ways. ".repeat(10_000);
  const upper = await fetch(`${tenant.url}/apps/hello/upper`, {
    method: "POST",
    body: new Blob([big]).stream(),
    duplex: "half",
  });
  assert.equal(await upper.text(), big.toUpperCase());

  const usage = await nimbus(["frobnicate"]);
  assert.equal(usage.code, 2, "unknown commands are usage errors");
});
