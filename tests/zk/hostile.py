#!/usr/bin/python3
"""Hostile inputs for zk unzip and zk restore (tests/zk/cases.txt).

Usage: hostile.py KIND OUT

Zips are written by Python's zipfile module, then patched where zipfile
refuses to write the lie (a NUL in a name, a false size, a bad CRC).
Dumps are written as a person editing one by hand would.
"""
import json
import struct
import sys
import zipfile

VICTIM_ACL = [{"scheme": "digest", "id": "mallory:x", "perms": "rwdca"}]


def dump(out, root, nodes):
    with open(out, "w") as f:
        json.dump({"zkcell_dump": 1, "root": root, "nodes": nodes}, f)


def node(path, data="", acl=None):
    return {"path": path, "data": data,
            "acl": acl or [{"scheme": "world", "id": "anyone", "perms": "rwdca"}]}


def write_zip(out, entries, method=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(out, "w", method) as z:
        for name, data in entries:
            z.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data,
                       compress_type=method)


def patch_headers(out, fn):
    """Call fn(buf, off, kind) at each local (kind 'L') and central ('C')
    header, kind giving the field offsets, then write the bytes back."""
    buf = bytearray(open(out, "rb").read())
    off = 0
    while True:
        l = buf.find(b"PK\x03\x04", off)
        if l < 0:
            break
        fn(buf, l, "L")
        off = l + 4
    off = 0
    while True:
        c = buf.find(b"PK\x01\x02", off)
        if c < 0:
            break
        fn(buf, c, "C")
        off = c + 4
    open(out, "wb").write(bytes(buf))


# Offsets of (crc, compressed size, size, name length) in each header.
FIELDS = {"L": (14, 18, 22, 26, 30), "C": (16, 20, 24, 28, 46)}


def set_size(size):
    def fn(buf, at, kind):
        struct.pack_into("<I", buf, at + FIELDS[kind][2], size)
    return fn


def set_compressed_size(size):
    def fn(buf, at, kind):
        struct.pack_into("<I", buf, at + FIELDS[kind][1], size)
    return fn


def nul_in_name(buf, at, kind):
    nlen_off, name_off = FIELDS[kind][3], FIELDS[kind][4]
    nlen = struct.unpack_from("<H", buf, at + nlen_off)[0]
    name = buf[at + name_off:at + name_off + nlen]
    i = name.find(b"@")
    if i >= 0:
        buf[at + name_off + i] = 0


def main():
    kind, out = sys.argv[1], sys.argv[2]
    if kind == "dump-dotdot":
        # Passes a plain "starts with the root" check, then cleans to a
        # node outside it.
        dump(out, "/zk/nyc/backup", [
            node("/zk/nyc/backup", "b"),
            node("/zk/nyc/backup/ok", "fine"),
            node("/zk/nyc/backup/../vt/tablets/0001", "pwned", VICTIM_ACL)])
    elif kind == "dump-dot":
        dump(out, "/zk/nyc/backup", [
            node("/zk/nyc/backup/ok", "fine"),
            node("/zk/nyc/backup/./x", "dot"),
            node("/zk/nyc/backup//y", "empty")])
    elif kind == "dump-root-dotdot":
        # The root itself climbs out: "/zk/nyc/backup/.." is /zk/nyc.
        dump(out, "/zk/nyc/backup/..", [
            node("/zk/nyc/backup/../vt/tablets/0001", "pwned", VICTIM_ACL)])
    elif kind == "dump-nul":
        dump(out, "/zk/nyc/backup", [
            node("/zk/nyc/backup/ok", "fine"),
            node("/zk/nyc/backup/x\u0000/../../vt", "pwned")])
    elif kind == "dump-outside":
        dump(out, "/zk/nyc/backup", [
            node("/zk/nyc/backup/ok", "fine"),
            node("/zk/nyc/backupx", "sibling"),
            node("/zk/nyc/vt/tablets/0001", "pwned")])
    elif kind == "dump-dup":
        dump(out, "/zk/nyc/backup", [
            node("/zk/nyc/backup/a", "first"),
            node("/zk/nyc/backup/a", "second")])
    elif kind == "dump-big":
        dump(out, "/zk/nyc/backup", [
            node("/zk/nyc/backup/small", "fine"),
            node("/zk/nyc/backup/big", "x" * 2000000)])
    elif kind == "zip-dotdot":
        write_zip(out, [("ok", b"fine"), ("../victim2", b"pwned"),
                        ("ok/../../victim3", b"pwned")])
    elif kind == "zip-names":
        write_zip(out, [("ok", b"fine"), ("/abs", b"abs"), ("a//b", b"empty"),
                        ("./dot", b"dot"), ("a/./b", b"dot"), ("../", b"")])
    elif kind == "zip-ctl":
        # A control character in a name flagged UTF-8 (a name of ASCII
        # only is CP437, where 0x01 is a smiley: a fine name).
        write_zip(out, [("ok", b"fine"), ("ctl\x01\u00e9", b"ctl")])
    elif kind == "zip-nul":
        write_zip(out, [("ok", b"fine"), ("x@/../../../victim4", b"pwned")])
        patch_headers(out, nul_in_name)
    elif kind == "zip-size":
        # Declares 5 bytes; the deflated data holds 11.
        write_zip(out, [("ok", b"fine"), ("short", b"hello world")])
        patch_headers(out, lambda b, at, k: (
            struct.unpack_from("<I", b, at + FIELDS[k][2])[0] == 11 and
            set_size(5)(b, at, k)))
    elif kind == "zip-crc":
        # Stored, sizes right, one byte of the data changed.
        write_zip(out, [("ok", b"fine"), ("bad", b"hello world")], zipfile.ZIP_STORED)
        buf = bytearray(open(out, "rb").read())
        i = buf.find(b"hello world")
        buf[i] = ord("j")
        open(out, "wb").write(bytes(buf))
    elif kind == "zip-dup":
        with zipfile.ZipFile(out, "w") as z:
            z.writestr("a", b"first")
            import warnings
            warnings.simplefilter("ignore")
            z.writestr("a", b"second")
    elif kind == "zip-big":
        write_zip(out, [("small", b"fine"), ("big", b"x" * 1048576)])
    else:
        sys.exit("unknown kind " + kind)


main()
