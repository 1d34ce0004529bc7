#!/usr/bin/env python3
"""Noisy-neighbour fairness: does one tenant flooding the server slow another tenant down?

Two tenants on one `nimbus serve` (SQLite) run bench/nimbus/app. The quiet tenant sends
`items:get` of one document at a fixed rate (open loop: requests are sent on schedule whatever
the answers do, and latency is measured from each request's scheduled send time, so a stalled
server cannot hide its stall by delaying the next request). It runs three times: alone; while
the noisy tenant calls `items:spin` (a CPU burner, calibrated to about 1.5 ms per call) as fast
as it is served (every worker busy, nothing rejected); and while the noisy tenant offers ten
times the rate it can be served (the goal: quiet p99 then at most twice its p99 alone).

The noisy tenant's capacity is measured first with wrk (closed loop, a few connections). Its
overload then comes from wrk with more connections than the tenant may have calls in flight,
each connection pacing itself so that the requests sent per second (served plus rejected) are
about BENCH_FAIR_OFFERED_MULTIPLE times that capacity; a short trial run tunes the pacing.

Admission, as the server applies it (crates/nimbus-runtime/src/executor/admission.rs, caps from
RunnerConfig::default() in crates/nimbus-functions/src/runner.rs, workers from
crates/nimbus-server/src/lib.rs): one isolate worker thread per core; per tenant at most
`active_max` calls running, `queue_max` queued and `in_flight_max` in all, beyond which a call is
rejected at once with 503 Overloaded; workers take queued calls round-robin across tenants.

Settings (environment):
  BENCH_FAIR_QUIET_RATE (200)            quiet tenant's requests per second
  BENCH_FAIR_SECONDS (20)                quiet measurement per phase
  BENCH_FAIR_SPIN_MS (1.5)               target CPU time of one noisy call
  BENCH_FAIR_CAPACITY_CONNECTIONS (8)    wrk connections measuring the noisy capacity
  BENCH_FAIR_NOISY_CONNECTIONS (1500)    wrk connections of the noisy flood (above in_flight_max)
  BENCH_FAIR_OFFERED_MULTIPLE (10)       noisy offered load ÷ noisy capacity
  BENCH_FAIR_QUIET_NICE (-10)            scheduling priority of the quiet load generator's
                                         threads (server and wrk stay at 0; 0 turns this off)
Default runtime: about 1.5 minutes.
"""

import http.client
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import common

QUIET_RATE = float(os.environ.get("BENCH_FAIR_QUIET_RATE", "200"))
SECONDS = int(os.environ.get("BENCH_FAIR_SECONDS", "20"))
SPIN_MS = float(os.environ.get("BENCH_FAIR_SPIN_MS", "1.5"))
CAPACITY_CONNECTIONS = int(os.environ.get("BENCH_FAIR_CAPACITY_CONNECTIONS", "8"))
NOISY_CONNECTIONS = int(os.environ.get("BENCH_FAIR_NOISY_CONNECTIONS", "1500"))
OFFERED_MULTIPLE = float(os.environ.get("BENCH_FAIR_OFFERED_MULTIPLE", "10"))
CAPACITY_SECONDS = 5
TRIAL_SECONDS = 4
# The noisy flood starts this long before the quiet measurement, so its queue is full by then.
NOISY_LEAD_SECONDS = 3
# Quiet-tenant sender threads, one connection each: enough for the rate times a slow answer
# (200 req/s × 0.5 s), so slow answers rarely hold up a scheduled send.
QUIET_SENDERS = 128
P99_RATIO_GOAL = 2.0
QUIET_NICE = int(os.environ.get("BENCH_FAIR_QUIET_NICE", "-10"))
# The priority the quiet sender actually ran at (raising it needs privileges).
quiet_nice = 0


# What the server's admission does with the overload (crates/nimbus-runtime/src/executor/
# admission.rs); the caps are RunnerConfig::default() (crates/nimbus-functions/src/runner.rs) and
# `nimbus serve` has no flag to change them.
ADMISSION = (
    f"Admission under test: {os.cpu_count()} isolate worker threads (one per core); per tenant "
    "`active_max` 4 calls running, `queue_max` 1024 queued, `in_flight_max` 1028 in all, beyond "
    "which a call is answered 503 Overloaded at once; queued calls are taken round-robin across "
    "tenants; 100,000 queued at most across tenants (`queued_total_max`)."
)


def log(message):
    print(message, file=sys.stderr, flush=True)


