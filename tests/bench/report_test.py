#!/usr/bin/python3
"""bench/report.py on a fixed results file (TAP): the console table and the
Markdown report carry every row with its medians, spreads, ratios and
targets, the machine and the settings; the plots are valid SVG when
gnuplot is installed, and the report says they are missing when it is not;
malformed results are refused naming the file and line.  Nothing here is
timed: the numbers are the sample's.

Usage: report_test.py REPORT.py SAMPLE.tsv
"""
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tap import check, done, skip  # noqa: E402 (tests/tap.py)

REPORT, SAMPLE = sys.argv[1], sys.argv[2]
def run(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(["/usr/bin/python3", REPORT, *args], capture_output=True, text=True,
                          env=e)


def has_line(text, *parts):
    """A line holding every part, in order."""
    for line in text.splitlines():
        at = 0
        for p in parts:
            at = line.find(p, at)
            if at < 0:
                break
            at += len(p)
        else:
            return True
    return False


tmp = tempfile.mkdtemp(prefix="bench-report-test.")
try:
    # ---- console ----
    r = run("console", "zk", SAMPLE)
    out = r.stdout
    check("console zk exits 0", r.returncode == 0, r.stderr)
    check("console: paired rate row, medians and median of per-round ratios",
          has_line(out, "get, blocking: zkc_get vs zoo_get (ops/s)", "900/s", "800/s", "1.25x", "3/3"),
          out)
    check("console: unpaired seconds row, ratio of medians",
          has_line(out, "ChildrenRecursive 100k vs kazoo walk", "3.00 s", "10.00 s", "3.33x", "2/1"),
          out)
    check("console: lock row in ms", has_line(out, "lock hand-off", "3.00ms", "8.00ms", "3.25x", "2/2"),
          out)
    check("console: watch events per hand-off, ratio of medians",
          has_line(out, "watch events per hand-off", "1.00", "2.50", "2.50x"), out)
    check("console: node count warning",
          "warning: zkcli-walk listed [99999] nodes, expected 100000" in out, out)
    check("console: client CPU medians", has_line(out, "zkc-get / raw-get", "0.60 s", "0.40 s"), out)
    check("console: hand-off percentiles",
          has_line(out, "zkcell zkc_lock (10)", "p50 5.00", "p90 9.00", "p99 10.00", "max 10.00")
          and has_line(out, "kazoo Lock (10)", "p50 50.00", "p90 90.00", "p99 100.00"), out)
    check("console: the section's notes", "ratio > 1 means zkcell is faster." in out, out)
    check("console: only the section asked for", "zkocc-4x100" not in out, out)
    r = run("console", "zkocc", SAMPLE)
    check("console zkocc: row and latency",
          has_line(r.stdout, "4x100 zkocc vs ZooKeeper direct", "100000/s", "10000/s", "10.00x")
          and has_line(r.stdout, "zkocc-4x100", "p50", "60", "p99", "200"), r.stdout + r.stderr)

    # ---- Markdown without gnuplot ----
    res = os.path.join(tmp, "report.tsv")
    md = os.path.join(tmp, "report.md")
    shutil.copy(SAMPLE, res)
    stale = os.path.join(tmp, "report-zkocc-conns.svg")
    with open(stale, "w") as f:
        f.write("<svg/>")
    r = run("markdown", res, md, env={"GNUPLOT": os.path.join(tmp, "no-gnuplot")})
    check("markdown without gnuplot exits 0", r.returncode == 0, r.stderr)
    check("markdown without gnuplot says so on the console",
          "plots missing: gnuplot is not installed" in r.stdout, r.stdout)
    text = open(md).read() if os.path.exists(md) else ""
    check("report: short-run banner names the changed settings",
          "Short run" in text and "ROUNDS=3 for run.sh, default 5" in text
          and "SECONDS_EACH=1 for dns.sh, default 10" in text and "NODES=" not in text, text[:600])
    check("report: date, commit, raw results link",
          "2026-12-06 07:00 UTC" in text and "0123456789abcdef0123456789abcdef01234567" in text
          and "[report.tsv](report.tsv)" in text, text[:800])
    check("report: machine",
          "| CPU | Test CPU @ 2.00GHz |" in text and "| cores | 2 |" in text
          and "| kernel | Linux 6.1.0-test |" in text
          and "| load average at start (1, 5, 15 min) | 0.50 0.40 0.30 |" in text
          and "| ZooKeeper | 3.8.0-test, built on 2023-01-01 |" in text, text)
    check("report: how to rerun", "`ROUNDS=3 SECONDS_EACH=1 make bench`" in text, text)
    check("report: rate row with spreads, role, target met",
          "| get, blocking: zkc_get vs zoo_get (ops/s) | `zkc-get` | 900/s [600-1000] |"
          " `raw-get` (limit) | 800/s [400-1000] | 1.25x [0.90-1.50] | >=0.95: yes | 3/3 |"
          in text, text)
    check("report: target missed",
          "| `kazoo-walk` (anchor) | 10.00 s | 3.33x | >=5: no | 2/1 |" in text, text)
    check("report: target in words kept as words",
          "| 2.50x | 1 per hand-off | 2/2 |" in text, text)
    check("report: lock row in ms", "3.00 ms [2.00-4.00]" in text and "3.25x [1.50-5.00] | >1: yes" in text,
          text)
    check("report: warning", "**Warning:** zkcli-walk listed [99999] nodes, expected 100000." in text,
          text)
    check("report: hand-off percentiles",
          "| zkcell zkc_lock | 10 | 5.00 | 9.00 | 10.00 | 10.00 |" in text
          and "| kazoo Lock | 10 | 50.00 | 90.00 | 100.00 | 100.00 |" in text, text)
    check("report: curve table with spread over rounds",
          "| 2 | 80000 [70000-90000] | 8500 [8000-9000] |" in text and "| 1 | 50000 | 5000 |" in text,
          text)
    check("report: zkocc latency", "| `zkocc-4x100` | 60 | 200 |" in text, text)
    check("report: commands, below the repository's root",
          "- `zkc-get`: `build/bench/bench_zk zkc-get 127.0.0.1:2181 /zk/bench/one 5000`" in text
          and "/src/zkcell" not in text, text)
    check("report: plots missing, said where they would be",
          text.count("*Plot missing: gnuplot is not installed") == 2, text)
    check("report: no stale plot left from an earlier run", not os.path.exists(stale))

    # ---- Markdown with gnuplot ----
    gp = shutil.which("gnuplot")
    if gp is None:
        skip("plots are valid SVG", "gnuplot not installed (scripts/deps.sh bench)")
    else:
        r = run("markdown", res, md)
        text = open(md).read()
        ok = r.returncode == 0
        for plot in ("lock-handoff", "zkocc-conns"):
            svg = os.path.join(tmp, f"report-{plot}.svg")
            try:
                root = ET.parse(svg).getroot()
                ok = ok and root.tag == "{http://www.w3.org/2000/svg}svg"
            except (OSError, ET.ParseError) as e:
                ok = False
                r.stderr += f"\n{svg}: {e}"
            ok = ok and f"(report-{plot}.svg)" in text
        check("plots are valid SVG, linked from the report", ok and "Plot missing" not in text,
              r.stdout + r.stderr)

    # ---- bad input ----
    bad = os.path.join(tmp, "bad.tsv")
    with open(bad, "w") as f:
        f.write("section\tzk\tZooKeeper\nsample\tzkc-get\tnot-a-number\t10\n")
    r = run("console", "zk", bad)
    check("a malformed sample is refused, naming file and line",
          r.returncode == 1 and f"{bad}:2:" in r.stderr, r.stderr)
    with open(bad, "w") as f:
        f.write("bogus\tx\n")
    r = run("markdown", bad, md)
    check("an unknown record is refused", r.returncode == 1 and "unknown record 'bogus'" in r.stderr,
          r.stderr)
    with open(bad, "w") as f:
        f.write("section\tzk\tZooKeeper\nrow\tzk\tx\tfurlongs\ta\tb\tlimit\t\n")
    r = run("console", "zk", bad)
    check("an unknown metric is refused", r.returncode == 1 and "unknown metric 'furlongs'" in r.stderr,
          r.stderr)
    r = run("console", "nosuch", SAMPLE)
    check("an unknown section is refused", r.returncode == 1 and "no section 'nosuch'" in r.stderr,
          r.stderr)
    r = run("console", "zk", os.path.join(tmp, "missing.tsv"))
    check("a missing results file is refused, naming it",
          r.returncode == 1 and "missing.tsv" in r.stderr, r.stderr)
    r = run("console")
    check("usage", r.returncode == 2 and "usage:" in r.stderr, r.stderr)
finally:
    shutil.rmtree(tmp, ignore_errors=True)

done()
