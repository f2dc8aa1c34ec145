#!/bin/sh
# Install the Debian packages `make deb` and `make deb-check` need (the
# packaging tools; the build dependencies themselves come from deps.sh),
# when any is missing.  Quiet when everything is there.
set -eu
PKGS="build-essential dpkg-dev debhelper fakeroot lintian devscripts
bash-completion"
missing=""
for p in $PKGS; do
    s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$s" = installed ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps-deb: installing$missing" >&2
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
