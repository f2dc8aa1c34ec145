#!/bin/sh
# Golden transcripts of zkns-pdns (TAP): every case of cases.txt fed to
# zkns-pdns --fake tree.json --zkns-root /zk/test/zkns --zkns-domain
# zkns.test --soa-host ns1.zkns.test, output compared with golden/NAME.out.
#
# Usage: golden.sh ZKNS_PDNS [--update] [CASE...]
set -u
BIN=$1
shift
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
here=$(cd "$(dirname "$0")" && pwd)
update=0
if [ "${1:-}" = "--update" ]; then
    update=1
    shift
fi
only="$*"
export LC_ALL=C
work=$(mktemp -d /tmp/zkns-golden.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$here/golden"

n=0
failed=0
grep -v '^#' "$here/cases.txt" | grep -v '^[[:space:]]*$' >"$work/cases"
total=$(wc -l <"$work/cases")
[ -n "$only" ] && total=$(echo $only | wc -w)
echo "1..$total"
while IFS='|' read -r name args cmd; do
    name=$(echo "$name" | tr -d ' ')
    if [ -n "$only" ]; then
        case " $only " in *" $name "*) ;; *) continue ;; esac
    fi
    n=$((n + 1))
    out="$work/$name.out"
    # shellcheck disable=SC2086
    (cd "$here" && sh -c "$cmd") | "$BIN" --fake "$here/tree.json" --zkns-root /zk/test/zkns \
        --zkns-domain zkns.test --soa-host ns1.zkns.test $args >"$out.1" 2>"$out.2"
    status=$?
    {
        sed 's/^OK\tzkns-pdns [0-9][0-9.]*$/OK\tzkns-pdns V/' "$out.1"
        echo "--- stderr"
        cat "$out.2"
        echo "--- exit $status"
    } >"$out"
    gold="$here/golden/$name.out"
    if [ $update = 1 ]; then
        cp "$out" "$gold"
        echo "ok $n - $name # updated"
    elif [ -f "$gold" ] && cmp -s "$gold" "$out"; then
        echo "ok $n - $name"
    else
        echo "not ok $n - $name"
        if [ -f "$gold" ]; then
            diff -u "$gold" "$out" | sed 's/^/# /' | head -40
        else
            echo "# no golden file $gold"
        fi
        failed=$((failed + 1))
    fi
done <"$work/cases"
[ $failed = 0 ]
