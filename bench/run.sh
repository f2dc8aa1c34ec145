#!/bin/bash
# make bench: each row measures zkcell and the tool it must beat, in the
# same run, against the same server, and prints medians and the ratio.
# Usage: bench/run.sh BUILD_DIR
# Environment (defaults): ROUNDS=5 (C rows), SLOW_ROUNDS=3 (kazoo and zkCli
# listings, every deletion row), KAZOO_RM_ROUNDS=1 (kazoo's recursive delete
# takes ~90 s), NODES=100000 GETS=5000 AGETS=50000 WAITERS=100 LOCK_CONNS=10.
set -euo pipefail
build=${1:-build}
ROUNDS=${ROUNDS:-5}
SLOW_ROUNDS=${SLOW_ROUNDS:-3}
KAZOO_RM_ROUNDS=${KAZOO_RM_ROUNDS:-1}
NODES=${NODES:-100000}
GETS=${GETS:-5000}
AGETS=${AGETS:-50000}
WAITERS=${WAITERS:-100}
LOCK_CONNS=${LOCK_CONNS:-10}
build=$(cd "$build" && pwd)   # absolute, so BUILD_DIR may be relative or absolute
src=$(cd "$(dirname "$0")" && pwd)
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
port=$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# A server sized for 100k nodes (zkctl's lean test flags cap the heap at 64 MB
# and stop at the C1 compiler); forceSync=no so that disk flushes do not
# dominate the write rows (every tool pays the same).
ZKCTL_JVM_FLAGS=${ZKCTL_JVM_FLAGS:-"-Xmx1g -Xms256m -XX:+UseSerialGC -Djava.net.preferIPv4Stack=true"} \
    "$zkctl" --dir "$dir/zk" start --ports "$port" --cfg forceSync=no >/dev/null
addr="127.0.0.1:$port"
t_start=$(date +%s)
echo "server: ZooKeeper 3.8 standalone on $addr (zkctl, forceSync=no); medians of" \
     "$ROUNDS rounds (kazoo/zkCli: $SLOW_ROUNDS, kazoo rm: $KAZOO_RM_ROUNDS)"

"$bench" populate "$addr" /bench "$NODES" >/dev/null
for p in /zk /zk/bench /zk/bench/one; do "$bench" populate "$addr" "$p" 0 >/dev/null; done
n=$("$zk" --server "$addr" ls -R /bench | wc -l)
[ "$n" = "$NODES" ] || { echo "bench: zk ls -R listed $n nodes, expected $NODES" >&2; exit 1; }
echo "tree: $NODES nodes under /bench (100 per folder); gets read /zk/bench/one"

# Each sample is "<seconds> <count>"; results go to $dir/<name>.
# Each command's client CPU (user + sys seconds) goes to $dir/<name>.cpu.
cpu() { local name=$1; shift; /usr/bin/time -f "%U %S" -o "$dir/cpu.tmp" "$@"; cat "$dir/cpu.tmp" >> "$dir/$name.cpu"; }
sample() { local name=$1; shift; cpu "$name" "$@" >> "$dir/$name"; }
# timed NAME COUNT CMD...: time a whole command (process start included).
timed() {
    local name=$1 count=$2; shift 2
    local t0 t1
    t0=$(date +%s%N)
    cpu "$name" "$@" >/dev/null 2>&1 || { echo "bench: $name: $* failed" >&2; exit 1; }
    t1=$(date +%s%N)
    echo "$(( (t1 - t0) / 1000 ))e-6 $count" >> "$dir/$name"
}
# Watch notifications the server has sent so far (mntr: for every
# triggered event, how many watchers it fired).
watches() {
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
n = 0
for line in buf.decode().splitlines():
    k, _, v = line.partition("\t")
    if k.startswith("zk_sum_node_") and k.endswith("_watch_count"):
        n += int(v)
print(n)
PY
}
# lock NAME CMD...: one hand-off run; records "<median s> <hand-offs>" in
# NAME and "<watch notifications> <hand-offs>" in NAME-watches.
lock() {
    local name=$1; shift
    local w0 w1 out
    w0=$(watches)
    out=$(cpu "$name" "$@")
    w1=$(watches)
    echo "$out" >> "$dir/$name"
    echo "$((w1 - w0)) ${out#* }" >> "$dir/$name-watches"
}
# rm_row NAME CMD...: populate /del (not timed), then time CMD deleting it.
rm_row() {
    local name=$1; shift
    "$bench" populate "$addr" /del "$NODES" >/dev/null
    timed "$name" "$NODES" "$@"
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
               timed zk-ls "$NODES" "$zk" --server "$addr" ls -R /bench; }
    o_walk() { sample raw-walk "$bench" raw-walk "$addr" /bench 1000; }
    pair s_walk o_walk
    s_lock() { lock zkc-lock "$bench" zkc-lock "$addr" /lockbench/zkc "$WAITERS" "$LOCK_CONNS"; }
    o_lock() { lock kazoo-lock $py "$src/kazoo_lock.py" "$addr" /lockbench/kazoo "$WAITERS" "$LOCK_CONNS"; }
    pair s_lock o_lock
