#!/bin/sh
# zkns-pdns under load (TAP): PowerDNS 4.7 with zkns-pdns as its pipe
# backend (caches off), dnsperf asking three names for ZKNS_LOAD_SECONDS
# (default 2; make soak: 10), the coprocess's RSS (VmRSS) sampled every
# second.  Checked: every answer NOERROR, the coprocess the same process
# at the end (PowerDNS restarts one that died), memory flat (the last
# sample under twice the first taken under load: a bound on growth, not
# on time), and a query after the load answered right.  Nothing asserts
# a rate or lost queries (dnsperf's own time-out).
#
# Usage: pdns_load.sh ZKNS_PDNS ZK
# Needs ZKC_TEST_ZK (make check's server), pdns_server with the pipe
# backend, dnsperf and dig.  pdns_server is stopped by its PID.
set -u
BIN=$1
ZK=$2
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
case $ZK in /*) ;; *) ZK=$(pwd)/$ZK ;; esac
SECONDS_LOAD=${ZKNS_LOAD_SECONDS:-2}

pipe_so=$(find /usr/lib -name libpipebackend.so 2>/dev/null | head -1)
if [ -z "${ZKC_TEST_ZK:-}" ] || [ ! -x /usr/sbin/pdns_server ] || [ -z "$pipe_so" ] ||
    ! command -v dig >/dev/null || ! command -v dnsperf >/dev/null; then
    echo "1..0 # SKIP needs ZKC_TEST_ZK, pdns_server, pdns-backend-pipe, dig and dnsperf"
    exit 0
fi

work=$(mktemp -d /tmp/zkns-load.XXXXXX)
domain=zkns.load.test
root=/zk/load/zkns-load-$$
CFG=$work/zk_client.json
PDNS_PID=""
cleanup() {
    if [ -n "$PDNS_PID" ]; then
        kill -TERM "$PDNS_PID" 2>/dev/null
        wait "$PDNS_PID" 2>/dev/null
    fi
    "$ZK" --config "$CFG" rm -r -f "$root" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

. "$(dirname "$0")/pdns_lib.sh"
echo "1..6"


rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status" 2>/dev/null; }

echo "{\"load\": \"$ZKC_TEST_ZK\"}" >"$CFG"
put() { printf '%s' "$2" | "$ZK" --config "$CFG" cp - "$root/$1"; }
if ! { put a '{"Entries": [{"ipv4": "10.0.0.1"}]}' &&
    put alias "{\"Entries\": [{\"host\": \"a.$domain\"}]}" &&
    put svc/web "{\"Entries\": [{\"host\": \"web1.$domain\", \"named_port_map\": {\"_http\": 8080}}]}"; }; then
    echo "Bail out! cannot write records with zk at $ZKC_TEST_ZK"
    exit 1
fi

# PowerDNS, one distributor thread: one coprocess, whose memory is sampled.
dir=$work/pdns
PORT=$(free_port)
if ! pdns_start "$dir" "$PORT" 1 launch=pipe pipe-abi-version=3 pipe-timeout=30000 \
    "pipe-command=$BIN --config $CFG --zkns-domain $domain --zkns-root $root --soa-host ns1.$domain"; then
    echo "Bail out! pdns_server did not start"
    exit 1
fi
first=$(dig +short +tries=3 +time=5 @127.0.0.1 -p "$PORT" "a.$domain" A)

# The coprocess: pdns_server's child running $BIN.
coproc_pid() {
    for t in /proc/"$PDNS_PID"/task/*; do
        for k in $(cat "$t/children" 2>/dev/null); do
            [ "$(readlink "/proc/$k/exe" 2>/dev/null)" = "$BIN" ] && { echo "$k"; return; }
        done
    done
}
CP=$(coproc_pid)
if [ "$first" = 10.0.0.1 ] && [ -n "$CP" ]; then
    ok "served before the load (coprocess $CP)"
else
    notok "served before the load" "answer: $first" "coprocess: ${CP:-none}"
    sed 's/^/# /' "$dir/pdns.log"
    exit 1
fi

printf 'a.%s A\nalias.%s CNAME\n_http.web.svc.%s SRV\n' "$domain" "$domain" "$domain" \
    >"$work/queries.txt"
dnsperf -s 127.0.0.1 -p "$PORT" -d "$work/queries.txt" -l "$SECONDS_LOAD" -c 4 -q 20 \
    >"$work/dnsperf" 2>&1 &
perf=$!
samples=""
while kill -0 "$perf" 2>/dev/null; do
    samples="$samples $(rss_kb "$CP")"
    sleep 1
done
wait "$perf"
perf_rc=$?
samples="$samples $(rss_kb "$CP")"
echo "# coprocess RSS kB, one sample a second:$samples"
sed -n 's/^ *\(Queries sent\|Queries completed\|Queries lost\|Response codes\|Queries per second\)/# dnsperf: \1/p' \
    "$work/dnsperf"

completed=$(sed -n 's/.*Queries completed: *\([0-9]*\).*/\1/p' "$work/dnsperf")
codes=$(sed -n 's/.*Response codes: *//p' "$work/dnsperf")
if [ "$perf_rc" -eq 0 ] && [ "${completed:-0}" -gt 0 ]; then
    ok "dnsperf for ${SECONDS_LOAD}s: $completed answers"
else
    notok "dnsperf answered" "exit $perf_rc" "$(sed 's/^/  /' "$work/dnsperf")"
fi
case $codes in
NOERROR*) case $codes in *,*) notok "every answer NOERROR" "$codes" ;; *) ok "every answer NOERROR" ;; esac ;;
*) notok "every answer NOERROR" "response codes: $codes" ;;
esac

if [ "$(coproc_pid)" = "$CP" ]; then
    ok "the same coprocess served throughout"
else
    notok "the same coprocess served throughout" "before: $CP" "after: $(coproc_pid)"
    sed 's/^/# /' "$dir/pdns.log"
fi

# Memory: the first sample under load against the last.  Not under
# AddressSanitizer, whose quarantine of freed memory makes RSS no measure
# of the coprocess's own.
set -- $samples
if grep -q libasan "/proc/$CP/maps" 2>/dev/null; then
    ok "memory flat # SKIP zkns-pdns is built with AddressSanitizer"
elif [ $# -ge 3 ] && [ "$(eval echo \${$#})" -lt $(($2 * 2)) ]; then
    ok "memory flat: $2 kB under load, $(eval echo \${$#}) kB at the end"
elif [ $# -lt 3 ]; then
    notok "memory sampled" "samples:$samples"
else
    notok "memory flat" "samples:$samples"
fi

after=$(dig +short +tries=3 +time=5 @127.0.0.1 -p "$PORT" "alias.$domain" CNAME)
if [ "$after" = "a.$domain." ]; then
    ok "served after the load"
else
    notok "served after the load" "answer: $after"
fi
exit $((failed > 0))
