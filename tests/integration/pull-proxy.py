#!/usr/bin/env python3
"""pull-proxy.py — a misbehaving HTTP reverse proxy in front of a registry, for tests/integration/pull.sh.

usage: pull-proxy.py PORT BACKEND MODE LOG
  BACKEND  http://127.0.0.1:PORT of the real registry
  MODE     pass          relay everything
           cut           the first GET of each blob over 64 KiB: headers and half the body, then the
                         connection is closed (a cut mid-blob); later requests (with Range) relay
           429:N | 429   the first N requests (or all) get 429 Too Many Requests, Retry-After: 0
           503:N         the first N requests get 503 Service Unavailable without Retry-After
           flip          manifests fetched by tag come back with one byte changed (same
                         Docker-Content-Digest): what a broken cache or a tampering proxy sends
GET /-/ready answers 200 (and counts for nothing). Every other request is appended to LOG as
"METHOD PATH RANGE STATUS[ cut]". Python stdlib only.
"""
import http.client
import http.server
import sys
import threading
import urllib.parse

PORT, BACKEND, MODE, LOG = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
backend = urllib.parse.urlparse(BACKEND)
lock = threading.Lock()
state = {"count": 0, "cut": set()}


def log(line):
    with lock, open(LOG, "a") as f:
        f.write(line + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def fail(self, status, retry_after):
        body = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}' if status == 429 else \
            b'{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if retry_after is not None:
            self.send_header("Retry-After", retry_after)
        self.end_headers()
        self.wfile.write(body)
        log("%s %s %s %d" % (self.command, self.path, self.headers.get("Range", "-"), status))

    def relay(self):
        if self.path == "/-/ready":
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        with lock:
            state["count"] += 1
            n = state["count"]
        kind, _, limit = MODE.partition(":")
        if kind in ("429", "503") and (not limit or n <= int(limit)):
            return self.fail(int(kind), "0" if kind == "429" else None)
        conn = http.client.HTTPConnection(backend.hostname, backend.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("accept", "range", "authorization",
                                                                            "user-agent")}
        conn.request(self.command, self.path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        is_blob = "/blobs/sha256:" in self.path
        cut = False
        if kind == "cut" and self.command == "GET" and is_blob and resp.status == 200 and len(body) > 65536:
            with lock:
                cut = self.path not in state["cut"]
                state["cut"].add(self.path)
        if kind == "flip" and self.command == "GET" and "/manifests/" in self.path and \
                "/manifests/sha256:" not in self.path and resp.status == 200 and body:
            body = bytearray(body)
            body[len(body) // 2] ^= 0x20
            body = bytes(body)
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body[:len(body) // 2] if cut else body)
        log("%s %s %s %d%s" % (self.command, self.path, self.headers.get("Range", "-"), resp.status,
                               " cut" if cut else ""))
        if cut:
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)

    do_GET = relay
    do_HEAD = relay


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(PORT)), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
