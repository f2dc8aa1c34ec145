#!/usr/bin/python3
"""Count ThreadSanitizer reports per test in a meson test log (make tsan):
one line per test that had any, then the total."""
import json
import re
import sys

total = 0
for log in sys.argv[1:]:
    with open(log) as f:
        for line in f:
            t = json.loads(line)
            out = t.get("stdout", "") + t.get("stderr", "")
            n = len(re.findall(r"SUMMARY: ThreadSanitizer", out))
            if n:
                print(f"tsan: {t['name']}: {n} report(s)")
            total += n
print(f"tsan: {total} report(s)")
