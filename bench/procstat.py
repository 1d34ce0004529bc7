"""Small helpers every benchmark script shares: a free port, a plain HTTP request, and a
process's CPU time and resident memory from /proc. Imported by bench/peers/run.py and
bench/nimbus/common.py (each puts bench/ on sys.path).
"""

import json
import os
import socket
import urllib.error
import urllib.request

TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url, body=None, headers=None, timeout=30):
    """(status, bytes) for a GET (body None) or a JSON POST; (None, None) if nothing answered."""
    data = None if body is None else json.dumps(body).encode()
    all_headers = {"content-type": "application/json"} if body is not None else {}
    all_headers.update(headers or {})
    req = urllib.request.Request(url, data=data, headers=all_headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return None, None


def cpu_seconds(pid):
    """User + system CPU seconds the process has used so far."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_kib(pid):
    """The process's resident set size in KiB (0 if it is gone)."""
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
