"""What every Nimbus-only workload needs: a `nimbus serve` process, tenants, deployments,
HTTP helpers and percentiles. Workload scripts import this module (bench/nimbus/*.py).

The server is the release binary (`cargo build --release -p nimbus-cli`), started the way an
operator starts it, with a fresh data directory per server.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BINARY = os.path.join(ROOT, "target", "release", "nimbus")
APP = os.path.join(HERE, "app")
OPERATOR_KEY = "bench-operator-key"
# The PostgreSQL the PostgreSQL rows run against (override with BENCH_POSTGRES_URL).
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://127.0.0.1:5432/test")
# The longest a server may take to answer its first request before the run gives up on it.
START_TIMEOUT_SECONDS = 60

sys.path.insert(0, os.path.dirname(HERE))
from procstat import cpu_seconds, free_port, request, rss_kib  # noqa: E402,F401  (re-exported)


def percentile(values, fraction):
    """Nearest-rank percentile of a non-empty list (fraction 0.5 → p50, 0.99 → p99)."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(fraction * len(ordered) + 0.5)) - 1))
    return ordered[index]


def ensure_binary():
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "nimbus-cli"], cwd=ROOT, check=True)


def ensure_app_dependencies():
    if not os.path.isdir(os.path.join(APP, "node_modules", "convex")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=APP, check=True)


class NimbusServer:
    """One `nimbus serve` process on a free port with its own data directory.

    storage: "sqlite" or a postgres:// URL. Use as a context manager; the process and (for
    SQLite) its data directory go away on exit.
    """

    def __init__(self, storage="sqlite", extra_env=None, name="nimbus"):
        self.storage, self.name = storage, name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.work = tempfile.mkdtemp(prefix=f"nimbus-bench-{name}-")
        self.env = dict(os.environ, NIMBUS_OPERATOR_KEY=OPERATOR_KEY, **(extra_env or {}))
        self.process = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *_):
        self.stop()

    def start(self):
        log = open(os.path.join(self.work, "server.log"), "w")
        command = [
            BINARY, "serve", "--listen", f"127.0.0.1:{self.port}",
            "--data-dir", os.path.join(self.work, "data"), "--storage", self.storage,
        ]
        started = time.monotonic()
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = started + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"nimbus exited with {self.process.returncode}; see {self.work}/server.log")
            status, _ = request(self.base + "/", timeout=2)
            if status is not None:
                self.start_ms = (time.monotonic() - started) * 1000
                return
            time.sleep(0.005)
        sys.exit(f"nimbus did not answer within {START_TIMEOUT_SECONDS} s; see {self.work}/server.log")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    @property
    def pid(self):
        return self.process.pid

    def cli(self, *args):
        """Runs the nimbus CLI against this server; returns its stdout."""
        done = subprocess.run([BINARY, *args], capture_output=True, text=True, env=self.env)
        if done.returncode != 0:
            sys.exit(f"nimbus {' '.join(args[:2])} failed: {done.stderr.strip()[-2000:]}")
        return done.stdout

    def create_tenant(self, name):
        """Creates a tenant; returns its admin key."""
        out = self.cli("tenants", "create", name, "--url", self.base, "--operator-key", OPERATOR_KEY, "--json")
        return json.loads(out)["adminKey"]

    def tenant_url(self, tenant):
        return f"{self.base}/t/{tenant}"

    def deploy_convex_app(self, tenant, admin_key, app_dir=APP):
        """Bundles and pushes a Convex app (default: bench/nimbus/app) with `nimbus deploy`."""
        self.cli("deploy", app_dir, "--url", self.tenant_url(tenant), "--admin-key", admin_key)

    def deploy_fetch_app(self, tenant, admin_key, name, source):
        """Deploys a Workers-style fetch app whose index.js is `source`."""
        app = tempfile.mkdtemp(prefix="fetch-app-", dir=self.work)
        with open(os.path.join(app, "index.js"), "w") as f:
            f.write(source)
        self.cli("apps", "deploy", app, "--name", name, "--url", self.tenant_url(tenant), "--admin-key", admin_key)

    def call(self, tenant, kind, path, args, admin_key=None):
        """Calls /api/<kind> (query, mutation, action) on a tenant; returns the decoded value."""
        headers = {"authorization": f"Convex {admin_key}"} if admin_key else {}
        status, body = request(
            f"{self.tenant_url(tenant)}/api/{kind}", {"path": path, "args": args, "format": "json"}, headers
        )
        if status != 200:
            sys.exit(f"/api/{kind} {path} answered {status}: {body[:300]!r}")
        answer = json.loads(body)
        if answer.get("status") != "success":
            sys.exit(f"/api/{kind} {path} failed: {answer}")
        return answer["value"]


