#!/bin/sh
# make deb: build the Debian packages (debian/) with dpkg-buildpackage from
# a copy of the source tree (tracked and new files, as in the worktree), so
# that no build directory or debian/ output lands in the checkout.
# Usage: deb.sh OUTDIR     the .debs, .buildinfo, .changes and lintian.txt
set -eu
out=$(realpath -m "${1:-build-deb}")
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
ver=$(dpkg-parsechangelog -S Version)
rm -rf "$out"
mkdir -p "$out/src"
src="$out/src/zkcell-$ver"
mkdir -p "$src"
# Everything git knows of or would add, minus what it ignores.
git ls-files -z -c -o --exclude-standard |
    xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
    tar --null -T - -cf - | tar -xf - -C "$src"
cd "$src"
# No tests in the package build: they need ZooKeeper and PowerDNS servers.
DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}" \
    dpkg-buildpackage -b -us -uc -j2 >"$out/build.log" 2>&1 || {
    tail -40 "$out/build.log" >&2
    echo "deb: dpkg-buildpackage failed, see $out/build.log" >&2
    exit 1
}
cd "$top"
# dpkg-buildpackage writes next to the source tree.
mv "$out"/src/*.deb "$out"/src/*.buildinfo "$out"/src/*.changes "$out"/
rm -rf "$out/src"
changes=$(ls "$out"/*.changes)
# Lintian as root says so on stderr; that line is no finding.
lintian --info --display-info --pedantic "$changes" 2>&1 |
    grep -v 'running with root privileges' >"$out/lintian.txt" || true
ls "$out"/*.deb
if grep -q '^[EWIPX]:' "$out/lintian.txt"; then
    echo "lintian (explanations in $out/lintian.txt):"
    grep '^[EWIPX]:' "$out/lintian.txt"
else
    echo "lintian: clean (--pedantic --display-info; overrides in debian/*.lintian-overrides)"
fi
