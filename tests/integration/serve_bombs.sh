#!/usr/bin/env bash
# serve_bombs — hostile POST /schematics bodies against a memory-capped server while other
# clients keep asking: alias bombs (the issue #14 one: a 1 MiB scalar aliased 1 500 and 3 000
# times), billion laughs, nesting bombs, a 220 000-node body, long digit-run keys, a body over
# the 4 MiB limit, and the heaviest legal bodies (4 MiB literal, 4 MiB of alias copies, 60 000
# keys). The server must stay up, every bomb must get a 4xx, and the small requests sent
# meanwhile must all succeed. Printed, not asserted (no timing asserts): the server's peak RSS
# and the latency of small GETs (answered by the event loop) and small POST /schematics
# (decoded one at a time by the helper thread, behind the bombs), idle and under the bombs.
#
# The memory cap is an address-space limit (prlimit --as), which ASan cannot run under, so this
# suite runs the release build (build/release, made by `make check`) and skips when it is
# missing. About 20 s. The CLI (`schematic id`, `plan`) is fed the same bombs at the end.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/serve-lib.bash"
serve_setup
cd "$SCR" || exit 1

RELEASE_SERVE=${AIRFACTORY_SERVE_RELEASE:-$ROOT/build/release/airfactory-serve}
CAP_MB=${SERVE_BOMBS_CAP_MB:-384}
if [ ! -x "$RELEASE_SERVE" ] || ! command -v prlimit >/dev/null; then
  skip "serve_bombs" "needs $RELEASE_SERVE (make) and prlimit (util-linux)"
  exit 0
fi

# the bodies (python: exact sizes, no shell quoting of megabytes)
python3 - <<'EOF'
MIB = 1 << 20
big = "x" * MIB
def write(name, text):
    open(name, "w").write(text)
head = "customization:\n  extraKernelArgs:\n    - &a " + big + "\n"
write("alias-1500.yaml", head + "    - *a\n" * 1500)
write("alias-3000.yaml", head + "    - *a\n" * 3000)
laughs = "a0: &a0 [" + ", ".join(["lol"] * 10) + "]\n"
for i in range(1, 9):
    laughs += "a%d: &a%d [%s]\n" % (i, i, ", ".join(["*a%d" % (i - 1)] * 10))
write("laughs.yaml", laughs)
write("nest-flow.yaml", "[" * (4 * MIB - 16) + "\n")
write("nest-block.yaml", "- " * (2 * MIB - 8) + "x\n")
write("nodes.yaml", "customization:\n  extraKernelArgs: [" + ",".join(["a" * 16] * 220000) + "]\n")
write("keys.yaml", "overlay:\n  image: i\n  name: n\n  options:\n    k:\n"
      + "".join("      k%d: 1\n" % i for i in range(60000)))
digits = "9876543210" * 200
write("digits.yaml", "overlay:\n  image: i\n  name: n\n  options:\n    k:\n"
      + "".join("      ? k%d%s\n      : 1\n" % (i, digits) for i in range(400)))
