#!/bin/sh
# Run a command with the ZooKeeper servers the tests need, then stop them.
# Usage: with-servers.sh BUILD_DIR COMMAND...
# Exports ZKC_TEST_ZK (a standalone server), ZKC_ZKCTL (the zkctl binary)
# and ZKC_TEST_DIR (a scratch folder).  Servers are started by zkctl on
# free loopback ports and stopped by the PIDs it recorded.
set -u
build=$1
shift
zkctl="$PWD/$build/src/zkctl/zkctl"
dir=$(mktemp -d /tmp/zkcell-check.XXXXXX)
export ZKC_TEST_DIR="$dir"
stop() {
    if [ -x "$zkctl" ] && [ -d "$dir/zk" ]; then
        "$zkctl" --dir "$dir/zk" stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}
trap stop EXIT INT TERM
if [ -x "$zkctl" ]; then
    export ZKC_ZKCTL="$zkctl"
    port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    if "$zkctl" --dir "$dir/zk" start --ports "$port" >"$dir/zkctl.log" 2>&1; then
        export ZKC_TEST_ZK="127.0.0.1:$port"
    else
        echo "with-servers: zkctl could not start a server; real-server tests will fail:" >&2
        cat "$dir/zkctl.log" >&2
        export ZKC_TEST_ZK="127.0.0.1:1"
    fi
fi
"$@"
