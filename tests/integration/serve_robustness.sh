#!/usr/bin/env bash
# serve_robustness — hostile and unusual clients: TLS bytes on the plain port, malformed and
# oversized requests, 4-8 KiB paths (414), random junk, 2 000 idle connections held while a
# download runs, 5 000 idle connections from one address while another is served
# (--max-conns-per-client), slowloris and idle timeouts, graceful SIGTERM with a download in
# flight, several workers, and the start-up signature gate (a tampered bundle is refused).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/serve-lib.bash"
serve_setup
cd "$SCR" || exit 1
sha() { sha256sum | cut -d' ' -f1; }
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null # the idle-connection tests below hold thousands of sockets

# raw REQUEST_FILE: send the bytes, print the status line of the answer (or "closed")
raw() {
  python3 - "$PORT" "$1" <<'EOF'
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
c.sendall(open(sys.argv[2], "rb").read())
data = b""
try:
    while b"\r\n" not in data:
        d = c.recv(4096)
        if not d:
            break
        data += d
except OSError:
    pass
print(data.split(b"\r\n")[0].decode(errors="replace") if data else "closed")
EOF
}

# a long idle timeout here: the 2000 held connections below must outlive a slow download
start_serve main "$BUNDLE" --key "$PUB" --header-timeout 2 --idle-timeout 120 || { fail "server starts"; exit 1; }
alive() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$URL/healthz")" = 200 ]; }

# ---- refusals ----
printf '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03%0500d' 0 >req
check_eq "TLS ClientHello on the plain port: 400" "$(raw req)" "HTTP/1.1 400 Bad Request"
check "server alive after TLS bytes" alive
{ printf 'GET /'; head -c 9000 /dev/zero | tr '\0' a; printf ' HTTP/1.1\r\nHost: x\r\n\r\n'; } >req
check_eq "request line too long: 414" "$(raw req)" "HTTP/1.1 414 Request URI Too Long"
{ printf 'GET / HTTP/1.1\r\nHost: x\r\nX-Big: '; head -c 17000 /dev/zero | tr '\0' b; printf '\r\n\r\n'; } >req
check_eq "header section too large: 431" "$(raw req)" "HTTP/1.1 431 Request Header Fields Too Large"
{ printf 'GET / HTTP/1.1\r\nHost: x\r\n'; for i in $(seq 1 120); do printf 'X-%d: y\r\n' "$i"; done; printf '\r\n'; } >req
check_eq "too many headers: 431" "$(raw req)" "HTTP/1.1 431 Request Header Fields Too Large"
printf 'GET /versions HTTP/1.1\r\n\r\n' >req
check_eq "HTTP/1.1 without Host: 400" "$(raw req)" "HTTP/1.1 400 Bad Request"
printf 'GET /versions HTTP/2.0\r\nHost: x\r\n\r\n' >req
check_eq "HTTP/2.0 request line: 505" "$(raw req)" "HTTP/1.1 505 HTTP Version Not Supported"
printf 'POST /schematics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' >req
check_eq "chunked body: 501" "$(raw req)" "HTTP/1.1 501 Not Implemented"
printf 'POST /schematics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef' >req
check_eq "conflicting Content-Length: 400" "$(raw req)" "HTTP/1.1 400 Bad Request"
printf 'POST /schematics HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n' >req
check_eq "body over 4 MiB: 413" "$(raw req)" "HTTP/1.1 413 Request Entity Too Large"
printf 'GET /image/%%zz HTTP/1.1\r\nHost: x\r\n\r\n' >req
check_eq "bad percent-encoding: 400" "$(raw req)" "HTTP/1.1 400 Bad Request"
for n in 4096 6000 8100; do
  { printf 'GET /image/'; head -c "$n" /dev/zero | tr '\0' a; printf ' HTTP/1.1\r\nHost: x\r\n\r\n'; } >req
  check_eq "path of $n bytes: 414" "$(raw req)" "HTTP/1.1 414 Request URI Too Long"
