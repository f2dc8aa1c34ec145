#!/usr/bin/python3
"""zk through zkocc prints what zk straight from ZooKeeper prints.

Usage: test_zk_zkocc.py ZK_BINARY ZKOCC_BINARY

Against the server of ZKC_TEST_ZK (skipped without it): kazoo writes a
small tree under /zk/c1/, a zkocc daemon of our own (free loopback port,
stopped by its PID) serves cell c1 from that server, and each of `zk cat`,
`zk ls -l`, `zk stat` (and a few variants) runs twice, `--server ZK` and
`--zkocc ADDR` (once as the original's `--zk.zkocc-addr`, once through the
cells with `--use-zkocc`): same output, same exit status; for `zk stat`
the same but for the ACL entries, which the zkocc wire does not carry (zk
says "not available" in their place).  Writes through
zkocc fail cleanly.  TAP output; no timing in the assertions.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

DEADLINE = 60
ZK, ZKOCC = sys.argv[1], sys.argv[2]
results = []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def healthy(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        data = s.recv(100)
        s.close()
        return b" 200 " in data.split(b"\r\n")[0]
    except OSError:
        return False


def run(args):
    env = dict(os.environ)
    env["TZ"] = "UTC"
    r = subprocess.run([ZK, "--raw"] + args, capture_output=True, env=env, timeout=DEADLINE)
    return r.returncode, r.stdout, r.stderr


def drop_acl(out):
    """A stat listing without its ACL entries (zkocc serves no ACLs)."""
    lines, skip = [], False
    for line in out.split(b"\n"):
        if skip and line.startswith(b" "):
            continue
        skip = line == b"ACL:"
        lines.append(line)
    return b"\n".join(lines)


def ok(cond, name, detail=""):
    results.append((bool(cond), name, detail))


def main():
    servers = os.environ.get("ZKC_TEST_ZK", "")
    if not servers:
        print("1..0 # SKIP ZKC_TEST_ZK is not set")
        return 0
    from kazoo.client import KazooClient
    k = KazooClient(hosts=servers, timeout=30)
    k.start(timeout=30)
    root = "/zk/c1/zk-zkocc-%d" % os.getpid()
    k.ensure_path(root)
    k.create(root + "/a", b"hello\n")
    k.create(root + "/bin", b"\x00\xffbin")
    k.create(root + "/empty", b"")
    k.create(root + "/dir", b"")
    for n in ("x", "y", "z"):
        k.create(root + "/dir/" + n, n.encode())
    k.create(root + "/both", b"data")
    k.create(root + "/both/c", b"")
    k.create(root + "/eph", b"e", ephemeral=True)
    k.set(root + "/a", b"hello again\n")  # version 1, mtime != ctime

    tmp = tempfile.mkdtemp(prefix="zk-zkocc.")
    cfg = os.path.join(tmp, "zk_client.json")
    with open(cfg, "w") as f:
        json.dump({"c1": servers}, f)
    port = free_port()
    log = open(os.path.join(tmp, "zkocc.log"), "w")
    d = subprocess.Popen([ZKOCC, "--port", str(port), "--config", cfg],
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        end = time.monotonic() + DEADLINE
        while not healthy(port) and time.monotonic() < end and d.poll() is None:
            time.sleep(0.05)
        if not healthy(port):
            print("1..1\nnot ok 1 - zkocc did not start (%s)" % open(log.name).read())
            return 1
        addr = "127.0.0.1:%d" % port
        cases = [
            ["cat", root + "/a"],
            ["cat", root + "/bin"],
            ["cat", "-l", root + "/a", root + "/empty", root + "/both"],
            ["cat", root + "/missing"],
            ["cat", "-f", root + "/missing", root + "/a"],
            ["ls", root],
            ["ls", "-l", root],
            ["ls", "-l", root + "/dir", root + "/a"],
            ["ls", "-l", "-d", root + "/dir"],
            ["ls", "-l", "-R", root],
            ["ls", "-l", root + "/missing"],
            ["ls", "-l", root + "/*"],
            ["stat", root + "/a"],
            ["stat", root + "/dir", root + "/eph", root + "/both"],
            ["stat", root + "/missing"],
            ["tree", root],
            ["find", root],
            ["du", root],
        ]
        for c in cases:
            want = run(["--server", servers] + c)
            got = run(["--zkocc", addr] + c)
            if c[0] == "stat":
                # Everything but the ACL entries, which the zkocc wire does
                # not carry: zk says so in their place.
                ok(got[0] != 0 or got[1].count(b" (not available through this connection)\n")
                   == got[1].count(b"ACL:\n"), "zk %s: the ACL is said to be unavailable"
                   % " ".join(c).replace(root, "ROOT"), repr(got))
                want = (want[0], drop_acl(want[1]))
                got = (got[0], drop_acl(got[1]), got[2])
            name = "zk %s: --zkocc prints as --server" % " ".join(c).replace(root, "ROOT")
            ok(want[0] == got[0] and want[1] == got[1] and (want[0] != 0 or want[1] != b""),
               name, "direct %r %r\nzkocc  %r %r %r" % (want[0], want[1], got[0], got[1],
                                                       got[2]))
        # The original's flag, and the cells routed through zkocc.
        want = run(["--server", servers, "ls", "-l", root])
        got = run(["--zk.zkocc-addr=" + addr, "ls", "-l", root])
        ok(want[:2] == got[:2], "--zk.zkocc-addr is --zkocc", repr(got))
        cfg2 = os.path.join(tmp, "zk_client_zkocc.json")
        with open(cfg2, "w") as f:
            # c1's quorum is dead: only the zkocc route can answer.
            json.dump({"c1": "127.0.0.1:1", "c1:_zkocc": addr}, f)
        got = run(["--use-zkocc", "--config", cfg2, "ls", "-l", root])
        ok(want[:2] == got[:2], "--use-zkocc routes the cells through c1:_zkocc", repr(got))
        got = run(["--use-zkocc", "--config", cfg2, "cat", root + "/a"])
        ok(got[0] == 0 and got[1] == b"hello again\n", "--use-zkocc cat", repr(got))
        # Writes through zkocc fail with a message, never a crash.
        got = run(["--zkocc", addr, "touch", root + "/new"])
        ok(got[0] == 1 and b"not implemented" in got[2] and not k.exists(root + "/new"),
           "zk touch through zkocc fails cleanly", repr(got))
        got = run(["--zkocc", addr, "--server", servers, "ls", root])
        ok(got[0] == 2, "--zkocc with --server is a usage error", repr(got))
        got = run(["--zkocc", "127.0.0.1:%d" % free_port(), "cat", root + "/a"])
        ok(got[0] == 1 and b"zkocc connect failed" in got[2], "a dead zkocc: exit 1",
           repr(got))
    finally:
        d.send_signal(signal.SIGTERM)
        try:
            d.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            d.kill()
            d.wait()
        log.close()
        for child in sorted(k.get_children(root)):
            for g in k.get_children(root + "/" + child):
                k.delete(root + "/" + child + "/" + g)
            k.delete(root + "/" + child)
        k.delete(root)
        k.stop()
        k.close()
    print("1..%d" % len(results))
    failed = 0
    for i, (good, name, detail) in enumerate(results, 1):
        print("%s %d - %s" % ("ok" if good else "not ok", i, name))
        if not good:
            failed += 1
            for line in detail.splitlines():
                print("# " + line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
