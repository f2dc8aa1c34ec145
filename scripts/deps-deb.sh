#!/bin/sh
# Install the Debian packages `make deb` and `make deb-check` need (the
# packaging tools; the build dependencies themselves come from deps.sh),
# when any is missing (apt-missing.sh).  Quiet when everything is there.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/apt-missing.sh" deps-deb build-essential dpkg-dev debhelper fakeroot lintian \
    devscripts bash-completion >/dev/null