done
{ printf 'GET /'; head -c 4094 /dev/zero | tr '\0' a; printf ' HTTP/1.1\r\nHost: x\r\n\r\n'; } >req
check_eq "path of 4095 bytes: routed (404)" "$(raw req)" "HTTP/1.1 404 Not Found"
printf 'GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n' >req
check_eq "dot-dot path: plain 404" "$(raw req)" "HTTP/1.1 404 Not Found"
check_eq "HTTP/1.0 request served and closed" "$(printf 'GET /healthz HTTP/1.0\r\n\r\n' >req; raw req)" "HTTP/1.1 200 OK"
out=$(curl -s -H 'Expect: 100-continue' --data-binary $'customization: {}\n' "$URL/schematics" | cut -c1-10)
check_eq "Expect: 100-continue body accepted" "$out" '{"id":"376'

python3 -c 'print("customization:\n    embeddedMachineConfiguration: " + "a" * 3000000)' >big.yaml
out=$(curl -s -w '|%{http_code}' -X POST --data-binary @big.yaml "$URL/schematics")
check_contains "3 MB schematic body read and decoded (201 with its ID: not in the bundle)" "$out" "|201"
check_contains "... the ID of the content" "$out" "{\"id\":\"$(sha256sum <big.yaml | cut -c1-64)\""

