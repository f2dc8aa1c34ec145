#!/bin/bash
# make bench: each row measures zkcell and the tool it must beat, in the
# same run, against the same server, and prints medians and the ratio; then
# the zkocc rows (zkocc.sh) and the DNS rows (dns.sh).  Every measurement
# goes to one results file (bench/results.sh); bench/report.py prints each
# part's table and, at the end, writes REPORT (bench/report.md), its plots
# (bench/report-*.svg, with gnuplot) and a copy of the results (report.tsv).
# Usage: bench/run.sh BUILD_DIR
# Environment (defaults): ROUNDS=5 (C rows), SLOW_ROUNDS=3 (kazoo and zkCli
# listings, every deletion row), KAZOO_RM_ROUNDS=1 (kazoo's recursive delete
# takes ~90 s), NODES=100000 GETS=5000 AGETS=50000 WAITERS=100 LOCK_CONNS=10,
# REPORT=bench/report.md; zkocc.sh and dns.sh read their own.
set -euo pipefail
build=${1:-build}
build=$(cd "$build" && pwd)   # absolute, so BUILD_DIR may be relative or absolute
src=$(cd "$(dirname "$0")" && pwd)
REPORT=${REPORT:-$src/report.md}
bench="$build/bench/bench_zk"
zkctl="$build/src/zkctl/zkctl"
zk="$build/src/zk/zk"
zkcli=/usr/share/zookeeper/bin/zkCli.sh
py=/usr/bin/python3
for f in "$bench" "$zkctl" "$zk" "$zkcli"; do
    [ -x "$f" ] || { echo "bench: $f is missing (make first)" >&2; exit 1; }
done
dir=$(mktemp -d /tmp/zkcell-bench.XXXXXX)
trap '"$zkctl" --dir "$dir/zk" stop >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
. "$src/results.sh"
BENCH_TSV=""
results_init "$dir"
record_machine "$src/.."
setting run.sh ROUNDS 5
setting run.sh SLOW_ROUNDS 3
setting run.sh KAZOO_RM_ROUNDS 1
setting run.sh NODES 100000
setting run.sh GETS 5000
setting run.sh AGETS 50000
setting run.sh WAITERS 100
setting run.sh LOCK_CONNS 10
record meta kazoo "$(package_version python3-kazoo)"
record meta zkcli "$(package_version zookeeper)"
if command -v gnuplot >/dev/null; then
    record meta gnuplot "$(gnuplot --version)"
else
    record meta gnuplot "not installed (no plots)"
fi
port=$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# A server sized for 100k nodes (zkctl's lean test flags cap the heap at 64 MB
# and stop at the C1 compiler); forceSync=no so that disk flushes do not
# dominate the write rows (every tool pays the same).
jvm=${ZKCTL_JVM_FLAGS:-"-Xmx1g -Xms256m -XX:+UseSerialGC -Djava.net.preferIPv4Stack=true"}
server=("$zkctl" --dir "$dir/zk" start --ports "$port" --cfg forceSync=no)
ZKCTL_JVM_FLAGS=$jvm "${server[@]}" >/dev/null
record_cmd zookeeper env ZKCTL_JVM_FLAGS="$jvm" "${server[@]}"
addr="127.0.0.1:$port"
t_start=$(date +%s)
# The server's counters (mntr), one "key<TAB>value" a line.
mntr() {
    $py - "$port" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"mntr")
buf = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    buf += d
print(buf.decode(), end="")
PY
}
zk_version=$(mntr | awk -F'\t' '$1 == "zk_version" { print $2 }')
record meta zookeeper "$zk_version"
echo "server: ZooKeeper ${zk_version%%-*} standalone on $addr (zkctl, forceSync=no); medians of" \
     "$ROUNDS rounds (kazoo/zkCli: $SLOW_ROUNDS, kazoo rm: $KAZOO_RM_ROUNDS)"

"$bench" populate "$addr" /bench "$NODES" >/dev/null
for p in /zk /zk/bench /zk/bench/one; do "$bench" populate "$addr" "$p" 0 >/dev/null; done
n=$("$zk" --server "$addr" ls -R /bench | wc -l)
[ "$n" = "$NODES" ] || { echo "bench: zk ls -R listed $n nodes, expected $NODES" >&2; exit 1; }
echo "tree: $NODES nodes under /bench (100 per folder); gets read /zk/bench/one"

