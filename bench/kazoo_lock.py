#!/usr/bin/python3
"""Lock hand-off with kazoo's Lock recipe, measured like bench_zk zkc-lock:
WAITERS threads over CONNS KazooClients queue on one lock while a first
holder has it; then each takes it in turn and lets go at once.  Prints
"<median hand-off seconds> <hand-offs>", a hand-off being the time from
the holder's release call to the next holder's acquire returning, and
writes every hand-off (seconds, one a line, in order) to FILE if given.

Usage: kazoo_lock.py ADDR PATH [WAITERS] [CONNS] [FILE]"""
import statistics
import sys
import threading
import time

from kazoo.client import KazooClient


def main():
    addr, path = sys.argv[1], sys.argv[2]
    waiters = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    nconns = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    handoffs_path = sys.argv[5] if len(sys.argv) > 5 else None
    clients = [KazooClient(hosts=addr) for _ in range(nconns)]
    for c in clients:
        c.start()
    admin = KazooClient(hosts=addr)
    admin.start()

    mu = threading.Lock()
    state = {"last_release": 0.0}
    handoffs = []
    failed = []

    first = admin.Lock(path, "first")
    first.acquire()

    def waiter(i):
        lock = clients[i % nconns].Lock(path, "w%d" % i)
        try:
            if not lock.acquire(timeout=120):
                failed.append(i)
                return
        except Exception as e:  # noqa: BLE001 - report and count
            print("kazoo_lock: %r" % e, file=sys.stderr)
            failed.append(i)
            return
        t = time.monotonic()
        with mu:
            handoffs.append(t - state["last_release"])
            state["last_release"] = time.monotonic()
        lock.release()

    threads = [threading.Thread(target=waiter, args=(i,)) for i in range(waiters)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(admin.get_children(path)) < waiters + 1:
        if time.monotonic() > deadline:
            sys.exit("kazoo_lock: waiters did not queue")
        time.sleep(0.01)
    time.sleep(0.1)  # let the last waiters set their watches
    with mu:
        state["last_release"] = time.monotonic()
    first.release()
    for t in threads:
        t.join()
    if failed:
        sys.exit("kazoo_lock: %d waiters failed" % len(failed))
    if handoffs_path:
        with open(handoffs_path, "w") as f:
            f.writelines(f"{h:.6f}\n" for h in handoffs)
    print(f"{statistics.median(handoffs):.6f} {len(handoffs)}")
    for c in clients + [admin]:
        c.stop()
        c.close()


if __name__ == "__main__":
    main()
