// The example chat app (examples/chat) in a real browser: `nimbus dev` serves the page, the
// `convex` browser bundle and the deployment; two isolated Chromium contexts (two "users")
// chat with each other through the live query.
//
// Needs Debian's Chromium at /usr/bin/chromium (skipped loudly without it, a failure when
// CI=true) and a `nimbus` binary with the `dev` command (NIMBUS_BIN overrides the path).

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";

import { chromiumAvailable, ensureAppDeps, launchChromium, startDev } from "./lib/browser.mjs";
import { REPO_ROOT, WORK_ROOT } from "./lib/server.mjs";

const APP_DIR = path.join(REPO_ROOT, "examples", "chat");
const SCREENSHOT = path.join(WORK_ROOT, "chat.png");
const SEEN_TIMEOUT_MS = 10_000;

const haveChromium = chromiumAvailable();
let dev = null;
let browser = null;
const pageProblems = []; // console errors and uncaught page errors, shown when a test fails

before(async () => {
  if (!haveChromium) return;
  await ensureAppDeps(APP_DIR);
  dev = await startDev(APP_DIR);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close().catch((e) => process.stderr.write(`closing Chromium failed: ${e}\n`));
  await dev?.stop();
});

/** A fresh browser context (own cookies/localStorage) with the chat page loaded and live. */
async function openChat(label) {
  const context = await browser.newContext({ viewport: { width: 900, height: 800 } });
  const page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") pageProblems.push(`[${label} console.error] ${m.text()}`);
  });
  page.on("pageerror", (e) => pageProblems.push(`[${label} pageerror] ${e.stack ?? e}`));
  page.on("requestfailed", (r) => pageProblems.push(`[${label} requestfailed] ${r.url()} ${r.failure()?.errorText}`));
  const res = await page.goto(dev.url, { waitUntil: "load", timeout: 30_000 });
  assert.equal(res?.status(), 200, `GET ${dev.url} answered ${res?.status()}`);
  // app.js sets data-state="loaded" after the first result of `messages:list` arrived.
  await page.locator('#messages[data-state="loaded"]').waitFor({ state: "attached", timeout: 20_000 });
  return { context, page };
}

async function send(page, author, body) {
  await page.fill("#author", author);
  await page.fill("#body", body);
  await page.click("#send");
}

/** Waits until `page` shows a message by `author` with exactly `body`. */
async function expectMessage(page, author, body, who) {
  const msg = page.locator(".message").filter({ has: page.locator(".message__body", { hasText: body }) });
  try {
    await msg.first().waitFor({ state: "visible", timeout: SEEN_TIMEOUT_MS });
  } catch (e) {
    const shown = await page.locator(".message__body").allTextContents().catch(() => []);
    throw new Error(
      `${who} did not show "${body}" within ${SEEN_TIMEOUT_MS} ms; it shows: ${JSON.stringify(shown)}\n${e.message}`,
    );
  }
  assert.equal(await msg.count(), 1, `${who} shows "${body}" more than once`);
  assert.equal((await msg.locator(".message__author").textContent())?.trim(), author);
}

function reportFailure(name) {
  dev?.dumpLogs(`test "${name}" failed`);
  if (pageProblems.length) process.stderr.write(`----- browser problems -----\n${pageProblems.join("\n")}\n`);
}

test("two browsers chat live through nimbus dev", { skip: !haveChromium && "no Chromium" }, async () => {
  const a = await openChat("A");
  const b = await openChat("B");
  try {
    const tag = randomBytes(3).toString("hex");
    const fromA = `Hello from Alice ${tag}`;
    const fromB = `Hi Alice, Bob here ${tag}`;

    await send(a.page, "Alice", fromA);
    await expectMessage(b.page, "Alice", fromA, "page B");
    await expectMessage(a.page, "Alice", fromA, "page A (sender)");
    assert.equal(await a.page.inputValue("#body"), "", "the message field is cleared after sending");

    await send(b.page, "Bob", fromB);
    await expectMessage(a.page, "Bob", fromB, "page A");
    await expectMessage(b.page, "Bob", fromB, "page B (sender)");

    // Same order on both pages (creation order): A's message before B's.
    for (const [who, { page }] of [["A", a], ["B", b]]) {
      const bodies = await page.locator(".message__body").allTextContents();
      assert.ok(
        bodies.indexOf(fromA) < bodies.indexOf(fromB),
        `page ${who} order is wrong: ${JSON.stringify(bodies)}`,
      );
    }
    // The sender's own messages are styled as "mine".
    assert.equal(await a.page.locator(".message--mine .message__body", { hasText: fromA }).count(), 1);

    // Server-side validation: an empty (whitespace) message is rejected with the ConvexError text.
    const before = await b.page.locator(".message").count();
    await send(a.page, "Alice", "   ");
    await a.page.locator("#error:not([hidden])").waitFor({ timeout: SEEN_TIMEOUT_MS });
    assert.match(await a.page.textContent("#error"), /Message is empty/);
    assert.equal(await a.page.locator(".message").count(), before, "the rejected message must not appear");

    await a.page.fill("#body", "");
    await a.page.locator("#error").evaluate((el) => (el.hidden = true));
    await mkdir(WORK_ROOT, { recursive: true });
    await a.page.screenshot({ path: SCREENSHOT });
    process.stderr.write(`screenshot of page A: ${SCREENSHOT}\n`);
    assert.deepEqual(
      // The convex client logs a failed mutation's error; that one was expected.
      pageProblems.filter((p) => !p.includes("Uncaught ConvexError: Message is empty.")),
      [],
      "the pages logged errors",
    );
  } catch (e) {
    reportFailure("two browsers chat live through nimbus dev");
    throw e;
  } finally {
    await a.context.close();
    await b.context.close();
  }
});
