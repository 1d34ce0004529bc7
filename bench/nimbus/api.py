#!/usr/bin/env python3
"""The Convex HTTP API under load: `/api/query` point reads and `/api/mutation` inserts, on
SQLite and on PostgreSQL, each on a fresh `nimbus serve`.

One tenant runs bench/nimbus/app. The query workload is `items:get` of one pre-inserted
document; the mutation workload is `items:insert` (one document per call, so successful
requests/s = commits/s). wrk loads the server from a separate process over loopback (closed
loop: every connection waits for its answer) and a Lua script checks every answer's envelope,
not only its HTTP status. Server CPU per request is the server process's CPU time during the
measured run divided by the requests it answered.

After each mutation run the documents of that run's channel are counted through a query: the
count must be at least the inserts wrk saw succeed (none lost) and at most that plus one per
connection and run (a request in flight when wrk stops may commit after wrk stopped listening).

Settings (environment):
  BENCH_API_SECONDS (10)              measured seconds per run
  BENCH_API_WARMUP_SECONDS (2)        unmeasured wrk run before each measured one
  BENCH_API_QUERY_CONNECTIONS (50)    wrk connections for /api/query
  BENCH_API_MUTATION_CONNECTIONS (8,50)  wrk connection levels for /api/mutation
  BENCH_API_STORAGES (sqlite,postgres)   which storages to run ("postgres" = BENCH_POSTGRES_URL)
  BENCH_WRK_THREADS (2)               wrk threads
Default runtime: about 1.5 minutes.
"""

import os
import sys
import tempfile
import time

import common

SECONDS = int(os.environ.get("BENCH_API_SECONDS", "10"))
WARMUP_SECONDS = int(os.environ.get("BENCH_API_WARMUP_SECONDS", "2"))
QUERY_CONNECTIONS = int(os.environ.get("BENCH_API_QUERY_CONNECTIONS", "50"))
MUTATION_CONNECTIONS = [int(c) for c in os.environ.get("BENCH_API_MUTATION_CONNECTIONS", "8,50").split(",")]
STORAGES = os.environ.get("BENCH_API_STORAGES", "sqlite,postgres").split(",")
WRK_THREADS = int(os.environ.get("BENCH_WRK_THREADS", "2"))
# Unique per run: a PostgreSQL database may hold tenants of other runs.
TENANT = f"api-{os.getpid()}"
# Goals on the 2-core reference machine.
QUERY_RPS_GOAL = 20_000
COMMITS_GOAL = 5_000
COMMIT_P99_MS_GOAL = 10.0


def log(message):
    print(message, file=sys.stderr, flush=True)


def measured_run(server, url, body, connections, label):
    """A warm-up then a measured wrk run; exits if any answer was not a success."""
    warm = common.wrk_post(url, body, WARMUP_SECONDS, connections, WRK_THREADS)
    check_all_succeeded(warm, f"{label} (warm-up)")
    before = common.cpu_seconds(server.pid)
    figures = common.wrk_post(url, body, SECONDS, connections, WRK_THREADS)
    used = common.cpu_seconds(server.pid) - before
    check_all_succeeded(figures, label)
    figures["cpu_us"] = used * 1e6 / max(figures["requests"], 1)
    figures["connections"] = connections
    figures["warmup_ok"] = warm["ok"]
    log(f"{label}: {figures['ok_rps']:,.0f} ok/s p50 {figures['p50_ms']:.2f} ms "
        f"p99 {figures['p99_ms']:.2f} ms, server CPU {figures['cpu_us']:.0f} µs/request")
    return figures


def check_all_succeeded(figures, label):
    bad = figures["failed"] + figures["rejected"] + figures["socket_errors"]
    if bad or figures["ok"] == 0:
        sys.exit(f"{label}: {figures['failed']} failed, {figures['rejected']} rejected, "
                 f"{figures['socket_errors']} socket errors of {figures['requests']} requests; "
                 f"first failure: {figures['sample']!r}")


def count_channel(server, channel):
    """Documents in one channel, paging through items:countPage."""
    total, cursor = 0, None
    while True:
        page = server.call(TENANT, "query", "items:countPage", {"channel": channel, "cursor": cursor})
        total += page["count"]
        if page["isDone"]:
            return total
        cursor = page["cursor"]


def check_no_lost_writes(server, channel, figures, label):
    """Every acknowledged insert of the run (warm-up included) must be stored."""
    acknowledged = figures["ok"] + figures["warmup_ok"]
    stored = count_channel(server, channel)
    # Requests in flight when wrk stopped (at most one per connection, per run) may have
    # committed without wrk reading the answer.
    slack = 2 * figures["connections"]
    if not acknowledged <= stored <= acknowledged + slack:
        sys.exit(f"{label}: wrk saw {acknowledged} inserts succeed but channel {channel} holds "
                 f"{stored} documents (expected {acknowledged}…{acknowledged + slack})")
    figures["stored"], figures["acknowledged"] = stored, acknowledged
    log(f"{label}: {acknowledged} inserts acknowledged, {stored} stored")


