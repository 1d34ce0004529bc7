#!/usr/bin/env python3
"""Nimbus against the runtimes a user would pick instead: Node, Deno, Bun and workerd.

Every runtime serves the same handler (handler.js: `/hello` and `/json`), Nimbus as a fetch
app. wrk loads each server from a separate process over loopback; rounds are interleaved
(every peer once per round) so drift on this shared machine hits all of them alike, and the
report quotes medians. Besides req/s and latency it records server CPU time per request
(the steadiest figure on a noisy machine), RSS idle and after load, and spawn-to-first-answer.

Writes bench/results/<date>-peers.md (and a PNG chart when matplotlib is importable).
Settings: BENCH_SECONDS (10), BENCH_WARMUP_SECONDS (3), BENCH_ROUNDS (3), BENCH_CONNECTIONS (50).
"""

import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
from procstat import cpu_seconds, free_port, request, rss_kib  # noqa: E402
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
WARMUP_SECONDS = int(os.environ.get("BENCH_WARMUP_SECONDS", "3"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "50"))
# The longest a server may take to answer its first request before the run gives up on it.
START_TIMEOUT_SECONDS = 60
JSON_QUERY = "&".join(f"k{i}=v{i}" for i in range(100))
WORKLOADS = {"hello": "/hello", "json": "/json?" + JSON_QUERY}
OPERATOR_KEY = "bench-operator-key"

HANDLER = open(os.path.join(HERE, "handler.js")).read()

NODE_SERVER = """
import http from "node:http";
http.createServer((req, res) => {
  const url = new URL(req.url, "http://localhost");
  if (url.pathname === "/json") {
    const out = {};
    let index = 0;
    for (const [key, value] of url.searchParams) out[key] = value + ":" + index++;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(out));
    return;
  }
  res.writeHead(200, { "content-type": "text/plain" });
  res.end("hello world");
}).listen(PORT, "127.0.0.1");
"""

WORKERD_CONFIG = """using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "main", worker = .worker)],
  sockets = [(name = "http", address = "127.0.0.1:PORT", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [(name = "worker", esModule = embed "worker.js")],
  compatibilityDate = "2025-01-01",
);
"""






def wait_until_answering(url, process, name):
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{name} exited with {process.returncode} before answering; see its log")
        status, _ = request(url, timeout=2)
        if status is not None:
            return
        time.sleep(0.005)
    sys.exit(f"{name} did not answer {url} within {START_TIMEOUT_SECONDS} s")






def wrk(url, seconds):
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures = {"errors": 0}
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            figures["rps"] = float(parts[1])
        elif len(parts) == 2 and parts[0] in ("50%", "99%"):
            figures["p" + parts[0][:-1]] = to_ms(parts[1])
        elif "requests in" in line:
            figures["requests"] = int(parts[0])
        elif line.strip().startswith("Non-2xx") or line.strip().startswith("Socket errors"):
            figures["errors"] += sum(int(x.strip(",")) for x in parts if x.strip(",").isdigit())
    return figures


def to_ms(text):
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


def nimbus(work):
    binary = os.path.join(ROOT, "target", "release", "nimbus")
    if not os.path.exists(binary):
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "nimbus-cli"], cwd=ROOT, check=True)
    env = dict(os.environ, NIMBUS_OPERATOR_KEY=OPERATOR_KEY)
    server = Server(
        "nimbus",
        [binary, "serve", "--listen", "127.0.0.1:PORT", "--data-dir", os.path.join(work, "nimbus-data")],
        work,
        prefix_path="/t/bench/apps/peer",
        env=env,
    )
    return server, binary


def deploy_nimbus_app(server, binary, work):
    base = f"http://127.0.0.1:{server.port}"
    created = subprocess.run(
        [binary, "tenants", "create", "bench", "--url", base, "--operator-key", OPERATOR_KEY, "--json"],
        capture_output=True, text=True, check=True,
    )
    admin_key = json.loads(created.stdout)["adminKey"]
    app = os.path.join(work, "nimbus-app")
    os.makedirs(app, exist_ok=True)
    with open(os.path.join(app, "index.js"), "w") as f:
        f.write(HANDLER + "\nexport default { fetch: handle };\n")
    subprocess.run(
        [binary, "apps", "deploy", app, "--name", "peer", "--url", f"{base}/t/bench", "--admin-key", admin_key],
        capture_output=True, text=True, check=True,
    )


def peers(work):
    modules = os.path.join(HERE, "node_modules")
    files = {
        "deno.js": HANDLER + '\nDeno.serve({ port: PORT, hostname: "127.0.0.1", onListen() {} }, handle);\n',
        "bun.js": HANDLER + '\nBun.serve({ port: PORT, hostname: "127.0.0.1", fetch: handle });\n',
        "worker.js": HANDLER + "\nexport default { fetch: handle };\n",
    }
    servers = [
        Server("node", ["node", "node.mjs"], work, env=without_extra_ca()),
        Server("deno", [f"{modules}/@deno/linux-x64-glibc/deno", "run", "--allow-net", "deno.js"], work),
        Server("bun", [f"{modules}/bun/bin/bun.exe", "bun.js"], work),
        Server("workerd", [f"{modules}/@cloudflare/workerd-linux-64/bin/workerd", "serve", "workerd.capnp"], work),
    ]
    for server in servers:
        port = str(server.port)
        if server.name == "node":
            write(work, "node.mjs", NODE_SERVER.replace("PORT", port))
        elif server.name == "workerd":
            write(work, "worker.js", files["worker.js"])
            write(work, "workerd.capnp", WORKERD_CONFIG.replace("PORT", port))
        else:
            write(work, f"{server.name}.js", files[f"{server.name}.js"].replace("PORT", port))
    return servers


