#!/bin/bash
# The zkocc rows of make bench: cached ZkReader.Get through zkocc against
# the same reads straight from ZooKeeper (C client) and against a
# do-nothing responder on the same wire, at 4 connections x 100 in flight
# and 1 x 1, paired in each round; medians and ratios.
# Usage: bench/zkocc.sh BUILD_DIR ZK_ADDR   (run.sh calls it with its server;
# /zk/bench/one must exist).  Environment: ROUNDS=5 SECONDS_EACH=3.
set -euo pipefail
build=$(cd "$1" && pwd)
addr=$2
ROUNDS=${ROUNDS:-5}
SECONDS_EACH=${SECONDS_EACH:-3}
bench="$build/bench/bench_zkocc"
zkocc="$build/src/zkocc/zkocc"
py=/usr/bin/python3
dir=$(mktemp -d /tmp/zkocc-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
free_port() { $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
zport=$(free_port)
nport=$(free_port)
printf '{"bench": "%s"}\n' "$addr" > "$dir/zk_client.json"
"$zkocc" --port "$zport" --config "$dir/zk_client.json" bench 2> "$dir/zkocc.log" &
pids+=($!)
"$bench" null "$nport" 2> "$dir/null.log" &
pids+=($!)
for _ in $(seq 200); do
    $py -c "import socket; socket.create_connection(('127.0.0.1', $zport), 1).close(); socket.create_connection(('127.0.0.1', $nport), 1).close()" 2>/dev/null && break
    sleep 0.05
done
"$bench" zkocc "127.0.0.1:$zport" /zk/bench/one 1 1 0.2 > /dev/null   # warm the cache

echo
echo "zkocc: cached Get, $ROUNDS rounds of ${SECONDS_EACH}s each (calls/s, p50/p99 in us)"
for shape in "4 100" "1 1"; do
    set -- $shape
    for r in $(seq "$ROUNDS"); do
        "$bench" zk "$addr" /zk/bench/one "$1" "$2" "$SECONDS_EACH" >> "$dir/zk-$1x$2"
        "$bench" zkocc "127.0.0.1:$zport" /zk/bench/one "$1" "$2" "$SECONDS_EACH" >> "$dir/zkocc-$1x$2"
        "$bench" zkocc "127.0.0.1:$nport" /zk/bench/one "$1" "$2" "$SECONDS_EACH" >> "$dir/null-$1x$2"
    done
done
$py - "$dir" <<'PY'
import os, statistics, sys
d = sys.argv[1]
def rows(name):
    out = []
    for l in open(os.path.join(d, name)):
        s, n, p50, p99 = l.split()
        out.append((int(n) / float(s), int(p50), int(p99)))
    return out
for shape in ("4x100", "1x1"):
    zk, zo, nu = rows("zk-" + shape), rows("zkocc-" + shape), rows("null-" + shape)
    med = lambda r, i: statistics.median(x[i] for x in r)
    print(f"  {shape:6} ZooKeeper direct {med(zk,0):>10.0f}/s  zkocc {med(zo,0):>10.0f}/s"
          f" (p50 {med(zo,1):.0f} p99 {med(zo,2):.0f})  do-nothing {med(nu,0):>10.0f}/s"
          f" (p50 {med(nu,1):.0f})")
    r1 = statistics.median(b[0] / a[0] for a, b in zip(zk, zo))
    r2 = statistics.median(b[0] / a[0] for a, b in zip(nu, zo))
    print(f"         zkocc / direct {r1:.2f}x   zkocc / do-nothing {r2:.2f}x")
print("  targets: 4x100 zkocc >= 10x direct; 1x1 zkocc >= 0.75x do-nothing, p99 < 1000 us")
PY
