#!/usr/bin/env python3
"""Server memory with 1, 100, 1,000 and 10,000 deployed idle tenants on one SQLite server.

Tenants are created through the operator API (`POST /_nimbus/tenants`) and each gets the
Convex app bench/nimbus/app through the push protocol `nimbus deploy` speaks (`start_push`,
then `finish_push`). Spawning the CLI per tenant would cost ~100 ms each, so the CLI's push is
captured once (`nimbus deploy` against a small local HTTP server that records the
`start_push` body: the bundled modules and schema) and replayed for every tenant, with that
tenant's admin key, by a few concurrent keep-alive HTTP clients.

Every level gets a fresh server. For each: deploy until the level is reached, the deadline
passes, the server's open files come within FD_RESERVE of its limit (past it the server can
neither open SQLite files nor accept connections) or the server refuses (the reason is
reported); let the server settle (at least DENSITY_IDLE_SECONDS and until its open file count
stops changing, since the scheduler opens tenants in the background); read RSS, open fds,
threads and the idle CPU; then every tenant answers one query (`items:latest` over
`/api/query`); settle and read again. KiB per tenant is the RSS increment over the 1-tenant
server divided by the added tenants (n − 1).

A second table attributes the per-tenant cost: a few hundred tenants that are only created, that
each deploy a one-line fetch app, or that each deploy the Convex app, with the RSS split by
mapping kind from /proc/<pid>/smaps (malloc heap, thread stacks, SQLite's -shm files).

Settings (environment variables, defaults in brackets):
  DENSITY_LEVELS             [1,100,1000,10000]  tenant counts, one fresh server each
  DENSITY_WORKERS            [4]     concurrent HTTP clients creating and deploying tenants
  DENSITY_DEADLINE_SECONDS   [150]   longest time one level may spend deploying
  DENSITY_IDLE_SECONDS       [8]     shortest idle time before a reading
  DENSITY_TENANT_IDLE_CLOSE  [4]     the server's --tenant-idle-close-secs: tenants unused this
                                     long are closed (the server's default is 30 s; a shorter
                                     one keeps the run short, and the reading waits past it)
  DENSITY_BREAKDOWN_TENANTS  [200]   tenants per kind in the breakdown table (0: no table)

Run: bench/.venv/bin/python bench/nimbus/density.py. Prints a markdown section on stdout and
progress on stderr; exits non-zero if the harness fails. About 5 minutes on the 2-core
reference machine, most of it spent deploying the largest level.
"""

import http.client
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import common

LEVELS = [int(x) for x in os.environ.get("DENSITY_LEVELS", "1,100,1000,10000").split(",") if x.strip()]
WORKERS = int(os.environ.get("DENSITY_WORKERS", "4"))
DEADLINE_SECONDS = float(os.environ.get("DENSITY_DEADLINE_SECONDS", "150"))
IDLE_SECONDS = float(os.environ.get("DENSITY_IDLE_SECONDS", "8"))
TENANT_IDLE_CLOSE = int(os.environ.get("DENSITY_TENANT_IDLE_CLOSE", "4"))
SERVER_ENV = {"NIMBUS_TENANT_IDLE_CLOSE_SECS": str(TENANT_IDLE_CLOSE)}
BREAKDOWN_TENANTS = int(os.environ.get("DENSITY_BREAKDOWN_TENANTS", "200"))
# How long a settling server may keep opening files before the reading is taken anyway.
SETTLE_MAX_SECONDS = 40
# File descriptors left unused when a level stops short of the server's limit, and how often
# the count is read while deploying.
FD_RESERVE = 1000
FD_CHECK_SECONDS = 0.5
CAPTURE_KEY = "capture|0000"
FETCH_APP = {
    "main": "index.js",
    "modules": [{"path": "index.js", "source": "export default { fetch() { return new Response('ok'); } };\n"}],
    "env": {},
    "hostnames": [],
}


def log(message):
    print(message, file=sys.stderr, flush=True)


class Refused(Exception):
    """The server answered an operator or deploy request with an error (or not at all)."""


# --- Capturing one push -------------------------------------------------------------------


def capture_push(app_dir=common.APP):
    """The JSON body `nimbus deploy` sends to start_push for `app_dir`, as bytes.

    Runs the CLI against a throw-away HTTP server that records the body and answers just
    enough for the CLI to finish.
    """
    captured = {}

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if self.path.endswith("/start_push"):
                captured["start_push"] = body
                answer = {"schemaChange": {"schemaIds": {"": "captured"}}, "analysis": {}}
            else:
                answer = {}
            data = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_):
            pass

    recorder = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=recorder.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{recorder.server_address[1]}/t/capture"
    try:
        done = subprocess.run([common.BINARY, "deploy", app_dir, "--url", url, "--admin-key", CAPTURE_KEY],
                              capture_output=True, text=True)
    finally:
        recorder.shutdown()
    if done.returncode != 0 or "start_push" not in captured:
        sys.exit(f"capturing the push of {app_dir} failed: {done.stderr.strip()[-2000:]}")
    body = captured["start_push"]
    marker = json.dumps(CAPTURE_KEY).encode()
    if body.count(marker) != 1:
        sys.exit("the captured push does not carry the admin key exactly once; the CLI changed")
    return body


