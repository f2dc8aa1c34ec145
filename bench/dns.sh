#!/bin/bash
# The DNS benchmark: dnsperf through PowerDNS (caches off) with zkns-pdns as
# the pipe backend, against the same zone served by a trivial pipe
# coprocess answering from memory (bench/pipe_trivial.c: the limit of the
# pipe backend) and by PowerDNS's bind backend, with 1 and 2 distributor
# threads; then the coprocesses alone through their line protocol.
# DNS_ROUNDS rounds of all that; medians and ratios (bench/report.py).
# Usage: bench/dns.sh BUILD_DIR
# Environment (defaults): SECONDS_EACH=10 (per dnsperf run), LINES=200000,
# DNS_ROUNDS=3; BENCH_TSV (bench/results.sh).
# Target (DESIGN.md): zkns-pdns within 20% of the trivial coprocess.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
src=$(cd "$(dirname "$0")" && pwd)
zkctl=$build/src/zkctl/zkctl
zk=$build/src/zk/zk
zkns=$build/src/zkns-pdns/zkns-pdns
trivial=$build/bench/pipe_trivial
py=/usr/bin/python3
for f in "$zkctl" "$zk" "$zkns" "$trivial" /usr/sbin/pdns_server /usr/bin/dnsperf; do
    [ -x "$f" ] || { echo "bench/dns: $f is missing" >&2; exit 1; }
done
bind_so=$(find /usr/lib -name libbindbackend.so 2>/dev/null | head -1)
dir=$(mktemp -d /tmp/zkcell-dns-bench.XXXXXX)
pdns_pid=""
cleanup() {
    set +e
    if [ -n "$pdns_pid" ]; then
        kill -TERM "$pdns_pid" 2>/dev/null
        wait "$pdns_pid" 2>/dev/null
    fi
    "$zkctl" --dir "$dir/zk" stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
. "$src/results.sh"
results_init "$dir"
setting dns.sh SECONDS_EACH 10
setting dns.sh LINES 200000
setting dns.sh DNS_ROUNDS 3
record meta pdns "$(package_version pdns-server)"
record meta dnsperf "$(package_version dnsperf)"
# free_port, pdns_start (shared with tests/zkns/pdns_e2e.sh).
. "$(cd "$(dirname "$0")/../scripts" && pwd)/pdns_lib.sh"

zport=$(free_port)
"$zkctl" --dir "$dir/zk" start --ports "$zport" >/dev/null
record_cmd dns-zookeeper "$zkctl" --dir "$dir/zk" start --ports "$zport"
echo "{\"bench\": \"127.0.0.1:$zport\"}" >"$dir/zk_client.json"
export ZK_CLIENT_CONFIG=$dir/zk_client.json
"$zk" zkns-set /zk/bench/zkns/a 10.0.0.1
"$zk" zkns-set /zk/bench/zkns/alias a.zkns.bench
"$zk" zkns-set /zk/bench/zkns/svc/web web1.zkns.bench,_http=8080 web2.zkns.bench,_http=8081
printf 'a.zkns.bench A\n_http.web.svc.zkns.bench SRV\nalias.zkns.bench CNAME\n' >"$dir/queries.txt"
cat >"$dir/zone" <<'EOF'
$ORIGIN zkns.bench.
@       1 IN SOA ns1.zkns.bench. hostmaster.ns1.zkns.bench. 0 1800 600 3600 300
a       1 IN A 10.0.0.1
alias   1 IN CNAME a.zkns.bench.
_http.web.svc 1 IN SRV 0 1 8080 web1.zkns.bench.
_http.web.svc 1 IN SRV 0 1 8081 web2.zkns.bench.
EOF
echo "zone \"zkns.bench\" { type master; file \"$dir/zone\"; };" >"$dir/named.conf"

# run NAME THREADS BACKEND-LINES...: start pdns, run dnsperf, print qps;
# records "<run time> <queries completed>" as NAME-THREADS.
run() {
    local name=$1 threads=$2
    shift 2
    local pdir=$dir/pdns-$name-$threads port
    port=$(free_port)
    if ! pdns_start "$pdir" "$port" "$threads" "$@"; then
        pdns_pid=$PDNS_PID
        echo "bench/dns: pdns did not start ($name)" >&2
        exit 1
    fi
    pdns_pid=$PDNS_PID
    dig +short @127.0.0.1 -p "$port" a.zkns.bench A >/dev/null # warm up
    local perf=(dnsperf -s 127.0.0.1 -p "$port" -d "$dir/queries.txt" -l "$SECONDS_EACH" -c 4 -q 50)
    record_cmd_text "$name-$threads" "$(printf '%q ' "${perf[@]}")against pdns_server with $(
        printf '%s, ' "$@")distributor-threads=$threads, receiver-threads=1, caches off"
    "${perf[@]}" >"$pdir/dnsperf" 2>&1
    kill -TERM "$pdns_pid"
    wait "$pdns_pid" 2>/dev/null || true
    pdns_pid=""
    local qps lost secs completed
    qps=$(sed -n 's/.*Queries per second: *\([0-9.]*\).*/\1/p' "$pdir/dnsperf")
    lost=$(sed -n 's/.*Queries lost: *\([0-9]*\).*/\1/p' "$pdir/dnsperf")
    secs=$(sed -n 's/.*Run time (s): *\([0-9.]*\).*/\1/p' "$pdir/dnsperf")
    completed=$(sed -n 's/.*Queries completed: *\([0-9]*\).*/\1/p' "$pdir/dnsperf")
    record sample "$name-$threads" "${secs:-0}" "${completed:-0}"
    printf '  %-34s %2d threads  %9.0f q/s  (lost %s)\n' "$name" "$threads" "${qps:-0}" "${lost:-?}"
}

