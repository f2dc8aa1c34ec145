# Shell functions shared by the PowerDNS tests (pdns_e2e.sh, pdns_load.sh);
# sourced, not run.  Starting PowerDNS is scripts/pdns_lib.sh's, which
# bench/dns.sh uses too.

# ok NAME, notok NAME [DETAIL...]: one TAP line; n counts them, failed
# the failures.
n=0
failed=0
ok() {
    n=$((n + 1))
    echo "ok $n - $1"
}
notok() {
    n=$((n + 1))
    failed=$((failed + 1))
    echo "not ok $n - $1"
    shift
    for l in "$@"; do echo "# $l"; done
}

# free_port, pdns_start: scripts/pdns_lib.sh (shared with bench/dns.sh).
pdns_lib_here=$(cd "$(dirname "$0")" && pwd)
. "$pdns_lib_here/../../scripts/pdns_lib.sh"
