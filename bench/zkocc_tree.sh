#!/bin/bash
# The zkocc tree rows of make bench: `zk ls -R` of a NODES-node tree
# through a warm zkocc against the same command straight from ZooKeeper,
# paired in each round; and zkocc's memory per cached node beyond the
# path and data it holds (RSS growth over the warm-up, and the cache's
# own count of its bytes, both divided by the entries it added).
# Usage: bench/zkocc_tree.sh BUILD_DIR ZK_ADDR
# Environment: ROUNDS=5 NODES=100000 TREE=/zk/bench/tree (made by the script).
set -euo pipefail
build=$(cd "$1" && pwd)
addr=$2
ROUNDS=${ROUNDS:-5}
NODES=${NODES:-100000}
bench="$build/bench/bench_zk"
zkocc="$build/src/zkocc/zkocc"
zk="$build/src/zk/zk"
py=/usr/bin/python3
tree=${TREE:-/zk/bench/tree}
dir=$(mktemp -d /tmp/zkocc-tree.XXXXXX)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT
port=$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

"$bench" populate "$addr" "$tree" "$NODES" >/dev/null
printf '{"bench": "%s"}\n' "$addr" > "$dir/zk_client.json"
"$zkocc" --port "$port" --config "$dir/zk_client.json" bench 2> "$dir/zkocc.log" &
pid=$!
for _ in $(seq 200); do
    $py -c "import socket; socket.create_connection(('127.0.0.1', $port), 1).close()" 2>/dev/null && break
    sleep 0.05
done
rss() { awk '/^VmRSS:/ {print $2 * 1024}' "/proc/$pid/status"; }
metric() {
    $py - "$port" "$1" <<'PY'
import sys, urllib.request
port, name = sys.argv[1], sys.argv[2]
for line in urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode().splitlines():
    if line.startswith(name + " "):
        print(int(float(line.split()[1])))
        break
PY
}
rss0=$(rss); e0=$(metric zkocc_cache_entries); b0=$(metric zkocc_cache_bytes)
n=$("$zk" --zkocc "127.0.0.1:$port" ls -R "$tree" | tee "$dir/list" | wc -l)
[ "$n" = "$NODES" ] || { echo "bench: zk ls -R through zkocc listed $n nodes, expected $NODES" >&2; exit 1; }
rss1=$(rss); e1=$(metric zkocc_cache_entries); b1=$(metric zkocc_cache_bytes)
# What the entries hold of their own: each listed node's path once (its
# children listing's key), the names in its parent's listing; no data.
paths=$(awk '{s += length($0) + 1} END {print s}' "$dir/list")

timed() {
    local name=$1; shift
    local t0 t1 got
    t0=$(date +%s%N)
    got=$("$@" | wc -l)
    t1=$(date +%s%N)
    [ "$got" = "$NODES" ] || { echo "bench: $name listed $got nodes, expected $NODES" >&2; exit 1; }
    echo "$(( (t1 - t0) / 1000 ))e-6" >> "$dir/$name"
}
for r in $(seq "$ROUNDS"); do
    if (( r % 2 )); then
        timed direct "$zk" --server "$addr" ls -R "$tree"
        timed zkocc "$zk" --zkocc "127.0.0.1:$port" ls -R "$tree"
    else
        timed zkocc "$zk" --zkocc "127.0.0.1:$port" ls -R "$tree"
        timed direct "$zk" --server "$addr" ls -R "$tree"
    fi
done
$py - "$dir" "$NODES" "$rss0" "$rss1" "$e0" "$e1" "$b0" "$b1" "$paths" <<'PY'
import os, statistics, sys
d, nodes = sys.argv[1], int(sys.argv[2])
rss0, rss1, e0, e1, b0, b1, paths = map(int, sys.argv[3:])
load = lambda n: [float(l) for l in open(os.path.join(d, n)) if l.strip()]
direct, zo = load("direct"), load("zkocc")
ratio = statistics.median(a / b for a, b in zip(direct, zo))
md, mz = statistics.median(direct), statistics.median(zo)
print()
print(f"zkocc: zk ls -R of {nodes} nodes, {len(zo)} paired rounds (whole command)")
print(f"  ZooKeeper direct {md:.2f} s ({nodes / md:.0f} nodes/s)"
      f"  warm zkocc {mz:.2f} s ({nodes / mz:.0f} nodes/s)"
      f"  zkocc / direct {ratio:.2f}x (target 5x)")
entries = e1 - e0
if entries > 0:
    print(f"  memory: {entries} entries cached; RSS +{(rss1 - rss0) / entries:.0f} B/entry,"
          f" cache's own count {(b1 - b0) / entries:.0f} B/entry;"
          f" beyond path and data: {(rss1 - rss0 - paths) / entries:.0f} B (RSS),"
          f" {(b1 - b0 - paths) / entries:.0f} B (counted)")
PY