def call_body(path, args):
    return {"path": path, "args": args, "format": "json"}


# ---- the quiet tenant: an open-loop sender with its own latency record ----

def raise_priority():
    """Runs the calling thread at QUIET_NICE: the quiet load generator shares two cores with the
    server and wrk, and its own wait for a core would otherwise be measured as server latency.
    (On Linux a priority set for a thread id applies to that thread and the threads it starts.)"""
    global quiet_nice
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), QUIET_NICE)
        quiet_nice = QUIET_NICE
    except PermissionError:
        log(f"cannot raise the quiet sender's priority to nice {QUIET_NICE}; measuring without")


def open_loop(port, path, body, rate, seconds):
    """Sends `body` to `path` `rate` times a second for `seconds`; returns one record per request:
    (scheduled, sent, answered, ok) in perf_counter seconds."""
    payload = json.dumps(body).encode()
    schedule = queue.SimpleQueue()
    records, lock = [], threading.Lock()

    def sender():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while (scheduled := schedule.get()) is not None:
            sent = time.perf_counter()
            try:
                connection.request("POST", path, payload, {"content-type": "application/json"})
                response = connection.getresponse()
                data = response.read()
                ok = response.status == 200 and b'"status":"success"' in data
            except (OSError, http.client.HTTPException):
                ok = False
                connection.close()
            answered = time.perf_counter()
            with lock:
                records.append((scheduled, sent, answered, ok))

    def dispatcher():
        raise_priority()
        senders = [threading.Thread(target=sender, daemon=True) for _ in range(QUIET_SENDERS)]
        for thread in senders:
            thread.start()
        start = time.perf_counter() + 0.05
        for index in range(int(rate * seconds)):
            scheduled = start + index / rate
            pause = scheduled - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            schedule.put(scheduled)
        for _ in senders:
            schedule.put(None)
        for thread in senders:
            thread.join()

    # Its own thread, so the raised priority never reaches wrk processes started from main.
    thread = threading.Thread(target=dispatcher)
    thread.start()
    thread.join()
    return records


def summarize_quiet(records, label):
    failed = sum(1 for r in records if not r[3])
    if failed:
        sys.exit(f"quiet tenant {label}: {failed} of {len(records)} requests failed")
    latencies = [(answered - scheduled) * 1000 for scheduled, _, answered, _ in records]
    lag = [(sent - scheduled) * 1000 for scheduled, sent, _, _ in records]
    service = [(answered - sent) * 1000 for _, sent, answered, _ in records]
    figures = dict(
        requests=len(records),
        p50=common.percentile(latencies, 0.5),
        p99=common.percentile(latencies, 0.99),
        max=max(latencies),
        lag_p99=common.percentile(lag, 0.99),
        service_p99=common.percentile(service, 0.99),
    )
    log(f"quiet {label}: p50 {figures['p50']:.2f} ms p99 {figures['p99']:.2f} ms "
        f"(sender lag p99 {figures['lag_p99']:.2f} ms)")
    return figures


# ---- the noisy tenant ----

def spin_rounds(server, tenant):
    """The items:spin rounds that take about SPIN_MS: the difference of two medians of sequential
    calls (HTTP and client costs cancel out), scaled."""
    def median_ms(rounds):
        times = []
        for _ in range(15):
            started = time.perf_counter()
            server.call(tenant, "query", "items:spin", {"rounds": rounds})
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)

    probe = 2000
    base, loaded = median_ms(0), median_ms(probe)
    per_round = max((loaded - base) / probe, 1e-6)
    rounds = max(1, round(SPIN_MS / per_round))
    log(f"items:spin: {per_round * 1000:.2f} µs per round -> {rounds} rounds for {SPIN_MS} ms")
    return rounds, per_round * rounds


def start_noisy(url, body, seconds, delay_ms, connections=NOISY_CONNECTIONS):
    """wrk loading the noisy tenant in the background; returns (process, result file)."""
    out = tempfile.NamedTemporaryFile("w+", suffix=".json", delete=False)
    code = (
        "import json, sys, common; "
        f"json.dump(common.wrk_post({url!r}, {body!r}, {seconds}, {connections}, "
        f"delay_ms={delay_ms}, timeout_s=30), open({out.name!r}, 'w'))"
    )
    process = subprocess.Popen([sys.executable, "-c", code], cwd=common.HERE)
    return process, out.name


