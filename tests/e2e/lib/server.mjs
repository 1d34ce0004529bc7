// Start/stop a real `nimbus serve` process for end-to-end tests, plus helpers for the operator
// admin API, the Convex CLI and bounded waiting.
//
// Every wait here is bounded and fails with a message saying what was being waited for. Server
// processes are killed on stop(), and (as a last resort) when the test process exits.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { cp, mkdtemp, mkdir, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

export const E2E_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const REPO_ROOT = path.resolve(E2E_ROOT, "..", "..");
/** Scratch space for app copies. Inside tests/e2e so `convex/server` resolves to our node_modules. */
export const WORK_ROOT = path.join(E2E_ROOT, ".work");
export const CONVEX_CLI = path.join(E2E_ROOT, "node_modules", "convex", "bin", "main.js");

const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

// ---------------------------------------------------------------------------------------------
// Small utilities

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Rejects with `message` if `promise` does not settle within `ms`. */
export async function withTimeout(promise, ms, message) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms: ${message}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Polls `fn` until it returns a truthy value (which is returned) or `timeoutMs` passes.
 * `describe()` is called on timeout to add the last observed state to the error message.
 */
export async function waitFor(fn, { timeoutMs = 10_000, intervalMs = 100, what, describe } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() >= deadline) {
      const extra = describe ? `; last state: ${describe()}` : "";
      const err = lastError ? `; last error: ${lastError.message ?? lastError}` : "";
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what ?? "condition"}${extra}${err}`);
    }
    await sleep(intervalMs);
  }
}

/** A TCP port that was free a moment ago (bind port 0, read it, close). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export function randomName(prefix = "t") {
  return `${prefix}${randomBytes(4).toString("hex")}`;
}

// ---------------------------------------------------------------------------------------------
// Process bookkeeping: nothing may outlive the test process.

const liveChildren = new Set();
process.on("exit", () => {
  for (const child of liveChildren) {
    try {
      // Negative pid: the whole process group (children are spawned detached).
      process.kill(-child.pid, "SIGKILL");
    } catch {
      try {
        child.kill("SIGKILL");
      } catch {}
    }
  }
});

function track(child) {
  liveChildren.add(child);
  child.once("exit", () => liveChildren.delete(child));
}

function exited(child) {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child, ms) {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {}
  }
}

// ---------------------------------------------------------------------------------------------
// The server

export function nimbusBinary() {
  const bin = process.env.NIMBUS_BIN || path.join(REPO_ROOT, "target", "debug", "nimbus");
  if (!existsSync(bin)) {
    throw new Error(
      `Nimbus binary not found at ${bin}. Build it first: \`cargo build -p nimbus-cli\` ` +
        `(or point NIMBUS_BIN at a binary).`,
    );
  }
  return bin;
}

export class NimbusServer {
  constructor({ child, port, dataDir, operatorKey, output }) {
    this.child = child;
    this.port = port;
    this.dataDir = dataDir;
    this.operatorKey = operatorKey;
    this.output = output; // array of "[stdout] ..." / "[stderr] ..." chunks
    this.url = `http://127.0.0.1:${port}`;
  }

  /** Everything the server printed so far. */
  logs() {
    return this.output.join("");
  }

  dumpLogs(reason = "") {
    const text = this.logs();
    process.stderr.write(
      `\n----- nimbus server output (port ${this.port})${reason ? ` — ${reason}` : ""} -----\n` +
        (text || "(no output)\n") +
        `----- end of nimbus server output -----\n`,
    );
  }

  /** Deployment URL of a tenant. */
  tenantUrl(name) {
    return `${this.url}/t/${name}`;
  }

  /** fetch() against the operator admin API (path relative to the server root). */
  adminFetch(p, init = {}) {
    const headers = { ...(init.headers ?? {}) };
    if (init.operatorKey !== null) {
      headers.Authorization ??= `Bearer ${init.operatorKey ?? this.operatorKey}`;
    }
    if (init.body !== undefined && typeof init.body !== "string") {
      headers["Content-Type"] ??= "application/json";
    }
    const body =
      init.body === undefined || typeof init.body === "string" ? init.body : JSON.stringify(init.body);
    return fetchWithTimeout(this.url + p, { ...init, headers, body });
  }

  /** Like adminFetch but asserts the status and returns the parsed JSON body (or null). */
  async adminJson(p, init = {}, expectStatus = [200, 201, 204]) {
    const res = await this.adminFetch(p, init);
    const text = await res.text();
    const ok = Array.isArray(expectStatus) ? expectStatus.includes(res.status) : res.status === expectStatus;
    if (!ok) {
      throw new Error(
        `${init.method ?? "GET"} ${p}: expected status ${expectStatus}, got ${res.status}: ${text}`,
      );
    }
    if (!text) return null;
    try {
      return JSON.parse(text);
    } catch {
      throw new Error(`${init.method ?? "GET"} ${p}: response is not JSON: ${text}`);
    }
  }

