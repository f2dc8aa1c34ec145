#!/bin/bash
# make bench: each row measures zkcell and the tool it must beat, in the
# same run, against the same server, and prints medians and the ratio.
# Usage: bench/run.sh BUILD_DIR   (env: ROUNDS=5 NODES=100000 GETS=5000 AGETS=50000)
set -euo pipefail
build=${1:-build}
ROUNDS=${ROUNDS:-5}
SLOW_ROUNDS=${SLOW_ROUNDS:-3}
NODES=${NODES:-100000}
GETS=${GETS:-5000}
AGETS=${AGETS:-50000}
bench="$PWD/$build/bench/bench_zk"
zkctl="$PWD/$build/src/zkctl/zkctl"
py=/usr/bin/python3
for f in "$bench" "$zkctl"; do
    [ -x "$f" ] || { echo "bench: $f is missing (make first)" >&2; exit 1; }
done
dir=$(mktemp -d /tmp/zkcell-bench.XXXXXX)
trap '"$zkctl" --dir "$dir/zk" stop >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
port=$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$zkctl" --dir "$dir/zk" start --ports "$port" >/dev/null
addr="127.0.0.1:$port"
echo "server: ZooKeeper 3.8 standalone on $addr (zkctl); $ROUNDS rounds, medians"

"$bench" populate "$addr" /bench "$NODES" >/dev/null
"$bench" populate "$addr" /one 1 >/dev/null
echo "tree: $NODES nodes under /bench"

# Each sample is "<seconds> <count>"; results go to $dir/<name>.
sample() { local name=$1; shift; "$@" >> "$dir/$name"; }
for r in $(seq "$ROUNDS"); do
    sample raw-get "$bench" raw-get "$addr" /one "$GETS"
    sample zkc-get "$bench" zkc-get "$addr" /one "$GETS"
    sample raw-aget "$bench" raw-aget "$addr" /one "$AGETS" 1000
    sample zkc-aget "$bench" zkc-aget "$addr" /one "$AGETS" 1000
    sample raw-walk "$bench" raw-walk "$addr" /bench 1000
    sample zkc-walk "$bench" zkc-walk "$addr" /bench 1000
done
for r in $(seq "$SLOW_ROUNDS"); do
    sample kazoo-walk $py "$PWD/bench/kazoo_walk.py" "$addr" /bench
    t0=$(date +%s%N)
    n=$(/usr/share/zookeeper/bin/zkCli.sh -server "$addr" ls -R /bench 2>/dev/null | grep -c '^/bench/' || true)
    t1=$(date +%s%N)
    echo "$(( (t1 - t0) / 1000000 ))e-3 $n" >> "$dir/zkcli-walk"
done

$py - "$dir" "$NODES" <<'PY'
import statistics, sys, os
d, nodes = sys.argv[1], int(sys.argv[2])
def load(name):
    rows = [l.split() for l in open(os.path.join(d, name)) if l.strip()]
    return [float(r[0]) for r in rows], [int(r[1]) for r in rows]
def rate(name):
    t, n = load(name)
    return statistics.median([c / s for s, c in zip(t, n)]), len(t)
def secs(name):
    t, n = load(name)
    if any(c != nodes for c in n):
        print(f"  warning: {name} listed {sorted(set(n))} nodes, expected {nodes}")
    return statistics.median(t), len(t)
print()
print(f"{'row':44} {'zkcell':>14} {'other':>14} {'zkcell/other':>13}")
def row(label, ours, theirs, unit, higher_better):
    ratio = ours / theirs if higher_better else theirs / ours
    print(f"{label:44} {ours:>11.0f}{unit:>3} {theirs:>11.0f}{unit:>3} {ratio:>12.2f}x")
def row_s(label, ours, theirs):
    print(f"{label:44} {ours:>12.2f} s {theirs:>12.2f} s {theirs / ours:>12.2f}x")
a, _ = rate("zkc-get"); b, _ = rate("raw-get")
row("blocking get: zkc_get vs raw zoo_get (ops/s)", a, b, "/s", True)
a, _ = rate("zkc-aget"); b, _ = rate("raw-aget")
row("pipelined get, 1000 in flight: vs zoo_aget", a, b, "/s", True)
a, _ = secs("zkc-walk"); b, _ = secs("raw-walk")
row_s(f"ChildrenRecursive {nodes} nodes vs raw limit", a, b)
k, _ = secs("kazoo-walk")
row_s(f"ChildrenRecursive {nodes} nodes vs kazoo", a, k)
z, _ = secs("zkcli-walk")
row_s(f"ChildrenRecursive {nodes} nodes vs zkCli ls -R", a, z)
print()
print("ratio > 1 means zkcell is faster; 1.00 means equal; for the raw C client the target is >= 0.90")
PY
