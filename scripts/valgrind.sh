#!/bin/sh
# make valgrind: memcheck over a subset, each run failing on a definite
# leak or any memory error (invalid read or write, use of uninitialised
# values, bad free):
#   - the unit tests of core, cells and tree (cmocka);
#   - the zk command on a few commands against the fake (a JSON tree);
#   - zkns-pdns for a short session of pipe lines over the fake;
#   - with ZKC_TEST_ZK (scripts/with-servers.sh): zkocc for a short
#     session (Gets from zkocc_load, /healthz, SIGTERM) and zkns-pdns
#     against that server.
# Usage: scripts/valgrind.sh BUILD_DIR.  Prints TAP-like lines, each
# failure's valgrind report, then "N passed, N failed"; exit status 1 on
# any failure.  tests/valgrind.supp names what is suppressed, and why.
set -u
build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/zkcell-valgrind.XXXXXX)
zkocc_pid=""
cleanup() {
    if [ -n "$zkocc_pid" ]; then
        kill -KILL "$zkocc_pid" 2>/dev/null
        wait "$zkocc_pid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if ! command -v valgrind >/dev/null; then
    echo "valgrind: not installed (scripts/deps.sh installs it)" >&2
    exit 1
fi
VG="valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite
    --errors-for-leak-kinds=definite --num-callers=40 --track-origins=yes
    --suppressions=$here/tests/valgrind.supp"
export CMOCKA_MESSAGE_OUTPUT=TAP TZ=UTC LC_ALL=C.UTF-8
unset ZK_AUTH ZK_CLIENT_CONFIG ZK_CLIENT_LOCAL_CELL

passed=0
failed=0
n=0
# result NAME STATUS LOG: one line; the log of a failure.
result() {
    n=$((n + 1))
    if [ "$2" -eq 0 ]; then
        passed=$((passed + 1))
        echo "ok $n - $1"
    else
        failed=$((failed + 1))
        echo "not ok $n - $1 (exit $2)"
        sed 's/^/#   /' "$3" | tail -80
    fi
}
# vgx STATUS NAME COMMAND...: the command under valgrind, stdin from
# /dev/null, expected to exit with STATUS; vg NAME COMMAND...: with 0.
vgx() {
    want=$1 name=$2
    shift 2
    # shellcheck disable=SC2086
    $VG "$@" </dev/null >"$work/$name.out" 2>"$work/$name.log"
    st=$?
    cat "$work/$name.out" >>"$work/$name.log"
    [ "$st" -eq "$want" ] && st=0 || { [ "$st" -ne 0 ] || st=1; }
    result "$name" "$st" "$work/$name.log"
}
vg() { vgx 0 "$@"; }

# The unit tests of core (paths, ACLs, errors, the connection base,
# watches, base64), cells and tree (glob, zkutil helpers).
for t in path acl base64 conn watch cells cells_flags cells_list auth_config glob zkutil; do
    vg "unit-$t" "$build/tests/test_$t"
done

# The zk command against the fake: a copy of the golden tests' tree,
# reads, then writes saved back into the copy.
zk=$build/src/zk/zk
cp "$here/tests/zk/tree.json" "$work/tree.json"
fake="--fake $work/tree.json --fake-save $work/tree.json"
vg zk-ls-R "$zk" --fake "$work/tree.json" ls -R /zk
vg zk-ls-l-json "$zk" --fake "$work/tree.json" ls -l --json /zk/nyc
vg zk-cat-stat "$zk" --fake "$work/tree.json" stat /zk/nyc /zk/sfo
vg zk-dump "$zk" --fake "$work/tree.json" dump /zk
# shellcheck disable=SC2086
{
    $VG "$zk" $fake touch /zk/nyc/vg-new && $VG "$zk" $fake cp /zk/nyc/vg-new /zk/nyc/vg-copy &&
        $VG "$zk" $fake rm -r /zk/nyc/vg-new /zk/nyc/vg-copy
} </dev/null >"$work/zk-writes.log" 2>&1
result zk-writes $? "$work/zk-writes.log"
# A missing node: exit 1 with a message (valgrind's errors are 99).
vgx 1 zk-missing "$zk" --fake "$work/tree.json" cat /zk/nyc/no-such-node

# zkns-pdns: a short session of pipe lines over the fake.
zkns=$build/src/zkns-pdns/zkns-pdns
{
    printf 'HELO\t3\n'
    for i in 1 2 3 4 5; do
        printf 'Q\ta.zkns.test\tIN\tANY\t-1\t127.0.0.1\t127.0.0.1\t127.0.0.1/32\n'
        printf 'Q\tzkns.test\tIN\tSOA\t-1\t127.0.0.1\t127.0.0.1\t127.0.0.1/32\n'
        printf 'Q\tnope.zkns.test\tIN\tANY\t-1\t127.0.0.1\t127.0.0.1\t127.0.0.1/32\n'
        printf 'AXFR\t1\n'
        printf 'garbage line\n'
    done
} >"$work/pdns.lines"
$VG "$zkns" --fake "$here/tests/zkns/tree.json" --zkns-root /zk/test/zkns \
    --zkns-domain zkns.test --soa-host ns1.zkns.test <"$work/pdns.lines" \
    >"$work/zkns-fake.out" 2>"$work/zkns-fake.log"
result zkns-pdns-fake $? "$work/zkns-fake.log"

if [ -n "${ZKC_TEST_ZK:-}" ]; then
    echo "{\"vg\": \"$ZKC_TEST_ZK\"}" >"$work/zk_client.json"
    cfg="--config $work/zk_client.json"
    root=/zk/vg/valgrind-$$
    # shellcheck disable=SC2086
    "$zk" $cfg touch -p "$root/load" && printf 'vg-data' | "$zk" $cfg cp - "$root/load" &&
        printf '{"Entries": [{"ipv4": "10.0.0.7"}]}' | "$zk" $cfg cp - "$root/zkns/a" ||
        echo "# could not write $root at $ZKC_TEST_ZK"

    # zkns-pdns against the server: the same lines, names under $root/zkns.
    sed 's/zkns\.test/vg.test/g' "$work/pdns.lines" >"$work/pdns-real.lines"
    # shellcheck disable=SC2086
    $VG "$zkns" $cfg --zkns-root "$root/zkns" --zkns-domain vg.test --soa-host ns1.vg.test \
        <"$work/pdns-real.lines" >"$work/zkns-real.out" 2>"$work/zkns-real.log"
    st=$?
    grep -q '10.0.0.7' "$work/zkns-real.out" || { [ $st -ne 0 ] || st=1; echo "no answer 10.0.0.7" >>"$work/zkns-real.log"; }
    result zkns-pdns-server "$st" "$work/zkns-real.log"

    # zkocc: Gets from 20 clients for 5 s, /healthz, SIGTERM.
    port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    # shellcheck disable=SC2086
    $VG "$build/src/zkocc/zkocc" --port "$port" $cfg vg >"$work/zkocc.out" 2>"$work/zkocc.log" &
    zkocc_pid=$!
    i=0
    until /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1).close()" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 600 ] || break
        sleep 0.1
    done
    "$build/tests/integration/zkocc_load" "127.0.0.1:$port" "$zkocc_pid" "$root/load" vg-data 20 2 5 \
        >"$work/load.out" 2>&1
    load=$?
    health=$(/usr/bin/python3 -c "
import socket
s = socket.create_connection(('127.0.0.1', $port), 30)
s.sendall(b'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
print(s.recv(100).split(b'\r\n')[0].decode())" 2>&1)
    kill -TERM "$zkocc_pid"
    wait "$zkocc_pid"
    st=$?
    zkocc_pid=""
    if [ $load -ne 0 ] || [ "$health" != "HTTP/1.1 200 OK" ]; then
        { echo "load exit $load, /healthz: $health"; cat "$work/load.out"; } >>"$work/zkocc.log"
        [ $st -ne 0 ] || st=1
    fi
    result zkocc-session "$st" "$work/zkocc.log"
    # shellcheck disable=SC2086
    "$zk" $cfg rm -r -f "$root" >/dev/null 2>&1
else
    echo "# ZKC_TEST_ZK is not set: zkocc and zkns-pdns against a server left out"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
