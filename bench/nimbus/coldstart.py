#!/usr/bin/env python3
"""Cold start: how long a brand-new tenant waits for its first answer, on one running
`nimbus serve` (SQLite).

For each of N rounds, two new tenants:
  fetch app:   create the tenant, deploy a one-line Workers-style app
               (`export default { fetch() { return new Response("hi") } }`), then GET
               `/t/<tenant>/apps/hello/` three ways: the first request, the second, and warm
               (the median of the next ten).
  Convex app:  create the tenant, deploy bench/nimbus/app, then `POST /api/query`
               `items:latest {channel: 1}` the same three ways.
Create and deploy are timed as a user sees them: one `nimbus` CLI process each (process
start, and for deploy the built-in bundler, included; the CLI's bare start-up is reported
separately). Requests are timed on an HTTP connection opened beforehand, from sending the
request to reading the whole answer, so connection set-up is not counted.

Settings (environment):
  BENCH_COLDSTART_TENANTS (40)   rounds (each creates one fetch-app and one Convex tenant)
Default runtime: about 15 seconds.
"""

import http.client
import json
import os
import statistics
import subprocess
import sys
import time

import common

TENANTS = int(os.environ.get("BENCH_COLDSTART_TENANTS", "40"))
WARM_REQUESTS = 10
FETCH_SOURCE = 'export default { fetch() { return new Response("hi") } }\n'


def log(message):
    print(message, file=sys.stderr, flush=True)


def timed(action):
    """(milliseconds, result) of action()."""
    started = time.perf_counter()
    result = action()
    return (time.perf_counter() - started) * 1000, result


class Client:
    """One keep-alive HTTP connection to the server, opened before anything is timed."""

    def __init__(self, port):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.connection.connect()

    def timed_request(self, method, path, body=None):
        """Milliseconds from sending the request to reading the whole answer; exits on failure."""
        payload = None if body is None else json.dumps(body).encode()
        headers = {"content-type": "application/json"} if body is not None else {}
        started = time.perf_counter()
        self.connection.request(method, path, payload, headers)
        response = self.connection.getresponse()
        data = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        return elapsed, response.status, data


def request_series(client, method, path, body, check):
    """First, second and warm (median of the next WARM_REQUESTS) request times in ms."""
    times = []
    for _ in range(2 + WARM_REQUESTS):
        elapsed, status, data = client.timed_request(method, path, body)
        if status != 200 or not check(data):
            sys.exit(f"{method} {path} answered {status}: {data[:300]!r}")
        times.append(elapsed)
    return times[0], times[1], statistics.median(times[2:])


def fetch_app_round(server, client, index):
    tenant = f"cold-fetch-{index}"
    create_ms, key = timed(lambda: server.create_tenant(tenant))
    deploy_ms, _ = timed(lambda: server.deploy_fetch_app(tenant, key, "hello", FETCH_SOURCE))
    first, second, warm = request_series(
        client, "GET", f"/t/{tenant}/apps/hello/", None, lambda data: data == b"hi"
    )
    return dict(create=create_ms, deploy=deploy_ms, first=first, second=second, warm=warm)


def convex_app_round(server, client, index):
    tenant = f"cold-convex-{index}"
    create_ms, key = timed(lambda: server.create_tenant(tenant))
    deploy_ms, _ = timed(lambda: server.deploy_convex_app(tenant, key))
    body = {"path": "items:latest", "args": {"channel": 1}, "format": "json"}
    first, second, warm = request_series(
        client, "POST", f"/t/{tenant}/api/query", body,
        lambda data: json.loads(data).get("status") == "success",
    )
    return dict(create=create_ms, deploy=deploy_ms, first=first, second=second, warm=warm)


def cli_start_ms():
    """Median wall time of `nimbus --version`: the part of every CLI timing that is process start."""
    times = [timed(lambda: subprocess.run([common.BINARY, "--version"], capture_output=True, check=True))[0]
             for _ in range(5)]
    return statistics.median(times)


def p50_p99(samples, key):
    values = [s[key] for s in samples]
    return f"{common.percentile(values, 0.5):.1f} / {common.percentile(values, 0.99):.1f}"


def report(rows, cli_ms):
    lines = [
        "## Cold start of a new tenant",
        "",
        f"Wall time, over {TENANTS} new tenants per kind on one running `nimbus serve` (SQLite), "
        "of creating the tenant and deploying its app with the `nimbus` CLI, then of its first "
        "HTTP request, its second and a warm one (median of the next ten), each timed from "
        "sending to the whole answer on a connection opened beforehand; p50 / p99 in ms "
        f"(with {TENANTS} samples p99 is the slowest). CLI timings include process start-up "
        f"({cli_ms:.1f} ms for a bare `nimbus --version`) and, for deploy, bundling.",
        "",
        "| app | create tenant (CLI) | deploy (CLI) | first request | second request | warm request |",
        "|---|---|---|---|---|---|",
    ]
    for name, samples in rows:
        lines.append(
            f"| {name} | {p50_p99(samples, 'create')} | {p50_p99(samples, 'deploy')} "
            f"| {p50_p99(samples, 'first')} | {p50_p99(samples, 'second')} | {p50_p99(samples, 'warm')} |"
        )
    lines += [
        "",
        "The fresh-isolate invocation alone (new QuickJS runtime and context, module from cached "
        "bytecode, one call; no HTTP, no storage) is the `fresh isolate, tiny handler` row of "
        "`cargo bench -p nimbus-runtime --bench isolate`, which bench/run reports above.",
    ]
    return "\n".join(lines) + "\n"


def main():
    if not os.path.exists(common.BINARY):
        common.ensure_binary()
    common.ensure_app_dependencies()
    fetch_samples, convex_samples = [], []
    with common.NimbusServer("sqlite", name="coldstart") as server:
        client = Client(server.port)
        for index in range(TENANTS):
            fetch_samples.append(fetch_app_round(server, client, index))
            convex_samples.append(convex_app_round(server, client, index))
            f, c = fetch_samples[-1], convex_samples[-1]
            log(f"round {index + 1}/{TENANTS}: fetch first {f['first']:.1f} ms second {f['second']:.1f} ms; "
                f"convex first {c['first']:.1f} ms second {c['second']:.1f} ms")
        cli_ms = cli_start_ms()
    print(report([("fetch app (`hello`)", fetch_samples), ("Convex app (`items:latest`)", convex_samples)], cli_ms))


if __name__ == "__main__":
    main()