# ---- random junk: 300 requests of random bytes and mutated request lines ----
python3 - "$PORT" <<'EOF' >junk.out
import random, socket, sys
port = int(sys.argv[1]); rnd = random.Random(7)
base = b"GET /image/x/v1.11.3/kernel-amd64?a=b HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1\r\nIf-None-Match: \"x\"\r\n\r\n"
for i in range(300):
    if i % 2:
        data = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 300)))
    else:
        b = bytearray(base)
        for _ in range(rnd.randrange(1, 8)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        data = bytes(b)
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        c.sendall(data)
        c.shutdown(socket.SHUT_WR)
        while c.recv(65536):
            pass
        c.close()
    except OSError:
        pass
print("done")
EOF
check_eq "300 junk requests sent" "$(cat junk.out)" "done"
check "server alive after junk" alive

# ---- 2 000 idle connections held while a download runs (from 10 addresses: 200 each, within
# the default --max-conns-per-client of 256) ----
python3 - "$PORT" 2000 <<'EOF' >idle.out &
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
conns = [socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.%d" % (2 + i % 10), 0))
         for i in range(n)]
open("idle.ready", "w").write("ready")
while not __import__("os").path.exists("idle.go"):
    time.sleep(0.05)
ok = 0
for c in conns[:50]:  # the held connections still work
    c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    if c.recv(4096).startswith(b"HTTP/1.1 200"):
        ok += 1
print(ok)
EOF
IDLE_PID=$!
SERVE_EXTRA_PIDS+=("$IDLE_PID")
for _ in $(seq 1 100); do [ -f idle.ready ] && break; sleep 0.1; done
open=$(curl -s "$URL/metrics" | awk '/^airfactory_http_open_connections /{print $2}')
if [ "${open:-0}" -ge 2000 ]; then pass "2000 idle connections open (metrics: $open)"; else fail "2000 idle connections open" "metrics says ${open:-none}"; fi
curl -s -o iso "$URL/image/$SCHEMATIC/$VERSION/metal-amd64.iso"
check_eq "download completes while 2000 connections idle" "sha256:$(sha <iso)" "$ISO_DIGEST"
touch idle.go
wait "$IDLE_PID"
check_eq "held connections still answer" "$(cat idle.out)" "50"

# ---- one client cannot take every descriptor: 5 000 idle sockets from 127.0.0.1 against a
# server limited to 1 024 descriptors; 127.0.0.2 is still served. Then the same without the
# per-client limit, to show the starvation the limit prevents. ----
MAIN_PID=$SERVE_PID MAIN_PORT=$PORT MAIN_URL=$URL
hold_idle() { # PORT N: hold N idle connections from 127.0.0.1 until hold.go exists (5 min at most)
  rm -f hold.ready hold.go
  python3 - "$1" "$2" <<'EOF' >hold.out 2>&1 &
import os, socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
conns = []
for i in range(n):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.settimeout(5)
    try:
        s.connect(("127.0.0.1", port))
    except OSError:
        pass
    conns.append(s)
open("hold.ready", "w").write("%d" % len(conns))
deadline = time.time() + 300
while not os.path.exists("hold.go") and time.time() < deadline:
    time.sleep(0.05)
EOF
  HOLD_PID=$!
  SERVE_EXTRA_PIDS+=("$HOLD_PID")
  local i
  for i in $(seq 1 3000); do [ -f hold.ready ] && break; sleep 0.1; done
}
other_client() { curl -s -o /dev/null -w '%{http_code}' --max-time 3 --interface 127.0.0.2 "$URL/healthz"; }
# 5 000 by default: five times the server's descriptors, and quick; SERVE_IDLE_N=19000 for the
# issue's figure (takes minutes on a busy machine: the accept queue overflows and SYNs retry)
IDLE_N=${SERVE_IDLE_N:-5000}
[ "$IDLE_N" -gt $(( $(ulimit -n) - 500 )) ] && IDLE_N=$(( $(ulimit -n) - 500 ))
PORT=$(free_port) URL=http://127.0.0.1:$PORT
prlimit --nofile=1024 -- "$AIRFACTORY_SERVE" "$BUNDLE" --key "$PUB" --listen "127.0.0.1:$PORT" --idle-timeout 120 \
  --log-format none 2>"$SCR/serve-limit.log" &
SERVE_PID=$!; SERVE_PIDS+=("$SERVE_PID")
for _ in $(seq 1 100); do curl -s -o /dev/null --max-time 1 "$URL/healthz" && break; sleep 0.1; done
hold_idle "$PORT" "$IDLE_N"
check_eq "$IDLE_N idle sockets opened from 127.0.0.1" "$(cat hold.ready 2>/dev/null)" "$IDLE_N"
check_eq "127.0.0.2 is served while 127.0.0.1 holds $IDLE_N sockets" "$(other_client)" "200"
for _ in $(seq 1 100); do # the last connections may still wait in the accept queue
  m=$(curl -s --interface 127.0.0.3 "$URL/metrics")
  open=$(awk '/^airfactory_http_open_connections /{print $2}' <<<"$m")
  refused=$(awk '/^airfactory_http_connections_refused_total /{print $2}' <<<"$m")
  [ "${refused:-0}" -ge "$((IDLE_N - 256))" ] && break
  sleep 0.1
done
check_eq "the server holds 256 of them (+ the metrics request)" "$open" "257"
check_eq "and refused the rest at accept" "$refused" "$((IDLE_N - 256))"
refusal=$(python3 -c '
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
data = b""
while True:
    d = c.recv(4096)
    if not d:
        break
    data += d
print(data.split(b"\r\n")[0].decode(), "/", data.split(b"\r\n\r\n")[-1].decode().strip())' "$PORT")
check_eq "one more connection from 127.0.0.1: 503 and closed" "$refusal" \
  "HTTP/1.1 503 Service Unavailable / too many connections from your address; close some and retry"
check_contains "the refusal is logged with the address" "$(cat "$SCR/serve-limit.log")" "127.0.0.1:"
touch hold.go; wait "$HOLD_PID"
for _ in $(seq 1 50); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")" = 200 ] && break; sleep 0.1; done
check_eq "127.0.0.1 is served again once it closed its sockets" "$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")" "200"
kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null
PORT=$(free_port) URL=http://127.0.0.1:$PORT
prlimit --nofile=1024 -- "$AIRFACTORY_SERVE" "$BUNDLE" --key "$PUB" --listen "127.0.0.1:$PORT" --idle-timeout 120 \
  --log-format none --max-conns-per-client 0 2>"$SCR/serve-nolimit.log" &
SERVE_PID=$!; SERVE_PIDS+=("$SERVE_PID")
for _ in $(seq 1 100); do curl -s -o /dev/null --max-time 1 "$URL/healthz" && break; sleep 0.1; done
hold_idle "$PORT" 3000
check_eq "without the limit (--max-conns-per-client 0), 127.0.0.2 starves" "$(other_client)" "000"
touch hold.go; wait "$HOLD_PID"
kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null
SERVE_PID=$MAIN_PID PORT=$MAIN_PORT URL=$MAIN_URL

