#!/bin/sh
# End to end (TAP): PowerDNS 4.7 with zkns-pdns as its pipe backend, on
# a loopback port, answering for records written with zk and with kazoo;
# answers checked with dig for ABI 1, 2, 3 and 5: A, AAAA, CNAME, SRV,
# SOA, NXDOMAIN, REFUSED, AXFR, TCP, and a record changed while served.
# With ZKC_ZKCTL, a server of its own is stopped under a running pdns:
# cached answers keep coming, a new name is SERVFAIL, and answers come
# back once the server does.  With ZKOCC too, zkns-pdns reads through a
# zkocc in front of another server of its own, which is then stopped:
# the answers keep coming from zkocc's cache.
#
# Usage: pdns_e2e.sh ZKNS_PDNS ZK [ZKOCC]
# Needs ZKC_TEST_ZK (host:port of a ZooKeeper server; make check sets it),
# pdns_server with the pipe backend, dig, and /usr/bin/python3 with kazoo.
# Every pdns_server and ZooKeeper it starts is stopped by its PID.
set -u
BIN=$1
ZK=$2
ZKOCC=${3:-}
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
case $ZK in /*) ;; *) ZK=$(pwd)/$ZK ;; esac

pipe_so=$(find /usr/lib -name libpipebackend.so 2>/dev/null | head -1)
if [ -z "${ZKC_TEST_ZK:-}" ] || [ ! -x /usr/sbin/pdns_server ] || [ -z "$pipe_so" ] ||
    ! command -v dig >/dev/null; then
    echo "1..0 # SKIP needs ZKC_TEST_ZK, pdns_server, pdns-backend-pipe and dig"
    exit 0
fi

work=$(mktemp -d /tmp/zkns-e2e.XXXXXX)
domain=zkns.e2e.test
root=/zk/e2e/zkns-e2e-$$
PIDS=""
own_zk=""
own_zk2=""
cleanup() {
    for p in $PIDS; do
        kill -TERM "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    if [ -n "$own_zk" ]; then
        "$ZKC_ZKCTL" --dir "$work/ownzk" stop >/dev/null 2>&1
    fi
    if [ -n "$own_zk2" ]; then
        "$ZKC_ZKCTL" --dir "$work/ownzk2" stop >/dev/null 2>&1
    fi
    "$ZK" --config "$work/zk_client.json" rm -r -f "$root" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

. "$(dirname "$0")/pdns_lib.sh"
# check NAME WANT GOT
check() {
    if [ "$2" = "$3" ]; then ok "$1"; else notok "$1" "want: $2" "got:  $3"; fi
}


# start_pdns NAME ABI CONFIG ROOT [OPTIONS]: start pdns_server in the
# foreground on a free port, its coprocess given OPTIONS too; sets PORT;
# records its PID for the cleanup.
start_pdns() {
    dir=$work/pdns-$1
    PORT=$(free_port)
    pdns_start "$dir" "$PORT" 1 launch=pipe \
        "pipe-command=$BIN --config $3 --zkns-domain $domain --zkns-root $4 --soa-host ns1.$domain --timeout 1500ms ${5:-}" \
        "pipe-abi-version=$2" pipe-timeout=4000
    started=$?
    PIDS="$PIDS $PDNS_PID"
    return $started
}

# stop_pdns PID: stop pdns_server, then wait (at most 30 s) for its
# coprocesses, which exit on EOF, so that their last words are in the log.
stop_pdns() {
    kids=$(ps -o pid= --ppid "$1" 2>/dev/null)
    kill -TERM "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -v "^$1\$" | tr '\n' ' ')
    i=0
    for k in $kids; do
        while [ $i -lt 300 ]; do
            st=$(ps -o stat= -p "$k" 2>/dev/null)
            case $st in '' | Z*) break ;; esac
            sleep 0.1
            i=$((i + 1))
        done
    done
}

q() { # q TYPE NAME [dig options]: the answers, sorted, on one line
    t=$1 name=$2
    shift 2
    dig +short +norec +tries=1 +time=5 @127.0.0.1 -p "$PORT" "$@" "$name" "$t" 2>&1 | sort | tr '\n' ' ' | sed 's/ $//'
}
status() { # status TYPE NAME: the rcode
    dig +norec +tries=1 +time=5 @127.0.0.1 -p "$PORT" "$2" "$1" 2>&1 |
        sed -n 's/.*status: \([A-Z]*\),.*/\1/p'
}

