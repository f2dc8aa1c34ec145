#!/usr/bin/python3
"""Progress meters of zk's long commands (TAP).

Usage: progress.py ZK_BINARY

rm -r, ls -R, dump, restore, zip and unzip run on the in-memory fake
(and, when $ZKC_TEST_ZK names a server, rm -r and restore on it too),
with stderr on a pseudo-terminal (raw: the bytes as zk wrote them), on a
pipe, with --quiet and with --progress.  On the terminal, the final
redraw and the summary carry the right counts, and what the terminal
shows at the end (\\r and \\n played out) is exactly what the same
command writes to a pipe plus the summary line: the meter's line was
cleared before every message.  On a pipe nothing is added (the golden
tests' outputs stay as they were); --quiet adds nothing on a terminal;
--progress on a pipe adds the summary and no redraws.
"""
import fcntl
import json
import os
import re
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import time
import tty
import zipfile

ZK = os.path.abspath(sys.argv[1])
WORK = tempfile.mkdtemp(prefix="zk-progress.")
SERVER = os.environ.get("ZKC_TEST_ZK", "")
ROOT = "/zkprogress-%d" % os.getpid()

# /p, 40 children with 25 children each.
KIDS, GRANDKIDS = 40, 25
DESC = KIDS + KIDS * GRANDKIDS  # nodes under /p
ALL = DESC + 1  # /p included

n = 0
failed = 0


def ok(cond, what, detail=None):
    global n, failed
    n += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", n, what))
    if not cond:
        failed += 1
        if detail is not None:
            for line in str(detail).splitlines()[:40]:
                print("#   " + line)
    sys.stdout.flush()
    return cond


def run(args, on_tty=False, cols=200):
    """Run zk; stderr on a raw pseudo-terminal cols wide, or a pipe.
    Returns (exit status, stdout bytes, stderr bytes)."""
    out = tempfile.TemporaryFile(dir=WORK)
    if not on_tty:
        p = subprocess.run([ZK] + args, stdin=subprocess.DEVNULL, stdout=out,
                           stderr=subprocess.PIPE, timeout=300)
        out.seek(0)
        return p.returncode, out.read(), p.stderr
    master, slave = os.openpty()
    tty.setraw(slave)  # no \n -> \r\n: the bytes as written
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
    p = subprocess.Popen([ZK] + args, stdin=subprocess.DEVNULL, stdout=out, stderr=slave)
    os.close(slave)
    err = b""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 1.0)
        if not r:
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: zk, the last writer, is gone
            break
        if not chunk:
            break
        err += chunk
    else:
        p.kill()
    rc = p.wait()
    os.close(master)
    out.seek(0)
    return rc, out.read(), err


def screen(raw):
    """The lines a terminal shows after raw: \\r back to column 0,
    \\n to a new line, characters overwrite."""
    lines, cur, col = [], [], 0
    for ch in raw.decode("utf-8", "replace"):
        if ch == "\r":
            col = 0
        elif ch == "\n":
            lines.append("".join(cur).rstrip())
            cur, col = [], 0
        else:
            if col < len(cur):
                cur[col] = ch
            else:
                cur.append(ch)
            col += 1
    if "".join(cur).strip():
        lines.append("".join(cur).rstrip())
    return lines


def frames(raw):
    """Every frame drawn in place: what follows a \\r up to the next
    \\r (which starts a redraw or the clearing), when it starts with
    "zk: "."""
    text = raw.decode("utf-8", "replace")
    return [f.rstrip(" ") for f in re.findall(r"\r(zk: [^\r\n]*)(?=\r)", text)]


def fake(name):
    """A fresh copy of the tree, and the arguments that use it."""
    path = os.path.join(WORK, name + ".json")
    shutil.copy(TREE, path)
    return ["--fake", path, "--fake-save", path]


def summary_re(label, count, verb):
    return re.compile(r"zk: %s: %d nodes? %s in [0-9]+\.[0-9] s$" %
                      (re.escape(label), count, re.escape(verb)))