# Each sample is "<seconds> <count>", recorded under its name with the
# command that made it; each command's client CPU (user + sys seconds) too.
# (A command substitution does not stop on errors: cpu returns the status.)
cpu() {
    local name=$1 rc=0; shift
    /usr/bin/time -f "%U %S" -o "$dir/cpu.tmp" "$@" || rc=$?
    record cpu "$name" $(tail -n 1 "$dir/cpu.tmp")
    return $rc
}
failed() { echo "bench: $1 failed" >&2; exit 1; }
sample() {
    local name=$1 out; shift
    record_cmd "$name" "$@"
    out=$(cpu "$name" "$@") || failed "$name: $*"
    record sample "$name" $out
}
# quiet NAME CMD...: CMD with its client CPU recorded and its output
# dropped (timed's RUN: `timed NAME COUNT quiet CMD...` times it whole).
quiet() {
    local name=$1; shift
    cpu "$name" "$@" >/dev/null 2>&1 || failed "$name: $*"
}
# Watch notifications the server has sent so far (mntr: for every
# triggered event, how many watchers it fired).
watches() {
    mntr | awk -F'\t' '$1 ~ /^zk_sum_node_.*_watch_count$/ { n += $2 } END { print n + 0 }'
}
# lock NAME CMD...: one hand-off run (CMD writes every hand-off to the file
# named by its last argument); records "<median s> <hand-offs>" as NAME,
# "<watch notifications> <hand-offs>" as NAME-watches, and the hand-offs.
lock() {
    local name=$1; shift
    local w0 w1 out
    rm -f "$dir/handoffs"
    record_cmd "$name" "$@" "$dir/handoffs"
    w0=$(watches)
    out=$(cpu "$name" "$@" "$dir/handoffs") || failed "$name: $*"
    w1=$(watches)
    record sample "$name" $out
    record sample "$name-watches" "$((w1 - w0))" "${out#* }"
    record handoffs "$name" "$(paste -sd, "$dir/handoffs")"
}
# rm_row NAME CMD...: populate /del (not timed), then time CMD deleting it.
rm_row() {
    local name=$1; shift
    "$bench" populate "$addr" /del "$NODES" >/dev/null
    timed "$name" "$NODES" quiet "$@"
    if "$zk" --server "$addr" ls -d /del >/dev/null 2>&1; then
        echo "bench: $name left /del behind" >&2; exit 1
    fi
}

# pair A B: run the two samples of one row back to back, alternating which
# goes first from round to round (the machine's load drifts).
pair() { if (( r % 2 )); then "$1"; "$2"; else "$2"; "$1"; fi; }
for r in $(seq "$ROUNDS"); do
    s_get() { sample zkc-get "$bench" zkc-get "$addr" /zk/bench/one "$GETS"
              sample meta-get "$bench" meta-get "$addr" /zk/bench/one "$GETS"; }
    o_get() { sample raw-get "$bench" raw-get "$addr" /zk/bench/one "$GETS"; }
    pair s_get o_get
    s_aget() { sample zkc-aget "$bench" zkc-aget "$addr" /zk/bench/one "$AGETS" 1000; }
    o_aget() { sample raw-aget "$bench" raw-aget "$addr" /zk/bench/one "$AGETS" 1000; }
    pair s_aget o_aget
    s_walk() { sample zkc-walk "$bench" zkc-walk "$addr" /bench 1000
               timed zk-ls "$NODES" quiet "$zk" --server "$addr" ls -R /bench; }
    o_walk() { sample raw-walk "$bench" raw-walk "$addr" /bench 1000; }
    pair s_walk o_walk
    s_lock() { lock zkc-lock "$bench" zkc-lock "$addr" /lockbench/zkc "$WAITERS" "$LOCK_CONNS"; }
    o_lock() { lock kazoo-lock $py "$src/kazoo_lock.py" "$addr" /lockbench/kazoo "$WAITERS" "$LOCK_CONNS"; }
    pair s_lock o_lock
done
for r in $(seq "$SLOW_ROUNDS"); do
    sample kazoo-walk $py "$src/kazoo_walk.py" "$addr" /bench
    record_cmd zkcli-walk "$zkcli" -server "$addr" ls -R /bench
    t0=$(date +%s%N)
    n=$(cpu zkcli-walk "$zkcli" -server "$addr" ls -R /bench 2>/dev/null | grep -c '^/bench/' || true)
    t1=$(date +%s%N)
    record sample zkcli-walk "$(( (t1 - t0) / 1000 ))e-6" "$n"
