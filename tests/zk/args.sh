#!/bin/sh
# Bugs fixed in the zk command's argument and error handling (TAP):
# durations strtod takes but that are not durations (nan, inf, overflow,
# hex, blanks, negative) are usage errors, an unknown cell's error
# names the configuration file looked for, and zk edit's editor runs
# with the terminal's signals.
#
# Usage: args.sh ZK_BINARY
set -u
ZK=$1
here=$(cd "$(dirname "$0")" && pwd)
unset ZK_AUTH ZK_CLIENT_CONFIG ZK_CLIENT_LOCAL_CELL
work=$(mktemp -d /tmp/zk-args.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
n=0
failed=0
ok() { # status description
    n=$((n + 1))
    if [ "$1" = 0 ]; then
        echo "ok $n - $2"
    else
        echo "not ok $n - $2"
        failed=$((failed + 1))
    fi
}

for d in nan NaN inf -inf infinity 1e400 1e400ms -1 -0.5s ' 5' 0x10 0x1p3s '' 5x; do
    "$ZK" --fake "$here/tree.json" wait -t "$d" /zk/nyc/empty >"$work/out" 2>&1 </dev/null
    st=$?
    grep -q "want a duration" "$work/out"
    ok $(( st != 2 || $? != 0 )) "wait -t '$d' is a usage error (exit $st)"
    "$ZK" --fake "$here/tree.json" --connect-timeout "$d" ls /zk >/dev/null 2>&1 </dev/null
    st=$?
    ok $(( st != 2 )) "--connect-timeout '$d' is a usage error (exit $st)"
done
for d in 10ms 0.01s .01s 0; do
    "$ZK" --fake "$here/tree.json" wait -t "$d" /zk/nyc/empty >"$work/out" 2>&1 </dev/null
    st=$?
    grep -q "timed out" "$work/out"
    ok $(( st != 1 || $? != 0 )) "wait -t '$d' times out (exit $st)"
done

# The router's reason reaches the user: which file was looked for.
ZK_CLIENT_CONFIG=/nonexistent/x.json "$ZK" ls /zk/nyc >"$work/out" 2>&1 </dev/null
st=$?
grep -q "/nonexistent/x.json" "$work/out"
ok $(( st != 1 || $? != 0 )) "a missing config is named (exit $st): $(cat "$work/out")"
printf '{"sfo": "127.0.0.1:1"}\n' >"$work/c.json"
"$ZK" --config "$work/c.json" ls /zk/nyc >"$work/out" 2>&1 </dev/null
st=$?
grep -q "unknown cell.*zk cell: \"nyc\".*$work/c.json" "$work/out"
ok $(( st != 1 || $? != 0 )) "a cell missing from the config names it (exit $st): $(cat "$work/out")"

# zk edit spawns the editor (posix_spawn) with SIGINT at its default
# while zk itself ignores it: an editor interrupted dies, and nothing is
# written; an editor that works writes back.
cp "$here/tree.json" "$work/t.json"
EDITOR='kill -INT $$; echo mine >' "$ZK" --fake "$work/t.json" --fake-save "$work/t.json" \
    edit /zk/nyc/vt/tablets/0001 >"$work/out" 2>&1 </dev/null
st=$?
grep -q "the editor failed" "$work/out"
ok $(( st != 1 || $? != 0 )) "an editor killed by SIGINT fails the edit (exit $st)"
EDITOR='sed -i s/one/ONE/' "$ZK" --fake "$work/t.json" --fake-save "$work/t.json" \
    edit /zk/nyc/vt/tablets/0001 >"$work/out" 2>&1 </dev/null
st=$?
"$ZK" --fake "$work/t.json" cat /zk/nyc/vt/tablets/0001 >"$work/data" 2>&1 </dev/null
grep -q ONE "$work/data"
ok $(( st != 0 || $? != 0 )) "edit writes the edited data back (exit $st)"

echo "1..$n"
[ "$failed" = 0 ]
