#!/usr/bin/python3
"""A TCP proxy to a ZooKeeper server that goes silent on cue.

Usage: cutproxy.py HOST:PORT MIN_BYTES

Listens on a free loopback port and prints it.  The first client
connection is relayed both ways until the server has sent one reply
frame (ZooKeeper frames are a 4-byte big-endian length and a body) of
at least MIN_BYTES: that frame is delivered, and from then on nothing
more reaches the client, as if the server had stopped.  Later
connections are accepted and closed at once, as a stopped server's
port would refuse them.  Stops when its standard input closes.
"""
import select
import socket
import struct
import sys
import threading


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    min_bytes = int(sys.argv[2])
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)
    print(lsock.getsockname()[1], flush=True)
    state = {"first": True}

    def relay(client):
        server = socket.create_connection((host, int(port)))
        buf = b""
        cut = False
        socks = [client, server]
        while True:
            r, _, _ = select.select(socks, [], [])
            if client in r:
                d = client.recv(65536)
                if not d:
                    break
                server.sendall(d)
            if server in r:
                d = server.recv(65536)
                if not d:
                    break
                if cut:
                    continue
                buf += d
                out = b""
                while len(buf) >= 4:
                    n = struct.unpack(">i", buf[:4])[0]
                    if len(buf) < 4 + n:
                        break
                    out += buf[:4 + n]
                    buf = buf[4 + n:]
                    if n >= min_bytes:
                        cut = True
                        break
                client.sendall(out)
        client.close()
        server.close()

    def accept():
        while True:
            c, _ = lsock.accept()
            if state["first"]:
                state["first"] = False
                threading.Thread(target=relay, args=(c,), daemon=True).start()
            else:
                c.close()

    threading.Thread(target=accept, daemon=True).start()
    sys.stdin.read()


main()
