#!/bin/sh
# Install the Debian packages zkcell needs to build and test, when any is
# missing (apt-missing.sh).  Quiet when everything is there; needs root
# (or sudo) otherwise.
# Usage: deps.sh [bench]   (bench: also what make bench needs, BENCH_PKGS)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
PKGS="gcc make pkg-config meson ninja-build clang libclang-rt-14-dev
libzookeeper-mt-dev libjansson-dev libcmocka-dev libbson-dev libuv1-dev libzip-dev
nettle-dev groff-base
zookeeper zookeeper-bin libslf4j-java default-jre-headless
python3 python3-kazoo python3-bson
pdns-server pdns-backend-pipe pdns-backend-bind dnsutils dnsperf
valgrind"
# The report's plots (bench/report.py); without gnuplot the report says
# the plots are missing.
BENCH_PKGS="gnuplot-nox"
[ "${1:-}" != bench ] || PKGS="$PKGS $BENCH_PKGS"
# shellcheck disable=SC2086
installed=$("$here/apt-missing.sh" deps $PKGS)
# pdns-server enables a system service on port 53 where systemd runs;
# the tests start their own pdns_server on a free loopback port instead.
case " $installed " in
*" pdns-server "*)
    if [ -d /run/systemd/system ]; then
        SUDO=""
        [ "$(id -u)" = 0 ] || SUDO="sudo"
        $SUDO systemctl disable --now pdns.service >/dev/null 2>&1 || true
    fi
    ;;
esac
