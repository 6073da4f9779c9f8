#!/usr/bin/env python3
"""live-client — the client loop of serve_live_update.sh (not a suite: run.sh runs *.sh only).

Usage: live-client.py BASE_URL SCHEMATIC VERSION STOP_FILE REPORT_JSON

Until STOP_FILE exists (and for at most 120 s), three threads hammer the server at BASE_URL
(loopback only): one fetches boot assets (kernel, initramfs, cmdline) and the iPXE script on
keep-alive connections, one fetches the kernel again and again on new connections, and one
downloads the kernel slowly (64 KiB at a time with pauses), so
downloads are in flight whenever the bundle is swapped. Every answer must be 200, carry exactly
Content-Length bytes, and an asset body must hash to its ETag digest. REPORT_JSON gets counts and
the first failures.
"""
import hashlib
import http.client
import json
import os
import sys
import threading
import time

base, schematic, version, stop_file, report_path = sys.argv[1:6]
host, port = base.split("//", 1)[1].split(":")
port = int(port)
deadline = time.monotonic() + 120
lock = threading.Lock()
stats = {"requests": 0, "failures": 0, "slow_downloads": 0, "errors": []}


def stopped():
    return os.path.exists(stop_file) or time.monotonic() > deadline


def record(ok, what):
    with lock:
        stats["requests"] += 1
        if not ok:
            stats["failures"] += 1
            if len(stats["errors"]) < 10:
                stats["errors"].append(what)


def fetch(conn, path, slow=False):
    conn.request("GET", path)
    r = conn.getresponse()
    length = r.getheader("Content-Length")
    etag = (r.getheader("Etag") or "").strip('"')
    h = hashlib.sha256()
    got = 0
    while True:
        chunk = r.read(65536)
        if not chunk:
            break
        h.update(chunk)
        got += len(chunk)
        if slow:
            time.sleep(0.01)
    ok = r.status == 200 and length is not None and got == int(length)
    if ok and etag.startswith("sha256:"):
        ok = "sha256:" + h.hexdigest() == etag
    record(ok, f"{path}: status {r.status}, {got} of {length} bytes, etag {etag}")
    return ok


def assets():
    paths = [f"/image/{schematic}/{version}/kernel-amd64", f"/image/{schematic}/{version}/cmdline-metal-amd64",
             f"/pxe/{schematic}/{version}/metal-amd64", "/versions", f"/schematics/{schematic}",
             f"/image/{schematic}/{version}/initramfs-amd64.xz"]
    conn = None
    while not stopped():
        for p in paths:
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, port, timeout=30)
                fetch(conn, p)
            except Exception as e:  # a broken connection is a failed request
                record(False, f"{p}: {e!r}")
                conn = None


def fresh_connections():
    while not stopped():
        p = f"/image/{schematic}/{version}/kernel-amd64"
        try:
            conn = http.client.HTTPConnection(host, port, timeout=30)
            fetch(conn, p)
            conn.close()
        except Exception as e:
            record(False, f"{p}: {e!r}")


def slow():
    while not stopped():
        p = f"/image/{schematic}/{version}/kernel-amd64"
        try:
            conn = http.client.HTTPConnection(host, port, timeout=30)
            if fetch(conn, p, slow=True):
                with lock:
                    stats["slow_downloads"] += 1
            conn.close()
        except Exception as e:
            record(False, f"{p}: {e!r}")


threads = [threading.Thread(target=f) for f in (assets, fresh_connections, slow)]
for t in threads:
    t.start()
for t in threads:
    t.join()
with open(report_path, "w") as f:
    json.dump(stats, f)
