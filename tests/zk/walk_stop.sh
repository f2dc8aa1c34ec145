#!/bin/sh
# A walk whose server goes silent halfway reports the cause once (TAP).
#
# Usage: walk_stop.sh ZK_BINARY
#
# Needs a real server in $ZKC_TEST_ZK (host:port).  A tree of 300 nodes
# is loaded under /walkstop-PID; `zk ls -R` then reaches it through
# cutproxy.py, which delivers the root's (large) list of children and
# then nothing more, like a server stopped in the middle of the walk.
# Every node left fails the same way: one error line, not one per node.
set -u
ZK=$1
case $ZK in /*) ;; *) ZK=$(pwd)/$ZK ;; esac
here=$(cd "$(dirname "$0")" && pwd)
server=${ZKC_TEST_ZK:-}
if [ -z "$server" ]; then
    echo "1..0 # SKIP no server (set ZKC_TEST_ZK=host:port)"
    exit 0
fi
work=$(mktemp -d /tmp/zk-walkstop.XXXXXX)
root=/walkstop-$$
proxy_pid=
cleanup() {
    [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null
    "$ZK" --server "$server" rm -r -f "$root" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
echo "1..4"

/usr/bin/python3 - "$root" >"$work/d.json" <<'EOF'
import json, sys
root = sys.argv[1]
nodes = [{"path": root, "data": ""}]
nodes += [{"path": "%s/node%04d" % (root, i), "data": "x"} for i in range(300)]
print(json.dumps({"zkcell_dump": 1, "root": root, "nodes": nodes}))
EOF
if "$ZK" --server "$server" restore --no-acl "$work/d.json" 2>"$work/err"; then
    echo "ok 1 - tree of 300 nodes loaded"
else
    echo "not ok 1 - tree of 300 nodes loaded"
    sed 's/^/# /' "$work/err"
fi

# The proxy: its port on the first line of its output, then it waits
# for its standard input (a fifo held open here) to close.
mkfifo "$work/in"
/usr/bin/python3 "$here/cutproxy.py" "$server" 2000 <"$work/in" >"$work/port" &
proxy_pid=$!
exec 9>"$work/in"
port=
for _ in $(seq 1 600); do
    port=$(head -n 1 "$work/port")
    [ -n "$port" ] && break
    sleep 0.1
done

"$ZK" --server "127.0.0.1:$port$root" --session-timeout 2s --connect-timeout 2s ls -R / \
    >"$work/out" 2>"$work/err"
rc=$?
exec 9>&-
wait "$proxy_pid" 2>/dev/null
proxy_pid=

if [ "$rc" = 1 ]; then
    echo "ok 2 - exit status 1"
else
    echo "not ok 2 - exit status 1 (got $rc)"
fi
lines=$(wc -l <"$work/err")
if [ "$lines" = 1 ]; then
    echo "ok 3 - one error line"
else
    echo "not ok 3 - one error line (got $lines)"
    head -5 "$work/err" | sed 's/^/# /'
fi
if grep -q '^zk ls: /: ' "$work/err"; then
    echo "ok 4 - the error names the walk's root"
else
    echo "not ok 4 - the error names the walk's root"
    head -5 "$work/err" | sed 's/^/# /'
fi
sed 's/^/# stderr: /' "$work/err"
