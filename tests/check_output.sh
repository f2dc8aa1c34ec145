#!/bin/sh
# check_output.sh EXPECTED_FILE PROGRAM [ARGS...]: run PROGRAM and compare
# its standard output with EXPECTED_FILE.
exp=$1
shift
out=$("$@") || { echo "exit status $?" >&2; exit 1; }
if [ "$out" != "$(cat "$exp")" ]; then
    echo "unexpected output:" >&2
    printf '%s\n' "$out" >&2
    echo "expected:" >&2
    cat "$exp" >&2
    exit 1
fi
