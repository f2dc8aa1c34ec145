#!/bin/sh
# make deb-check: install the packages of build-deb/ with apt on this
# machine, use them (zk --version, zkocc --help, zkns-pdns --help, the
# README example built with the installed pkg-config file), then purge
# them and check that nothing they installed is left.  Needs root (or sudo).
# Prints one line per check and PASS or FAIL; exit status 0 on PASS.
# Usage: deb-check.sh [DEBDIR]
set -u
dir=$(realpath -m "${1:-build-deb}")
top=$(cd "$(dirname "$0")/.." && pwd)
PKGS="libzkcell0 libzkcell-dev zkcell-tools zkocc zkns-pdns"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
n=0
ok() { n=$((n + 1)); echo "ok   $*"; }
bad() { n=$((n + 1)); fails=$((fails + 1)); echo "FAIL $*"; }
check() { # check DESCRIPTION COMMAND...: ok when COMMAND exits 0
    d="$1"
    shift
    if "$@" >"$tmp/out" 2>&1; then ok "$d"; else bad "$d"; sed 's/^/     /' "$tmp/out"; fi
}

debs=""
for p in $PKGS; do
    f=$(ls "$dir/${p}_"*.deb 2>/dev/null | head -1)
    [ -n "$f" ] || { echo "deb-check: no ${p}_*.deb in $dir (make deb)"; echo "FAIL"; exit 1; }
    debs="$debs $f"
done
for p in $PKGS; do
    if dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qv not-installed; then
        echo "deb-check: $p is already installed here; purge it first"; echo "FAIL"; exit 1
    fi
done

# What /etc holds before, to find files left behind that no package owns.
find /etc -xdev 2>/dev/null | sort >"$tmp/etc.before"

# shellcheck disable=SC2086
check "apt-get install$debs" $SUDO apt-get install -y -qq --no-install-recommends $debs
for p in $PKGS; do
    dpkg -L "$p" 2>/dev/null | while read -r f; do [ -d "$f" ] || echo "$f"; done
done | sort >"$tmp/files"
echo "     $(wc -l <"$tmp/files") files installed:"
sed 's/^/       /' "$tmp/files"

ver=$(dpkg-query -W -f='${Version}' zkcell-tools 2>/dev/null)
check "zk --version names $ver" sh -c "zk --version | tee /dev/stderr | grep -q 'zkcell) ${ver%%-*}'"
check "zkctl --help" zkctl --help
check "zkocc --help" zkocc --help
check "zkns-pdns --help" zkns-pdns --help
check "man pages: zk.1 zkctl.1 zkocc.8 zkns-pdns.8 zkcell.3" sh -c '
    for m in man1/zk.1 man1/zkctl.1 man8/zkocc.8 man8/zkns-pdns.8 man3/zkcell.3; do
        test -s /usr/share/man/$m.gz || { echo "missing $m"; exit 1; }
    done'
check "bash completion: 'zk l<TAB>' gives ls" bash -c '
    . /usr/share/bash-completion/completions/zk
    COMP_WORDS=(zk l); COMP_CWORD=1; _zk; [ "${COMPREPLY[*]}" = ls ]'
check "systemd unit and /etc/default/zkocc" sh -c '
    grep -q "^ExecStart=/usr/sbin/zkocc " /lib/systemd/system/zkocc.service &&
    grep -q "^EnvironmentFile=-/etc/default/zkocc" /lib/systemd/system/zkocc.service &&
    grep -q "^ZKOCC_OPTS=" /etc/default/zkocc'
check "pkg-config --modversion zkcell is ${ver%%-*}" sh -c "test \"\$(pkg-config --modversion zkcell)\" = ${ver%%-*}"
cp "$top/examples/readme_example.c" "$tmp/"
check "cc readme_example.c \$(pkg-config --cflags --libs zkcell)" sh -c "
    cd '$tmp' && cc -std=c11 -Wall -Werror -o readme_example readme_example.c \$(pkg-config --cflags --libs zkcell)"
check "readme_example uses the installed libzkcell.so.0" sh -c "ldd '$tmp/readme_example' | grep -q -E 'libzkcell.so.0 => /(usr/)?lib/[^ ]*libzkcell.so.0 '"
check "readme_example output = examples/readme_example.out" sh -c "
    '$tmp/readme_example' >'$tmp/example.out' && diff -u '$top/examples/readme_example.out' '$tmp/example.out'"
check "static link: libzkcell.a and pkg-config --static" sh -c "
    cd '$tmp' && cc -std=c11 -o readme_static readme_example.c \$(pkg-config --cflags zkcell) \
        -Wl,-Bstatic -lzkcell -Wl,-Bdynamic \$(pkg-config --static --libs zkcell | sed 's/-lzkcell//') &&
    ! ldd readme_static | grep -q libzkcell && ./readme_static | diff -u '$top/examples/readme_example.out' -"

# shellcheck disable=SC2086
check "apt-get purge $PKGS" $SUDO apt-get purge -y -qq $PKGS
check "no package left installed" sh -c "
    for p in $PKGS; do
        s=\$(dpkg-query -W -f='\${db:Status-Status}' \$p 2>/dev/null) || continue
        [ \"\$s\" = not-installed ] || { echo \"\$p: \$s\"; exit 1; }
    done"
check "every installed file gone" sh -c "
    left=0; while read -r f; do [ -e \"\$f\" ] || [ -L \"\$f\" ] && { echo \"left: \$f\"; left=1; }; done <'$tmp/files'; exit \$left"
find /etc -xdev 2>/dev/null | sort >"$tmp/etc.after"
check "nothing new under /etc that no package owns" sh -c "
    left=0; for f in \$(comm -13 '$tmp/etc.before' '$tmp/etc.after'); do
        dpkg -S \"\$f\" >/dev/null 2>&1 || { echo \"left: \$f\"; left=1; }
    done; exit \$left"
check "no /etc/default/zkocc, no /var/cache/zkocc" sh -c "! test -e /etc/default/zkocc && ! test -e /var/cache/zkocc"

echo
if [ "$fails" = 0 ]; then
    echo "deb-check: PASS ($n checks)"
    exit 0
fi
echo "deb-check: FAIL ($fails of $n checks failed)"
exit 1
