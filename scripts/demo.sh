#!/bin/sh
# A short tour of zkcell on local servers (`make demo`, after the build).
# Usage: demo.sh BUILD_DIR
#
# Starts three standalone ZooKeeper servers with zkctl on free 127.0.0.1
# ports (cells nyc and sfo, and the global quorum) in a new folder under
# /tmp, writes a zk_client.json for them, runs a tour of the zk command
# (and of zkocc, the caching read proxy, in front of the cells, and of
# PowerDNS answering from zkns records through zkns-pdns),
# each command echoed before its output, and stops every server it
# started on the way out, also on failure or Ctrl-C.  The folder (data,
# configuration, logs) is kept so the tour can be picked up again.
set -eu
build=${1:-build}
if ! build=$(cd "$build" 2>/dev/null && pwd) || [ ! -x "$build/src/zk/zk" ] ||
    [ ! -x "$build/src/zkctl/zkctl" ]; then
    echo "demo: no zk and zkctl under '${1:-build}'; run 'make demo'" >&2
    exit 1
fi
zkctl=$build/src/zkctl/zkctl
cells="nyc sfo global"
dir=$(mktemp -d /tmp/zkcell-demo.XXXXXX)
starting=""

stopped=0
pdns_pid=""
zkocc_pid=""
stop_all() {
    for pid in $pdns_pid $zkocc_pid; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    pdns_pid="" zkocc_pid=""
    # Starts still in flight finish first, so that each server's PID is
    # recorded before we stop it.
    for pid in $starting; do
        wait "$pid" 2>/dev/null || true
    done
    starting=""
    for c in $cells; do
        if [ -f "$dir/$c/zkctl.conf" ]; then
            "$zkctl" --dir "$dir/$c" stop >/dev/null 2>&1 ||
                echo "demo: could not stop the $c server; see $dir/$c" >&2
        fi
    done
    stopped=1
}
on_exit() {
    status=$?
    trap - EXIT INT TERM
    [ "$stopped" = 1 ] || stop_all
    if [ "$status" != 0 ]; then
        echo "demo: failed (exit $status); servers stopped; logs in $dir" >&2
    fi
    exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -t 1 ]; then
    bold=$(printf '\033[1m') dim=$(printf '\033[2m') off=$(printf '\033[0m')
else
    bold="" dim="" off=""
fi
# A heading, then commands: each is echoed, then run in $dir with zk and
# zkctl on the PATH.
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$off"; }
run() {
    printf '%s$ %s%s\n' "$dim" "$*" "$off"
    (cd "$dir" && eval "$*") 2>&1
}