# ---- slowloris: a request head trickling in is cut off by --header-timeout ----
python3 - "$PORT" <<'EOF' >slow.out
import socket, sys, time
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
start = time.time()
data = b""
try:
    for ch in b"GET /versions HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
        c.sendall(bytes([ch]))
        time.sleep(0.5)
        c.setblocking(False)
        try:
            d = c.recv(4096)
            if d or d == b"":
                data += d
                break
        except BlockingIOError:
            pass
        finally:
            c.setblocking(True)
except OSError:
    pass
print("cut" if time.time() - start < 25 else "not cut", data.split(b"\r\n")[0].decode())
EOF
check_eq "slowloris client cut off with 408" "$(cat slow.out)" "cut HTTP/1.1 408 Request Timeout"
check "server alive after timeouts" alive
check_contains "metrics count timeouts" "$(curl -s "$URL/metrics")" "airfactory_http_timeouts_total 1"

# ---- idle keep-alive timeout (own server: --idle-timeout 1) ----
MAIN_PID=$SERVE_PID MAIN_PORT=$PORT MAIN_URL=$URL
start_serve idle "$BUNDLE" --key "$PUB" --idle-timeout 1 || fail "idle-timeout server starts"
python3 - "$PORT" <<'EOF' >idle1.out
import socket, sys, time
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
c.recv(4096)
start = time.time()
print("closed" if c.recv(4096) == b"" and time.time() - start < 15 else "open")
EOF
check_eq "idle keep-alive connection closed by --idle-timeout" "$(cat idle1.out)" "closed"
stop_serve
SERVE_PID=$MAIN_PID PORT=$MAIN_PORT URL=$MAIN_URL

# ---- graceful SIGTERM: a slow download in flight finishes, new connections are refused ----
curl -s --limit-rate 300k -o slow.iso "$URL/image/$SCHEMATIC/$VERSION/metal-amd64.iso" &
CURL_PID=$!
sleep 1
kill -TERM "$SERVE_PID"
sleep 0.3
if curl -s -o /dev/null --max-time 2 "$URL/healthz"; then fail "no new connections after SIGTERM" "healthz answered"; else pass "no new connections after SIGTERM"; fi
wait "$CURL_PID"
check_eq "in-flight download finished after SIGTERM" "sha256:$(sha <slow.iso)" "$ISO_DIGEST"
rc=0; wait "$SERVE_PID" || rc=$?
check_eq "graceful exit status" "$rc" "0"

# ---- shutdown deadline: a client that never reads does not hold the server forever ----
start_serve deadline "$BUNDLE" --key "$PUB" --shutdown-timeout 1 || fail "deadline server starts"
python3 - "$PORT" "$SCHEMATIC" <<'EOF' &
import socket, sys, time
c = socket.socket()
c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
c.connect(("127.0.0.1", int(sys.argv[1])))
c.sendall(b"GET /image/%s/v1.11.3/metal-amd64.iso HTTP/1.1\r\nHost: x\r\n\r\n" % sys.argv[2].encode())
open("stuck.connected", "w").write("yes")
time.sleep(20)
EOF
SERVE_EXTRA_PIDS+=($!)
for _ in $(seq 1 50); do [ -f stuck.connected ] && break; sleep 0.1; done
check "stuck client connected" test -f stuck.connected
sleep 0.5
start=$SECONDS
stop_serve
check_eq "stuck client: server exits at the shutdown deadline" "$STOP_RC:$(( SECONDS - start < 8 ))" "0:1"