def without_extra_ca():
    # This machine sets NODE_EXTRA_CA_CERTS, which adds tens of ms to Node's start.
    return {k: v for k, v in os.environ.items() if k != "NODE_EXTRA_CA_CERTS"}


def write(directory, name, text):
    with open(os.path.join(directory, name), "w") as f:
        f.write(text)


def main():
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")
    if not os.path.isdir(os.path.join(HERE, "node_modules")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)
    work = tempfile.mkdtemp(prefix="nimbus-peers-")
    nimbus_server, binary = nimbus(work)
    servers = [nimbus_server] + peers(work)
    try:
        for server in servers:
            server.start(work)
            if server is nimbus_server:
                deploy_nimbus_app(server, binary, work)
        reference = None
        for server in servers:
            for workload, path in WORKLOADS.items():
                status, body = request(server.prefix + path, timeout=2)
                if status != 200:
                    sys.exit(f"{server.name} answered {status} for {workload}: {body[:200]!r}")
                if workload == "json":
                    reference = reference or body
                    if json.loads(body) != json.loads(reference):
                        sys.exit(f"{server.name} answers json differently")
            server.rss_idle = rss_kib(server.process.pid) / 1024
        for round_number in range(1, ROUNDS + 1):
            for workload, path in WORKLOADS.items():
                for server in servers:
                    url = server.prefix + path
                    wrk(url, WARMUP_SECONDS)
                    before = cpu_seconds(server.process.pid)
                    figures = wrk(url, SECONDS)
                    used = cpu_seconds(server.process.pid) - before
                    figures["cpu_us"] = used * 1e6 / max(figures.get("requests", 1), 1)
                    server.samples[workload].append(figures)
                    print(f"round {round_number} {workload:5} {server.name:8} {figures['rps']:>10,.0f} req/s "
                          f"p50 {figures.get('p50', 0):.2f} ms p99 {figures.get('p99', 0):.2f} ms "
                          f"cpu {figures['cpu_us']:.0f} us/req", file=sys.stderr)
        for server in servers:
            server.rss_loaded = rss_kib(server.process.pid) / 1024
    finally:
        for server in servers:
            server.stop()
    report(servers)


def median(server, workload, key):
    values = [s[key] for s in server.samples[workload] if key in s]
    return statistics.median(values) if values else float("nan")


def report(servers):
    date = datetime.datetime.now(datetime.timezone.utc)
    lines = [
        f"# Nimbus and its peers, {date:%Y-%m-%dT%H:%MZ}",
        "",
        f"Machine: {os.cpu_count()} cores shared by servers and load; wrk -t2 -c{CONNECTIONS}, "
        f"{SECONDS} s after {WARMUP_SECONDS} s warm-up, {ROUNDS} interleaved rounds, medians. "
        "Server CPU is the server process's CPU time divided by the requests it served.",
        "",
        "| runtime | hello req/s | hello p50 / p99 ms | hello CPU µs/req | json req/s | json p50 / p99 ms "
        "| json CPU µs/req | RSS idle / loaded MiB | spawn → first answer |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in servers:
        cells = [s.name]
        for w in WORKLOADS:
            cells += [
                f"{median(s, w, 'rps'):,.0f}",
                f"{median(s, w, 'p50'):.2f} / {median(s, w, 'p99'):.2f}",
                f"{median(s, w, 'cpu_us'):.0f}",
            ]
        cells += [f"{s.rss_idle:.0f} / {s.rss_loaded:.0f}", f"{s.start_ms:.0f} ms"]
        lines.append("| " + " | ".join(cells) + " |")
    nimbus_server = servers[0]
    lines += [
        "",
        "Ratios, Nimbus ÷ peer (req/s: higher is better for Nimbus; CPU per request: lower is):",
        "",
        "| peer | hello req/s | json req/s | hello CPU/req | json CPU/req |",
        "|---|---|---|---|---|",
    ]
    for s in servers[1:]:
        ratio = lambda w, k: median(nimbus_server, w, k) / median(s, w, k)  # noqa: E731
        lines.append(
            f"| {s.name} | {ratio('hello', 'rps'):.2f}× | {ratio('json', 'rps'):.2f}× "
            f"| {ratio('hello', 'cpu_us'):.2f}× | {ratio('json', 'cpu_us'):.2f}× |"
        )
    results = os.path.join(ROOT, "bench", "results")
    os.makedirs(results, exist_ok=True)
    stem = os.path.join(results, f"{date:%Y-%m-%d}-peers")
    chart = draw_chart(servers, stem + ".png")
    if chart:
        lines += ["", f"![req/s by runtime]({os.path.basename(chart)})"]
    text = "\n".join(lines) + "\n"
    write(results, os.path.basename(stem) + ".md", text)
    print(text)
    print(f"wrote {stem}.md", file=sys.stderr)


def draw_chart(servers, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not importable: no chart (pip install matplotlib)", file=sys.stderr)
        return None
    figure, axes = plt.subplots(1, len(WORKLOADS), figsize=(10, 4))
    for axis, workload in zip(axes, WORKLOADS):
        names = [s.name for s in servers]
        values = [median(s, workload, "rps") for s in servers]
        axis.bar(names, values, color=["#3b6ea5"] + ["#9aa5b1"] * (len(servers) - 1))
        axis.set_title(f"{workload}: requests per second (median)")
        axis.tick_params(axis="x", rotation=20)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path


if __name__ == "__main__":
    main()
