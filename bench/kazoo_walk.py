#!/usr/bin/python3
"""Walk a tree with kazoo, the way kazoo users do (recursive get_children),
and print "<seconds> <count>" like bench_zk."""
import sys
import time

from kazoo.client import KazooClient


def walk(zk, path):
    n = 0
    for child in zk.get_children(path):
        p = path.rstrip("/") + "/" + child
        n += 1 + walk(zk, p)
    return n


def main():
    addr, root = sys.argv[1], sys.argv[2]
    zk = KazooClient(hosts=addr)
    zk.start()
    t0 = time.monotonic()
    n = walk(zk, root)
    print(f"{time.monotonic() - t0:.6f} {n}")
    zk.stop()


if __name__ == "__main__":
    main()