  /** POST /_nimbus/tenants → {name, url, siteUrl, adminKey}. */
  async createTenant(name) {
    const t = await this.adminJson("/_nimbus/tenants", { method: "POST", body: { name } }, 201);
    for (const field of ["name", "url", "adminKey"]) {
      if (typeof t?.[field] !== "string") {
        throw new Error(`POST /_nimbus/tenants: response lacks string field "${field}": ${JSON.stringify(t)}`);
      }
    }
    return t;
  }

  async stop() {
    const child = this.child;
    if (!exited(child)) {
      killGroup(child, "SIGTERM");
      if (!(await waitExit(child, STOP_TIMEOUT_MS))) {
        process.stderr.write(`nimbus (pid ${child.pid}) ignored SIGTERM for ${STOP_TIMEOUT_MS} ms; sending SIGKILL\n`);
        killGroup(child, "SIGKILL");
        await waitExit(child, STOP_TIMEOUT_MS);
      }
    }
    await rm(this.dataDir, { recursive: true, force: true });
  }
}

export async function fetchWithTimeout(url, init = {}, ms = 30_000) {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), ms);
  try {
    return await fetch(url, { ...init, signal: ctrl.signal });
  } catch (e) {
    if (ctrl.signal.aborted) throw new Error(`${init.method ?? "GET"} ${url}: no response within ${ms} ms`);
    throw new Error(`${init.method ?? "GET"} ${url}: ${e.cause?.message ?? e.message}`);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Spawns `nimbus serve` on a free port with a fresh data dir and waits until it is ready: it
 * printed `listening on http://127.0.0.1:<port>` and `GET /health` answers 200.
 */
export async function startServer({ operatorKey = `op-${randomBytes(16).toString("hex")}` } = {}) {
  const bin = nimbusBinary();
  const port = await freePort();
  const dataDir = await mkdtemp(path.join(tmpdir(), "nimbus-e2e-"));
  const output = [];
  const child = spawn(bin, ["serve", "--listen", `127.0.0.1:${port}`, "--data-dir", dataDir], {
    env: { ...process.env, NIMBUS_OPERATOR_KEY: operatorKey },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // own process group, so stop() can take down anything it spawned
  });
  track(child);
  const server = new NimbusServer({ child, port, dataDir, operatorKey, output });

  let sawListening = false;
  const listenRe = new RegExp(`listening on http://127\\.0\\.0\\.1:${port}\\b`);
  let stdoutTail = "";
  child.stdout.setEncoding("utf8");
  child.stderr.setEncoding("utf8");
  child.stdout.on("data", (s) => {
    output.push(prefixLines("[stdout] ", s));
    stdoutTail = (stdoutTail + s).slice(-4096);
    if (listenRe.test(stdoutTail)) sawListening = true;
  });
  child.stderr.on("data", (s) => output.push(prefixLines("[stderr] ", s)));
  const spawnError = new Promise((_, reject) => child.once("error", reject));
  spawnError.catch(() => {});

  try {
    await withTimeout(
      Promise.race([
        spawnError,
        waitFor(
          async () => {
            if (exited(child)) {
              throw Object.assign(
                new Error(`nimbus serve exited early (code ${child.exitCode}, signal ${child.signalCode})`),
                { fatal: true },
              );
            }
            if (!sawListening) return false;
            const res = await fetchWithTimeout(`${server.url}/health`, {}, 2_000);
            await res.arrayBuffer();
            return res.status === 200;
          },
          {
            timeoutMs: READY_TIMEOUT_MS,
            intervalMs: 100,
            what: `nimbus serve on port ${port} to print "listening on http://127.0.0.1:${port}" and answer GET /health with 200`,
            describe: () => `printed listening line: ${sawListening}`,
          },
        ),
        // Fail fast if the process dies instead of waiting for the full timeout.
        new Promise((_, reject) =>
          child.once("exit", (code, signal) =>
            reject(new Error(`nimbus serve exited before becoming ready (code ${code}, signal ${signal})`)),
          ),
        ),
      ]),
      READY_TIMEOUT_MS + 5_000,
      "nimbus serve readiness",
    );
  } catch (e) {
    server.dumpLogs("startup failed");
    await server.stop();
    throw new Error(`Could not start ${bin} serve: ${e.message}`);
  }
  return server;
}

function prefixLines(prefix, s) {
  return s
    .split(/(?<=\n)/)
    .map((l) => prefix + l)
    .join("");
}

/**
 * Registers top-level before/after hooks that start one server for the file and stop it at
 * the end. Returns an object whose `server` property is set once `before` ran, and a `test`
 * wrapper that prints the server's output when the test fails.
 */
export function useServer(options) {
  const ctx = {
    server: null,
    cleanups: [],
    /** Register something to undo after all tests of the file (runs before the server stops). */
    defer(fn) {
      ctx.cleanups.push(fn);
    },
    test(name, opts, fn) {
      if (typeof opts === "function") [fn, opts] = [opts, {}];
      return test(name, opts, async (t) => {
        try {
          await fn(t);
        } catch (e) {
          ctx.server?.dumpLogs(`test "${name}" failed`);
          throw e;
        }
      });
    },
  };
  before(async () => {
    ctx.server = await startServer(options);
  });
  after(async () => {
    for (const fn of ctx.cleanups.reverse()) {
      try {
        await fn();
      } catch (e) {
        process.stderr.write(`cleanup failed: ${e.stack ?? e}\n`);
      }
    }
    await ctx.server?.stop();
  });
  return ctx;
}

// ---------------------------------------------------------------------------------------------
// Apps and the Convex CLI

/**
 * Copies tests/e2e/apps/<app> to a fresh dir under tests/e2e/.work/ (so Node/esbuild resolve
 * `convex/*` from tests/e2e/node_modules) and returns its path. `extraFiles` maps paths
 * relative to the app dir to contents, added (or overwritten) in the copy.
 */
export async function prepareApp(app, extraFiles = {}) {
  await mkdir(WORK_ROOT, { recursive: true });
  const dir = await mkdtemp(path.join(WORK_ROOT, `${app}-`));
  await cp(path.join(E2E_ROOT, "apps", app), dir, {
    recursive: true,
    filter: (src) => !/[\\/](node_modules|_generated|\.env\.local)$/.test(src),
  });
  const { writeFile } = await import("node:fs/promises");
  for (const [rel, contents] of Object.entries(extraFiles)) {
    const file = path.join(dir, rel);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, contents);
  }
  return dir;
}

