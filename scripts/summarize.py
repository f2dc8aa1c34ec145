#!/usr/bin/python3
"""Count individual test results in meson test logs (TAP subtests count
one each, other tests one each) and print 'N passed, N failed'."""
import json
import re
import sys

passed = failed = skipped = 0
for log in sys.argv[1:]:
    with open(log) as f:
        for line in f:
            t = json.loads(line)
            if t.get("protocol") == "tap" or re.search(r"^1\.\.\d+", t.get("stdout", ""), re.M):
                out = t.get("stdout", "")
                ok = nok = sk = 0
                for l in out.splitlines():
                    if re.match(r"^ok\b", l):
                        if re.search(r"#\s*skip", l, re.I):
                            sk += 1
                        else:
                            ok += 1
                    elif re.match(r"^not ok\b", l):
                        if re.search(r"#\s*todo", l, re.I):
                            sk += 1
                        else:
                            nok += 1
                if t["result"] not in ("OK", "SKIP", "EXPECTEDFAIL") and nok == 0:
                    nok = 1  # crashed or timed out without saying which subtest
                passed += ok
                failed += nok
                skipped += sk
            else:
                if t["result"] in ("OK", "EXPECTEDFAIL"):
                    passed += 1
                elif t["result"] == "SKIP":
                    skipped += 1
                else:
                    failed += 1
extra = f" ({skipped} skipped)" if skipped else ""
print(f"{passed} passed, {failed} failed{extra}")
sys.exit(1 if failed else 0)