done
for r in $(seq "$SLOW_ROUNDS"); do
    sample kazoo-walk $py "$src/kazoo_walk.py" "$addr" /bench
    t0=$(date +%s%N)
    n=$(cpu zkcli-walk "$zkcli" -server "$addr" ls -R /bench 2>/dev/null | grep -c '^/bench/' || true)
    t1=$(date +%s%N)
    echo "$(( (t1 - t0) / 1000 ))e-6 $n" >> "$dir/zkcli-walk"
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

$py - "$dir" "$NODES" "$WAITERS" "$LOCK_CONNS" <<'PY'
import statistics, sys, os
d, nodes, waiters, conns = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
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
def lock_secs(name):
    t, n = load(name)
    return statistics.median(t), len(t)
def per(name):
    w, n = load(name)
    return statistics.median([a / b for a, b in zip(w, n)]), len(w)
W = 56
print()
print(f"{'row (zkcell vs other, same server, same run)':{W}} {'zkcell':>12} {'other':>12} {'ratio':>8}  runs")
def out(label, a, b, unit, ratio, runs):
    print(f"{label:{W}} {a:>10}{unit:>2} {b:>10}{unit:>2} {ratio:>7.2f}x  {runs}")
def row_rate(label, ours, theirs):
    (a, na), (b, nb) = rate(ours), rate(theirs)
    out(label, f"{a:.0f}", f"{b:.0f}", "/s", ratio(ours, theirs, a, b, True), f"{na}/{nb}")
def ratio(ours, theirs, a, b, speed):
    """The median of the per-round ratios when both were sampled in the
    same rounds (paired: drift in the machine's load cancels), else the
    ratio of the medians."""
    (ta, ca), (tb, cb) = load(ours), load(theirs)
    if len(ta) != len(tb):
        return a / b if speed else b / a
    if speed:
        return statistics.median([(y / x) / (w / v) for x, y, v, w in zip(ta, ca, tb, cb)])
    return statistics.median([v / x for x, v in zip(ta, tb)])
def row_s(label, ours, theirs):
    (a, na), (b, nb) = secs(ours), secs(theirs)
    out(label, f"{a:.2f}", f"{b:.2f}", " s", ratio(ours, theirs, a, b, False), f"{na}/{nb}")
