#!/bin/sh
# Golden-output tests of the zk command (TAP).
#
# Usage: run.sh ZK_BINARY [--update] [CASE...]
#
# Every case of cases.txt runs against the in-memory fake (--fake on a
# fresh copy of tree.json, saved back after each command so that a case
# can chain commands) and, when $ZKC_TEST_ZK names a server (host:port),
# against that server, inside a chroot of its own (/zkcli-test-PID/CASE)
# loaded with the same tree; /zkcli-test-PID is removed at the end.
# Output (stdout, stderr, exit status) is compared with golden/NAME.out,
# or golden/NAME.fake.out / golden/NAME.real.out where the backends
# legitimately differ.  --update writes the golden files from the fake
# (and from the server for "real" cases) instead of comparing.
set -u
ZK=$1
shift
case $ZK in /*) ;; *) ZK=$(pwd)/$ZK ;; esac
here=$(cd "$(dirname "$0")" && pwd)
update=0
if [ "${1:-}" = "--update" ]; then
    update=1
    shift
fi
only="$*"

export TZ=UTC LC_ALL=C.UTF-8
unset ZK_AUTH ZK_CLIENT_CONFIG ZK_CLIENT_LOCAL_CELL VISUAL
work=$(mktemp -d /tmp/zk-golden.XXXXXX)
server=${ZKC_TEST_ZK:-}
chroot=/zkcli-test-$$
cleanup() {
    if [ -n "$server" ]; then
        "$ZK" --server "$server" rm -r -f "$chroot" >/dev/null 2>&1
    fi
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

# The tree as a dump, for loading into the server.
"$ZK" --fake "$here/tree.json" dump /zk >"$work/tree.dump" || {
    echo "Bail out! cannot dump tree.json with $ZK"
    exit 1
}
if [ -n "$server" ]; then
    if ! "$ZK" --connect-timeout 10s --server "$server" touch "$chroot" 2>"$work/err"; then
        echo "# no server at $server: $(cat "$work/err")"
        server=
    fi
fi

# `zk` in the cases is a wrapper that execs the command under test on the
# backend (an executable rather than a function, so that `zk ... &` gives
# its PID in $!).
mkdir -p "$work/fake" "$work/real"
printf '#!/bin/sh\nexec "$ZK" --fake "$T/state.json" --fake-save "$T/state.json" "$@"\n' >"$work/fake/zk"
printf '#!/bin/sh\nexec "$ZK" --server "$ZKC_SERVER" "$@"\n' >"$work/real/zk"
chmod +x "$work/fake/zk" "$work/real/zk"

# `wait_until CMD [ARG...]` in the cases (also in a command that elock or
# qlock runs): run CMD quietly every 20 ms until it succeeds; a single
# argument is a shell command (pipes allowed).  After 30 s it gives up
# loudly, on stderr with CMD's last output, rather than hang: a case waits
# on something it can observe (a node, a line of output, a file, zk's
# --ready-fd), never for a sleep to be long enough.
mkdir -p "$work/bin"
cat >"$work/bin/wait_until" <<'EOF'
#!/bin/sh
[ $# = 1 ] && set -- sh -c "$1"
end=$(($(date +%s) + 30))
until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$end" ]; then
        echo "wait_until: still false after 30 s: $*" >&2
        "$@" >&2
        exit 1
    fi
    sleep 0.02
done
EOF
chmod +x "$work/bin/wait_until"

mask() {
    sed -E \
        -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{3} [+-][0-9]{4})?/<TIME>/g' \
        -e 's/(Czxid|Mzxid|Pzxid): 0x[0-9a-f]+/\1: <ZXID>/' \
        -e 's/Ephemeral: 0x[0-9a-f]+/Ephemeral: <SESSION>/' \
        -e 's/"(czxid|mzxid|pzxid|ctime|mtime)": ?[0-9]+/"\1":N/g' \
        -e 's/"ephemeral_owner": ?[1-9][0-9]*/"ephemeral_owner":S/g' \
        -e "s#$work/(fake|real)-[A-Za-z0-9_]*#\$T#g"
}

n=0
failed=0
run_case() { # backend name cmd
    backend=$1 name=$2 cmd=$3
    T=$work/$backend-$name
    rm -rf "$T"
    mkdir -p "$T"
    if [ "$backend" = fake ]; then
        cp "$here/tree.json" "$T/state.json"
        ZKC_SERVER=
    else
        ZKC_SERVER="$server$chroot/$name"
        "$ZK" --server "$server" touch "$chroot/$name" >/dev/null 2>&1
        "$ZK" --server "$ZKC_SERVER" restore "$work/tree.dump" /zk >/dev/null 2>&1
    fi
    (
        cd "$T" || exit 99
        TMPDIR=$T
        PATH=$work/$backend:$work/bin:$PATH
        HOSTILE="/usr/bin/python3 $here/hostile.py"
        export TMPDIR T ZK ZKC_SERVER PATH HOSTILE
        eval "$cmd"
    ) >"$T/.out" 2>"$T/.err" </dev/null
    rc=$?
    {
        cat "$T/.out"
        if [ -s "$T/.err" ]; then
            echo "--- stderr"
            cat "$T/.err"
        fi
        echo "--- exit $rc"
    } | mask >"$T/.got"
    golden=$here/golden/$name.out
    [ -f "$here/golden/$name.$backend.out" ] && golden=$here/golden/$name.$backend.out
    n=$((n + 1))
    if [ $update = 1 ] && { [ "$backend" = fake ] || [ ! -f "$golden" ]; }; then
        cp "$T/.got" "$golden"
        echo "ok $n - $backend: $name # updated"
    elif [ -f "$golden" ] && cmp -s "$golden" "$T/.got"; then
        echo "ok $n - $backend: $name"
    else
        failed=$((failed + 1))
        echo "not ok $n - $backend: $name"
        echo "#   \$ $cmd"
        if [ -f "$golden" ]; then
            diff -u "$golden" "$T/.got" | sed 's/^/#   /'
        else
            echo "#   no golden file $golden; got:"
            sed 's/^/#   /' "$T/.got"
        fi
    fi
}

grep -v -e '^#' -e '^[[:space:]]*$' "$here/cases.txt" >"$work/cases"
total=0
while IFS='|' read -r name where cmd; do
    if [ -n "$only" ]; then
        case " $only " in *" $name "*) ;; *) continue ;; esac
    fi
    case $where in
    both) total=$((total + 2)) ;;
    *) total=$((total + 1)) ;;
    esac
done <"$work/cases"
echo "1..$total"
while IFS='|' read -r name where cmd; do
    if [ -n "$only" ]; then
        case " $only " in *" $name "*) ;; *) continue ;; esac
    fi
    if [ "$where" != real ]; then
        run_case fake "$name" "$cmd"
    fi
    if [ "$where" != fake ]; then
        if [ -n "$server" ]; then
            run_case real "$name" "$cmd"
        else
            n=$((n + 1))
            echo "ok $n - real: $name # SKIP no server (set ZKC_TEST_ZK=host:port)"
        fi
    fi
done <"$work/cases"
echo "# $failed of $n failed"
[ $failed = 0 ]