# --- Driving the server over HTTP ---------------------------------------------------------


class Client:
    """One keep-alive HTTP connection to the server (one per worker thread)."""

    def __init__(self, port):
        self.port = port
        self.connection = None

    def send(self, method, path, body, headers):
        """Returns the decoded JSON answer; raises Refused on a non-2xx answer or no answer."""
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            try:
                self.connection.request(method, path, body, {"content-type": "application/json", **headers})
                response = self.connection.getresponse()
                data = response.read()
                break
            except (OSError, http.client.HTTPException) as error:
                self.connection.close()
                self.connection = None
                if attempt == 2:
                    raise Refused(f"{method} {path}: no answer ({error!r})") from None
        if response.status >= 300:
            raise Refused(f"{method} {path} answered {response.status}: {data[:300].decode(errors='replace')}")
        return json.loads(data)

    def create_tenant(self, name):
        answer = self.send("POST", "/_nimbus/tenants", json.dumps({"name": name}).encode(),
                           {"authorization": f"Bearer {common.OPERATOR_KEY}"})
        return answer["adminKey"]

    def deploy_convex(self, tenant, admin_key, push):
        auth = {"authorization": f"Convex {admin_key}"}
        body = push.replace(json.dumps(CAPTURE_KEY).encode(), json.dumps(admin_key).encode())
        start = self.send("POST", f"/t/{tenant}/api/deploy2/start_push", body, auth)
        finish = {"adminKey": admin_key, "startPush": start, "dryRun": False}
        self.send("POST", f"/t/{tenant}/api/deploy2/finish_push", json.dumps(finish).encode(), auth)

    def deploy_fetch(self, tenant, admin_key):
        self.send("PUT", f"/t/{tenant}/api/nimbus/apps/hello", json.dumps(FETCH_APP).encode(),
                  {"authorization": f"Convex {admin_key}"})

    def query_latest(self, tenant):
        body = json.dumps({"path": "items:latest", "args": {"channel": 0}, "format": "json"}).encode()
        answer = self.send("POST", f"/t/{tenant}/api/query", body, {})
        if answer.get("status") != "success":
            raise Refused(f"{tenant}: items:latest failed: {str(answer)[:300]}")


def run_parallel(port, items, work, should_stop=None, label="", progress_every=None):
    """Runs work(client, item) for every item on WORKERS threads, each with its own Client.

    Stops early when should_stop() returns a reason or at the first Refused; returns
    (items completed, seconds, reason or None).
    """
    lock = threading.Lock()
    pending = list(reversed(items))
    state = {"done": [], "reason": None}
    started = time.monotonic()

    def worker():
        client = Client(port)
        while True:
            with lock:
                state["reason"] = state["reason"] or (should_stop and should_stop())
                if state["reason"] or not pending:
                    return
                item = pending.pop()
            try:
                work(client, item)
            except Refused as error:
                with lock:
                    state["reason"] = state["reason"] or str(error)
                return
            with lock:
                state["done"].append(item)
                done = len(state["done"])
            if progress_every and done % progress_every == 0:
                elapsed = time.monotonic() - started
                log(f"  {label} {done:,} in {elapsed:.0f} s ({done / elapsed:.0f}/s)")

    with ThreadPoolExecutor(WORKERS) as pool:
        for future in [pool.submit(worker) for _ in range(WORKERS)]:
            future.result()
    return state["done"], time.monotonic() - started, state["reason"]


# --- Reading the server process -----------------------------------------------------------


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def settle(server):
    """Waits until the server is idle: IDLE_SECONDS, then until its fd count holds still.

    Returns a reading: RSS KiB, fds, threads, and CPU % of one core over the last 2 s.
    """
    time.sleep(IDLE_SECONDS)
    waited, previous = IDLE_SECONDS, None
    while waited < SETTLE_MAX_SECONDS:
        fds = open_fds(server.pid)
        if fds == previous:
            break
        previous = fds
        time.sleep(1)
        waited += 1
    cpu_before = common.cpu_seconds(server.pid)
    time.sleep(2)
    cpu = (common.cpu_seconds(server.pid) - cpu_before) / 2 * 100
    return {"rss": common.rss_kib(server.pid), "fds": open_fds(server.pid), "threads": threads(server.pid),
            "cpu": cpu}


