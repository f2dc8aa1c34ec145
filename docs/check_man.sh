#!/bin/sh
# Every man page renders without a groff warning (TAP).
# Usage: check_man.sh GROFF PAGE...
groff=$1
shift
echo "1..$#"
n=0 failed=0
for page in "$@"; do
    n=$((n + 1))
    out=$("$groff" -man -ww -z "$page" 2>&1)
    if [ -z "$out" ]; then
        echo "ok $n - $(basename "$page")"
    else
        failed=$((failed + 1))
        echo "not ok $n - $(basename "$page")"
        printf '%s\n' "$out" | sed 's/^/# /'
    fi
done
[ $failed = 0 ]