def check_tty(name, args, label, count, verb, final, pipe_err=b""):
    """args run with stderr on a terminal: exit 0, the final redraw
    matches final (a regex, or None), the screen is the pipe's stderr
    plus the summary.  Returns (status, stdout)."""
    rc, out, err = run(args, on_tty=True)
    shown = screen(err)
    ok(rc == (1 if pipe_err else 0), "%s on a terminal: exit status" % name, err)
    fr = frames(err)
    if final is not None:
        ok(len(fr) > 0 and re.fullmatch(final, fr[-1]) is not None,
           "%s on a terminal: final redraw %s" % (name, final), fr[-3:])
    ok(len(shown) > 0 and summary_re(label, count, verb).match(shown[-1]) is not None,
       "%s on a terminal: summary '%s: %d nodes %s'" % (name, label, count, verb), shown)
    ok(shown[:-1] == pipe_err.decode().splitlines(),
       "%s on a terminal: the line cleared before other messages and at the end" % name,
       "screen: %r\nraw: %r" % (shown, err[-600:]))
    return rc, out


def check_pipe(name, args, want_err=b""):
    rc, out, err = run(args)
    ok(err == want_err, "%s on a pipe: nothing on stderr but its own messages" % name, err)
    return rc, out, err


def main():
    global TREE
    tree = {"/p": "root"}
    for i in range(KIDS):
        tree["/p/c%02d" % i] = "kid %d" % i
        for j in range(GRANDKIDS):
            tree["/p/c%02d/n%02d" % (i, j)] = "x" * (j + 1)
    TREE = os.path.join(WORK, "tree.json")
    with open(TREE, "w") as f:
        json.dump(tree, f)
    dump = os.path.join(WORK, "p.dump")
    archive = os.path.join(WORK, "p.zip")
    rc, _, err = run(["--quiet", "--fake", TREE, "dump", "-o", dump, "/p"])
    ok(rc == 0 and err == b"", "dump for the restores made, quietly", err)
    rc, _, err = run(["--quiet", "--fake", TREE, "zip", "/p", archive])
    ok(rc == 0 and err == b"", "zip for the unzips made, quietly", err)

    # Each command: on a pipe (nothing added), then on a terminal.
    cmds = [
        # name, args after the connection, label, count, verb, final redraw
        ("ls -R", ["ls", "-R", "/p"], "ls -R /p", DESC, "listed",
         r"zk: ls -R /p: %d nodes listed.*" % DESC),
        ("rm -r", ["rm", "-r", "/p"], "rm -r /p", ALL, "deleted",
         r"zk: rm -r /p: %d/%d nodes deleted \(100%%\).*" % (ALL, ALL)),
        ("dump", ["dump", "/p"], "dump /p", ALL, "dumped",
         r"zk: dump /p: %d/%d nodes written \(100%%\).*" % (ALL, ALL)),
        ("restore", ["restore", dump, "/q"], "restore %s /q" % dump, ALL, "restored",
         r"zk: restore %s /q: %d/%d nodes written \(100%%\).*" % (re.escape(dump), ALL, ALL)),
        ("zip", ["zip", "/p", os.path.join(WORK, "t.zip")],
         "zip /p %s" % os.path.join(WORK, "t.zip"), ALL, "archived",
         r"zk: zip /p \S+: [0-9]+/%d nodes archived.*" % ALL),
        ("unzip", ["unzip", archive, "/u"], "unzip %s /u" % archive, ALL, "unzipped",
         r"zk: unzip \S+ /u: %d/%d nodes written \(100%%\).*" % (ALL, ALL)),
    ]
    def lines_under(state, path):
        rc, out, _ = run(state[:2] + ["ls", "-R", path])
        return len(out.splitlines()) if rc == 0 else -1

    # What each command did, seen after its run on the terminal.
    did = {
        "ls -R": lambda st, out: len(out.splitlines()) == DESC,
        "rm -r": lambda st, out: run(st[:2] + ["stat", "/p"])[0] == 1,
        "dump": lambda st, out: len(json.loads(out)["nodes"]) == ALL,
        "restore": lambda st, out: lines_under(st, "/q") == DESC,
        "zip": lambda st, out: len(zipfile.ZipFile(os.path.join(WORK, "t.zip")).namelist()) == ALL,
        "unzip": lambda st, out: lines_under(st, "/u/p") == DESC,
    }
    for name, args, label, count, verb, final in cmds:
        _, pipe_out, _ = check_pipe(name, fake("pipe") + args)
        state = fake("tty")
        _, tty_out = check_tty(name, state + args, label, count, verb, final)
        ok(tty_out == pipe_out, "%s on a terminal: the same standard output" % name)
        ok(did[name](state, tty_out), "%s on a terminal: done" % name)
        # --quiet, as the command's option and as a global one.
        sub = args[:1] + ["--quiet"] + args[1:]
        for how, a in (("the command's", fake("q1") + sub), ("global", ["--quiet"] + fake("q2") + args)):
            rc, out, err = run(a, on_tty=True)
            ok(rc == 0 and err == b"" and out == pipe_out,
               "%s --quiet (%s option) on a terminal: nothing on stderr" % (name, how), err)
        # --progress on a pipe: the summary, no redraws.
        rc, out, err = run(fake("pp") + args[:1] + ["--progress"] + args[1:])
        lines = err.decode().splitlines()
        ok(rc == 0 and b"\r" not in err and len(lines) == 1 and
           summary_re(label, count, verb).match(lines[0]) is not None,
           "%s --progress on a pipe: the summary alone" % name, err)

    # The last of --quiet and --progress wins.
    rc, _, err = run(["--quiet"] + fake("last") + ["rm", "-r", "--progress", "/p"])
    ok(summary_re("rm -r /p", ALL, "deleted").match(err.decode()) is not None,
       "--quiet then --progress: the summary", err)
    rc, _, err = run(["--progress"] + fake("last2") + ["rm", "-r", "--quiet", "/p"])
    ok(err == b"", "--progress then --quiet: nothing", err)

    # A message in the middle: the screen shows it whole, then the summary.
    args = fake("err") + ["ls", "-R", "/p", "/nope"]
    rc, pipe_out, pipe_err = run(args)
    ok(rc == 1 and pipe_err.startswith(b"zk ls: /nope: "), "ls -R of a missing path fails",
       pipe_err)
    check_tty("ls -R /p /nope", fake("err") + ["ls", "-R", "/p", "/nope"], "ls -R /p /nope",
              DESC, "listed", None, pipe_err=pipe_err)
    args = fake("rmerr") + ["rm", "-r", "/p/c00", "/nope", "/p/c01"]
    _, _, pipe_err = run(args)
    check_tty("rm -r with a missing path", fake("rmerr") + args[4:], "rm -r /p/c00 /nope /p/c01",
              2 * (GRANDKIDS + 1), "deleted", None, pipe_err=pipe_err)

    # Narrow terminals: every frame fits the width, less one column.
    for cols in (30, 60):
        rc, _, err = run(fake("narrow") + ["rm", "-r", "/p"], on_tty=True, cols=cols)
        fr = frames(err)
        ok(rc == 0 and len(fr) > 0 and all(len(f) <= cols - 1 for f in fr),
           "rm -r, %d columns: frames of at most %d columns" % (cols, cols - 1), fr[-3:])
    # A long label is shortened from the left, the counts kept.
    many = ["/p/c%02d" % i for i in range(20)]
    rc, _, err = run(fake("long") + ["ls", "-R"] + many, on_tty=True, cols=80)
    fr = frames(err)
    ok(rc == 0 and len(fr) > 0 and all(len(f) <= 79 for f in fr) and
       re.fullmatch(r"zk: \.\.\..*/p/c19: %d nodes listed.*" % (20 * GRANDKIDS), fr[-1]),
       "ls -R of 20 paths, 80 columns: the label shortened, the counts whole", fr[-3:])

    # A real server: restore, then rm -r (batches of multi) on a terminal.
    if SERVER:
        srv = ["--server", SERVER]
        run(srv + ["--quiet", "rm", "-r", "-f", ROOT])
        try:
            check_tty("restore (server)", srv + ["restore", "--no-acl", dump, ROOT],
                      "restore %s %s" % (dump, ROOT), ALL, "restored",
                      r"zk: restore .*: %d/%d nodes written \(100%%\).*" % (ALL, ALL))
            check_tty("ls -R (server)", srv + ["ls", "-R", ROOT], "ls -R " + ROOT, DESC,
                      "listed", r"zk: ls -R \S+: %d nodes listed.*" % DESC)
            check_tty("rm -r (server)", srv + ["rm", "-r", ROOT], "rm -r " + ROOT, ALL,
                      "deleted", r"zk: rm -r \S+: %d/%d nodes deleted \(100%%\).*" % (ALL, ALL))
            rc, _, _ = run(srv + ["stat", ROOT])
            ok(rc == 1, "rm -r (server) deleted the tree")
        finally:
            run(srv + ["--quiet", "rm", "-r", "-f", ROOT])
    else:
        ok(True, "server cases # SKIP no server (set ZKC_TEST_ZK=host:port)")

    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
