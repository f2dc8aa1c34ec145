#!/bin/sh
# Install those of the Debian packages named that are not installed yet;
# quiet when all are, needs root (or sudo) otherwise.  What it installed
# goes to stdout (one line, for the caller's follow-up steps), what it
# is doing to stderr.  Shared by deps.sh and deps-deb.sh.
# Usage: apt-missing.sh LABEL PACKAGE...
set -eu
label=$1
shift
missing=""
for p in "$@"; do
    s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$s" = installed ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "$label: installing$missing" >&2
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "$missing"