def fsync_ms(directory, samples=300):
    """p50 and p99 of fsync after a 4 KiB write in `directory`: the disk's floor under every
    durable commit's latency, worth knowing before reading a commit p99."""
    path = os.path.join(directory, "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    times = []
    try:
        for _ in range(samples):
            os.write(fd, b"x" * 4096)
            started = time.perf_counter()
            os.fsync(fd)
            times.append((time.perf_counter() - started) * 1000)
    finally:
        os.close(fd)
        os.unlink(path)
    return common.percentile(times, 0.5), common.percentile(times, 0.99)


def run_storage(storage):
    """Every workload against one fresh server; returns rows for the report."""
    url = common.POSTGRES_URL if storage == "postgres" else storage
    rows = []
    with common.NimbusServer(url, name=f"api-{storage}") as server:
        key = server.create_tenant(TENANT)
        try:
            rows = run_workloads(server, key, storage)
        finally:
            # PostgreSQL outlives the server: leave its database as it was.
            server.cli("tenants", "delete", TENANT, "--url", server.base,
                       "--operator-key", common.OPERATOR_KEY)
    return rows


def run_workloads(server, key, storage):
    """The query run, then one mutation run per connection level; returns report rows."""
    rows = []
    server.deploy_convex_app(TENANT, key)
    base = server.tenant_url(TENANT)
    item = server.call(TENANT, "mutation", "items:insert", {"channel": 0, "body": "the point read"})
    body = {"path": "items:get", "args": {"id": item}, "format": "json"}
    label = f"{storage} query c{QUERY_CONNECTIONS}"
    rows.append(("/api/query items:get", storage,
                 measured_run(server, base + "/api/query", body, QUERY_CONNECTIONS, label)))
    for channel, connections in enumerate(MUTATION_CONNECTIONS, start=1):
        body = {"path": "items:insert", "args": {"channel": channel, "body": "a benchmark insert"},
                "format": "json"}
        label = f"{storage} mutation c{connections}"
        figures = measured_run(server, base + "/api/mutation", body, connections, label)
        check_no_lost_writes(server, channel, figures, label)
        rows.append(("/api/mutation items:insert", storage, figures))
    return rows


def report(rows, disk_fsync):
    lines = [
        "## Convex HTTP API: point reads and inserts",
        "",
        f"Requests per second, p50/p99 latency and server CPU per request of `POST /api/query` "
        f"(`items:get` of one document) and `POST /api/mutation` (`items:insert`, one commit "
        f"each) on one tenant of a fresh `nimbus serve` per storage, driven by wrk "
        f"(-t{WRK_THREADS}, closed loop, the given connections) for {SECONDS} s after a "
        f"{WARMUP_SECONDS} s warm-up on this {os.cpu_count()}-core machine shared by server and "
        f"load, every answer's envelope checked and every acknowledged insert counted back.",
        "",
        "| workload | storage | connections | req/s | commits/s | p50 ms | p99 ms "
        "| server CPU µs/req | inserts acknowledged / stored |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for workload, storage, f in rows:
        mutation = "mutation" in workload
        commits = f"{f['ok_rps']:,.0f}" if mutation else "–"
        counted = f"{f['acknowledged']:,} / {f['stored']:,}" if mutation else "–"
        lines.append(
            f"| {workload} | {storage} | {f['connections']} | {f['rps']:,.0f} | {commits} "
            f"| {f['p50_ms']:.2f} | {f['p99_ms']:.2f} | {f['cpu_us']:.0f} | {counted} |"
        )
    lines += ["", f"The disk under the SQLite files: fsync after a 4 KiB write p50 {disk_fsync[0]:.2f} ms, "
                  f"p99 {disk_fsync[1]:.2f} ms (300 samples, just before the runs); every "
                  "acknowledged commit waits for one (group commit shares it)."]
    lines += ["", "| goal | measured | met? |", "|---|---|---|"]
    for workload, storage, f in rows:
        if "query" in workload:
            lines.append(f"| /api/query ≥ {QUERY_RPS_GOAL:,} req/s ({storage}, c{f['connections']}) "
                         f"| {f['rps']:,.0f} req/s | {yes(f['rps'] >= QUERY_RPS_GOAL)} |")
        elif storage == "sqlite":
            lines.append(
                f"| mutations ≥ {COMMITS_GOAL:,} commits/s with p99 ≤ {COMMIT_P99_MS_GOAL:.0f} ms "
                f"(sqlite, c{f['connections']}) | {f['ok_rps']:,.0f} commits/s, p99 {f['p99_ms']:.1f} ms "
                f"| {yes(f['ok_rps'] >= COMMITS_GOAL and f['p99_ms'] <= COMMIT_P99_MS_GOAL)} |")
    return "\n".join(lines) + "\n"


def yes(met):
    return "yes" if met else "**no**"


def main():
    common.require_wrk()
    if not os.path.exists(common.BINARY):
        common.ensure_binary()
    common.ensure_app_dependencies()
    # Servers keep their data in the temporary directory, so that is the disk to probe.
    probe_dir = tempfile.mkdtemp(prefix="nimbus-bench-fsync-")
    disk_fsync = fsync_ms(probe_dir)
    os.rmdir(probe_dir)
    rows = []
    for storage in STORAGES:
        log(f"storage {storage}")
        rows += run_storage(storage)
    print(report(rows, disk_fsync))


if __name__ == "__main__":
    main()
