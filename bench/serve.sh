#!/usr/bin/env bash
# bench/serve.sh — airfactory-serve against nginx serving the same bytes, on loopback.
#
#   bash bench/serve.sh            full: 1 GiB asset, 10 000 idle connections, 100 000 asset rows
#   SMOKE=1 bash bench/serve.sh    tiny sizes, one short round (so the script cannot rot)
#
# Workloads (each row: BENCH|workload|airfactory|baseline-name|baseline|unit|ratio; ratio > 1
# means airfactory is better):
#   1. wrk on a large asset (/image/.../metal-amd64.raw.xz) vs nginx (sendfile on) serving the
#      same blob file: throughput.
#   2. wrk on the iPXE script (/pxe/...) vs nginx serving the rendered script as a static file.
#   3. RSS with 10 000 idle keep-alive connections (each made one request), vs nginx.
#   4. start-up time (exec -> first /healthz answer) on a bundle with 100 000 asset rows, vs the
#      100 ms target.
# Servers alternate A B A B (ROUNDS rounds) and the medians are reported: the machine is shared,
# so only same-run comparisons mean anything. Both servers run one worker process, log every
# request to a file and use sendfile. Requires wrk and nginx (nginx-light) — see docs/serving.md.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${AIRFACTORY_BIN:-$ROOT/build/release}
SERVE=$BIN/airfactory-serve
SMOKE=${SMOKE:-0}
if [ "$SMOKE" = 1 ]; then
  BIG=$((8 << 20)) IDLE=300 ROWS=1000 ROUNDS=1 DUR=1
else
  BIG=$((1 << 30)) IDLE=10000 ROWS=100000 ROUNDS=${ROUNDS:-3} DUR=${DUR:-5}
fi
for tool in wrk nginx python3 curl; do
  if ! command -v "$tool" >/dev/null; then
    echo "bench/serve.sh: $tool not found; apt-get install wrk nginx-light (scripts/install-deps.sh)" >&2
    exit 1
  fi
done
[ -x "$SERVE" ] || { echo "bench/serve.sh: $SERVE missing; run make" >&2; exit 1; }

