#!/usr/bin/python3
"""interop_kazoo.py: the kazoo side of tests/integration/test_interop.c.

kazoo is a ZooKeeper client zkcell did not write; the C test uses it to
check that what one client writes the other reads exactly.  This script
only writes and describes; every comparison is made by the C test.

  interop_kazoo.py write HOSTS PREFIX SPEC OUT
      Create the nodes SPEC (JSON, written by the C test) lists under
      PREFIX, describe the tree under PREFIX into OUT, print "ready" and
      keep the session (and so its ephemeral nodes) until stdin closes.
  interop_kazoo.py read HOSTS PREFIX OUT
      Describe the tree under PREFIX into OUT and exit.

HOSTS may end in a chroot ("127.0.0.1:2181/some/root").  The session
authenticates with digest credentials (SPEC's "cred"; alice:secret by
default); a second, anonymous session records what it may read.  OUT is JSON:

  {"session_id": N, "anon_session_id": N, "created": [path, ...],
   "nodes": {path: {"data": hex, "null": bool, "stat": {11 fields},
                    "acl": [{"perms": P, "scheme": S, "id": I}, ...],
                    "children": [sorted names],
                    "anon_get": "ok" | error class name,
                    "anon_get_acl": "ok" | error class name}}}

Exit status: 0 success, 1 any failure (a traceback on stderr), 2 usage.
"""
import json
import os
import sys

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.security import ACL, Id

STAT_FIELDS = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion",
               "ephemeralOwner", "dataLength", "numChildren", "pzxid")
DEFAULT_CRED = "alice:secret"


def connect(hosts, cred):
    auth = [("digest", cred)] if cred else None
    zk = KazooClient(hosts=hosts, timeout=15.0, auth_data=auth)
    zk.start(timeout=15)
    return zk


def join(prefix, rel):
    return prefix if rel == "" else prefix + "/" + rel


def attempt(fn):
    try:
        fn()
        return "ok"
    except KazooException as e:
        return type(e).__name__


def describe_node(zk, anon, path):
    data, stat = zk.get(path)
    acl, _ = zk.get_acls(path)
    kids = sorted(zk.get_children(path))
    return {
        "data": (data or b"").hex(),
        "null": data is None,
        "stat": {f: getattr(stat, f) for f in STAT_FIELDS},
        "acl": [{"perms": a.perms, "scheme": a.id.scheme, "id": a.id.id} for a in acl],
        "children": kids,
        "anon_get": attempt(lambda: anon.get(path)),
        "anon_get_acl": attempt(lambda: anon.get_acls(path)),
    }


def describe_tree(zk, anon, prefix):
    nodes = {}
    todo = [prefix]
    while todo:
        path = todo.pop()
        d = describe_node(zk, anon, path)
        nodes[path] = d
        todo.extend(join(path, k) for k in d["children"])
    return nodes


def acl_of(entries):
    return [ACL(e["perms"], Id(e["scheme"], e["id"])) for e in entries]


def write_tree(zk, prefix, spec):
    created = []
    for n in spec["nodes"]:
        path = zk.create(join(prefix, n["path"]), bytes.fromhex(n["data"]),
                         acl=acl_of(n["acl"]), ephemeral=n["ephemeral"],
                         sequence=n["sequence"])
        created.append(path)
        for _ in range(n["sets"]):
            zk.set(path, bytes.fromhex(n["data"]))
        if n.get("set_acl") is not None:
            zk.set_acls(path, acl_of(n["set_acl"]))
    return created


def main(argv):
    if len(argv) == 6 and argv[1] == "write":
        _, mode, hosts, prefix, spec_file, out = argv
        with open(spec_file) as f:
            spec = json.load(f)
        cred = spec.get("cred", DEFAULT_CRED)
    elif len(argv) == 5 and argv[1] == "read":
        _, mode, hosts, prefix, out = argv
        spec, cred = None, DEFAULT_CRED
    else:
        sys.stderr.write(__doc__)
        return 2
    zk = connect(hosts, cred)
    anon = connect(hosts, None)
    try:
        created = write_tree(zk, prefix, spec) if spec is not None else []
        result = {
            "session_id": zk.client_id[0],
            "anon_session_id": anon.client_id[0],
            "created": created,
            "nodes": describe_tree(zk, anon, prefix),
        }
        with open(out + ".tmp", "w") as f:
            json.dump(result, f)
        os.rename(out + ".tmp", out)
        if mode == "write":
            print("ready", flush=True)
            sys.stdin.read()  # hold the session until the C test closes our stdin
    finally:
        zk.stop()
        zk.close()
        anon.stop()
        anon.close()
    print("closed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
