#!/usr/bin/env python3
"""pull-token-server.py — a small registry token server for tests/integration/pull.sh.

Implements the token side of docker/distribution docs/spec/auth/token.md (and oauth.md) that CNCF
distribution's `auth: token:` trusts: GET /token?service=S&scope=repository:NAME:pull, answered
with a JWT (ES256, the signing certificate in `x5c`; distribution@v2.8.2
registry/auth/token/token.go verifies the chain against its rootcertbundle), either for the basic
credentials USER:PASSWORD, or anonymously while the file ANON_MARKER exists; and the OAuth2 form
POST /token grant_type=refresh_token&refresh_token=REFRESH (docker's identity tokens). Wrong or
missing credentials get 401. Every request is appended to LOG as "METHOD AUTH-KIND SCOPE STATUS".
Serves HTTPS with CERT/KEY. Python stdlib plus scripts/fixtures/ecdsa_p256.py (RFC 6979 ECDSA).

usage: pull-token-server.py PORT CERT KEY SIGNING_KEY SIGNING_CERT ISSUER SERVICE USER:PASSWORD REFRESH
                            ANON_MARKER LOG
"""
import base64
import hashlib
import http.server
import json
import os
import ssl
import sys
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts", "fixtures"))
import ecdsa_p256  # noqa: E402

(PORT, CERT, KEY, SIGNING_KEY, SIGNING_CERT, ISSUER, SERVICE, USERPASS, REFRESH, ANON_MARKER,
 LOG) = sys.argv[1:12]
D = ecdsa_p256.load_private_key(SIGNING_KEY)
with open(SIGNING_CERT) as f:
    X5C = base64.b64encode(ecdsa_p256.pem_blocks(f.read())[0][1]).decode()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(subject, scope):
    access = []
    parts = (scope or "").split(":")
    if len(parts) == 3 and parts[0] == "repository":
        access.append({"type": "repository", "name": parts[1],
                       "actions": [a for a in parts[2].split(",") if a == "pull"]})
    now = int(time.time())
    header = {"typ": "JWT", "alg": "ES256", "x5c": [X5C]}
    claims = {"iss": ISSUER, "sub": subject, "aud": SERVICE, "exp": now + 300, "nbf": now - 10, "iat": now,
              "jti": hashlib.sha256(os.urandom(16)).hexdigest()[:16], "access": access}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    r, s = ecdsa_p256.sign_digest(D, hashlib.sha256(signing_input.encode()).digest())
    return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body, kind, scope):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        with open(LOG, "a") as f:
            f.write("%s %s %s %d\n" % (self.command, kind, scope, status))

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(url.query)
        scope = q.get("scope", [""])[0]
        auth = self.headers.get("Authorization", "")
        if url.path != "/token":
            return self.answer(404, {"error": "not found"}, "-", scope)
        if auth.startswith("Basic "):
            try:
                given = base64.b64decode(auth[6:]).decode()
            except Exception:
                given = ""
            if given != USERPASS:
                return self.answer(401, {"errors": [{"code": "UNAUTHORIZED"}]}, "basic-wrong", scope)
            return self.answer(200, {"token": jwt(USERPASS.split(":")[0], scope), "expires_in": 300}, "basic", scope)
        if not os.path.exists(ANON_MARKER):
            return self.answer(401, {"errors": [{"code": "UNAUTHORIZED"}]}, "anonymous-refused", scope)
        return self.answer(200, {"token": jwt("", scope), "expires_in": 300}, "anonymous", scope)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        scope = form.get("scope", [""])[0]
        if (form.get("grant_type", [""])[0] != "refresh_token" or form.get("refresh_token", [""])[0] != REFRESH or
                form.get("service", [""])[0] != SERVICE):
            return self.answer(401, {"error": "invalid_grant"}, "refresh-wrong", scope)
        return self.answer(200, {"access_token": jwt("refresh-user", scope), "expires_in": 300}, "refresh", scope)


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(PORT)), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(CERT, KEY)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
