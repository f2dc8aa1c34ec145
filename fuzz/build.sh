#!/bin/sh
# fuzz/build.sh: build the libFuzzer binaries of every fuzz/fuzz_<name>.c
# with clang (-fsanitize=fuzzer,address,undefined) into OUTDIR, and
# optionally run each for SECONDS seconds, merging the new inputs worth
# keeping into fuzz/corpus/<name>/ (libFuzzer -merge=1 -use_counters=0:
# only inputs that reach new edges, so the corpus stays small).
#
#   fuzz/build.sh OUTDIR                      build only
#   fuzz/build.sh OUTDIR SECONDS [NAME...]    build, then run NAME (all by default)
#
# Each run prints libFuzzer's "Done N runs in S second(s)" line.  A crash
# leaves its input in OUTDIR/<name>/ and makes the script exit non-zero.
set -eu

usage() { echo "usage: $0 OUTDIR [SECONDS [NAME...]]" >&2; exit 2; }
[ $# -ge 1 ] || usage
OUT=$1; shift
SECONDS_EACH=0
if [ $# -ge 1 ]; then SECONDS_EACH=$1; shift; fi
case $SECONDS_EACH in *[!0-9]*|'') usage ;; esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CC=${CC_FUZZ:-clang}
CFLAGS="-g -O1 -fno-omit-frame-pointer -std=c11 -D_GNU_SOURCE -DTHREADED -I$ROOT/include -I$ROOT/src/lib $(pkg-config --cflags libbson-1.0)"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
LIBS="-lzookeeper_mt -ljansson -lzip -lnettle -lbson-1.0 -lpthread"

command -v "$CC" >/dev/null || { echo "build.sh: $CC not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }
mkdir -p "$OUT/obj"
OUT=$(cd "$OUT" && pwd)

# The library, once, instrumented for coverage (fuzzer-no-link).
objs=""
# Every .c under src/lib, folders included.
for src in $(find "$ROOT/src/lib" -name '*.c' | sort); do
    obj="$OUT/obj/$(basename "$src" .c).o"
    if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find "$ROOT/include" -newer "$obj" -name '*.h')" ]; then
        $CC $CFLAGS $SAN -fsanitize=fuzzer-no-link -c "$src" -o "$obj"
    fi
    objs="$objs $obj"
done

names=""
for t in "$ROOT"/fuzz/fuzz_*.c; do
    [ -e "$t" ] || continue
    name=$(basename "$t" .c); name=${name#fuzz_}
    # A target that needs sources outside the library names them on a
    # line "fuzz-sources: path/a.c path/b.c" (relative to the top),
    # and the libraries it needs besides on "fuzz-libs: -lfoo".
    extra=""
    for e in $(sed -n 's/.*fuzz-sources: *//p' "$t"); do extra="$extra $ROOT/$e"; done
    xlibs=$(sed -n 's/.*fuzz-libs: *//p' "$t")
    $CC $CFLAGS $SAN -fsanitize=fuzzer "$t" $extra $objs $LIBS $xlibs -o "$OUT/fuzz_$name"
    echo "built $OUT/fuzz_$name"
    names="$names $name"
done

[ "$SECONDS_EACH" -gt 0 ] || exit 0
[ $# -eq 0 ] || names="$*"

status=0
for name in $names; do
    bin="$OUT/fuzz_$name"
    corpus="$ROOT/fuzz/corpus/$name"
    work="$OUT/$name"
    [ -x "$bin" ] || { echo "build.sh: no target $name" >&2; status=1; continue; }
    mkdir -p "$corpus" "$work/new"
    log="$work/run.log"
    # New inputs go to work/new; the seed corpus is only read.
    if "$bin" -max_total_time="$SECONDS_EACH" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/" "$work/new" "$corpus" >"$log" 2>&1; then
        :
    else
        echo "fuzz_$name: FAILED, see $log and $work/crash-*" >&2
        status=1
    fi
    runs=$(grep -E '^Done [0-9]+ runs' "$log" | tail -1)
    echo "fuzz_$name: ${runs:-no summary (see $log)}"
    before=$(find "$corpus" -type f | wc -l)
    # Keep only inputs that reach new edges (hit counts ignored), so the
    # corpus stays small enough to read and to replay in make check.
    "$bin" -merge=1 -use_counters=0 -max_len=4096 "$corpus" "$work/new" \
        >"$work/merge.log" 2>&1 || status=1
    after=$(find "$corpus" -type f | wc -l)
    echo "fuzz_$name: corpus $before -> $after files"
done
exit $status