row_rate("get, blocking: zkc_get vs zoo_get (ops/s)", "zkc-get", "raw-get")
row_rate("get, blocking, cell router vs zoo_get (ops/s) [#4]", "meta-get", "raw-get")
row_rate("get, 1000 in flight: zkc_aget vs zoo_aget (ops/s)", "zkc-aget", "raw-aget")
N = f"{nodes // 1000}k"
row_s(f"ChildrenRecursive {N} vs raw pipelined walk (limit)", "zkc-walk", "raw-walk")
row_s(f"ChildrenRecursive {N} vs kazoo walk", "zkc-walk", "kazoo-walk")
row_s(f"ChildrenRecursive {N} vs zkCli ls -R", "zkc-walk", "zkcli-walk")
row_s(f"zk ls -R {N} vs raw pipelined walk (limit) [#6]", "zk-ls", "raw-walk")
row_s(f"zk ls -R {N} vs kazoo walk [#6]", "zk-ls", "kazoo-walk")
row_s(f"zk ls -R {N} vs zkCli ls -R [#6]", "zk-ls", "zkcli-walk")
row_s(f"zk rm -r {N} vs raw pipelined zoo_adelete (limit) [#6]", "zk-rm", "raw-rm")
row_s(f"zk rm -r {N} vs zoo_amulti x1000 deletes (zkCli's way)", "zk-rm", "raw-rm-multi")
row_s(f"zk rm -r {N} vs kazoo delete(recursive=True) [#6]", "zk-rm", "kazoo-rm")
row_s(f"zk rm -r {N} vs zkCli deleteall [#6]", "zk-rm", "zkcli-rm")
# Lock hand-off: the median over runs of each run's median hand-off.
(a, na), (b, nb) = lock_secs("zkc-lock"), lock_secs("kazoo-lock")
out(f"lock hand-off, {waiters} waiters/{conns} conns (ms) [#5]", f"{a*1e3:.2f}", f"{b*1e3:.2f}", "ms",
    ratio("zkc-lock", "kazoo-lock", a, b, False), f"{na}/{nb}")
(a, na), (b, nb) = per("zkc-lock-watches"), per("kazoo-lock-watches")
out("  watch events per hand-off (server mntr) [#5]", f"{a:.2f}", f"{b:.2f}", "", b / a, f"{na}/{nb}")
print()
print("client CPU, user+sys seconds per run (medians): zkcell / other")
def cpu(name):
    try:
        return statistics.median(sum(map(float, l.split())) for l in open(os.path.join(d, name + ".cpu")) if l.strip())
    except (OSError, statistics.StatisticsError):
        return float("nan")
for label, a, b in [("get blocking (zkc_get, router / zoo_get)", "zkc-get", "raw-get"),
                    ("", "meta-get", "raw-get"),
                    ("get pipelined (zkc_aget / zoo_aget)", "zkc-aget", "raw-aget"),
                    ("ChildrenRecursive / raw walk, kazoo, zkCli", "zkc-walk", "raw-walk"),
                    ("", "zkc-walk", "kazoo-walk"), ("", "zkc-walk", "zkcli-walk"),
                    ("zk ls -R / raw walk", "zk-ls", "raw-walk"),
                    ("zk rm -r / raw, kazoo, zkCli", "zk-rm", "raw-rm"),
                    ("", "zk-rm", "raw-rm-multi"), ("", "zk-rm", "kazoo-rm"), ("", "zk-rm", "zkcli-rm"),
                    ("lock hand-off run (bench_zk / kazoo)", "zkc-lock", "kazoo-lock")]:
    print(f"  {label:{W - 2}} {cpu(a):>10.2f} s {cpu(b):>10.2f} s  ({a} / {b})")
print()
print("ratio > 1 means zkcell is faster (or fires fewer watches); 1.00 means equal.")
print("Rows sampled in the same rounds (runs a/b equal) give the median of the")
print("per-round ratios, each round running the pair back to back; others the")
print("ratio of the medians.")
print("Targets: >= 0.90 against the raw C client limits; >= 5x against kazoo.")
print("zk, zkCli and the deletion rows are timed around the whole command (process")
print("start and connect included: ~1 s of JVM start for zkCli); the others inside")
print("the process, after connecting.  Every deletion run first repopulates /del (not timed).")
PY
"$src/zkocc.sh" "$build" "$addr"
NODES=$NODES ROUNDS=$ROUNDS "$src/zkocc_tree.sh" "$build" "$addr"
"$src/dns.sh" "$build"
echo "wall: $(( $(date +%s) - t_start )) s after server start"
