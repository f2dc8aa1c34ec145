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
src=$(cd "$(dirname "$0")" && pwd)
bench="$build/bench/bench_zk"
zkocc="$build/src/zkocc/zkocc"
zk="$build/src/zk/zk"
py=/usr/bin/python3
dir=$(mktemp -d /tmp/zkocc-tree.XXXXXX)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT
. "$src/results.sh"
results_init "$dir"
setting zkocc_tree.sh ROUNDS 5
setting zkocc_tree.sh NODES 100000
setting zkocc_tree.sh TREE /zk/bench/tree
tree=$TREE
port=$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

"$bench" populate "$addr" "$tree" "$NODES" >/dev/null
printf '{"bench": "%s"}\n' "$addr" > "$dir/zk_client.json"
"$zkocc" --port "$port" --config "$dir/zk_client.json" bench 2> "$dir/zkocc.log" &
pid=$!
record_cmd zkocc-tree-server "$zkocc" --port "$port" --config "$dir/zk_client.json" bench
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

# lists_all NAME CMD...: CMD, which must list every node of the tree
# (timed's RUN: `timed NAME "$NODES" lists_all CMD...` times it whole).
lists_all() {
    local name=$1 got; shift
    got=$("$@" | wc -l)
    [ "$got" = "$NODES" ] || { echo "bench: $name listed $got nodes, expected $NODES" >&2; exit 1; }
}
for r in $(seq "$ROUNDS"); do
    if (( r % 2 )); then
        timed ls-direct "$NODES" lists_all "$zk" --server "$addr" ls -R "$tree"
        timed ls-zkocc "$NODES" lists_all "$zk" --zkocc "127.0.0.1:$port" ls -R "$tree"
    else
        timed ls-zkocc "$NODES" lists_all "$zk" --zkocc "127.0.0.1:$port" ls -R "$tree"
        timed ls-direct "$NODES" lists_all "$zk" --server "$addr" ls -R "$tree"
    fi
done
record section zkocc-tree "zkocc: zk ls -R of the tree through a warm zkocc"
record row zkocc-tree "zk ls -R $NODES nodes: warm zkocc vs ZooKeeper direct (s)" s ls-zkocc \
    ls-direct anchor ">=5" "$NODES"
entries=$((e1 - e0))
if [ "$entries" -gt 0 ]; then
    record note zkocc-tree "memory: $entries entries cached; RSS +$(( (rss1 - rss0) / entries )) B/entry, the cache's own count +$(( (b1 - b0) / entries )) B/entry; beyond the paths and names: $(( (rss1 - rss0 - paths) / entries )) B (RSS), $(( (b1 - b0 - paths) / entries )) B (counted)"
fi
record note zkocc-tree "whole commands (process start and connect included), paired rounds; target 5x"
$py "$src/report.py" console zkocc-tree "$BENCH_TSV"
