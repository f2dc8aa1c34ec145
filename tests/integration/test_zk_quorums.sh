#!/bin/sh
# zk --quorums over three independent servers of its own (zkctl, ports
# picked free at run time, torn down at exit): a write through the
# namespace lands on all three; a node changed behind its back on one
# quorum is reported by reads and by `zk diff`, `zk repair --dry-run`
# shows the writes, `zk repair` fixes it; one quorum down is named (TAP).
# Usage: test_zk_quorums.sh ZK ZKCTL
zk=$1 zkctl=$2
work=$(mktemp -d /tmp/zkc-quorums-XXXXXX)
n=0 failed=0
cleanup() {
    for i in 0 1 2; do
        [ -d "$work/s$i" ] && "$zkctl" --quiet --dir "$work/s$i" teardown >/dev/null 2>&1
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
ok() { n=$((n + 1)); echo "ok $n - $1"; }
bad() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
# check NAME WANT_STATUS COMMAND...: runs it, output in $out, status in $st
check() {
    name=$1 want=$2
    shift 2
    out=$("$@" 2>&1)
    st=$?
    if [ "$st" = "$want" ]; then ok "$name"; else bad "$name" "status $st, want $want" "$out"; fi
}
has() { # NAME TEXT: $out contains TEXT
    if printf '%s' "$out" | grep -qF -- "$2"; then ok "$1"; else bad "$1" "want '$2' in:" "$out"; fi
}
free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
echo "1..28"
Q=""
for i in 0 1 2; do
    mkdir -p "$work/s$i"
    started=no
    for try in 1 2 3 4 5; do
        p=$(free_port)
        if "$zkctl" --quiet --dir "$work/s$i" start --ports "$p" >/dev/null 2>&1; then
            started=yes
            break
        fi
        "$zkctl" --quiet --dir "$work/s$i" teardown >/dev/null 2>&1
        mkdir -p "$work/s$i"
    done
    [ $started = yes ] || { echo "Bail out! cannot start server $i"; exit 1; }
    eval "A$i=127.0.0.1:$p"
    Q="$Q${Q:+;}127.0.0.1:$p"
done

check "write through the namespace" 0 "$zk" --quorums "$Q" touch -p /app/x
for i in 0 1 2; do
    eval "a=\$A$i"
    check "landed on quorum $i" 0 "$zk" --server "$a" stat /app/x
done
check "read agrees" 0 "$zk" --quorums "$Q" ls /app
has "read lists x" "x"

# Behind its back: a node on quorum 1 only, data changed on quorum 2.
check "write on quorum 1 alone" 0 "$zk" --server "$A1" touch /app/stray
printf 'other' >"$work/data"
check "data on quorum 2 alone" 0 "$zk" --server "$A2" cp "$work/data" zk:/app/x
check "read reports divergence" 1 "$zk" --quorums "$Q" ls /app
has "read names quorum 1's answer" "$A1"
check "diff lists it" 1 "$zk" diff --quorums "$Q" /app
has "diff: missing stray" "missing	/app/stray"
has "diff: data of x" "data	/app/x"
check "diff --json" 1 "$zk" diff --quorums "$Q" --json /app
has "json kind and presence" '"present": [
      false,
      true,
      false
    ]'
check "repair --dry-run" 0 "$zk" repair --quorums "$Q" --from 0 --dry-run /app
has "dry run: delete stray on 1" "delete	/app/stray	quorum 1"
check "dry run changed nothing" 1 "$zk" diff --quorums "$Q" /app
check "repair" 0 "$zk" repair --quorums "$Q" --from 0 /app
check "agree after repair" 0 "$zk" diff --quorums "$Q" /app

# zk_client.json: a cell whose value is a list of address strings is one
# namespace over those quorums, through the cell router.
printf '{"gl": ["%s", "%s", "%s"], "one": "%s"}\n' "$A0" "$A1" "$A2" "$A0" >"$work/zk_client.json"
check "write through a list cell" 0 "$zk" --config "$work/zk_client.json" touch -p /zk/gl/y
for i in 0 1 2; do
    eval "a=\$A$i"
    check "list cell: landed on quorum $i" 0 "$zk" --server "$a" stat /zk/gl/y
done
check "list cell: behind its back" 0 "$zk" --server "$A1" touch /zk/gl/z
check "list cell: read reports it" 1 "$zk" --config "$work/zk_client.json" ls /zk/gl

# One quorum down: named.
"$zkctl" --quiet --dir "$work/s2" stop >/dev/null 2>&1
check "quorum down fails" 1 "$zk" --quorums "$Q" --connect-timeout 2s ls /app
has "quorum down is named" "$A2"
[ $failed = 0 ]
