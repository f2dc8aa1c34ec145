#!/bin/sh
# Install the Debian packages zkcell needs to build and test, when any is
# missing.  Quiet when everything is there; needs root (or sudo) otherwise.
set -eu
PKGS="gcc make pkg-config meson ninja-build clang libclang-rt-14-dev
libzookeeper-mt-dev libjansson-dev libcmocka-dev libbson-dev libuv1-dev libzip-dev
nettle-dev groff-base
zookeeper zookeeper-bin libslf4j-java default-jre-headless
python3 python3-kazoo python3-bson
pdns-server pdns-backend-pipe pdns-backend-bind dnsutils dnsperf"
missing=""
for p in $PKGS; do
    s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$s" = installed ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing" >&2
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
# pdns-server enables a system service on port 53 where systemd runs;
# the tests start their own pdns_server on a free loopback port instead.
case " $missing " in
*" pdns-server "*)
    if [ -d /run/systemd/system ]; then
        $SUDO systemctl disable --now pdns.service >/dev/null 2>&1 || true
    fi
    ;;
esac