# legal bodies at the size limit: decoded, then 201 with the ID (not in the bundle: X-Airfactory-Bundle)
line = "    machine: {type: worker, install: {disk: /dev/sda}}\n"
hd = "customization:\n  embeddedMachineConfiguration: |\n"
write("max-literal.yaml", hd + line * ((4 * MIB - len(hd)) // len(line)))
write("max-aliases.yaml", head + "    - *a\n" * 3)
EOF

start_serve_capped() {
  PORT=$(free_port)
  URL=http://127.0.0.1:$PORT
  SERVE_LOG=$SCR/serve-capped.log
  prlimit --as=$((CAP_MB << 20)) -- "$RELEASE_SERVE" "$BUNDLE" --key "$PUB" --listen "127.0.0.1:$PORT" \
    --log-format none >/dev/null 2>"$SERVE_LOG" &
  SERVE_PID=$!
  SERVE_PIDS+=("$SERVE_PID")
  local i
  for i in $(seq 1 100); do
    curl -s -o /dev/null --max-time 1 "$URL/healthz" && return 0
    kill -0 "$SERVE_PID" 2>/dev/null || break
    sleep 0.1
  done
  return 1
}
start_serve_capped || { fail "release server starts under a ${CAP_MB} MiB address-space cap" "$(tail -5 "$SERVE_LOG")"; exit 1; }
pass "release server starts under a ${CAP_MB} MiB address-space cap"

# One program: bomb posters (2 in parallel) and two probers sending small requests (GET
# /versions; a small POST /schematics), each on a new connection, until the bombs are done; a sampler
# reads the server's VmHWM/VmRSS. Prints "STATUS name code", "PROBE ok/total", figures.
python3 - "$PORT" "$SERVE_PID" <<'EOF' >bombs.out
import http.client, socket, sys, threading, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
bombs = ["alias-1500", "alias-3000", "laughs", "nest-flow", "nest-block", "nodes", "keys", "digits",
         "over-limit", "max-literal", "max-aliases"]

def request(method, path, body=None, timeout=60):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers={"Content-Type": "application/yaml"})
        r = c.getresponse()
        r.read()
        return r.status
    except (OSError, http.client.HTTPException) as e:
        return "error:" + type(e).__name__
    finally:
        c.close()

def vm(field):
    try:
        for line in open("/proc/%d/status" % pid):
            if line.startswith(field + ":"):
                return int(line.split()[1]) // 1024
    except OSError:
        return -1
    return -1

def probe_one(until, lat, fails, get):
    small = b"customization: {}\n"
    while not until.is_set():
        t = time.monotonic()
        st = request("GET", "/versions", timeout=30) if get else request("POST", "/schematics", small, 30)
        lat["get" if get else "post"].append((time.monotonic() - t) * 1000)
        if st not in (200, 201):
            fails.append(st)
        time.sleep(0.01)

class probe:
    """Two threads: small GETs (the event loop) and small POST /schematics (the helper thread)."""
    def __init__(self, until, lat, fails):
        self.threads = [threading.Thread(target=probe_one, args=(until, lat, fails, g)) for g in (True, False)]
    def start(self):
        for t in self.threads: t.start()
    def join(self):
        for t in self.threads: t.join()

def over_limit():
    # the 413 comes after the head, before the body: send the head alone, read the answer
    c = socket.create_connection(("127.0.0.1", port), timeout=30)
    c.sendall(b"POST /schematics HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (4 * 1024 * 1024 + 1))
    data = b""
    while b"\r\n" not in data:
        d = c.recv(4096)
        if not d:
            break
        data += d
    c.close()
    return int(data.split(b" ")[1]) if data.startswith(b"HTTP/1.1 ") else "closed"

def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p))] if v else float("nan")

# idle baseline
idle_rss = vm("VmRSS")
done = threading.Event(); base, base_fail = {"get": [], "post": []}, []
t = probe(done, base, base_fail); t.start()
time.sleep(2); done.set(); t.join()

# under the bombs
results, rss_peak = {}, [0]
done = threading.Event(); lat, fails = {"get": [], "post": []}, []
prober = probe(done, lat, fails); prober.start()
stop_sampling = threading.Event()
def sampler():
    while not stop_sampling.is_set():
        rss_peak[0] = max(rss_peak[0], vm("VmRSS")); time.sleep(0.02)
threading.Thread(target=sampler, daemon=True).start()
queue = list(bombs) * 2
lock = threading.Lock()
def poster():
    while True:
        with lock:
            if not queue:
                return
            name = queue.pop(0)
        st = over_limit() if name == "over-limit" else request("POST", "/schematics", open(name + ".yaml", "rb").read())
        with lock:
            results.setdefault(name, []).append(st)
t0 = time.monotonic()
posters = [threading.Thread(target=poster) for _ in range(2)]
for p in posters: p.start()
for p in posters: p.join()
elapsed = time.monotonic() - t0
done.set(); prober.join(); stop_sampling.set()
for name in bombs:
    print("STATUS", name, ",".join(str(s) for s in results.get(name, [])))
