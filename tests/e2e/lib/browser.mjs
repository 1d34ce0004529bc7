// Helpers for the headless-browser test: run `nimbus dev <app>` and drive Debian's Chromium
// through playwright-core.
//
// Every wait is bounded; the dev server is killed (SIGTERM, then SIGKILL after 5 s) on stop()
// and, as a last resort, when the test process exits.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { freePort, nimbusBinary, waitFor, withTimeout } from "./server.mjs";

/** Chromium from Debian (`apt-get install -y chromium`); Playwright's own download is not used. */
export const CHROMIUM_PATH = process.env.CHROMIUM_BIN || "/usr/bin/chromium";

/**
 * Launch flags. The background-networking/component/sync flags keep Chromium from dialing
 * Google's hosts on a closed network (it otherwise floods it with refused connections).
 */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const DEV_READY_TIMEOUT_MS = 180_000; // the first run may `npm install` the app
const STOP_GRACE_MS = 5_000;
const NPM_CI_TIMEOUT_MS = 180_000;

/**
 * Checks that Chromium is installed. Returns true if it is. If not: throws when `CI=true`
 * (the suite must not silently lose coverage there), otherwise prints a loud notice and
 * returns false so the caller can skip.
 */
export function chromiumAvailable() {
  if (existsSync(CHROMIUM_PATH)) return true;
  const msg = `${CHROMIUM_PATH} not found: install Debian's chromium (apt-get install -y chromium)`;
  if (process.env.CI === "true") throw new Error(msg);
  process.stderr.write(
    `\n${"!".repeat(78)}\n!!! SKIPPING the browser test: ${msg}\n${"!".repeat(78)}\n\n`,
  );
  return false;
}

/** Launches headless Chromium with playwright-core. */
export async function launchChromium() {
  const { chromium } = await import("playwright-core");
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60_000,
  });
}

// ---------------------------------------------------------------------------------------------
// Child processes

const liveChildren = new Set();
process.on("exit", () => {
  for (const child of liveChildren) killGroup(child, "SIGKILL");
});

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal); // spawned detached: its own process group
  } catch {
    try {
      child.kill(signal);
    } catch {}
  }
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

/** Runs a command to completion (own process group, bounded); throws with its output on failure. */
export async function run(cmd, args, { cwd, timeoutMs = 120_000, env = process.env } = {}) {
  const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  liveChildren.add(child);
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (s) => (output += s));
  child.stderr.setEncoding("utf8").on("data", (s) => (output += s));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child, "SIGKILL");
  }, timeoutMs);
  const code = await new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", resolve);
  }).finally(() => {
    clearTimeout(timer);
    liveChildren.delete(child);
  });
  if (code !== 0 || timedOut) {
    throw new Error(
      `\`${cmd} ${args.join(" ")}\` ${timedOut ? `timed out after ${timeoutMs} ms` : `exited with code ${code}`}\n${output}`,
    );
  }
  return output;
}

/** `npm ci` in `appDir` unless its node_modules exists (`nimbus dev` would do it too, slower to see). */
export async function ensureAppDeps(appDir) {
  if (existsSync(path.join(appDir, "node_modules", "convex", "package.json"))) return;
  process.stderr.write(`installing ${appDir}/node_modules (npm ci)…\n`);
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  await run(npm, ["ci", "--no-audit", "--no-fund", "--prefix", appDir], { timeoutMs: NPM_CI_TIMEOUT_MS });
}

// ---------------------------------------------------------------------------------------------
// `nimbus dev`

export class DevServer {
  constructor({ child, dataDir, output }) {
    this.child = child;
    this.dataDir = dataDir;
    this.output = output;
    this.url = null; // set from the `ready:` line
  }

  logs() {
    return this.output.join("");
  }

  dumpLogs(reason = "") {
    process.stderr.write(
      `\n----- nimbus dev output${reason ? ` — ${reason}` : ""} -----\n` +
        (this.logs() || "(no output)\n") +
        `----- end of nimbus dev output -----\n`,
    );
  }

  async stop() {
    const child = this.child;
    if (!exited(child)) {
      killGroup(child, "SIGTERM");
      if (!(await waitExit(child, STOP_GRACE_MS))) {
        process.stderr.write(`nimbus dev (pid ${child.pid}) ignored SIGTERM for ${STOP_GRACE_MS} ms; sending SIGKILL\n`);
        killGroup(child, "SIGKILL");
        await waitExit(child, STOP_GRACE_MS);
      }
    }
    liveChildren.delete(child);
    await rm(this.dataDir, { recursive: true, force: true });
  }
}

/**
 * Spawns `nimbus dev <appDir> --listen 127.0.0.1:<free port> --data-dir <fresh tmp dir>` and
 * waits for it to print `ready: http://127.0.0.1:<port>/`. Returns a DevServer whose `url` is
 * the printed URL.
 */
export async function startDev(appDir, { timeoutMs = DEV_READY_TIMEOUT_MS } = {}) {
  const bin = nimbusBinary();
  const port = await freePort();
  const dataDir = await mkdtemp(path.join(tmpdir(), "nimbus-dev-e2e-"));
  const output = [];
  const args = ["dev", appDir, "--listen", `127.0.0.1:${port}`, "--data-dir", dataDir];
  const child = spawn(bin, args, {
    env: { ...process.env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  liveChildren.add(child);
  const dev = new DevServer({ child, dataDir, output });

  let tail = "";
  child.stdout.setEncoding("utf8");
  child.stderr.setEncoding("utf8");
  const onData = (prefix) => (s) => {
    output.push(
      s
        .split(/(?<=\n)/)
        .map((l) => prefix + l)
        .join(""),
    );
    tail = (tail + s).slice(-8192);
    const m = /ready: (http:\/\/127\.0\.0\.1:(\d+)\/)/.exec(tail);
    if (m && !dev.url) dev.url = m[1];
  };
  child.stdout.on("data", onData("[stdout] "));
  child.stderr.on("data", onData("[stderr] "));
  const failed = new Promise((_, reject) => {
    child.once("error", (e) => reject(new Error(`could not spawn ${bin}: ${e.message}`)));
    child.once("exit", (code, signal) =>
      reject(new Error(`\`nimbus ${args.join(" ")}\` exited before it was ready (code ${code}, signal ${signal})`)),
    );
  });
  failed.catch(() => {});

  try {
    await withTimeout(
      Promise.race([
        failed,
        waitFor(() => dev.url, {
          timeoutMs,
          intervalMs: 100,
          what: `\`nimbus ${args.join(" ")}\` to print "ready: http://127.0.0.1:${port}/"`,
        }),
      ]),
      timeoutMs + 5_000,
      "nimbus dev readiness",
    );
  } catch (e) {
    dev.dumpLogs("startup failed");
    await dev.stop();
    throw e;
  }
  return dev;
}
