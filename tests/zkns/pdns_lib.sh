# Shell functions shared by the PowerDNS tests (pdns_e2e.sh, pdns_load.sh)
# and bench/dns.sh; sourced, not run.

# ok NAME, notok NAME [DETAIL...]: one TAP line; n counts them, failed
# the failures.
n=0
failed=0
ok() {
    n=$((n + 1))
    echo "ok $n - $1"
}
notok() {
    n=$((n + 1))
    failed=$((failed + 1))
    echo "not ok $n - $1"
    shift
    for l in "$@"; do echo "# $l"; done
}

# free_port: a loopback port free for both UDP and TCP.
free_port() {
    /usr/bin/python3 -c '
import socket
while True:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
    p = u.getsockname()[1]
    t = socket.socket()
    try:
        t.bind(("127.0.0.1", p)); break
    except OSError:
        pass
    finally:
        t.close(); u.close()
print(p)'
}

# pdns_run DIR PORT ABI PIPE_TIMEOUT_MS PIPE_COMMAND: write DIR/pdns.conf
# (the pipe backend running PIPE_COMMAND, caches off, one distributor
# thread, loopback PORT) and start pdns_server in the foreground, its
# output in DIR/pdns.log; sets PDNS_PID; returns once it answers
# pdns_control's rping, or 1 (its log printed as TAP comments) when it
# does not within 20 s or exits.
pdns_run() {
    mkdir -p "$1/run"
    cat >"$1/pdns.conf" <<CFG
launch=pipe
pipe-command=$5
pipe-abi-version=$3
pipe-timeout=$4
local-address=127.0.0.1
local-port=$2
socket-dir=$1/run
guardian=no
daemon=no
disable-syslog=yes
write-pid=no
log-timestamp=no
loglevel=4
security-poll-suffix=
cache-ttl=0
negquery-cache-ttl=0
query-cache-ttl=0
zone-cache-refresh-interval=0
distributor-threads=1
receiver-threads=1
CFG
    /usr/sbin/pdns_server --config-dir="$1" >"$1/pdns.log" 2>&1 &
    PDNS_PID=$!
    pdns_i=0
    while [ $pdns_i -lt 200 ]; do
        if [ "$(pdns_control --config-dir="$1" --socket-dir="$1/run" rping 2>/dev/null)" = PONG ]; then
            return 0
        fi
        kill -0 "$PDNS_PID" 2>/dev/null || break
        sleep 0.1
        pdns_i=$((pdns_i + 1))
    done
    echo "# pdns_server did not start:"
    sed 's/^/#   /' "$1/pdns.log"
    return 1
}