# ---- several workers ----
start_serve workers "$BUNDLE" --key "$PUB" --workers 3 || fail "3 workers start"
ok=0
for _ in $(seq 1 30); do [ "$(curl -s "$URL/versions" | cut -c1-9)" = '["v1.9.5"' ] && ok=$((ok + 1)); done
check_eq "3 workers answer" "$ok" "30"
check_eq "3 worker processes" "$(pgrep -c -P "$SERVE_PID")" "3"
check_contains "metrics shared across workers" "$(curl -s "$URL/metrics")" 'airfactory_http_requests_total{route="versions",status="200"} 30'
# one server per port: a second one on the same address fails at start, saying why
out=$(timeout 10 "$AIRFACTORY_SERVE" "$BUNDLE" --key "$PUB" --listen "127.0.0.1:$PORT" --workers 2 2>&1); rc=$?
check_eq "second server on a busy port: exits 2 at start" "$rc" "2"
check_contains "second server on a busy port: says why" "$out" "address already in use: another server"
out=$(timeout 10 "$AIRFACTORY_SERVE" "$BUNDLE" --key "$PUB" --listen "0.0.0.0:$PORT" 2>&1); rc=$?
check_eq "second server on the wildcard address of a busy port: refused too" "$rc" "2"
ok=0
for _ in $(seq 1 10); do [ "$(curl -s "$URL/versions" | cut -c1-9)" = '["v1.9.5"' ] && ok=$((ok + 1)); done
check_eq "the first server still answers every request" "$ok" "10"
stop_serve
check_eq "workers stop on SIGTERM" "$STOP_RC" "0"

# ---- privilege drop ----
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
  chmod 755 "$SCR" "$SCR/b"
  start_serve user "$BUNDLE" --key "$PUB" --user nobody || fail "--user nobody starts"
  check_eq "--user nobody: workers run as nobody" "$(awk '/^Uid:/{print $2}' "/proc/$SERVE_PID/status")" "$(id -u nobody)"
  check_eq "--user nobody: serves" "$(curl -s -o /dev/null -w '%{http_code}' "$URL/image/$SCHEMATIC/$VERSION/kernel-amd64")" "200"
  stop_serve
  chmod 700 "$SCR"
else
  skip "--user" "not root"
fi

# ---- the signature gate ----
cp -r "$BUNDLE" tampered
python3 -c "import sqlite3; d=sqlite3.connect('tampered/index.db'); d.execute(\"UPDATE schematics SET yaml='x' WHERE id='$SCHEMATIC2'\"); d.commit()"
rc=0; "$AIRFACTORY_SERVE" tampered --listen 127.0.0.1:0 --key "$PUB" 2>tampered.log || rc=$?
check_eq "tampered index.db: refused, exit 2" "$rc" "2"
check_contains "tampered: says why" "$(cat tampered.log)" "signature does not verify"
cp -r "$BUNDLE" truncated
truncate -s 4096 truncated/index.db
rc=0; "$AIRFACTORY_SERVE" truncated --listen 127.0.0.1:0 --key "$PUB" 2>truncated.log || rc=$?
check_eq "truncated index.db: refused, exit 2" "$rc" "2"
check_contains "truncated: names index.db and says why" "$(cat truncated.log)" "truncated/index.db: signature does not verify"
: >truncated/index.db
rc=0; "$AIRFACTORY_SERVE" truncated --listen 127.0.0.1:0 --key "$PUB" 2>empty.log || rc=$?
check_eq "empty index.db: refused, exit 2" "$rc" "2"
check_contains "empty index.db: says so" "$(cat empty.log)" "empty or not a regular file"
cp -r "$BUNDLE" unsigned && rm unsigned/index.db.sig
rc=0; "$AIRFACTORY_SERVE" unsigned --listen 127.0.0.1:0 --key "$PUB" 2>unsigned.log || rc=$?
check_eq "missing index.db.sig: refused, exit 2" "$rc" "2"
check_contains "missing signature: says so" "$(cat unsigned.log)" "index.db.sig: missing"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out other.key 2>/dev/null
openssl pkey -in other.key -pubout -out other.pub
rc=0; "$AIRFACTORY_SERVE" "$BUNDLE" --listen 127.0.0.1:0 --key other.pub 2>other.log || rc=$?
check_eq "wrong key: refused" "$rc" "2"
check_contains "wrong key: says the signature does not verify" "$(cat other.log)" "signature does not verify"
rc=0; "$AIRFACTORY_SERVE" "$BUNDLE" --listen 127.0.0.1:0 2>nokey.log || rc=$?
check_eq "no --key and no --insecure-no-verify: usage error" "$rc" "2"
check_contains "no key: explains" "$(cat nokey.log)" "--insecure-no-verify"
rc=0; "$AIRFACTORY_SERVE" "$SCR/nonexistent" --listen 127.0.0.1:0 --insecure-no-verify 2>nob.log || rc=$?
check_eq "missing bundle: exit 2" "$rc" "2"
