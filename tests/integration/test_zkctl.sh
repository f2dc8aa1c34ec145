#!/bin/bash
# test_zkctl.sh ZKCTL -- zkctl against the installed ZooKeeper package (TAP).
# Starts a standalone server on a free port in 22400-22499, checks status,
# addrs, restart of one member, errors (port in use, bad folder, java
# missing, stale pid file, usage), and stops what it started by the
# recorded PID.  Never kills anything by name.
set -u
ZKCTL=${1:?usage: test_zkctl.sh path/to/zkctl}
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
check() { # DESCRIPTION CMD...   (passes when CMD succeeds)
  local d=$1; shift
  if "$@"; then ok "$d"; else not_ok "$d" "command: $*"; fi
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
srvr() { ( exec 2>/dev/null; exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1; printf srvr >&3; timeout 0.5 cat <&3 ); }

if ! command -v java >/dev/null 2>&1 || [ ! -r /usr/share/java/zookeeper.jar ]; then
  echo "1..0 # SKIP java or the zookeeper package is not installed"
  exit 0
fi

pick_port() {
  local p tries
  p=$(( 22400 + ($$ + $(date +%N | sed 's/^0*//;s/^$/0/')) % 100 ))
  for tries in $(seq 1 100); do
    port_busy "$p" || { echo "$p"; return 0; }
    p=$(( 22400 + (p - 22400 + 1) % 100 ))
  done
  return 1
}

T=$(mktemp -d /tmp/zkctl-test-XXXXXX)
D=$T/zk
cleanup() {
  "$ZKCTL" --quiet --dir "$D" stop >/dev/null 2>&1
  "$ZKCTL" --quiet --dir "$T/other" stop >/dev/null 2>&1
  rm -rf "$T"
}
trap cleanup EXIT

P=$(pick_port) || { echo "1..0 # SKIP no free port in 22400-22499"; exit 0; }

echo "# zkctl=$ZKCTL dir=$D port=$P"

# ---- usage ----
out=$("$ZKCTL" --help); rc=$?
check "--help exits 0" test $rc -eq 0
check "--help shows usage" grep -q "Usage: zkctl" <<<"$out"
"$ZKCTL" >/dev/null 2>&1; check "no command: exit 2" test $? -eq 2
"$ZKCTL" --dir "$D" frobnicate >/dev/null 2>&1; check "unknown command: exit 2" test $? -eq 2
err=$("$ZKCTL" --dir "$D" start --ports 22x 2>&1); rc=$?
check "bad --ports: exit 2 with a message" test $rc -eq 2 -a -n "$err"
"$ZKCTL" --dir "$D" kill >/dev/null 2>&1; check "kill without N: exit 2" test $? -eq 2

# ---- start, status, addrs ----
t0=$(now_ms)
out=$("$ZKCTL" --dir "$D" start --ports "$P" 2>&1); rc=$?
t_start=$(( $(now_ms) - t0 ))
echo "# start: ${t_start} ms: $out"
check "start standalone on $P" test $rc -eq 0
check "srvr reports Mode: standalone" grep -q "Mode: standalone" <<<"$(srvr "$P")"
pid=$(cat "$D/zk1/zk.pid" 2>/dev/null)
check "pid recorded and alive" test -n "$pid" -a -d "/proc/$pid"
st=$("$ZKCTL" --dir "$D" status); rc=$?
check "status exits 0 when serving" test $rc -eq 0
check "status shows port, pid and mode" test "$st" = "zk1 127.0.0.1:$P pid $pid standalone"
js=$("$ZKCTL" --dir "$D" status --json)
check "status --json" test "$js" = "[{\"id\":1,\"address\":\"127.0.0.1:$P\",\"pid\":$pid,\"mode\":\"standalone\"}]"
check "addrs" test "$("$ZKCTL" --dir "$D" addrs)" = "127.0.0.1:$P"
"$ZKCTL" --quiet --dir "$D" start --ports "$P"; rc=$?
check "start again is a no-op (same pid)" test $rc -eq 0 -a "$(cat "$D/zk1/zk.pid")" = "$pid"
rss=$(ps -o rss= -p "$pid" | tr -d ' ')
echo "# server RSS ${rss} kB"

# ---- errors ----
err=$("$ZKCTL" --dir "$T/other" start --ports "$P" 2>&1); rc=$?
check "port in use: exit 1" test $rc -eq 1
check "port in use: says so" grep -q "port $P on 127.0.0.1 is in use" <<<"$err"
check "port in use: nothing left running" test ! -e "$T/other/zk1/zk.pid"
err=$("$ZKCTL" --dir "$D" start --ports $((P + 1)) 2>&1); rc=$?
check "other settings on an initialised folder: exit 1" test $rc -eq 1 -a -n "$(grep -o 'already initialised' <<<"$err")"
err=$("$ZKCTL" --dir /proc/zkctl-no/x start --ports "$P" 2>&1); rc=$?
check "folder that cannot be made: exit 1" test $rc -eq 1 -a -n "$(grep -o 'cannot create' <<<"$err")"
touch "$T/afile"
err=$("$ZKCTL" --dir "$T/afile" init --ports "$P" 2>&1); rc=$?
check "folder that is a file: exit 1" test $rc -eq 1 -a -n "$err"
err=$(JAVA=/nonexistent/java "$ZKCTL" --dir "$T/nojava" start --ports $((P + 1)) 2>&1); rc=$?
check "java missing: exit 1, clear message" test $rc -eq 1 -a -n "$(grep -o 'java not found' <<<"$err")"
"$ZKCTL" --quiet --dir "$T/nojava" teardown
err=$("$ZKCTL" --dir "$T/never" status 2>&1); rc=$?
check "status of a folder never initialised: exit 1" test $rc -eq 1 -a -n "$(grep -o 'not initialised' <<<"$err")"

# ---- one member down and up again ----
"$ZKCTL" --quiet --dir "$D" kill 1; rc=$?
check "kill 1" test $rc -eq 0
st=$("$ZKCTL" --dir "$D" status); rc=$?
check "status after kill: exit 1, down" test $rc -eq 1 -a "$st" = "zk1 127.0.0.1:$P pid - down"
t0=$(now_ms)
"$ZKCTL" --quiet --dir "$D" start-one 1; rc=$?
echo "# start-one: $(( $(now_ms) - t0 )) ms"
check "start-one 1 serves again" test $rc -eq 0 -a -n "$(srvr "$P" | grep -o 'Mode: standalone')"
pid=$(cat "$D/zk1/zk.pid")

# ---- stop ----
t0=$(now_ms)
"$ZKCTL" --quiet --dir "$D" stop; rc=$?
t_stop=$(( $(now_ms) - t0 ))
echo "# stop: ${t_stop} ms"
check "stop exits 0" test $rc -eq 0
gone=1; s=$(ps -o stat= -p "$pid" 2>/dev/null) && [[ $s != Z* ]] && gone=0
check "the recorded pid is gone" test $gone -eq 1
check "pid file removed" test ! -e "$D/zk1/zk.pid"
check "port free again" bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$P) 2>/dev/null"
"$ZKCTL" --quiet --dir "$D" stop; rc=$?
check "stop when stopped: exit 0" test $rc -eq 0

# ---- a stale pid file never kills a stranger ----
sleep 300 >/dev/null 2>&1 & stranger=$!
echo "$stranger" > "$D/zk1/zk.pid"
"$ZKCTL" --quiet --dir "$D" stop >/dev/null 2>&1
check "stale pid file: the process it names is left alone" kill -0 "$stranger"
kill "$stranger"; wait "$stranger" 2>/dev/null

# ---- teardown ----
"$ZKCTL" --quiet --dir "$D" teardown; rc=$?
check "teardown removes the folder" test $rc -eq 0 -a ! -e "$D"

echo "# summary: start ${t_start} ms, stop ${t_stop} ms"
echo "1..$n"
exit $((failed > 0))
