#!/usr/bin/env python3
"""Commit → client update latency with 1,000 and 10,000 live subscriptions.

Every subscription is a real WebSocket client speaking the Convex sync protocol: it sends
`Connect`, then `ModifyQuerySet` adding `items:latest {channel: i}` with its own channel i, and
reads `Transition` messages (checking that each one chains onto the previous `endVersion`, as
the official client does). The server's application-level `Ping`s need no answer; WebSocket
pings are answered by the client library.

Once every client holds its initial result, a writer client commits `items:insert` on a
random channel k with a sync-protocol `Mutation` message, one commit at a time. The latency of
one sample is the arrival of the `Transition` carrying the new document on client k minus the
moment the `Mutation` was sent, so it includes running and committing the mutation; the
mutation round-trip (`MutationResponse` arrival minus send) is reported beside it so a reader
can subtract. Each update must carry exactly the inserted document (its id, channel and body),
and no other client may receive anything from a commit that is not on its channel. Also
reported: the time to establish all subscriptions (first connect to last initial result) and
the server's RSS before and with all sockets open.

Settings (environment variables, defaults in brackets):
  SUBS_LEVELS               [1000,10000]  subscription counts; each level gets a fresh server
  SUBS_SAMPLES              [200]         measured commits per level
  SUBS_WARMUP               [20]          commits before the measured ones, not counted
  SUBS_CONNECT_CONCURRENCY  [200]         WebSocket handshakes in flight at once
  SUBS_TIMEOUT_SECONDS      [10]          the longest one update may take before the run fails

Run: bench/.venv/bin/python bench/nimbus/subscriptions.py (needs `websockets`, see
requirements.txt). Prints a markdown section on stdout and progress on stderr; exits non-zero
if any check fails. About 1.5 minutes on the 2-core reference machine.
"""

import asyncio
import gc
import json
import os
import random
import sys
import time
import uuid

import common

try:
    from websockets.asyncio.client import connect
except ImportError:
    sys.exit("the websockets package is missing: bench/.venv/bin/pip install -r bench/nimbus/requirements.txt")

LEVELS = [int(x) for x in os.environ.get("SUBS_LEVELS", "1000,10000").split(",") if x.strip()]
SAMPLES = int(os.environ.get("SUBS_SAMPLES", "200"))
WARMUP = int(os.environ.get("SUBS_WARMUP", "20"))
CONNECT_CONCURRENCY = int(os.environ.get("SUBS_CONNECT_CONCURRENCY", "200"))
TIMEOUT_SECONDS = float(os.environ.get("SUBS_TIMEOUT_SECONDS", "10"))
TENANT = "subs"
# The client version in the sync URL; the official npm client puts its own version there.
CLIENT_VERSION = "1.48.0"
# File descriptors the run itself needs besides one per socket (server log, pipes, Python).
SPARE_FDS = 500


class CheckFailed(Exception):
    """A protocol or data check failed; the message says which."""


def log(message):
    print(message, file=sys.stderr, flush=True)


def connect_message():
    return {
        "type": "Connect",
        "sessionId": str(uuid.uuid4()),
        "connectionCount": 0,
        "lastCloseReason": "InitialConnect",
        "clientTs": int(time.time() * 1000),
    }


async def open_socket(url):
    # No client keep-alive pings (the server pings idle sockets itself) and no compression
    # (the server does not negotiate it), so the sockets carry only protocol traffic.
    return await connect(
        url, ping_interval=None, compression=None, proxy=None, open_timeout=60, max_queue=64
    )


