"""TAP for the Python tests: one numbered "ok" or "not ok" line a check
(a failing check's detail follows as "# " comments), the plan printed at
the end, and the exit status 1 when any check failed.

A test puts tests/ on sys.path and imports it:

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from tap import check, done
"""
import sys

_n = 0
_failed = 0


def check(name, ok, detail=""):
    """One test: ok when ok is true; detail is printed when it is not."""
    global _n, _failed
    _n += 1
    if ok:
        print(f"ok {_n} - {name}")
    else:
        _failed += 1
        print(f"not ok {_n} - {name}")
        for line in str(detail).splitlines():
            print(f"# {line}")


def skip(name, why):
    """One test skipped, saying why."""
    global _n
    _n += 1
    print(f"ok {_n} - {name} # SKIP {why}")


def done():
    """The plan ("1..N"), then exit: 1 when a check failed, else 0."""
    print(f"1..{_n}")
    sys.exit(1 if _failed else 0)
