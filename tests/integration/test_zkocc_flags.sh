#!/bin/sh
# zkocc's command line takes the -zk.* flags (zkc_cells_take_flags): all
# five in both spellings are accepted, and each bad value is a usage error
# naming the flag (TAP).  Usage: test_zkocc_flags.sh ZKOCC
zkocc=$1
n=0 failed=0
echo "1..7"
check() { # NAME WANT_STATUS WANT_STDERR_SUBSTRING ARGS...
    name=$1 want=$2 msg=$3
    shift 3
    n=$((n + 1))
    err=$("$zkocc" "$@" 2>&1 >/dev/null)
    st=$?
    if [ "$st" = "$want" ] && { [ -z "$msg" ] || printf '%s' "$err" | grep -qF -- "$msg"; }; then
        echo "ok $n - $name"
    else
        echo "not ok $n - $name"
        echo "# status $st (want $want), stderr: $err"
        failed=$((failed + 1))
    fi
}
# --help after the flags: they were taken (an unknown one fails first).
check accepted 0 "" -zk.local-cell nyc --zk.base-timeout=3s -zk.global-addrs 127.0.0.1:1 \
    --zk.local-addrs=127.0.0.1:2 -zk.connect-timeout 2s --help
check bad_duration 2 "-zk.base-timeout: want a positive duration" -zk.base-timeout soon --help
check zero_duration 2 "-zk.connect-timeout: want a positive duration" --zk.connect-timeout=0 --help
check bad_cell 2 "-zk.local-cell: invalid cell name 'a-b'" -zk.local-cell a-b --help
check unknown 2 "unknown flag -zk.bogus" -zk.bogus 1 --help
check missing 2 "flag -zk.global-addrs needs a value" -zk.global-addrs
check not_here 2 "unknown flag -zk.zkocc-addr" -zk.zkocc-addr 127.0.0.1:1 --help
[ $failed = 0 ]