# subscriptions.py, density.py: thousands of sockets and SQLite files need file descriptors.


def raise_fd_limit(needed=None):
    """Raises this process's soft fd limit to `needed` (default: the hard limit) and returns it.

    Call before starting a server: it inherits the limit. Exits if the hard limit is lower.
    """
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if needed is None else needed
    if hard != resource.RLIM_INFINITY and target > hard:
        sys.exit(f"{target} file descriptors are needed but the hard limit is {hard}: raise `ulimit -Hn`")
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# api.py, fairness.py: wrk driving a JSON POST, with every answer checked. A Convex function
# error comes back as HTTP 200 with `"status":"error"`, so wrk's own non-2xx count is not
# enough: the script below classifies each answer by status and envelope.

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[BODY]==]
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; rejected = 0; failed = 0; sample = "" end
DELAY
function response(status, headers, body)
  if status == 200 and body:find('"status":"success"', 1, true) then
    ok = ok + 1
  elseif status == 429 or status == 503 then
    rejected = rejected + 1
  else
    failed = failed + 1
    if sample == "" then sample = status .. " " .. body:sub(1, 300):gsub("%s+", " ") end
  end
end
function done(summary, latency, requests)
  local ok_, rejected_, failed_, sample_ = 0, 0, 0, ""
  for _, t in ipairs(threads) do
    ok_ = ok_ + t:get("ok"); rejected_ = rejected_ + t:get("rejected"); failed_ = failed_ + t:get("failed")
    if sample_ == "" then sample_ = t:get("sample") end
  end
  local e = summary.errors
  io.write(string.format("requests=%d\\nduration_us=%d\\nok=%d\\nrejected=%d\\nfailed=%d\\n",
    summary.requests, summary.duration, ok_, rejected_, failed_))
  io.write(string.format("socket_errors=%d\\n", e.connect + e.read + e.write + e.timeout))
  io.write(string.format("p50_us=%d\\np99_us=%d\\nmax_us=%d\\n",
    latency:percentile(50), latency:percentile(99), latency.max))
  io.write("sample=" .. sample_ .. "\\n")
end
"""


def wrk_post(url, body, seconds, connections, threads=2, delay_ms=0, timeout_s=10):
    """Loads `url` with wrk POSTing the JSON `body`; returns the checked figures.

    Keys: requests, rps, ok (200 with a success envelope), ok_rps, rejected (429/503),
    failed (anything else), socket_errors, p50_ms, p99_ms, max_ms, sample (first failure).
    delay_ms > 0 makes every connection pause that long before each request (pacing).
    Latency is wrk's: from send to answer on a connection that waits for its answer.
    """
    delay = f"function delay() return {int(delay_ms)} end" if delay_ms > 0 else ""
    script = WRK_SCRIPT.replace("BODY", json.dumps(body)).replace("DELAY", delay)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        done = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", f"--timeout={timeout_s}s",
             "-s", f.name, url],
            capture_output=True, text=True,
        )
    finally:
        os.unlink(f.name)
    if done.returncode != 0:
        sys.exit(f"wrk failed ({done.returncode}): {done.stderr.strip()[-1000:]}")
    raw = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line and " " not in line.split("=", 1)[0])
    figures = {k: int(raw[k]) for k in ("requests", "ok", "rejected", "failed", "socket_errors")}
    elapsed = int(raw["duration_us"]) / 1e6
    figures.update(
        rps=figures["requests"] / elapsed,
        ok_rps=figures["ok"] / elapsed,
        p50_ms=int(raw["p50_us"]) / 1000,
        p99_ms=int(raw["p99_us"]) / 1000,
        max_ms=int(raw["max_us"]) / 1000,
        sample=raw.get("sample", ""),
        seconds=elapsed,
    )
    return figures


def require_wrk():
    import shutil

    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")
