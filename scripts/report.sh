#!/bin/sh
# Print the failing tests' logs (if any) and the one-line summary of both
# builds.  Exit status 1 when anything failed.
set -u
status=0
for b in "$@"; do
    log="$b/meson-logs/testlog.json"
    if [ ! -f "$log" ]; then
        echo "report: no test log in $b" >&2
        status=1
        continue
    fi
    /usr/bin/python3 - "$log" "$b" <<'PY'
import json, sys
log, build = sys.argv[1], sys.argv[2]
for line in open(log):
    t = json.loads(line)
    out = t.get("stdout", "")
    bad = [l for l in out.splitlines() if l.startswith("not ok")]
    if t["result"] not in ("OK", "SKIP", "EXPECTEDFAIL") or bad:
        print(f"--- FAIL [{build}] {t['name']} ({t['result']})", file=sys.stderr)
        tail = (out + t.get("stderr", "")).splitlines()[-60:]
        print("\n".join(tail), file=sys.stderr)
PY
done
logs=""
for b in "$@"; do [ -f "$b/meson-logs/testlog.json" ] && logs="$logs $b/meson-logs/testlog.json"; done
# shellcheck disable=SC2086
/usr/bin/python3 "$(dirname "$0")/summarize.py" $logs || status=1
exit $status