export async function removeApp(dir) {
  await rm(dir, { recursive: true, force: true });
}

/**
 * Runs the Convex CLI (tests/e2e/node_modules/convex) in `cwd`. Resolves with
 * {code, signal, stdout, stderr, output, timedOut}; never rejects for a non-zero exit.
 * The environment is scrubbed of CONVEX_* variables, then `env` is applied (a value of
 * `undefined` removes a variable).
 */
export async function runConvex(args, { cwd, env = {}, timeoutMs = 120_000 } = {}) {
  if (!existsSync(CONVEX_CLI)) {
    throw new Error(`${CONVEX_CLI} missing: run \`npm ci --prefix tests/e2e\` first`);
  }
  const childEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith("CONVEX_")) childEnv[k] = v;
  }
  Object.assign(childEnv, { CI: "1", CONVEX_AGENT_MODE: undefined, NO_COLOR: "1" });
  for (const [k, v] of Object.entries(env)) childEnv[k] = v;
  for (const k of Object.keys(childEnv)) if (childEnv[k] === undefined) delete childEnv[k];

  const child = spawn(process.execPath, [CONVEX_CLI, ...args], {
    cwd,
    env: childEnv,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  track(child);
  let stdout = "";
  let stderr = "";
  let output = "";
  child.stdout.setEncoding("utf8");
  child.stderr.setEncoding("utf8");
  child.stdout.on("data", (s) => ((stdout += s), (output += s)));
  child.stderr.on("data", (s) => ((stderr += s), (output += s)));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child, "SIGKILL");
  }, timeoutMs);
  const [code, signal] = await new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (c, s) => resolve([c, s]));
  }).finally(() => clearTimeout(timer));
  // Make sure nothing it spawned (esbuild service) lingers.
  killGroup(child, "SIGKILL");
  return { code, signal, stdout, stderr, output, timedOut, args };
}

/** Describes a CLI run for assertion messages. */
export function describeRun(r) {
  let hint = "";
  if (/Error fetching \w+\s+https?:\/\/[^/\s]+\/api\/\S+ 404/.test(r.output)) {
    hint =
      "\nHint: the Convex CLI builds push URLs with `new URL(\"/api/...\", deploymentUrl)`, which drops the " +
      "`/t/<tenant>` path prefix, so it calls e.g. http://127.0.0.1:<port>/api/get_config_hashes. The server " +
      "must also serve the push endpoints at the root /api/... and pick the tenant from the admin key " +
      "(`Authorization: Convex <tenant>|<hex>`).";
  }
  return (
    `\`convex ${r.args.join(" ")}\` ${r.timedOut ? "TIMED OUT (killed)" : `exited with code ${r.code}${r.signal ? ` (signal ${r.signal})` : ""}`}\n` +
    `----- CLI output -----\n${r.output || "(none)"}\n----- end of CLI output -----${hint}`
  );
}

/**
 * `convex deploy --yes` of `appDir` to a tenant ({url, adminKey}). `adminKey: null` runs it
 * without CONVEX_SELF_HOSTED_ADMIN_KEY.
 */
export function deploy(appDir, tenant, { adminKey, extraArgs = [], timeoutMs } = {}) {
  return runConvex(["deploy", "--yes", ...extraArgs], {
    cwd: appDir,
    env: {
      CONVEX_SELF_HOSTED_URL: tenant.url,
      CONVEX_SELF_HOSTED_ADMIN_KEY: adminKey === undefined ? tenant.adminKey : (adminKey ?? undefined),
      CONVEX_DEPLOYMENT: undefined,
      CONVEX_DEPLOY_KEY: undefined,
    },
    timeoutMs,
  });
}

/** Deploys and throws (with the CLI output) unless it exits 0. */
export async function deployOk(appDir, tenant, opts) {
  const r = await deploy(appDir, tenant, opts);
  if (r.code !== 0) throw new Error(`deploy to ${tenant.url} failed: ${describeRun(r)}`);
  return r;
}
