#!/bin/sh
# Static checks of the sources (TAP): every descriptor is opened
# close-on-exec (fopen mode "e", O_CLOEXEC, SOCK_CLOEXEC, EFD_CLOEXEC,
# accept4, pipe2, mkostemp), so that no command a program starts inherits
# one; and the library, whose code may run on its own threads, uses
# strerror_r, never strerror.
#
# Usage: check_fds.sh SRC_DIR
set -u
src=$1
. "$(dirname "$0")/tap_check.sh"
files=$(find "$src" -name '*.c' | sort)
lib=$(echo "$files" | grep "/lib/")
# shellcheck disable=SC2086
check "fopen modes carry 'e'" "$(grep -nE '\bfopen(64)?\([^;]*"[^"]*"\)' $files |
    grep -vE 'fopen(64)?\([^;]*"[rwa]b?\+?b?e')"
# shellcheck disable=SC2086
check "open() with O_CLOEXEC" "$(grep -nE '\b(open|openat|open64)\([^;]*O_(RDONLY|WRONLY|RDWR)' $files |
    grep -v O_CLOEXEC)"
# shellcheck disable=SC2086
check "sockets with SOCK_CLOEXEC" "$(grep -nE '\b(socket|socketpair)\(' $files | grep -v SOCK_CLOEXEC)"
# shellcheck disable=SC2086
check "eventfd with EFD_CLOEXEC" "$(grep -nE '\beventfd\(' $files | grep -v EFD_CLOEXEC)"
# shellcheck disable=SC2086
check "no accept, pipe, mkstemp, creat, dup, popen, tmpfile (accept4, pipe2, mkostemp)" \
    "$(grep -nE '\b(accept|pipe|mkstemp|creat|dup|popen|tmpfile)\(' $files)"
# shellcheck disable=SC2086
check "the library uses strerror_r, not strerror" "$(grep -nE '(^|[^_a-z])strerror\(' $lib)"
tap_end