class Subscriber:
    """One client holding `items:latest {channel}`; records when its result changes."""

    def __init__(self, channel, stats):
        self.channel, self.stats = channel, stats
        self.version = {"querySet": 0, "identity": 0, "ts": "AAAAAAAAAAA="}
        self.initial = asyncio.get_running_loop().create_future()
        self.expected = None  # (body, future) while a commit on this channel is in flight
        self.socket = None

    async def start(self, url):
        self.socket = await open_socket(url)
        await self.socket.send(json.dumps(connect_message()))
        add = {"type": "Add", "queryId": 0, "udfPath": "items:latest", "args": [{"channel": self.channel}]}
        await self.socket.send(
            json.dumps({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": [add]})
        )
        return asyncio.create_task(self.read())

    async def read(self):
        try:
            async for text in self.socket:
                arrived = time.monotonic()
                self.on_message(json.loads(text), arrived)
        except Exception as error:  # noqa: BLE001 - any failure ends the run with its reason
            self.fail(f"client {self.channel}: {error!r}")
            return
        self.fail(f"client {self.channel}: the server closed the socket")

    def on_message(self, message, arrived):
        kind = message.get("type")
        if kind == "Ping":
            return
        if kind != "Transition":
            self.fail(f"client {self.channel} got an unexpected message: {str(message)[:300]}")
            return
        if message["startVersion"] != self.version:
            self.fail(f"client {self.channel}: Transition starts at {message['startVersion']}, not {self.version}")
            return
        self.version = message["endVersion"]
        updates = [m for m in message["modifications"] if m.get("type") == "QueryUpdated"]
        others = [m for m in message["modifications"] if m.get("type") != "QueryUpdated"]
        if others:
            self.fail(f"client {self.channel}: unexpected modifications {str(others)[:300]}")
            return
        if not self.initial.done():
            if updates:
                self.initial.set_result(updates[-1]["value"])
            return
        if self.expected is None:
            self.stats["stray_transitions"] += 1
            return
        body, future = self.expected
        if updates and not future.done():
            self.expected = None
            future.set_result((arrived, updates[-1]["value"]))

    def fail(self, reason):
        self.stats["failures"].append(reason)
        for future in (self.initial, self.expected[1] if self.expected else None):
            if future is not None and not future.done():
                future.set_exception(CheckFailed(reason))


class Writer:
    """The client that commits: sends `Mutation`s and matches their `MutationResponse`s."""

    def __init__(self):
        self.pending = {}
        self.socket = None

    async def start(self, url):
        self.socket = await open_socket(url)
        await self.socket.send(json.dumps(connect_message()))
        return asyncio.create_task(self.read())

    async def read(self):
        async for text in self.socket:
            arrived = time.monotonic()
            message = json.loads(text)
            if message.get("type") == "MutationResponse":
                future = self.pending.pop(message["requestId"], None)
                if future is not None and not future.done():
                    future.set_result((arrived, message))
        for future in self.pending.values():
            if not future.done():
                future.set_exception(CheckFailed("the writer's socket closed"))

    async def insert(self, request_id, channel, body):
        """Sends one mutation; returns (sent_at, future of (arrival, MutationResponse))."""
        future = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        message = {"type": "Mutation", "requestId": request_id, "udfPath": "items:insert",
                   "args": [{"channel": channel, "body": body}]}
        text = json.dumps(message)
        sent_at = time.monotonic()
        await self.socket.send(text)
        return sent_at, future


async def subscribe_all(url, count, stats):
    """Opens `count` subscribers; returns them, their reader tasks and the seconds it took."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    subscribers = [Subscriber(channel, stats) for channel in range(count)]
    tasks = []
    opened = 0

    async def start(subscriber):
        nonlocal opened
        async with gate:
            tasks.append(await subscriber.start(url))
            await asyncio.wait_for(subscriber.initial, 120)
        opened += 1
        if opened % max(1, count // 5) == 0:
            log(f"  {opened:,} / {count:,} subscribed")

    started = time.monotonic()
    await asyncio.gather(*(start(s) for s in subscribers))
    seconds = time.monotonic() - started
    for subscriber in subscribers:
        if subscriber.initial.result() is not None:
            raise CheckFailed(f"channel {subscriber.channel} is not empty at the start")
    return subscribers, tasks, seconds


async def one_sample(writer, subscribers, request_id, rng):
    """Commits one item on a random channel; returns (update ms, mutation round-trip ms)."""
    channel = rng.randrange(len(subscribers))
    body = f"sample-{request_id}-{rng.getrandbits(32):08x}"
    update = asyncio.get_running_loop().create_future()
    subscribers[channel].expected = (body, update)
    sent_at, response = await writer.insert(request_id, channel, body)
    responded_at, answer = await asyncio.wait_for(response, TIMEOUT_SECONDS)
    if not answer.get("success"):
        raise CheckFailed(f"items:insert failed: {answer.get('result')}")
    try:
        arrived_at, value = await asyncio.wait_for(update, TIMEOUT_SECONDS)
    except asyncio.TimeoutError:
        raise CheckFailed(f"no update on channel {channel} within {TIMEOUT_SECONDS} s") from None
    expected = {"_id": answer["result"], "channel": channel, "body": body}
    if not isinstance(value, dict) or any(value.get(k) != v for k, v in expected.items()):
        raise CheckFailed(f"channel {channel} got {value}, expected the inserted {expected}")
    return (arrived_at - sent_at) * 1000, (responded_at - sent_at) * 1000


async def measure(server, count):
    url = f"ws://127.0.0.1:{server.port}/t/{TENANT}/api/{CLIENT_VERSION}/sync"
    stats = {"failures": [], "stray_transitions": 0}
    rss_before = common.rss_kib(server.pid)
    subscribers, tasks, establish_s = await subscribe_all(url, count, stats)
    if stats["failures"]:
        raise CheckFailed(stats["failures"][0])
    # Let the server settle after the burst of initial queries before reading its RSS.
    await asyncio.sleep(2)
    rss_open = common.rss_kib(server.pid)
    writer = Writer()
    tasks.append(await writer.start(url))
    # Setup garbage would otherwise be collected in the middle of a sample.
    gc.collect()
    gc.freeze()
    rng = random.Random(count)
    updates, round_trips = [], []
    log(f"  {count:,} subscriptions in {establish_s:.1f} s; committing {WARMUP} + {SAMPLES} items")
    for request_id in range(WARMUP + SAMPLES):
        update_ms, round_trip_ms = await one_sample(writer, subscribers, request_id, rng)
        if stats["failures"]:
            raise CheckFailed(stats["failures"][0])
        if request_id >= WARMUP:
            updates.append(update_ms)
            round_trips.append(round_trip_ms)
    # A stray update would reach its client a moment after the commit that caused it.
    await asyncio.sleep(0.5)
    if stats["stray_transitions"]:
        raise CheckFailed(f"{stats['stray_transitions']} Transitions reached clients whose channel was not written")
    rss_after = common.rss_kib(server.pid)
    await close_all([writer.socket] + [s.socket for s in subscribers], tasks)
    gc.unfreeze()
    return {
        "count": count, "establish_s": establish_s, "rss_before": rss_before, "rss_open": rss_open,
        "rss_after": rss_after, "updates": updates, "round_trips": round_trips,
    }


async def close_all(sockets, tasks):
    for task in tasks:
        task.cancel()
    for start in range(0, len(sockets), 1000):
        await asyncio.gather(*(s.close() for s in sockets[start:start + 1000]), return_exceptions=True)


def run_level(count):
    log(f"subscriptions: {count:,} clients")
    with common.NimbusServer(name="subs") as server:
        admin_key = server.create_tenant(TENANT)
        server.deploy_convex_app(TENANT, admin_key)
        try:
            return asyncio.run(measure(server, count))
        except (CheckFailed, asyncio.TimeoutError, OSError) as error:
            sys.exit(f"subscriptions with {count:,} clients failed: {error!r}; server log: {server.work}/server.log")


def report(results):
    lines = [
        "## Subscriptions: commit → client update over the sync protocol",
        "",
        f"Each subscription is its own WebSocket client (Python, `websockets`) holding `items:latest "
        f"{{channel: i}}` on its own channel; a writer client commits `items:insert` on a random "
        f"channel with a sync `Mutation` message, one at a time ({SAMPLES} measured after {WARMUP} "
        "warm-up commits), and the client on that channel times the `Transition` carrying the new "
        "document. *Update* = its arrival − the moment the `Mutation` was sent (so it includes "
        "running and committing the mutation); *mutation round-trip* = `MutationResponse` arrival "
        "− send. Every update was checked to carry the inserted document, and no other client "
        "received a Transition. Server, clients and writer share the machine's cores; SQLite storage "
        "with `synchronous=FULL`. *Establish*: first connect → last initial result. RSS is the "
        "server's, before the clients connect and with every socket open.",
        "",
        "| subscriptions | update p50 / p99 ms | mutation round-trip p50 / p99 ms | establish | "
        "server RSS before → with sockets MiB | KiB per socket |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        per_socket = (r["rss_open"] - r["rss_before"]) / r["count"]
        lines.append(
            f"| {r['count']:,} | {common.percentile(r['updates'], 0.5):.2f} / "
            f"{common.percentile(r['updates'], 0.99):.2f} | {common.percentile(r['round_trips'], 0.5):.2f} / "
            f"{common.percentile(r['round_trips'], 0.99):.2f} | {r['establish_s']:.1f} s | "
            f"{r['rss_before'] / 1024:.0f} → {r['rss_open'] / 1024:.0f} | {per_socket:.0f} |"
        )
    top = max(results, key=lambda r: r["count"])
    p50 = common.percentile(top["updates"], 0.5)
    verdict = "met" if p50 <= 2.0 else "missed"
    lines += ["", f"Goal: update p50 ≤ 2 ms at 10,000 subscriptions — {verdict} "
              f"({p50:.2f} ms at {top['count']:,})."]
    return "\n".join(lines)


def main():
    if not os.path.exists(common.BINARY):
        common.ensure_binary()
    common.ensure_app_dependencies()
    # One fd per client socket here and one per server socket in the server, which inherits
    # this limit.
    common.raise_fd_limit(max(LEVELS) + SPARE_FDS)
    results = [run_level(count) for count in LEVELS]
    print(report(results))


if __name__ == "__main__":
    main()
