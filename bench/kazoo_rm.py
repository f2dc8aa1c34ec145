#!/usr/bin/python3
"""Delete a tree with kazoo, the way kazoo users do (delete(recursive=True)),
and print "<seconds> <count>" like bench_zk (count: the nodes that were
under ROOT, counted before the clock starts)."""
import sys
import time

from kazoo.client import KazooClient


def main():
    addr, root = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    zk = KazooClient(hosts=addr)
    zk.start()
    t0 = time.monotonic()
    zk.delete(root, recursive=True)
    t = time.monotonic() - t0
    if zk.exists(root):
        sys.exit("kazoo_rm: %s still exists" % root)
    print(f"{t:.6f} {count}")
    zk.stop()
    zk.close()


if __name__ == "__main__":
    main()
