#!/usr/bin/python3
"""zkns-pdns --bind-addr (TAP): /debug/vars and /metrics count what the
coprocess answered; a port already taken is logged, not fatal.

Usage: metrics.py ZKNS_PDNS TREE.json
"""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tap import check, done  # noqa: E402 (tests/tap.py)

BIN, TREE = sys.argv[1], sys.argv[2]
def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start(port):
    return subprocess.Popen([BIN, "--fake", TREE, "--zkns-domain", "zkns.test",
                             "--zkns-root", "/zk/test/zkns", "--soa-host", "ns1.zkns.test",
                             "--bind-addr", f"127.0.0.1:{port}"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def ask(p, line, answers=1):
    """Send one line; read until `answers` terminal lines."""
    p.stdin.write(line.encode() + b"\n")
    p.stdin.flush()
    out = []
    while answers > 0:
        got = p.stdout.readline().decode().rstrip("\n")
        out.append(got)
        if got in ("END", "FAIL") or got.startswith("OK\t"):
            answers -= 1
    return out


def get(port, path):
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


port = free_port()
p = start(port)
ask(p, "HELO\t1")
ask(p, "Q\ta.zkns.test\tIN\tANY\t-1\t127.0.0.1")
ask(p, "Q\ta.zkns.test\tIN\tANY\t-1\t127.0.0.1")
ask(p, "Q\tnone.zkns.test\tIN\tANY\t-1\t127.0.0.1")
ask(p, "junk")
status, body = get(port, "/debug/vars")
try:
    v = json.loads(body)
except ValueError:
    v = {}
check("/debug/vars answers JSON", status == 200 and isinstance(v, dict), body)
check("requests counted", v.get("PdnsRequestCount") == 3, body)
check("empty answers counted", v.get("PdnsEmptyCount") == 1, body)
check("errors counted", v.get("PdnsErrorCount") == 1 and v.get("PdnsFailCount") == 1, body)
check("cache hits and misses", v.get("PdnsCacheHits") == 1 and v.get("PdnsCacheMisses") == 2, body)
status, body = get(port, "/metrics")
check("/metrics in the Prometheus text format",
      status == 200 and "zkns_pdns_requests_total 3\n" in body and
      "# TYPE zkns_pdns_cache_hits_total counter" in body, body)
status, body = get(port, "/nope")
check("other paths are 404", status == 404, status)

# A second coprocess on the same port goes on without the endpoint.
p2 = start(port)
out = ask(p2, "HELO\t2") + ask(p2, "Q\ta.zkns.test\tIN\tANY\t-1\t1\t1")
p2.stdin.close()
rc2 = p2.wait(timeout=60)
err2 = p2.stderr.read().decode()
check("a taken port is not fatal", out[-2:] == ["DATA\ta.zkns.test\tIN\tA\t1\t-1\t10.0.0.1", "END"]
      and rc2 == 0 and "no metrics endpoint" in err2, f"{out} {rc2} {err2}")

p.stdin.close()
rc = p.wait(timeout=60)
check("EOF ends the coprocess with status 0", rc == 0, rc)
done()