# Three free loopback ports, asked of the kernel all at once.
ports=$(/usr/bin/python3 -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
set -- $ports

printf '%szkcell demo%s: starting 3 ZooKeeper servers (cells nyc, sfo; global) in %s\n' \
    "$bold" "$off" "$dir"
i=1
for c in $cells; do
    eval "port=\${$i}"
    "$zkctl" --dir "$dir/$c" --ports "$port" --timeout 30 -q start >"$dir/$c.log" 2>&1 &
    starting="$starting $!"
    eval "port_$c=$port"
    i=$((i + 1))
done
for pid in $starting; do
    if ! wait "$pid"; then
        echo "demo: a server did not start:" >&2
        cat "$dir"/*.log >&2
        exit 1
    fi
done
starting=""
cat >"$dir/zk_client.json" <<EOF
{
  "nyc": "127.0.0.1:$port_nyc",
  "sfo": "127.0.0.1:$port_sfo",
  "global": "127.0.0.1:$port_global"
}
EOF
export PATH="$build/src/zk:$build/src/zkctl:$PATH"
export ZK_CLIENT_CONFIG="$dir/zk_client.json" ZK_CLIENT_LOCAL_CELL=nyc
unset ZK_AUTH

say "The cells: one quorum each, named in zk_client.json (\$ZK_CLIENT_CONFIG)"
run 'cat zk_client.json'
run 'zkctl --dir nyc status'

say "Services across cells: /zk/<cell>/... goes to that cell's quorum"
run "echo '{\"port\": 8080, \"replicas\": 2}' > web.json"
run 'zk cp web.json /zk/global/services/web/config'
run 'for c in nyc sfo; do zk cp /zk/global/services/web/config /zk/$c/services/web/; done'
run 'for i in 1 2; do echo 10.1.0.$i:8080 | zk cp - /zk/nyc/services/web/instances/web-$i; done'
run 'echo 10.2.0.1:8080 | zk cp - /zk/sfo/services/web/instances/web-1'
run 'zk touch -p /zk/sfo/services/db/instances/db-1'

say "Wildcards in every path; * in the cell position means every cell"
run "zk ls -R '/zk/*/services'"
run "zk cat -l '/zk/*/services/web/instances/*'"
run 'zk ls -l /zk/local/services/web/instances      # local: $ZK_CLIENT_LOCAL_CELL'
run "zk tree -s /zk/sfo"
run "zk du -s '/zk/*'"

say "Locks: an exclusive lock (elock), then a queue (qlock)"
run "zk elock /zk/global/locks/deploy sh -c 'echo deploying with the lock held;
    zk elock /zk/global/locks/deploy true || echo a second deployer is refused'"
run "zk qlock /zk/global/queue/ sh -c 'echo first in line; sleep 1; echo first done' &
sleep 0.3; zk qlock /zk/global/queue/ echo second, after the first; wait"
run 'zk tree /zk/global                           # the lock nodes are gone'

say "Watches: zk watch and zk wait print the events they see"
run "zk watch -n 2 '/zk/*/services/web/config' &
sleep 0.5
echo '{\"port\": 8080, \"replicas\": 3}' | zk cp - /zk/nyc/services/web/config
zk cp /zk/nyc/services/web/config /zk/sfo/services/web/config; wait"
run "zk wait /zk/nyc/services/web/instances/ &   # a trailing / waits for children
sleep 0.5; zk rm /zk/nyc/services/web/instances/web-2; wait"

say "Dump and restore: data and ACLs as JSON"
run 'zk dump -o sfo.json /zk/sfo/services && head -c 300 sfo.json; echo ...'
run 'zk rm -r /zk/sfo/services && zk ls /zk/sfo'
run 'zk restore sfo.json && zk ls -R /zk/sfo'
run 'zk rm -r /zk/sfo                              # too general: refused' || true

say "zkocc: a caching read proxy in front of every cell (zk --zkocc reads through it)"
occ_port=$(/usr/bin/python3 -c '
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$build/src/zkocc/zkocc" --port "$occ_port" --config "$dir/zk_client.json" $cells \
    >"$dir/zkocc.log" 2>&1 &
zkocc_pid=$!
i=0
until /usr/bin/python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$occ_port/healthz', timeout=1)" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -ge 100 ] || ! kill -0 "$zkocc_pid" 2>/dev/null; then
        echo "demo: zkocc did not start:" >&2
        cat "$dir/zkocc.log" >&2
        exit 1
    fi
    sleep 0.1
done
occ="--zkocc 127.0.0.1:$occ_port"
run "zk $occ cat /zk/sfo/services/web/config"
run "zk $occ ls -l /zk/sfo/services/web/instances"
run "zk $occ touch /zk/sfo/x                    # reads only" || true

say "DNS: PowerDNS answers from zkns records through zkns-pdns"
if [ -x "$build/src/zkns-pdns/zkns-pdns" ] && [ -x /usr/sbin/pdns_server ] &&
    command -v dig >/dev/null && command -v pdns_control >/dev/null; then
    pdns_port=$(/usr/bin/python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
    mkdir -p "$dir/pdns/run"
    cat >"$dir/pdns/pdns.conf" <<PDNS
launch=pipe
pipe-command=$build/src/zkns-pdns/zkns-pdns --config $dir/zk_client.json --zkns-domain zkns.demo --zkns-root /zk/nyc/zkns --soa-host ns1.zkns.demo
pipe-abi-version=3
local-address=127.0.0.1
local-port=$pdns_port
socket-dir=$dir/pdns/run
guardian=no
daemon=no
disable-syslog=yes
write-pid=no
security-poll-suffix=
cache-ttl=0
negquery-cache-ttl=0
query-cache-ttl=0
zone-cache-refresh-interval=0
PDNS
    /usr/sbin/pdns_server --config-dir="$dir/pdns" >"$dir/pdns/pdns.log" 2>&1 &
    pdns_pid=$!
    i=0
    until [ "$(pdns_control --config-dir="$dir/pdns" --socket-dir="$dir/pdns/run" rping 2>/dev/null)" = PONG ] ||
        [ $i -ge 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    dig="dig +short @127.0.0.1 -p $pdns_port"
    run 'zk zkns-set /zk/nyc/zkns/web 10.1.0.1 10.1.0.2'
    run 'zk zkns-set /zk/nyc/zkns/svc/web web-1.zkns.demo,_http=8080 web-2.zkns.demo,_http=8080'
    run "$dig web.zkns.demo A                # x.y.DOMAIN is the record at ROOT/y/x"
    run "$dig _http.web.svc.zkns.demo SRV    # _port.NAME: the SRV record's named port"
    run 'zk zkns-resolve -d zkns.demo -r /zk/nyc/zkns _http.web.svc.zkns.demo'
    run 'zk zkns-set /zk/nyc/zkns/web 10.1.0.3 && sleep 0.2'
    run "$dig web.zkns.demo A                # the change is seen: cached records are watched"
    run "dig @127.0.0.1 -p $pdns_port nope.zkns.demo A | grep -E 'status|SOA'"
    kill -TERM "$pdns_pid" 2>/dev/null || true
    wait "$pdns_pid" 2>/dev/null || true
    pdns_pid=""
else
    echo "(skipped: needs zkns-pdns, pdns-server, pdns-backend-pipe and dig)"
fi

say "A cell that is down is named, within the connect timeout"
run 'zkctl --dir sfo stop'
run "zk --connect-timeout 2s cat /zk/sfo/services/web/config" || true
run "zk cat /zk/nyc/services/web/config             # the other cells still answer"
run "zk $occ cat /zk/sfo/services/web/config    # zkocc still answers for sfo, from its cache"
run "/usr/bin/python3 -c \"import json, urllib.request; v = json.load(urllib.request.urlopen('http://127.0.0.1:$occ_port/debug/vars'))['ZkReader']['sfo']; print('zkocc, cell sfo: state', v['State']['Current'], '- stale reads', v['StaleReads'])\""

stop_all
cat <<EOF

${bold}Done${off}: the servers are stopped; their data stays in $dir.
To keep playing:
  export PATH=$build/src/zk:$build/src/zkctl:\$PATH
  export ZK_CLIENT_CONFIG=$dir/zk_client.json ZK_CLIENT_LOCAL_CELL=nyc
  for c in $cells; do zkctl --dir $dir/\$c start; done
  zk ls -R '/zk/*'          # zk help; man -l docs/man/zk.1
When done:
  for c in $cells; do zkctl --dir $dir/\$c stop; done; rm -rf $dir
EOF