W=$(mktemp -d "${TMPDIR:-/tmp}/airfactory-bench-serve.XXXXXX")
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$W"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.6g\n", (a[NR/2]+a[NR/2+1])/2}'; }
wait_http() { for _ in $(seq 1 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done; return 1; }
cpu_ticks() { # utime+stime of a process and its children, in clock ticks
  local total=0 p
  for p in "$1" $(pgrep -P "$1"); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
rss_kib() { # sum VmRSS of a process and its children
  local total=0 p
  for p in "$1" $(pgrep -P "$1"); do
    total=$((total + $(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

echo "bench/serve: building bundles in $W (big asset $((BIG >> 20)) MiB, $ROWS asset rows)" >&2
python3 "$ROOT/tests/integration/serve-make-bundle" "$W/b" --big-asset "$BIG" >/dev/null || exit 1
. "$W/b/facts.env"
python3 "$ROOT/tests/integration/serve-make-bundle" "$W/many" --many-assets "$ROWS" >/dev/null || exit 1

# ---- servers ----
AP=$(free_port) NP=$(free_port)
"$SERVE" "$BUNDLE" --key "$PUB" --listen "127.0.0.1:$AP" 2>"$W/airfactory.log" &
APID=$!; PIDS+=("$APID")
wait_http "http://127.0.0.1:$AP/healthz" || { echo "airfactory-serve did not start" >&2; exit 1; }
BIG_PATH=image/$SCHEMATIC/$VERSION/metal-amd64.raw.xz
PXE_PATH=pxe/$SCHEMATIC/$VERSION/metal-amd64
BIG_DIGEST=$(python3 -c "import sqlite3; print(sqlite3.connect('$BUNDLE/index.db').execute(\"SELECT digest FROM assets WHERE path='metal-amd64.raw.xz'\").fetchone()[0])")
mkdir -p "$W/www/image/$SCHEMATIC/$VERSION" "$W/www/pxe/$SCHEMATIC/$VERSION" "$W/nginx"
ln "$BUNDLE/blobs/sha256/${BIG_DIGEST#sha256:}" "$W/www/$BIG_PATH" 2>/dev/null ||
  ln -s "$BUNDLE/blobs/sha256/${BIG_DIGEST#sha256:}" "$W/www/$BIG_PATH"
# nginx gets the script exactly as airfactory renders it for nginx's address
curl -s -H "Host: 127.0.0.1:$NP" "http://127.0.0.1:$AP/$PXE_PATH" >"$W/www/$PXE_PATH"
cat >"$W/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
user root;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log warn;
worker_rlimit_nofile 30000;
events { worker_connections 30000; }
http {
  access_log $W/nginx/access.log;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 75s;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  client_body_temp_path $W/nginx/body;
  proxy_temp_path $W/nginx/proxy;
  fastcgi_temp_path $W/nginx/fastcgi;
  uwsgi_temp_path $W/nginx/uwsgi;
  scgi_temp_path $W/nginx/scgi;
  server {
    listen 127.0.0.1:$NP;
    root $W/www;
    location = /healthz { return 200; }
  }
}
EOF
nginx -p "$W/nginx" -c "$W/nginx/nginx.conf" 2>"$W/nginx/stderr.log" &
NPID=$!; PIDS+=("$NPID")
wait_http "http://127.0.0.1:$NP/healthz" || { echo "nginx did not start: $(cat "$W/nginx/stderr.log")" >&2; exit 1; }
cmp -s <(curl -s "http://127.0.0.1:$AP/$BIG_PATH" | head -c 1048576) <(curl -s "http://127.0.0.1:$NP/$BIG_PATH" | head -c 1048576) ||
  { echo "bench: the two servers do not send the same bytes" >&2; exit 1; }

# wrk_rate URL THREADS CONNS -> requests/s and bytes/s on one line
wrk_rate() {
  timeout $((DUR + 30)) wrk -t"$2" -c"$3" -d"${DUR}s" --timeout 30s "$1" 2>&1 | awk '
    /Requests\/sec:/ {r=$2}
    /Transfer\/sec:/ {v=$2; u=v; sub(/[0-9.]+/, "", u); sub(/[A-Za-z]+$/, "", v);
                      m = (u=="GB") ? 1073741824 : (u=="MB") ? 1048576 : (u=="KB") ? 1024 : 1; b = v*m}
    END {printf "%s %s\n", r+0, b+0}'
}
: >"$W/big.a"; : >"$W/big.n"; : >"$W/pxe.a"; : >"$W/pxe.n"
# measure PID URL CONNS FIELD OUT: wrk rate (FIELD 1 req/s, 2 bytes/s) >> OUT, and the work done
# per CPU-second of the server (requests or bytes per second of server CPU) >> OUT.cpu. The machine
# is shared, so wall-clock rates are noisy; CPU efficiency is what the server itself controls.
HZ=$(getconf CLK_TCK)
measure() {
  local before after rate
  before=$(cpu_ticks "$1")
  rate=$(wrk_rate "$2" 1 "$3" | awk -v f="$4" '{print $f}')
  after=$(cpu_ticks "$1")
  echo "$rate" >>"$5"
  local ticks=$((after - before))
  [ "$ticks" -gt 0 ] || ticks=1 # below the clock-tick resolution (short smoke runs)
  awk -v r="$rate" -v d="$DUR" -v t="$ticks" -v hz="$HZ" \
    'BEGIN { if (t > 0) printf "%.6g\n", r * d / (t / hz); else print 0 }' >>"$5.cpu"
}
for round in $(seq 1 "$ROUNDS"); do
  echo "bench/serve: round $round/$ROUNDS" >&2
  measure "$APID" "http://127.0.0.1:$AP/$BIG_PATH" 2 2 "$W/big.a"
  measure "$NPID" "http://127.0.0.1:$NP/$BIG_PATH" 2 2 "$W/big.n"
  measure "$APID" "http://127.0.0.1:$AP/$PXE_PATH" 32 1 "$W/pxe.a"
  measure "$NPID" "http://127.0.0.1:$NP/$PXE_PATH" 32 1 "$W/pxe.n"
done
ba=$(median <"$W/big.a") bn=$(median <"$W/big.n") pa=$(median <"$W/pxe.a") pn=$(median <"$W/pxe.n")
bac=$(median <"$W/big.a.cpu") bnc=$(median <"$W/big.n.cpu") pac=$(median <"$W/pxe.a.cpu") pnc=$(median <"$W/pxe.n.cpu")
row() { echo "BENCH|$1|$2|$3|$4|$5|$6"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
row "large asset $((BIG >> 20)) MiB, wrk -c2 (MiB/s)" "$(awk -v x="$ba" 'BEGIN{printf "%.0f", x/1048576}')" nginx \
  "$(awk -v x="$bn" 'BEGIN{printf "%.0f", x/1048576}')" MiB/s "$(ratio "$ba" "$bn")"
row "iPXE script, wrk -c32 (req/s)" "$(printf '%.0f' "$pa")" "nginx (static file)" "$(printf '%.0f' "$pn")" req/s "$(ratio "$pa" "$pn")"
row "large asset: bytes per server CPU-second (MiB/CPU-s)" "$(awk -v x="$bac" 'BEGIN{printf "%.0f", x/1048576}')" nginx \
  "$(awk -v x="$bnc" 'BEGIN{printf "%.0f", x/1048576}')" MiB/CPU-s "$(ratio "$bac" "$bnc")"
row "iPXE script: requests per server CPU-second" "$(printf '%.0f' "$pac")" "nginx (static file)" "$(printf '%.0f' "$pnc")" req/CPU-s "$(ratio "$pac" "$pnc")"

# ---- RSS at IDLE idle keep-alive connections ----
hold() { # PORT COUNT READYFILE GOFILE
  python3 - "$@" <<'EOF' &
import os, socket, sys, time
port, n, ready, go = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
conns = []
for i in range(n):
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    conns.append(c)
for c in conns:
    c.recv(4096)
open(ready, "w").write(str(len(conns)))
while not os.path.exists(go):
    time.sleep(0.1)
EOF
}
measure_rss() { # PID PORT NAME
  rm -f "$W/ready.$3" "$W/go.$3"
  local base
  base=$(rss_kib "$1")
  hold "$2" "$IDLE" "$W/ready.$3" "$W/go.$3"
  local hp=$!
  for _ in $(seq 1 600); do [ -f "$W/ready.$3" ] && break; sleep 0.1; done
  sleep 0.5
  local r
  r=$(rss_kib "$1")
  touch "$W/go.$3"; wait "$hp" 2>/dev/null
  echo "$base $r"
}
read -r a0 a1 < <(measure_rss "$APID" "$AP" a)
read -r n0 n1 < <(measure_rss "$NPID" "$NP" n)
row "RSS with $IDLE idle keep-alive connections (MiB)" "$(awk -v x="$a1" 'BEGIN{printf "%.1f", x/1024}')" \
  "nginx (master+worker)" "$(awk -v x="$n1" 'BEGIN{printf "%.1f", x/1024}')" MiB "$(ratio "$n1" "$a1")"
echo "bench/serve: RSS before/after idle connections: airfactory $a0/$a1 KiB, nginx $n0/$n1 KiB (target < 50 MiB)" >&2

# ---- start-up time on a bundle with ROWS asset rows ----
. "$W/many/facts.env"
: >"$W/start"
for i in $(seq 1 5); do
  python3 - "$SERVE" "$BUNDLE" "$PUB" "$(free_port)" <<'EOF' >>"$W/start"
import os, socket, subprocess, sys, time
serve, bundle, pub, port = sys.argv[1:5]
t0 = time.perf_counter()
p = subprocess.Popen([serve, bundle, "--key", pub, "--listen", "127.0.0.1:" + port, "--log-format", "none"],
                     stderr=subprocess.DEVNULL)
while True:
    try:
        c = socket.create_connection(("127.0.0.1", int(port)))
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        if c.recv(100).startswith(b"HTTP/1.1 200"):
            break
    except OSError:
        time.sleep(0.0005)
t = time.perf_counter() - t0
p.terminate()
_, _, ru = os.wait4(p.pid, 0)
print("%.1f %.1f" % (t * 1000, (ru.ru_utime + ru.ru_stime) * 1000))
EOF
done
st=$(awk '{print $1}' "$W/start" | median) sc=$(awk '{print $2}' "$W/start" | median)
row "start-up to first answer, $ROWS asset rows, signature checked (ms wall)" "$st" "target" 100 ms "$(ratio 100 "$st")"
row "start-up CPU time (exec, verify, open, first answer), $ROWS asset rows (ms)" "$sc" "target" 100 ms "$(ratio 100 "$sc")"
echo "bench/serve: index.db of the $ROWS-row bundle: $(du -h "$BUNDLE/index.db" | cut -f1)" >&2

# ---- route lookup latency on the ROWS-row bundle ----
# Every asset row gets its schematic row (the server answers 404 for an unknown schematic) and the
# index is signed again. wrk requests /image/<random row>/VERSION/kernel-amd64 (1-byte asset);
# nginx serves the same ROWS paths as 1-byte files, so both look a path
# up among ROWS: airfactory in index.db, nginx in the file system. p50/p99 from wrk --latency.
sqlite3 "$BUNDLE/index.db" "INSERT OR IGNORE INTO schematics SELECT DISTINCT schematic, 'customization: {}' FROM assets" ||
  { echo "bench/serve.sh: cannot add the schematic rows" >&2; exit 1; }
openssl dgst -sha256 -sign "$KEY" "$BUNDLE/index.db" | base64 -w0 >"$BUNDLE/index.db.sig" && echo >>"$BUNDLE/index.db.sig"
python3 - "$BUNDLE/index.db" "$W/www" <<'PY' || { echo "bench/serve.sh: cannot build nginx's file tree" >&2; exit 1; }
import os, sqlite3, sys
db, www = sys.argv[1:3]
for schematic, version, path in sqlite3.connect(db).execute("SELECT schematic, version, path FROM assets"):
    d = os.path.join(www, "image", schematic, version)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, path), "wb") as f:  # a file each: ext4 allows 65 000 hard links
        f.write(b"x")
PY
LP=$(free_port)
"$SERVE" "$BUNDLE" --key "$PUB" --listen "127.0.0.1:$LP" 2>"$W/lookup.log" &
LPID=$!; PIDS+=("$LPID")
wait_http "http://127.0.0.1:$LP/healthz" || { echo "airfactory-serve (lookup bundle) did not start: $(tail -3 "$W/lookup.log")" >&2; exit 1; }
probe=image/$(printf '%064x' "$ROWS")/$VERSION/kernel-amd64
[ "$(curl -s "http://127.0.0.1:$LP/$probe")" = x ] && [ "$(curl -s "http://127.0.0.1:$NP/$probe")" = x ] ||
  { echo "bench/serve.sh: the lookup probe $probe does not answer 'x' on both servers" >&2; exit 1; }
cat >"$W/lookup.lua" <<LUA
math.randomseed(42)
request = function()
  return wrk.format("GET", string.format("/image/%064x/$VERSION/kernel-amd64", math.random($ROWS)))
end
LUA
# lookup_latency PORT PID OUT: "p50_ms p99_ms req/s server-CPU-us/request" >> OUT. On a shared
# machine the p99 of both servers is set by the scheduler (stalls of tens of ms hit nginx as
# much); the server's CPU time per request is the part the server itself decides.
lookup_latency() {
  local before after
  before=$(cpu_ticks "$2")
  timeout $((DUR + 30)) wrk -t1 -c8 -d"${DUR}s" --latency -s "$W/lookup.lua" "http://127.0.0.1:$1/" >"$W/wrk.out" 2>&1
  after=$(cpu_ticks "$2")
  awk -v t=$((after - before)) -v hz="$HZ" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) } /Requests\/sec:/ { r = $2 } / requests in / { n = $1 }
    /Non-2xx/ { bad = 1 }
    END { if (bad || p50 == "" || n == 0) exit 1; printf "%.4f %.4f %s %.2f\n", p50, p99, r, t * 1e6 / hz / n }' \
    "$W/wrk.out" >>"$3"
}
: >"$W/lookup.a"; : >"$W/lookup.n"
for round in $(seq 1 "$ROUNDS"); do
  lookup_latency "$LP" "$LPID" "$W/lookup.a" || { echo "bench/serve.sh: wrk on airfactory-serve failed (or non-2xx answers)" >&2; exit 1; }
  lookup_latency "$NP" "$NPID" "$W/lookup.n" || { echo "bench/serve.sh: wrk on nginx failed (or non-2xx answers)" >&2; exit 1; }
done
la50=$(awk '{print $1}' "$W/lookup.a" | median) la99=$(awk '{print $2}' "$W/lookup.a" | median)
ln50=$(awk '{print $1}' "$W/lookup.n" | median) ln99=$(awk '{print $2}' "$W/lookup.n" | median)
lar=$(awk '{print $3}' "$W/lookup.a" | median) lnr=$(awk '{print $3}' "$W/lookup.n" | median)
lac=$(awk '{print $4}' "$W/lookup.a" | median) lnc=$(awk '{print $4}' "$W/lookup.n" | median)
row "route lookup, random /image paths over $ROWS asset rows: p50 latency, wrk -c8 (ms)" "$la50" "nginx ($ROWS files)" "$ln50" ms "$(ratio "$ln50" "$la50")"
row "route lookup, random /image paths over $ROWS asset rows: p99 latency, wrk -c8 (ms)" "$la99" "nginx ($ROWS files)" "$ln99" ms "$(ratio "$ln99" "$la99")"
row "route lookup, random /image paths over $ROWS asset rows: req/s, wrk -c8" "$(printf '%.0f' "$lar")" "nginx ($ROWS files)" "$(printf '%.0f' "$lnr")" req/s "$(ratio "$lar" "$lnr")"
row "route lookup, random /image paths over $ROWS asset rows: server CPU per request (us)" "$lac" "nginx ($ROWS files)" "$lnc" us "$(ratio "$lnc" "$lac")"
