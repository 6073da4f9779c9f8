#!/usr/bin/env python3
"""live-client — the client loop of serve_live_update.sh (not a suite: run.sh runs *.sh only).

Usage: live-client.py BASE_URL SCHEMATIC VERSION STOP_FILE REPORT_JSON

Until STOP_FILE exists (and for at most 120 s), five threads hammer the server at BASE_URL
(loopback only): one fetches boot assets (kernel, initramfs, cmdline) and the iPXE script on
keep-alive connections, one fetches the kernel again and again on new connections, one
downloads the kernel slowly (64 KiB at a time with pauses), so downloads are in flight whenever
the bundle is swapped, one fetches the iPXE script and its chained boot files the way iPXE does
(new connection each), and one pulls the installer image `installer/SCHEMATIC:VERSION` through
the registry as skopeo and containerd do: GET /v2/, HEAD then GET the tag with the index and
manifest media types in Accept, the amd64 manifest by digest, then the config and every layer
blob (each checked against its digest and size). Every answer must be 200, carry exactly
Content-Length bytes, an asset body must hash to its ETag digest, a manifest to its
Docker-Content-Digest. REPORT_JSON gets counts and the first failures.
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
stats = {"requests": 0, "failures": 0, "slow_downloads": 0, "pulls": 0, "ipxe_boots": 0, "errors": []}
INDEX_TYPES = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"


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


def ipxe():
    """iPXE: the script, then the URLs it chains to (kernel, initrd), each on a new connection."""
    script = f"/pxe/{schematic}/{version}/metal-amd64"
    while not stopped():
        try:
            conn = http.client.HTTPConnection(host, port, timeout=30)
            conn.request("GET", script)
            r = conn.getresponse()
            body = r.read()
            length = r.getheader("Content-Length")
            ok = r.status == 200 and length is not None and len(body) == int(length) and body.startswith(b"#!ipxe")
            record(ok, f"{script}: status {r.status}, {len(body)} of {length} bytes")
            conn.close()
            if not ok:
                continue
            urls = [w for line in body.decode().splitlines() for w in line.split()
                    if w.startswith("http://") and "/image/" in w]
            booted = bool(urls)
            for u in urls:
                path = "/" + u.split("/", 3)[3].split(" ")[0]
                conn = http.client.HTTPConnection(host, port, timeout=30)
                booted = fetch(conn, path) and booted
                conn.close()
            if booted:
                with lock:
                    stats["ipxe_boots"] += 1
        except Exception as e:
            record(False, f"{script}: {e!r}")


def registry_get(conn, path, accept=None, head=False):
    """One registry request: (status, headers, body) with the body checked against Content-Length."""
    conn.request("HEAD" if head else "GET", path, headers={"Accept": accept} if accept else {})
    r = conn.getresponse()
    body = r.read()
    length = r.getheader("Content-Length")
    ok = r.status == 200 and length is not None and (head or len(body) == int(length))
    record(ok, f"{'HEAD' if head else 'GET'} {path}: status {r.status}, {len(body)} of {length} bytes")
    return ok, r, body


def registry_blob(conn, repo, digest, size):
    path = f"/v2/{repo}/blobs/{digest}"
    conn.request("GET", path)
    r = conn.getresponse()
    h = hashlib.sha256()
    got = 0
    while True:
        chunk = r.read(65536)
        if not chunk:
            break
        h.update(chunk)
        got += len(chunk)
    ok = r.status == 200 and got == size and "sha256:" + h.hexdigest() == digest
    record(ok, f"{path}: status {r.status}, {got} of {size} bytes, sha256:{h.hexdigest()}")
    return ok


def pull():
    """skopeo copy / ctr pull of installer/SCHEMATIC:VERSION, over and over."""
    repo = f"installer/{schematic}"
    while not stopped():
        try:
            conn = http.client.HTTPConnection(host, port, timeout=30)
            ok, _, _ = registry_get(conn, "/v2/")
            accept = INDEX_TYPES + ", " + MANIFEST_TYPES
            head_ok, _, _ = registry_get(conn, f"/v2/{repo}/manifests/{version}", accept, head=True)
            get_ok, r, body = registry_get(conn, f"/v2/{repo}/manifests/{version}", accept)
            if not (ok and head_ok and get_ok):
                conn.close()
                continue
            digest = r.getheader("Docker-Content-Digest")
            good = digest == "sha256:" + hashlib.sha256(body).hexdigest()
            record(good, f"{repo}:{version}: Docker-Content-Digest {digest} is not the body's")
            doc = json.loads(body)
            if "manifests" in doc:  # an index: the amd64 manifest, by digest
                want = [m for m in doc["manifests"]
                        if m.get("platform", {}).get("architecture") == "amd64"
                        and m.get("platform", {}).get("os") == "linux"]
                record(bool(want), f"{repo}:{version}: no linux/amd64 manifest in the index")
                if not want:
                    conn.close()
                    continue
                md = want[0]["digest"]
                ok, r, body = registry_get(conn, f"/v2/{repo}/manifests/{md}", MANIFEST_TYPES)
                if not ok:
                    conn.close()
                    continue
                record("sha256:" + hashlib.sha256(body).hexdigest() == md, f"{repo}@{md}: body does not hash to it")
                doc = json.loads(body)
            pulled = True
            for d in [doc["config"]] + doc["layers"]:
                pulled = registry_blob(conn, repo, d["digest"], d["size"]) and pulled
            conn.close()
            if pulled:
                with lock:
                    stats["pulls"] += 1
        except Exception as e:
            record(False, f"pull {repo}:{version}: {e!r}")


threads = [threading.Thread(target=f) for f in (assets, fresh_connections, slow, ipxe, pull)]
for t in threads:
    t.start()
for t in threads:
    t.join()
with open(report_path, "w") as f:
    json.dump(stats, f)