def finish_noisy(process, path):
    if process.wait() != 0:
        sys.exit("the noisy tenant's wrk run failed")
    with open(path) as f:
        figures = json.load(f)
    os.unlink(path)
    if figures["failed"] or figures["socket_errors"]:
        sys.exit(f"noisy tenant: {figures['failed']} failed and {figures['socket_errors']} socket errors "
                 f"of {figures['requests']} requests (rejections aside); first failure: {figures['sample']!r}")
    return figures


def tuned_delay(url, body, capacity):
    """The per-connection pause (ms) that makes the noisy flood offer OFFERED_MULTIPLE × capacity.

    Once the tenant's queue is full, the connections stuck in it send at the served rate and
    the rest send one quickly rejected request per (pause + rejection latency). Two short trials
    scale that cycle to the wanted rejection rate."""
    target = OFFERED_MULTIPLE * capacity
    delay = 20.0
    for _ in range(2):
        process, path = start_noisy(url, body, TRIAL_SECONDS, int(round(delay)))
        trial = finish_noisy(process, path)
        time.sleep(2)  # let the trial's queued calls drain
        rejected_rate = trial["rejected"] / trial["seconds"]
        log(f"noisy trial: pause {delay:.0f} ms: offered {trial['rps']:,.0f} req/s, "
            f"served {trial['ok_rps']:,.0f}, rejected {rejected_rate:,.0f}/s")
        if rejected_rate == 0:
            delay = max(1.0, delay / 4)
            continue
        # When most answers are rejections, the median latency is a rejection's.
        latency = trial["p50_ms"] if trial["rejected"] > trial["ok"] else 2.0
        wanted = max(target - trial["ok_rps"], 1.0)
        delay = max(1.0, (delay + latency) * rejected_rate / wanted - latency)
    log(f"noisy pause {delay:.0f} ms for {target:,.0f} req/s offered")
    return int(round(delay))


def rejected_by_server(server):
    status, body = common.request(
        server.base + "/metrics", headers={"authorization": f"Bearer {common.OPERATOR_KEY}"}
    )
    if status != 200:
        sys.exit(f"/metrics answered {status}")
    # Refused by admission in the executor, or before any work at the API edge.
    counted = {"nimbus_executor_rejected_jobs": None, "nimbus_api_calls_refused_total": 0}
    for line in body.decode().splitlines():
        name = line.split(" ")[0]
        if name in counted:
            counted[name] = int(float(line.split()[-1]))
    if counted["nimbus_executor_rejected_jobs"] is None:
        sys.exit("/metrics has no nimbus_executor_rejected_jobs")
    return sum(counted.values())


# ---- the run ----

def quiet_beside_noisy(server, quiet, noisy_url, noisy_body, connections, delay, label):
    """The quiet tenant's open-loop run while wrk loads the noisy tenant; (quiet, noisy) figures."""
    rejected_before = rejected_by_server(server)
    process, path = start_noisy(noisy_url, noisy_body, NOISY_LEAD_SECONDS + SECONDS + 1, delay, connections)
    time.sleep(NOISY_LEAD_SECONDS)
    quiet_figures = summarize_quiet(open_loop(server.port, *quiet, QUIET_RATE, SECONDS), label)
    noisy = finish_noisy(process, path)
    noisy["server_rejected"] = rejected_by_server(server) - rejected_before
    log(f"noisy ({label}): offered {noisy['rps']:,.0f} req/s, served {noisy['ok_rps']:,.0f} req/s, "
        f"rejected {noisy['rejected']:,} (server counted {noisy['server_rejected']:,})")
    time.sleep(2)  # let queued noisy calls drain before the next phase
    return quiet_figures, noisy


