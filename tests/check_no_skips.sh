#!/bin/sh
# Static checks of the build (TAP): nothing is built or tested only when
# it happens to be there.  Every meson.build lists its files and finds
# its programs and dependencies as required (no fs.exists, no
# "required : false", no is_variable guards), and no source has a
# ZK_HAVE_* branch: a missing file or package is a configure error, not
# a suite that shrinks silently.
#
# Usage: check_no_skips.sh SOURCE_ROOT
set -u
root=$1
. "$(dirname "$0")/tap_check.sh"
builds=$(find "$root" -name meson.build -not -path '*/build*/*' | sort)
sources=$(find "$root/src" "$root/fuzz" "$root/tests" -name '*.[ch]' | sort)
# shellcheck disable=SC2086
check "no fs.exists in meson.build" "$(grep -n 'fs\.exists' $builds)"
# shellcheck disable=SC2086
check "no optional dependency or program" "$(grep -nE 'required *: *false' $builds)"
# shellcheck disable=SC2086
check "no is_variable guard" "$(grep -n 'is_variable' $builds)"
# shellcheck disable=SC2086
check "no ZK_HAVE_* branch" "$(grep -n 'ZK_HAVE_' $sources $builds "$root/fuzz/build.sh")"
tap_end
