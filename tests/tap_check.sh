# tap_check.sh: the TAP of the static-check scripts (check_fds.sh,
# check_no_skips.sh), sourced.  check DESCRIPTION OFFENDING-LINES: "ok"
# when there are none, else "not ok" with them as comments; tap_end
# prints the plan and fails when any check did.
n=0
failed=0
check() {
    n=$((n + 1))
    if [ -z "$2" ]; then
        echo "ok $n - $1"
    else
        echo "not ok $n - $1"
        echo "$2" | sed 's/^/# /'
        failed=$((failed + 1))
    fi
}
tap_end() {
    echo "1..$n"
    [ "$failed" = 0 ]
}