def main():
    common.require_wrk()
    if not os.path.exists(common.BINARY):
        common.ensure_binary()
    common.ensure_app_dependencies()
    # The server and wrk (both inherit the limit) hold one socket per noisy connection.
    common.raise_fd_limit(NOISY_CONNECTIONS + 1024)
    with common.NimbusServer("sqlite", name="fairness") as server:
        keys = {t: server.create_tenant(t) for t in ("quiet", "noisy")}
        for tenant, key in keys.items():
            server.deploy_convex_app(tenant, key)
        item = server.call("quiet", "mutation", "items:insert", {"channel": 1, "body": "quiet"})
        quiet = ("/t/quiet/api/query", call_body("items:get", {"id": item}))
        rounds, spin_ms = spin_rounds(server, "noisy")
        noisy_url = server.tenant_url("noisy") + "/api/query"
        noisy_body = call_body("items:spin", {"rounds": rounds})

        common.wrk_post(noisy_url, noisy_body, 2, CAPACITY_CONNECTIONS)  # warm-up
        capacity_run = common.wrk_post(noisy_url, noisy_body, CAPACITY_SECONDS, CAPACITY_CONNECTIONS)
        if capacity_run["failed"] or capacity_run["rejected"] or capacity_run["socket_errors"]:
            sys.exit(f"noisy capacity run had failures: {capacity_run}")
        capacity = capacity_run["ok_rps"]
        log(f"noisy capacity: {capacity:,.0f} req/s (p50 {capacity_run['p50_ms']:.2f} ms)")
        time.sleep(1)

        open_loop(server.port, *quiet, QUIET_RATE, 2)  # warm-up
        phases = [("quiet alone", summarize_quiet(open_loop(server.port, *quiet, QUIET_RATE, SECONDS), "alone"), None)]
        # The neighbour keeps every worker busy but stays within its caps: the cost of sharing
        # workers (round-robin admission) without the cost of rejecting.
        label = f"noisy at capacity ({CAPACITY_CONNECTIONS} connections, closed loop)"
        phases.append((label, *quiet_beside_noisy(server, quiet, noisy_url, noisy_body, CAPACITY_CONNECTIONS, 0, label)))
        delay = tuned_delay(noisy_url, noisy_body, capacity)
        label = f"noisy flooding ({NOISY_CONNECTIONS} connections, {delay} ms pause each)"
        phases.append((label, *quiet_beside_noisy(server, quiet, noisy_url, noisy_body, NOISY_CONNECTIONS, delay, label)))
    print(report(phases, capacity, rounds, spin_ms))


def report(phases, capacity, rounds, spin_ms):
    solo, flood = phases[0][1], phases[-1]
    ratio = flood[1]["p99"] / solo["p99"]
    offered_multiple = flood[2]["rps"] / capacity
    lines = [
        "## Noisy-neighbour fairness",
        "",
        f"Latency of a quiet tenant's `items:get` at {QUIET_RATE:.0f} req/s open loop (measured "
        f"from each request's scheduled send time, {SECONDS} s per phase) alone, beside a second "
        f"tenant on the same `nimbus serve` (SQLite) calling `items:spin` ({rounds} rounds, "
        f"≈ {spin_ms:.1f} ms each) as fast as it is served, and beside that tenant flooding "
        f"the server with wrk at {offered_multiple:.1f}× the rate it can be served ({capacity:,.0f} "
        f"req/s alone); noisy served and rejected counts come from wrk and the server's "
        "`nimbus_executor_rejected_jobs` and `nimbus_api_calls_refused_total` metrics.",
        "",
        ADMISSION,
        "",
        "| phase | quiet p50 ms | quiet p99 ms | quiet max ms | quiet sender lag p99 ms "
        "| quiet p99 from actual send ms | noisy offered req/s | noisy served req/s "
        "| noisy rejected (wrk / server) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, q, noisy in phases:
        cells = [label, f"{q['p50']:.2f}", f"{q['p99']:.2f}", f"{q['max']:.1f}", f"{q['lag_p99']:.2f}",
                 f"{q['service_p99']:.2f}"]
        if noisy is None:
            cells += ["–", "–", "–"]
        else:
            cells += [f"{noisy['rps']:,.0f}", f"{noisy['ok_rps']:,.0f}",
                      f"{noisy['rejected']:,} / {noisy['server_rejected']:,}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"The quiet load generator ({QUIET_SENDERS} connections) ran at nice {quiet_nice} (server "
        f"and wrk at 0), since it shares the {os.cpu_count()} cores with them. Sender lag is how "
        "late a request left it (waiting for a core, or for a free connection while answers are "
        "slow); it is part of the latency measured from scheduled send time (the goal's "
        "measure), and the p99 from actual send leaves it out.",
        "",
        "| goal | measured | met? |",
        "|---|---|---|",
        f"| quiet p99 beside the flooding neighbour ≤ {P99_RATIO_GOAL:.0f}× alone | {flood[1]['p99']:.2f} ms "
        f"vs {solo['p99']:.2f} ms = {ratio:.2f}× | {'yes' if ratio <= P99_RATIO_GOAL else '**no**'} |",
        f"| noisy offered ≥ {OFFERED_MULTIPLE:.0f}× its capacity (the test's premise) "
        f"| {offered_multiple:.1f}× | {'yes' if offered_multiple >= OFFERED_MULTIPLE * 0.9 else '**no**'} |",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