def smaps_split(pid):
    """RSS KiB by kind of mapping: thread stacks, SQLite -shm files, other files, heap."""
    split = {"stacks": 0, "shm": 0, "files": 0, "heap": 0}
    previous_guard = False
    kind = None
    for line in open(f"/proc/{pid}/smaps"):
        head = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$", line)
        if head:
            size = int(head.group(2), 16) - int(head.group(1), 16)
            perms, name = head.group(3), head.group(4).strip()
            if name.endswith("-shm"):
                kind = "shm"
            elif name.startswith("/"):
                kind = "files"
            elif previous_guard and perms.startswith("rw") and not name:
                # A thread's stack sits right above its guard page.
                kind = "stacks"
            else:
                kind = "heap"
            previous_guard = perms.startswith("---") and size == 4096 and not name
        elif line.startswith("Rss:") and kind:
            split[kind] += int(line.split()[1])
    return split


# --- The workload -------------------------------------------------------------------------


def deploy_tenants(server, count, deploy, should_stop=None, progress=True):
    """Creates and deploys tenants d0… with `deploy(client, name, key)`; see run_parallel."""

    def work(client, name):
        deploy(client, name, client.create_tenant(name))

    names = [f"d{i}" for i in range(count)]
    every = max(100, count // 10) if progress else None
    return run_parallel(server.port, names, work, should_stop, "deployed", every)


def stop_rule(server, fd_limit):
    """Stops deploying at the deadline, or before the tenants' files exhaust the fd limit.

    Past the limit SQLite cannot open databases and the server cannot accept connections, so
    the level stops FD_RESERVE short of it (the scheduler opens each tenant's read connection
    some time after its deploy, so the count still grows a little after stopping).
    """
    deadline = time.monotonic() + DEADLINE_SECONDS
    checked = {"at": 0.0}

    def should_stop():
        now = time.monotonic()
        if now > deadline:
            return f"the {DEADLINE_SECONDS:.0f} s deadline passed"
        if now - checked["at"] >= FD_CHECK_SECONDS:
            checked["at"] = now
            fds = open_fds(server.pid)
            if fds >= fd_limit - FD_RESERVE:
                return (f"{fds:,} of the {fd_limit:,} file descriptors the server may open were in use, "
                        "and past the limit it can neither open SQLite files nor accept connections")
        return None

    return should_stop


def measure_level(push, count, fd_limit):
    log(f"density: {count:,} tenants")
    with common.NimbusServer(name="density", extra_env=SERVER_ENV) as server:
        convex = lambda client, name, key: client.deploy_convex(name, key, push)  # noqa: E731
        deployed, seconds, reason = deploy_tenants(server, count, convex, stop_rule(server, fd_limit))
        if not deployed:
            sys.exit(f"no tenant could be deployed: {reason}; see {server.work}/server.log")
        if len(deployed) < count:
            log(f"  stopped at {len(deployed):,}: {reason}")
        idle = settle(server)
        log(f"  idle: {idle['rss'] / 1024:.0f} MiB, {idle['fds']:,} fds, {idle['cpu']:.0f}% CPU")
        served, _, serve_reason = run_parallel(server.port, deployed, lambda client, name: client.query_latest(name))
        if len(served) < len(deployed):
            sys.exit(f"only {len(served):,} of {len(deployed):,} tenants answered a query: {serve_reason}; "
                     f"see {server.work}/server.log")
        after = settle(server)
        log(f"  after one query each: {after['rss'] / 1024:.0f} MiB, {after['fds']:,} fds")
        return {"count": count, "reached": len(deployed), "reason": reason, "seconds": seconds,
                "idle": idle, "served": after, "fd_limit": fd_limit}


def measure_kind(push, kind, count):
    """The per-tenant cost of `count` tenants of one kind, split by mapping kind."""
    deploys = {
        "created only": lambda client, name, key: None,
        "fetch app (one line)": lambda client, name, key: client.deploy_fetch(name, key),
        "Convex app (bench/nimbus/app)": lambda client, name, key: client.deploy_convex(name, key, push),
    }
    log(f"breakdown: {count} tenants, {kind}")
    with common.NimbusServer(name="density-kind", extra_env=SERVER_ENV) as server:
        time.sleep(1)
        base = {"rss": common.rss_kib(server.pid), "fds": open_fds(server.pid), "threads": threads(server.pid),
                **smaps_split(server.pid)}
        deployed, _, reason = deploy_tenants(server, count, deploys[kind], progress=False)
        if len(deployed) < count:
            sys.exit(f"breakdown ({kind}) stopped at {len(deployed)}: {reason}")
        reading = settle(server)
        reading.update(smaps_split(server.pid))
    per = {key: (reading[key] - base[key]) / count for key in ("rss", "fds", "threads", "heap", "stacks", "shm")}
    return {"kind": kind, "per": per, "cpu": reading["cpu"]}


def report(levels, kinds):
    baseline = next((r for r in levels if r["reached"] == 1), None)
    lines = [
        "## Density: idle tenants on one server (SQLite)",
        "",
        f"One fresh `nimbus serve` per level; tenants created through the operator API and each "
        f"given the Convex app bench/nimbus/app by replaying the push `nimbus deploy` sends "
        f"(`start_push` + `finish_push`), {WORKERS} concurrent HTTP clients, at most "
        f"{DEADLINE_SECONDS:.0f} s per level. *Idle*: after deploying, at least {IDLE_SECONDS:.0f} s and "
        f"until the server's open-file count holds still (the server closes tenants unused for "
        f"{TENANT_IDLE_CLOSE} s: `--tenant-idle-close-secs`, 30 by default); *served*: after every tenant answered one "
        "`items:latest` query over `/api/query`, settled the same way. KiB per tenant = RSS − RSS "
        "of the 1-tenant server, ÷ (tenants − 1). Idle CPU is the server's, in % of one core, over "
        "2 s after settling.",
        "",
        "| tenants | deployed/s | RSS idle MiB | KiB/tenant idle | RSS served MiB | KiB/tenant served "
        "| open fds | threads | idle CPU |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in levels:
        idle, served = r["idle"], r["served"]
        label = f"{r['reached']:,}" if r["reached"] == r["count"] else f"{r['reached']:,} of {r['count']:,}"
        if baseline and r["reached"] > 1:
            per_idle = f"{(idle['rss'] - baseline['idle']['rss']) / (r['reached'] - 1):.0f}"
            per_served = f"{(served['rss'] - baseline['served']['rss']) / (r['reached'] - 1):.0f}"
        else:
            per_idle = per_served = "—"
        lines.append(
            f"| {label} | {r['reached'] / r['seconds']:.0f} | {idle['rss'] / 1024:.0f} | {per_idle} | "
            f"{served['rss'] / 1024:.0f} | {per_served} | {served['fds']:,} | {served['threads']:,} | "
            f"{idle['cpu']:.0f}% |"
        )
    short = [r for r in levels if r["reached"] < r["count"]]
    for r in short:
        lines += ["", f"The {r['count']:,}-tenant level stopped at {r['reached']:,} tenants: {r['reason']}."]
    measured = [r for r in levels if baseline and r["reached"] > 1]
    if measured:
        top = max(measured, key=lambda r: r["reached"])
        per = (top["idle"]["rss"] - baseline["idle"]["rss"]) / (top["reached"] - 1)
        fds = (top["served"]["fds"] - baseline["served"]["fds"]) / (top["reached"] - 1)
        verdict = "met" if per <= 200 else "missed"
        lines += [
            "",
            (
                f"Each idle tenant keeps {fds:.1f} files open, so this run's fd limit of "
                f"{top['fd_limit']:,} caps one server at about "
                f"{(top['fd_limit'] - baseline['served']['fds']) / fds:,.0f} SQLite tenants."
                if fds > 0.01
                else "Idle tenants keep no files open (they are closed until their next request), so "
                "the fd limit bounds only the tenants busy at the same time."
            ),
            "",
            f"Goal: ≤ 200 KiB per idle tenant — {verdict} ({per:.0f} KiB at {top['reached']:,} tenants).",
        ]
    if kinds:
        lines += [
            "",
            f"Where the per-tenant memory goes: {BREAKDOWN_TENANTS} tenants of each kind on a fresh "
            "server, settled as above; increments over the empty server ÷ tenants. *Heap*: "
            "anonymous memory other than thread stacks (malloc: SQLite connections and page "
            "caches, deployments, engine state); *stacks*: thread stacks; *-shm*: SQLite's "
            "shared-memory index files, mapped per database.",
            "",
            "| tenant kind | KiB/tenant | heap | stacks | -shm | fds/tenant | threads/tenant | idle CPU |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for k in kinds:
            p = k["per"]
            lines.append(
                f"| {k['kind']} | {p['rss']:.0f} | {p['heap']:.0f} | {p['stacks']:.0f} | {p['shm']:.0f} | "
                f"{p['fds']:.1f} | {p['threads']:.2f} | {k['cpu']:.0f}% |"
            )
    return "\n".join(lines)


def main():
    if not os.path.exists(common.BINARY):
        common.ensure_binary()
    common.ensure_app_dependencies()
    limit = common.raise_fd_limit()
    log(f"density: fd limit {limit:,}; capturing the push of {common.APP}")
    push = capture_push()
    levels = [measure_level(push, count, limit) for count in LEVELS]
    kinds = []
    if BREAKDOWN_TENANTS > 0:
        kinds = [measure_kind(push, kind, BREAKDOWN_TENANTS)
                 for kind in ("created only", "fetch app (one line)", "Convex app (bench/nimbus/app)")]
    print(report(levels, kinds))


if __name__ == "__main__":
    main()
