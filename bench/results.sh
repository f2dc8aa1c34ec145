# bench/results.sh: sourced by run.sh, zkocc.sh, zkocc_tree.sh and dns.sh.  Every
# measurement goes into one results file (tab-separated, one record a
# line); bench/report.py reads it and prints the console tables and writes
# bench/report.md.  The records (fields after the first):
#   meta     KEY VALUE                      machine, date, commit, versions, root
#                                           (the checkout: commands are shown below it)
#   setting  SCRIPT NAME VALUE DEFAULT      an environment setting of a script
#   section  ID TITLE                       a part of the report, in order
#   note     SECTION TEXT                   a line under that part's table
#   cmd      NAME COMMAND                   the exact command behind NAME's samples
#   sample   NAME A B [P50_US P99_US]       one run: "A seconds, B things" as the
#                                           bench programs print it
#   cpu      NAME USER SYS                  one run's client CPU seconds
#   row      SECTION LABEL METRIC OURS OTHER ROLE TARGET [EXPECT]
#            a table row: OURS against OTHER (sample names); METRIC rate
#            (B/A per s), s (A), ms (A in ms) or per (A/B); ROLE anchor or
#            limit; TARGET ">=X" or ">X" on the ratio, or words; EXPECT the
#            count every sample must have
#   handoffs NAME S,S,...                   one lock run's hand-offs, in seconds
#   plot     ID SECTION TITLE XLABEL YLABEL a plot in SECTION (gnuplot, report-ID.svg)
#   point    PLOT SERIES X NAME             a curve point: NAME's samples at X
#   pct      PLOT SERIES NAME               percentiles of NAME's hand-offs
# BENCH_TSV names the file: run.sh sets it for the others; a script run on
# its own makes one in its temporary directory (results_init DIR).

results_init() {
    if [ -z "${BENCH_TSV:-}" ]; then
        BENCH_TSV=$1/results.tsv
        : >"$BENCH_TSV"
    fi
    export BENCH_TSV
}

# record TYPE FIELD...: one record (fields must not hold tabs or newlines).
record() {
    local IFS=$'\t'
    printf '%s\n' "$*" >>"$BENCH_TSV"
}

# setting SCRIPT NAME DEFAULT: NAME from the environment (DEFAULT when
# unset or empty), set in this shell and recorded.
setting() {
    local script=$1 name=$2 def=$3
    local val=${!name:-$def}
    printf -v "$name" '%s' "$val"
    record setting "$script" "$name" "$val" "$def"
}

# record_cmd NAME CMD...: the command behind NAME, quoted as a shell would
# need it; recorded the first time only.
declare -A recorded_cmds=()
record_cmd() {
    local name=$1 q
    shift
    q=$(printf '%q ' "$@")
    record_cmd_text "$name" "${q% }"
}
# record_cmd_text NAME TEXT: the same, written out by the caller.
record_cmd_text() {
    [ -z "${recorded_cmds[$1]:-}" ] || return 0
    recorded_cmds[$1]=1
    record cmd "$1" "$2"
}

# timed NAME COUNT RUN CMD...: one run of CMD, timed around the whole
# command (process start included) as `RUN NAME CMD...` runs it (RUN is
# the caller's: it ends the script when CMD failed or did not do its
# COUNT things); the command recorded, and NAME's sample "<seconds> COUNT".
timed() {
    local name=$1 count=$2 run=$3 t0 t1
    shift 3
    record_cmd "$name" "$@"
    t0=$(date +%s%N)
    "$run" "$name" "$@"
    t1=$(date +%s%N)
    record sample "$name" "$(( (t1 - t0) / 1000 ))e-6" "$count"
}

# record_machine REPO: what the numbers depend on, taken before the
# servers start (the load average is the machine's, not ours).
record_machine() {
    local repo=$1 commit dirty
    record meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
    record meta root "$(cd "$repo" && pwd)"
    commit=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)
    # The report files themselves do not make the tree dirty.
    dirty=$(git -C "$repo" status --porcelain --untracked-files=no -- . ':(exclude)bench/report*' \
        2>/dev/null || true)
    [ -z "$dirty" ] || commit="$commit (with uncommitted changes)"
    record meta commit "$commit"
    record meta cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
    record meta cores "$(nproc)"
    record meta kernel "$(uname -sr)"
    record meta load "$(cut -d' ' -f1-3 /proc/loadavg)"
}

# package_version PKG: its Debian version, or "not installed".
package_version() {
    dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "not installed"
}