# alone NAME CMD...: the coprocess answering the LINES questions; records
# "<seconds> <answers>" as alone-NAME.
alone() {
    local name=$1
    shift
    local t0 t1
    record_cmd_text "alone-$name" "$(printf '%q ' "$@")< $dir/lines"
    t0=$(date +%s%N)
    "$@" <"$dir/lines" >"$dir/out-$name"
    t1=$(date +%s%N)
    local ends
    ends=$(grep -c '^END$' "$dir/out-$name" || true)
    record sample "alone-$name" "$(( (t1 - t0) / 1000 ))e-6" "$ends"
    printf '  %-34s %9.0f answers/s  (%s answers)\n' "$name" \
        "$($py -c "print($ends / (($t1 - $t0) / 1e9))")" "$ends"
}

# The coprocesses alone: what PowerDNS asks for one query (SOA, SOA, ANY,
# ANY), LINES lines, answers from a warm cache.
$py - "$dir/lines" "$LINES" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
qs = ["Q\ta.zkns.bench\tIN\tSOA\t-1\t0.0.0.0\t0.0.0.0\t0.0.0.0/0",
      "Q\tzkns.bench\tIN\tSOA\t-1\t0.0.0.0\t0.0.0.0\t0.0.0.0/0",
      "Q\ta.zkns.bench\tIN\tANY\t-1\t127.0.0.1\t127.0.0.1\t127.0.0.1/32",
      "Q\t_http.web.svc.zkns.bench\tIN\tANY\t-1\t127.0.0.1\t127.0.0.1\t127.0.0.1/32"]
with open(path, "w") as f:
    f.write("HELO\t3\n")
    for i in range(n):
        f.write(qs[i % 4] + "\n")
PY
for r in $(seq "$DNS_ROUNDS"); do
    echo "DNS through PowerDNS 4.7, caches off, dnsperf -c 4 -q 50 for ${SECONDS_EACH}s, 3 names" \
        "(round $r of $DNS_ROUNDS):"
    for t in 1 2; do
        run zkns-pdns "$t" launch=pipe \
            "pipe-command=$zkns --config $dir/zk_client.json --zkns-domain zkns.bench --zkns-root /zk/bench/zkns --soa-host ns1.zkns.bench" \
            pipe-abi-version=3
        run trivial-pipe "$t" launch=pipe "pipe-command=$trivial" pipe-abi-version=3
        if [ -n "$bind_so" ]; then
            run bind-backend "$t" launch=bind "bind-config=$dir/named.conf"
        fi
    done
    echo "The coprocesses alone, $LINES questions on a pipe (warm cache):"
    alone zkns-pdns "$zkns" --config "$dir/zk_client.json" --zkns-domain zkns.bench \
        --zkns-root /zk/bench/zkns --soa-host ns1.zkns.bench
    alone trivial-pipe "$trivial"
done

record section dns \
    "DNS: zkns-pdns behind PowerDNS against a trivial pipe coprocess and the bind backend"
for t in 1 2; do
    record row dns "zkns-pdns vs trivial pipe, $t threads (q/s)" rate "zkns-pdns-$t" \
        "trivial-pipe-$t" limit ">=0.80"
    if [ -n "$bind_so" ]; then
        record row dns "zkns-pdns vs bind backend, $t threads (q/s)" rate "zkns-pdns-$t" \
            "bind-backend-$t" anchor ""
    fi
done
record row dns "coprocess alone: zkns-pdns vs trivial pipe (answers/s)" rate alone-zkns-pdns \
    alone-trivial-pipe limit ""
record note dns "Target (DESIGN.md): zkns-pdns within 20% of the trivial pipe coprocess (>= 0.80)."
record note dns "The coprocesses alone answer what PowerDNS asks for one query (SOA, SOA, ANY, ANY),"
record note dns "from a warm cache, timed around the whole process."
$py "$src/report.py" console dns "$BENCH_TSV"
