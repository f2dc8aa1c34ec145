#!/bin/bash
# The bash completion of zk (contrib/zk.bash-completion): sourced into this
# shell, fed command lines through COMP_WORDS, COMPREPLY checked.  Paths
# come from the in-memory fake (zk --fake tree.json), so no server.
# Usage: run.sh COMPLETION-FILE ZK-BINARY TREE.json   (TAP on stdout)
set -u
comp="$1"
zkbin="$2"
tree="$3"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The completion calls `zk` by name: the one under test.
ln -s "$(cd "$(dirname "$zkbin")" && pwd)/$(basename "$zkbin")" "$tmp/zk"
PATH="$tmp:$PATH"
# The plain fallback of the completion (no bash-completion's helpers), as
# the test must not depend on that package; compopt needs a completion
# context, so it is stubbed.
unset -f _init_completion 2>/dev/null
# shellcheck disable=SC2317
compopt() { :; }
# shellcheck disable=SC1090
. "$comp"

n=0
fail=0
# check "LINE" EXPECTED...: complete the last word of LINE (a trailing space
# means an empty word), COMPREPLY sorted must equal EXPECTED.
check() {
    local line="$1"
    shift
    read -r -a COMP_WORDS <<<"$line"
    [[ "$line" == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE="$line"
    COMP_POINT=${#line}
    COMPREPLY=()
    _zk
    local got want
    got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ')
    want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
    n=$((n + 1))
    if [ "$got" = "$want" ]; then
        echo "ok $n - '$line'"
    else
        echo "not ok $n - '$line': got [$got], want [$want]"
        fail=1
    fi
}

check "zk l" ls
check "zk zkns-" zkns-set zkns-resolve
check "zk --con" --config --connect-timeout
check "zk --fake $tree --sess" --session-timeout
check "zk rm -" -r -f --quiet --progress
check "zk ls --j" --json
check "zk --pro" --progress
check "zk dump --q" --quiet
check "zk help wa" wait watch
check "zk --fake $tree ls /zk/" /zk/global/ /zk/nyc/ /zk/sfo/
check "zk --fake $tree cat /zk/nyc/vt/t" /zk/nyc/vt/tablets/
check "zk --fake $tree ls -l /zk/nyc/vt/tablets/000" \
    /zk/nyc/vt/tablets/0001 /zk/nyc/vt/tablets/0002 /zk/nyc/vt/tablets/0003
# No server, no answer: nothing, quietly.
check "zk --fake $tmp/missing.json ls /zk/" ""
check "zk wait -" -e -t --timeout --ready-fd
check "zk zkns-set --" --file --ttl --version --json

# Commands and options come from the help texts: a zk with a command and a
# global option this file has never heard of.
mkdir "$tmp/stub"
cat >"$tmp/stub/zk" <<'STUB'
#!/bin/sh
case "$1" in
--help) printf '%s\n' "Usage: zk [OPTIONS] COMMAND" "" "Commands:" \
    "  ls frob frobnicate     things" "  help [COMMAND]         this text" "" \
    "Options:" "  -q, --quorums LIST   the quorums" "      --raw | --escape   data" \
    "  -h, --help   this text" "" ;;
help) [ "$2" = frob ] && printf '%s\n' "Usage: zk frob [-x] PATH" "" "Frob." \
    "  -x, --extra N   more" "  --json    JSON" ;;
esac
STUB
chmod +x "$tmp/stub/zk"
PATH="$tmp/stub:$PATH"
_zk_loaded=""
check "zk fr" frob frobnicate
check "zk --quorums a;b fr" frob frobnicate
check "zk -q a;b frob --" --extra --json
check "zk --e" --escape
echo "1..$n"
exit $fail