done
for r in $(seq "$SLOW_ROUNDS"); do
    s_rm() { rm_row zk-rm "$zk" --server "$addr" rm -r /del; }
    o_rm() { rm_row raw-rm "$bench" raw-rm "$addr" /del 1000; }
    pair s_rm o_rm
    rm_row zkcli-rm "$zkcli" -server "$addr" deleteall /del
    rm_row raw-rm-multi "$bench" raw-rm-multi "$addr" /del 1000
done
for r in $(seq "$KAZOO_RM_ROUNDS"); do
    rm_row kazoo-rm $py "$src/kazoo_rm.py" "$addr" /del "$NODES"
done

N="$((NODES / 1000))k"
record section zk "ZooKeeper client: zkcell against the C client, kazoo and zkCli.sh"
# row LABEL METRIC OURS OTHER ROLE TARGET [EXPECT]
row() { record row zk "$@"; }
row "get, blocking: zkc_get vs zoo_get (ops/s)" rate zkc-get raw-get limit ">=0.95"
row "get, blocking, cell router vs zoo_get (ops/s) [#4]" rate meta-get raw-get limit ">=0.95"
row "get, 1000 in flight: zkc_aget vs zoo_aget (ops/s)" rate zkc-aget raw-aget limit ">=0.90"
row "ChildrenRecursive $N vs raw pipelined walk (limit)" s zkc-walk raw-walk limit ">=0.90" "$NODES"
row "ChildrenRecursive $N vs kazoo walk" s zkc-walk kazoo-walk anchor ">=5" "$NODES"
row "ChildrenRecursive $N vs zkCli ls -R" s zkc-walk zkcli-walk anchor "" "$NODES"
row "zk ls -R $N vs raw pipelined walk (limit) [#6]" s zk-ls raw-walk limit ">=0.90" "$NODES"
row "zk ls -R $N vs kazoo walk [#6]" s zk-ls kazoo-walk anchor ">=5" "$NODES"
row "zk ls -R $N vs zkCli ls -R [#6]" s zk-ls zkcli-walk anchor "" "$NODES"
row "zk rm -r $N vs raw pipelined zoo_adelete (limit) [#6]" s zk-rm raw-rm limit ">=0.90" "$NODES"
row "zk rm -r $N vs zoo_amulti x1000 deletes (zkCli's way)" s zk-rm raw-rm-multi limit ">=0.85" "$NODES"
row "zk rm -r $N vs kazoo delete(recursive=True) [#6]" s zk-rm kazoo-rm anchor ">=5" "$NODES"
row "zk rm -r $N vs zkCli deleteall [#6]" s zk-rm zkcli-rm anchor ">=5" "$NODES"
# Lock hand-off: the median over runs of each run's median hand-off.
row "lock hand-off, $WAITERS waiters/$LOCK_CONNS conns (ms) [#5]" ms zkc-lock kazoo-lock anchor ">1"
row "  watch events per hand-off (server mntr) [#5]" per zkc-lock-watches kazoo-lock-watches anchor \
    "1 per hand-off"
record plot lock-handoff zk \
    "Lock hand-off (release to next holder), $WAITERS waiters over $LOCK_CONNS connections" \
    "percentile of all hand-offs" "hand-off (ms)"
record pct lock-handoff "zkcell zkc_lock" zkc-lock
record pct lock-handoff "kazoo Lock" kazoo-lock
note() { record note zk "$*"; }
note "ratio > 1 means zkcell is faster (or fires fewer watches); 1.00 means equal."
note "Rows sampled in the same rounds (runs a/b equal) give the median of the"
note "per-round ratios, each round running the pair back to back; others the"
note "ratio of the medians."
note "Targets: >= 0.90 against the raw C client limits; >= 5x against kazoo."
note "zk, zkCli and the deletion rows are timed around the whole command (process"
note "start and connect included: ~1 s of JVM start for zkCli); the others inside"
note "the process, after connecting.  Every deletion run first repopulates /del (not timed)."
$py "$src/report.py" console zk "$BENCH_TSV"
"$src/zkocc.sh" "$build" "$addr"
"$src/zkocc_tree.sh" "$build" "$addr"
"$src/dns.sh" "$build"
wall="$(( $(date +%s) - t_start )) s after server start"
echo "wall: $wall"
record meta wall "$wall"
mkdir -p "$(dirname "$REPORT")"
cp "$BENCH_TSV" "${REPORT%.md}.tsv"
$py "$src/report.py" markdown "${REPORT%.md}.tsv" "$REPORT"