# ---- the records ----
echo "{\"e2e\": \"$ZKC_TEST_ZK\"}" >"$work/zk_client.json"
CFG=$work/zk_client.json
put() { printf '%s' "$2" | "$ZK" --config "$CFG" cp - "$root/$1"; }
put a '{"Entries": [{"ipv4": "10.0.0.1"}, {"ipv4": "10.0.0.2"}]}' &&
    put v6 '{"Entries": [{"ipv6": "2001:db8::5"}]}' &&
    put alias "{\"Entries\": [{\"host\": \"a.$domain\"}]}" &&
    put ext '{"Entries": [{"host": "www.example.com"}], "ttl": 300}' &&
    put svc/web "{\"Entries\": [{\"host\": \"web1.$domain\", \"named_port_map\": {\"_http\": 8080}},
        {\"host\": \"web2.$domain\", \"named_port_map\": {\"_http\": 8081}, \"priority\": 10, \"weight\": 5}]}"
if [ $? -ne 0 ]; then
    echo "Bail out! cannot write records with zk at $ZKC_TEST_ZK"
    exit 1
fi
# kazoo writes records as vt's tools did (lowercase "entries"), and reads
# back one that zk wrote.
if /usr/bin/python3 - "$ZKC_TEST_ZK" "$root" "$domain" >"$work/kazoo.out" 2>&1 <<'PY'
import json, sys
from kazoo.client import KazooClient
hosts, root, domain = sys.argv[1:4]
zk = KazooClient(hosts=hosts)
zk.start(timeout=20)
zk.create(root + "/k/db", json.dumps({"entries": [{"host": "", "port": 0, "named_port_map": None,
                                                     "ipv4": "10.1.0.1"}]}).encode(), makepath=True)
zk.create(root + "/k/mysql", json.dumps({"entries": [
    {"host": "db1." + domain, "named_port_map": {"_mysql": 3306}},
    {"host": "db2." + domain, "named_port_map": {"_mysql": 3307}}]}).encode(), makepath=True)
data, _ = zk.get(root + "/a")
rec = json.loads(data)
print(sorted(e["ipv4"] for e in rec["Entries"]))
zk.stop()
PY
then
    check "kazoo wrote records and read zk's" "['10.0.0.1', '10.0.0.2']" "$(cat "$work/kazoo.out")"
else
    notok "kazoo wrote records and read zk's" "$(cat "$work/kazoo.out")"
fi

# ---- every ABI ----
for abi in 1 2 3 5; do
    if ! start_pdns "abi$abi" "$abi" "$CFG" "$root"; then
        notok "ABI $abi: pdns_server started"
        continue
    fi
    ok "ABI $abi: pdns_server started with zkns-pdns"
    check "ABI $abi: A" "10.0.0.1 10.0.0.2" "$(q A a.$domain)"
    check "ABI $abi: AAAA" "2001:db8::5" "$(q AAAA v6.$domain)"
    check "ABI $abi: CNAME" "a.$domain." "$(q CNAME alias.$domain)"
    check "ABI $abi: A through a CNAME" "10.0.0.1 10.0.0.2 a.$domain." "$(q A alias.$domain)"
    check "ABI $abi: CNAME out of the zone, its own TTL" "alias.$domain. 1 IN CNAME a.$domain. ext.$domain. 300 IN CNAME www.example.com." \
        "$( (dig +norec +noall +answer @127.0.0.1 -p "$PORT" alias.$domain CNAME; dig +norec +noall +answer @127.0.0.1 -p "$PORT" ext.$domain CNAME) | tr -s ' \t' ' ' | sort | tr '\n' ' ' | sed 's/ $//')"
    check "ABI $abi: SRV" "0 1 8080 web1.$domain. 10 5 8081 web2.$domain." "$(q SRV _http.web.svc.$domain)"
    check "ABI $abi: SOA" "ns1.$domain. hostmaster.ns1.$domain. 0 1800 600 3600 300" "$(q SOA $domain)"
    check "ABI $abi: NXDOMAIN for a missing name" "NXDOMAIN" "$(status A none.$domain)"
    check "ABI $abi: NXDOMAIN carries the SOA" "$domain. 1 IN SOA ns1.$domain. hostmaster.ns1.$domain. 0 1800 600 3600 300" \
        "$(dig +norec +noall +authority @127.0.0.1 -p "$PORT" none.$domain A | tr -s ' \t' ' ')"
    check "ABI $abi: REFUSED outside the zone" "REFUSED" "$(status A foo.other.test)"
    check "ABI $abi: kazoo's A record" "10.1.0.1" "$(q A db.k.$domain)"
    check "ABI $abi: kazoo's SRV record" "0 1 3306 db1.$domain. 0 1 3307 db2.$domain." "$(q SRV _mysql.mysql.k.$domain)"
    check "ABI $abi: A over TCP" "10.0.0.1 10.0.0.2" "$(q A a.$domain +tcp)"
    dig +norec +tries=1 +time=10 @127.0.0.1 -p "$PORT" "$domain" AXFR >"$work/axfr$abi" 2>&1
    got=$(grep -v '^;' "$work/axfr$abi" | grep -v '^$' | tr -s ' \t' ' ' | sort | tr '\n' '|')
    want=$(sort <<EOF | tr '\n' '|'
$domain. 1 IN SOA ns1.$domain. hostmaster.ns1.$domain. 0 1800 600 3600 300
$domain. 1 IN SOA ns1.$domain. hostmaster.ns1.$domain. 0 1800 600 3600 300
a.$domain. 1 IN A 10.0.0.1
a.$domain. 1 IN A 10.0.0.2
v6.$domain. 1 IN AAAA 2001:db8::5
alias.$domain. 1 IN CNAME a.$domain.
ext.$domain. 300 IN CNAME www.example.com.
_http.web.svc.$domain. 1 IN SRV 0 1 8080 web1.$domain.
_http.web.svc.$domain. 1 IN SRV 10 5 8081 web2.$domain.
db.k.$domain. 1 IN A 10.1.0.1
_mysql.mysql.k.$domain. 1 IN SRV 0 1 3306 db1.$domain.
_mysql.mysql.k.$domain. 1 IN SRV 0 1 3307 db2.$domain.
EOF
)
    check "ABI $abi: AXFR of the zone" "$want" "$got"
    if [ "$abi" = 3 ]; then
        # A change is seen: the cached record's watch fires.
        put a '{"Entries": [{"ipv4": "10.0.0.3"}]}'
        i=0
        while [ $i -lt 100 ] && [ "$(q A a.$domain)" != 10.0.0.3 ]; do
            sleep 0.2
            i=$((i + 1))
        done
        check "ABI $abi: a changed record is answered" "10.0.0.3" "$(q A a.$domain)"
        put a '{"Entries": [{"ipv4": "10.0.0.1"}, {"ipv4": "10.0.0.2"}]}'
        i=0
        while [ $i -lt 100 ] && [ "$(q A a.$domain)" != "10.0.0.1 10.0.0.2" ]; do
            sleep 0.2
            i=$((i + 1))
        done
    fi
    stop_pdns "$PDNS_PID"
    # After the stop: the coprocesses' own exit (sanitizer reports) is in the log.
    bad='Coprocess returned\|Format error\|incorrect response\|Sanitizer\|runtime error'
    if grep -q "$bad" "$work/pdns-abi$abi/pdns.log"; then
        notok "ABI $abi: no protocol error or sanitizer report in pdns's log" "$(grep -m5 "$bad" "$work/pdns-abi$abi/pdns.log")"
    else
        ok "ABI $abi: no protocol error or sanitizer report in pdns's log"
    fi
done

# ---- ZooKeeper stopped under a running pdns (a server of our own) ----
if [ -n "${ZKC_ZKCTL:-}" ] && [ -x "${ZKC_ZKCTL:-}" ]; then
    zport=$(free_port)
    if "$ZKC_ZKCTL" --dir "$work/ownzk" start --ports "$zport" >"$work/ownzk.log" 2>&1; then
        own_zk=1
        echo "{\"own\": \"127.0.0.1:$zport\"}" >"$work/own.json"
        oroot=/zk/own/zkns
        printf '%s' '{"Entries": [{"ipv4": "10.2.0.1"}]}' | "$ZK" --config "$work/own.json" cp - "$oroot/up"
        start_pdns outage 2 "$work/own.json" "$oroot"
        check "outage: answered while up" "10.2.0.1" "$(q A up.$domain)"
        launched=$(grep -c 'Backend launched' "$work/pdns-outage/pdns.log")
        "$ZKC_ZKCTL" --dir "$work/ownzk" stop >/dev/null 2>&1
        check "outage: cached answer while ZooKeeper is down" "10.2.0.1" "$(q A up.$domain)"
        check "outage: SERVFAIL for a name never read" "SERVFAIL" "$(status A new.$domain)"
        check "outage: SOA still answered" "ns1.$domain. hostmaster.ns1.$domain. 0 1800 600 3600 300" "$(q SOA $domain)"
        "$ZKC_ZKCTL" --dir "$work/ownzk" start --ports "$zport" >>"$work/ownzk.log" 2>&1
        printf '%s' '{"Entries": [{"ipv4": "10.2.0.2"}]}' | "$ZK" --config "$work/own.json" cp - "$oroot/new"
        i=0
        while [ $i -lt 150 ] && [ "$(q A new.$domain)" != 10.2.0.2 ]; do
            sleep 0.2
            i=$((i + 1))
        done
        check "outage: answers come back with ZooKeeper" "10.2.0.2" "$(q A new.$domain)"
        check "outage: the coprocess was never restarted" "$launched" \
            "$(grep -c 'Backend launched' "$work/pdns-outage/pdns.log")"
        # The coprocesses killed (issue 13's fault matrix): PowerDNS
        # launches new ones on the next questions, and answers come back.
        kids=$(ps -o pid=,comm= --ppid "$PDNS_PID" | awk '$2 == "zkns-pdns" {print $1}')
        check "coprocess killed: there were coprocesses to kill" "yes" "$([ -n "$kids" ] && echo yes)"
        for k in $kids; do kill -KILL "$k" 2>/dev/null; done
        i=0 failures=0
        while [ $i -lt 150 ] && [ "$(q A up.$domain)" != 10.2.0.1 ]; do
            failures=$((failures + 1))
            sleep 0.2
            i=$((i + 1))
        done
        echo "# coprocess killed: $failures questions unanswered before the new one answered"
        check "coprocess killed: answers come back" "10.2.0.1" "$(q A up.$domain)"
        check "coprocess killed: a new coprocess was launched" "yes" \
            "$([ "$(grep -c 'Backend launched' "$work/pdns-outage/pdns.log")" -gt "$launched" ] && echo yes)"
        check "coprocess killed: the other name answered too" "10.2.0.2" "$(q A new.$domain)"
        stop_pdns "$PDNS_PID"
    else
        notok "outage: own ZooKeeper started" "$(cat "$work/ownzk.log")"
    fi
fi

# ---- behind zkocc: ZooKeeper stopped, zkocc's cache answers ----
if [ -n "$ZKOCC" ] && [ -n "${ZKC_ZKCTL:-}" ] && [ -x "${ZKC_ZKCTL:-}" ]; then
    zport2=$(free_port)
    if "$ZKC_ZKCTL" --dir "$work/ownzk2" start --ports "$zport2" >"$work/ownzk2.log" 2>&1; then
        own_zk2=1
        echo "{\"occ\": \"127.0.0.1:$zport2\"}" >"$work/occ.json"
        croot=/zk/occ/zkns
        printf '%s' '{"Entries": [{"ipv4": "10.3.0.1"}]}' | "$ZK" --config "$work/occ.json" cp - "$croot/up"
        oport=$(free_port)
        "$ZKOCC" --port "$oport" --config "$work/occ.json" occ >"$work/zkocc.log" 2>&1 &
        ZKOCC_PID=$!
        PIDS="$PIDS $ZKOCC_PID"
        i=0
        until /usr/bin/python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$oport/healthz', timeout=1)" 2>/dev/null; do
            i=$((i + 1))
            [ $i -lt 300 ] && kill -0 "$ZKOCC_PID" 2>/dev/null || break
            sleep 0.1
        done
        start_pdns zkocc 2 "$work/occ.json" "$croot" "--zkocc 127.0.0.1:$oport"
        check "zkocc: answered through zkocc" "10.3.0.1" "$(q A up.$domain)"
        launched=$(grep -c 'Backend launched' "$work/pdns-zkocc/pdns.log")
        "$ZKC_ZKCTL" --dir "$work/ownzk2" stop >/dev/null 2>&1
        check "zkocc: answered from zkocc's cache while ZooKeeper is down" "10.3.0.1" "$(q A up.$domain)"
        check "zkocc: the coprocess was never restarted" "$launched" \
            "$(grep -c 'Backend launched' "$work/pdns-zkocc/pdns.log")"
        stop_pdns "$PDNS_PID"
    else
        notok "zkocc: own ZooKeeper started" "$(cat "$work/ownzk2.log")"
    fi
fi

echo "1..$n"
[ $failed = 0 ]
