# pdns_lib.sh: starting PowerDNS for the tests and the bench (sourced by
# tests/zkns/pdns_e2e.sh and bench/dns.sh; POSIX sh, set -eu safe).
#
#   free_port                  a loopback port free for both UDP and TCP
#   pdns_start DIR PORT THREADS LINE...
#       DIR/pdns.conf: the LINEs (the backend's settings), then
#       127.0.0.1:PORT, control socket in DIR/run, foreground, no syslog,
#       caches off, THREADS distributor threads; pdns_server started on
#       it in the background, its log in DIR/pdns.log.  Sets PDNS_PID
#       (the caller stops it); returns 0 once it answers rping, 1 (its
#       log printed as TAP comments) when it exits or is still silent
#       after 20 s.

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

pdns_start() {
    pdns_dir=$1 pdns_port=$2 pdns_threads=$3
    shift 3
    mkdir -p "$pdns_dir/run"
    {
        printf '%s\n' "$@"
        cat <<CFG
local-address=127.0.0.1
local-port=$pdns_port
socket-dir=$pdns_dir/run
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
distributor-threads=$pdns_threads
receiver-threads=1
CFG
    } >"$pdns_dir/pdns.conf"
    /usr/sbin/pdns_server --config-dir="$pdns_dir" >"$pdns_dir/pdns.log" 2>&1 &
    PDNS_PID=$!
    pdns_i=0
    while [ $pdns_i -lt 200 ]; do
        if [ "$(pdns_control --config-dir="$pdns_dir" --socket-dir="$pdns_dir/run" rping 2>/dev/null)" = PONG ]; then
            return 0
        fi
        kill -0 "$PDNS_PID" 2>/dev/null || break
        sleep 0.1
        pdns_i=$((pdns_i + 1))
    done
    echo "# pdns_server did not start:"
    sed 's/^/#   /' "$pdns_dir/pdns.log"
    return 1
}
