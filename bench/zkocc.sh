#!/bin/bash
# The zkocc rows of make bench: cached ZkReader.Get through zkocc against
# the same reads straight from ZooKeeper (C client) and against a
# do-nothing responder on the same wire, at 4 connections x 100 in flight
# and 1 x 1, paired in each round; medians and ratios.  Then the curve of
# throughput against connections (CURVE_CONNS, 100 in flight on each) for
# the three, for the report's plot.
# Usage: bench/zkocc.sh BUILD_DIR ZK_ADDR   (run.sh calls it with its server;
# /zk/bench/one must exist).  Environment: ROUNDS=5 SECONDS_EACH=3
# CURVE_ROUNDS=3 CURVE_CONNS="1 2 4 8 16 32"; BENCH_TSV (bench/results.sh).
set -euo pipefail
build=$(cd "$1" && pwd)
addr=$2
src=$(cd "$(dirname "$0")" && pwd)
bench="$build/bench/bench_zkocc"
zkocc="$build/src/zkocc/zkocc"
py=/usr/bin/python3
dir=$(mktemp -d /tmp/zkocc-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
. "$src/results.sh"
results_init "$dir"
setting zkocc.sh ROUNDS 5
setting zkocc.sh SECONDS_EACH 3
setting zkocc.sh CURVE_ROUNDS 3
setting zkocc.sh CURVE_CONNS "1 2 4 8 16 32"
free_port() { $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
zport=$(free_port)
nport=$(free_port)
printf '{"bench": "%s"}\n' "$addr" > "$dir/zk_client.json"
"$zkocc" --port "$zport" --config "$dir/zk_client.json" bench 2> "$dir/zkocc.log" &
pids+=($!)
record_cmd zkocc-server "$zkocc" --port "$zport" --config "$dir/zk_client.json" bench
"$bench" null "$nport" 2> "$dir/null.log" &
pids+=($!)
record_cmd null-server "$bench" null "$nport"
for _ in $(seq 200); do
    $py -c "import socket; socket.create_connection(('127.0.0.1', $zport), 1).close(); socket.create_connection(('127.0.0.1', $nport), 1).close()" 2>/dev/null && break
    sleep 0.05
done
"$bench" zkocc "127.0.0.1:$zport" /zk/bench/one 1 1 0.2 > /dev/null   # warm the cache

# load NAME MODE ADDR CONNS INFLIGHT: one run, "<seconds> <calls> <p50 us> <p99 us>".
load() {
    local name=$1 mode=$2 to=$3 conns=$4 inflight=$5 out
    record_cmd "$name" "$bench" "$mode" "$to" /zk/bench/one "$conns" "$inflight" "$SECONDS_EACH"
    out=$("$bench" "$mode" "$to" /zk/bench/one "$conns" "$inflight" "$SECONDS_EACH") ||
        { echo "bench/zkocc: $name failed" >&2; exit 1; }
    record sample "$name" $out
}
# three SUFFIX CONNS INFLIGHT: direct, through zkocc, do-nothing.
three() {
    load "zk-$1" zk "$addr" "$2" "$3"
    load "zkocc-$1" zkocc "127.0.0.1:$zport" "$2" "$3"
    load "null-$1" zkocc "127.0.0.1:$nport" "$2" "$3"
}

echo
echo "zkocc: cached Get, $ROUNDS rounds of ${SECONDS_EACH}s each (calls/s, p50/p99 in us)"
for shape in "4 100" "1 1"; do
    set -- $shape
    for r in $(seq "$ROUNDS"); do
        three "$1x$2" "$1" "$2"
    done
done
for r in $(seq "$CURVE_ROUNDS"); do
    for c in $CURVE_CONNS; do
        three "c$c" "$c" 100
    done
done

record section zkocc "zkocc: cached Get against ZooKeeper direct and a do-nothing responder"
for shape in 4x100 1x1; do
    target_zk="" target_null=""
    [ "$shape" = 4x100 ] && target_zk=">=10"
    [ "$shape" = 1x1 ] && target_null=">=0.75"
    record row zkocc "$shape zkocc vs ZooKeeper direct (calls/s)" rate "zkocc-$shape" "zk-$shape" \
        anchor "$target_zk"
    record row zkocc "$shape zkocc vs do-nothing responder (calls/s)" rate "zkocc-$shape" \
        "null-$shape" limit "$target_null"
done
record plot zkocc-conns zkocc "Cached Get throughput against connections (100 in flight on each)" \
    "connections" "calls/s"
for c in $CURVE_CONNS; do
    record point zkocc-conns "zkocc" "$c" "zkocc-c$c"
    record point zkocc-conns "ZooKeeper direct (C client)" "$c" "zk-c$c"
    record point zkocc-conns "do-nothing responder (limit)" "$c" "null-c$c"
done
record note zkocc "targets: 4x100 zkocc >= 10x direct; 1x1 zkocc >= 0.75x do-nothing, p99 < 1000 us"
$py "$src/report.py" console zkocc "$BENCH_TSV"
