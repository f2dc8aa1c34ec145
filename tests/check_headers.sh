#!/bin/sh
# Every public header compiles on its own with -std=c11 -pedantic -Werror.
# Prints TAP.  Usage: check_headers.sh INCLUDE_DIR CC
inc=$1
cc=${2:-cc}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
set -- "$inc"/zkcell/*.h "$inc"/zkcell/sys/*.h
echo "1..$#"
n=0
for h in "$@"; do
    n=$((n + 1))
    rel=${h#"$inc"/}
    printf '#include <%s>\nint zkc_header_test_%d;\n' "$rel" "$n" > "$tmp/t.c"
    if "$cc" -std=c11 -pedantic -Wall -Wextra -Werror -I"$inc" -c "$tmp/t.c" -o "$tmp/t.o" 2> "$tmp/err"; then
        echo "ok $n - $rel"
    else
        echo "not ok $n - $rel"
        sed 's/^/# /' "$tmp/err"
    fi
done