n = len(lat["get"]) + len(lat["post"])
print("PROBE %d/%d" % (n - len(fails), n), "failures:", fails[:5])
print("FIGURES %d bodies in %.1f s; server VmHWM %d MiB (peak VmRSS sampled %d MiB, %d MiB idle)" %
      (len(bombs) * 2, elapsed, vm("VmHWM"), rss_peak[0], idle_rss))
for when, d in (("idle", base), ("under the bombs", lat)):
    for kind, label in (("get", "GET /versions"), ("post", "small POST /schematics")):
        v = d[kind]
        print("FIGURES %s %s: n=%d p50=%.1f ms p99=%.1f ms max=%.1f ms" %
              (label, when, len(v), pct(v, .5), pct(v, .99), max(v or [0])))
EOF

st() { awk -v n="$1" '$1 == "STATUS" && $2 == n {print $3}' bombs.out; }
for b in alias-1500 alias-3000 laughs nest-flow nest-block nodes digits; do
  check_eq "bomb $b: 400 both times" "$(st "$b")" "400,400"
done
check_eq "body over 4 MiB: 413" "$(st over-limit)" "413,413"
check_eq "legal 4 MiB literal body: decoded (201 with the ID, not in the bundle)" "$(st max-literal)" "201,201"
check_eq "legal 4 MiB of aliases: decoded (201 with the ID, not in the bundle)" "$(st max-aliases)" "201,201"
check_eq "legal 60 000-key body: decoded (201 with the ID, not in the bundle)" "$(st keys)" "201,201"
probe=$(awk '$1 == "PROBE" {print $2}' bombs.out)
if [ -n "$probe" ] && [ "${probe%/*}" = "${probe#*/}" ] && [ "${probe#*/}" -gt 0 ]; then
  pass "every small request answered while the bombs went off ($probe)"
else
  fail "every small request answered while the bombs went off" "$(grep PROBE bombs.out)"
fi
check "server alive after the bombs (under the ${CAP_MB} MiB cap)" kill -0 "$SERVE_PID"
check_eq "server still answers" "$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")" "200"
if grep -qi "out of memory\|abort" "$SERVE_LOG"; then fail "no out-of-memory in the server log" "$(tail -3 "$SERVE_LOG")"; else pass "no out-of-memory in the server log"; fi
grep '^FIGURES' bombs.out | sed 's/^FIGURES /serve_bombs: /'
curl -s "$URL/metrics" >metrics.txt
ms() { awk -v m="$1" '$1 == m {printf "%.1f ms", $2 * 1000}' metrics.txt; }
echo "serve_bombs: longest event-loop pass since start: $(ms airfactory_event_loop_longest_iteration_cpu_seconds)" \
     "of the loop's CPU, $(ms airfactory_event_loop_longest_iteration_seconds) wall clock (adds preemption)"

# the same bombs through the CLI (schematic id reads the same limits)
for b in alias-1500 laughs nest-flow; do
  rc=0; "$AIRFACTORY" schematic id "$b.yaml" >/dev/null 2>cli.err || rc=$?
  check_eq "airfactory schematic id $b: input error (exit 2)" "$rc" "2"
done
check_contains "the CLI names the file, line and limit" "$(cat cli.err)" "nest-flow.yaml:1:"
{ printf 'schematics:\n  - name: bomb\n    schematic:\n'; sed 's/^/      /' alias-3000.yaml
  printf 'versions: [v1.11.3]\narchitectures: [amd64]\noutputs: [kernel]\n'; } >bomb-manifest.yaml
rc=0; "$AIRFACTORY" plan bomb-manifest.yaml >/dev/null 2>cli.err || rc=$?
check_eq "airfactory plan with the bomb inline: input error (exit 2)" "$rc" "2"
check_contains "plan says which limit" "$(cat cli.err)" "aliases expand to more than 4 MiB of text"
