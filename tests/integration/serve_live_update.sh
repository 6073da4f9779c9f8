#!/usr/bin/env bash
# The site side of the nightly loop under a live airfactory-serve (issue #17): build → serve → a
# client loop (assets, iPXE scripts and their chains, downloads in flight, installer pulls through
# the registry) → `build --base` into the served path,
# then `delta --split` + `unpack --onto` → zero failed requests and each new schematic served; a bundle
# signed with another key and an older bundle put in place are refused while the previous one keeps
# serving (logged, /metrics, /readyz); SIGHUP re-checks; a refused bundle swapped in by a writer
# that removed the tree served: /readyz and downloads 503 saying why, recovered at the next good swap.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/serve-lib.bash"
FX=$ROOT/build/fixtures
if [ ! -f "$FX/imager-v1.11.3.oci.tar" ]; then
  fail "fixtures present" "run scripts/make-fixtures first ($FX)"; exit 1
fi
SCR=$(mktemp -d "${TMPDIR:-/tmp}/airfactory-live-test.XXXXXX")
trap serve_cleanup EXIT
S=$SCR
export SOURCE_DATE_EPOCH=1700000000

manifest() { # NAME KERNEL-ARG...: a manifest with the schematics named by their kernel args
  local name=$1; shift
  {
    echo "schematics:"
    local a
    for a in "$@"; do
      printf '  - name: s-%s\n    schematic:\n      customization:\n        extraKernelArgs: [%s]\n' "${a%%=*}" "$a"
    done
    cat <<YAML
versions: [v1.11.3]
architectures: [amd64]
outputs: [kernel, initramfs.xz, cmdline-metal, installer.tar]
sources:
  - {role: imager, path: $FX/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}
  - {role: installer-base, path: $FX/installer-base-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/installer-base:v1.11.3}
trust:
  default: {keys: [$ROOT/tests/keys/cosign.pub]}
signing_key: $S/k.key
output: $S/unused
YAML
  } >"$S/$name.yaml"
}
schematic_id() { # KERNEL-ARG
  printf 'customization:\n    extraKernelArgs:\n        - %s\n' "$1" | sha256sum | cut -d' ' -f1
}
code() { curl -s -o /dev/null -w '%{http_code}' "$URL$1"; }
# wait_for PATH CODE: poll up to 10 s; prints the milliseconds it took
wait_for() {
  local t0 i
  t0=$(date +%s%N)
  for i in $(seq 1 200); do
    [ "$(code "$1")" = "$2" ] && { echo $(( ($(date +%s%N) - t0) / 1000000 )); return 0; }
    sleep 0.05
  done
  echo never; return 1
}
metric() { curl -s "$URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

"$AIRFACTORY" keygen -o "$S/k" >/dev/null
"$AIRFACTORY" keygen -o "$S/other" >/dev/null
A=$(schematic_id console=ttyS0); B=$(schematic_id quiet); C=$(schematic_id nomodeset)
manifest m1 console=ttyS0
manifest m2 console=ttyS0 quiet
manifest m3 console=ttyS0 quiet nomodeset
check "build generation 1" "$AIRFACTORY" build "$S/m1.yaml" -o "$S/live" --store "$S/store" -j 2
cp -a "$S/live" "$S/gen1"

start_serve live "$S/live" --key "$S/k.pub" --workers 2 || { fail "serve starts"; exit 1; }
check_contains "start-up names the generation" "$(cat "$SERVE_LOG")" "(generation 1, built 2023-11-14T22:13:20Z)"
check_eq "generation metric" "$(metric airfactory_bundle_generation)" 1
check_eq "B not served yet" "$(code "/schematics/$B")" 404

python3 "$ROOT/tests/integration/live-client.py" "$URL" "$A" v1.11.3 "$S/stop" "$S/report.json" &
CLIENT=$!
SERVE_EXTRA_PIDS+=("$CLIENT")
sleep 1

# ---- 1. build --base into the served path ----
check "build --base LIVE -o LIVE (generation 2) under the running server" \
  "$AIRFACTORY" build "$S/m2.yaml" -o "$S/live" --base "$S/live" --store "$S/store" -j 2
ms=$(wait_for "/schematics/$B" 200)
check_eq "the new schematic is served after build's swap" "$([ "$ms" != never ] && echo yes)" yes
echo "  (new schematic served ${ms} ms after build returned; polled every 250 ms — reported, not asserted: no timing asserts)"
check_eq "its boot assets too" "$(code "/image/$B/v1.11.3/kernel-amd64")" 200
check_eq "generation metric: 2" "$(metric airfactory_bundle_generation)" 2
sleep 0.5

# ---- 2. delta + unpack --onto the served path ----
check "build generation 3 elsewhere (--base LIVE)" \
  "$AIRFACTORY" build "$S/m3.yaml" -o "$S/next" --base "$S/live" --store "$S/store" -j 2
check "delta --split LIVE NEXT" "$AIRFACTORY" delta "$S/live" "$S/next" --split 1M -o "$S/d.parts"
check "unpack the parts --onto LIVE under the running server" \
  "$AIRFACTORY" unpack "$S/d.parts" --onto "$S/live" --key "$S/k.pub"
ms=$(wait_for "/schematics/$C" 200)
check_eq "the delta's schematic is served" "$([ "$ms" != never ] && echo yes)" yes
check_eq "generation metric: 3" "$(metric airfactory_bundle_generation)" 3
check_eq "/readyz: 200 while the bundle at the path is the one served" "$(code /readyz)" 200
sleep 0.5

# ---- 3. a bundle signed with another key, put in place with mv: refused ----
"$AIRFACTORY" build "$S/m3.yaml" -o "$S/forged" --key "$S/other.key" --store "$S/store" -j 2 2>/dev/null
mv "$S/live" "$S/live.prev" && mv "$S/forged" "$S/live"
for _ in $(seq 1 200); do [ "$(metric airfactory_bundle_refused)" = 1 ] && break; sleep 0.05; done
check_eq "forged bundle: refused (metric)" "$(metric airfactory_bundle_refused)" 1
check_contains "forged bundle: logged" "$(cat "$SERVE_LOG")" "the bundle now at $S/live is refused, still serving generation 3"
check_contains "forged bundle: the log says why" "$(cat "$SERVE_LOG")" "signature does not verify"
check_eq "forged bundle: /readyz still 200 (the previous bundle answers)" "$(code /readyz)" 200
check_contains "forged bundle: /readyz says why" "$(curl -s "$URL/readyz")" "refused"
check_eq "forged bundle: the previous bundle keeps serving" "$(code "/image/$C/v1.11.3/kernel-amd64")" 200
kill -HUP "$SERVE_PID"
for _ in $(seq 1 200); do [ "$(grep -c "refused, still serving generation 3" "$SERVE_LOG")" -ge 4 ] && break; sleep 0.05; done
check_eq "SIGHUP re-checks: refused again, logged per worker" "$(grep -c "refused, still serving generation 3" "$SERVE_LOG")" 4
mv "$S/live" "$S/forged" && mv "$S/live.prev" "$S/live"
for _ in $(seq 1 200); do [ "$(metric airfactory_bundle_refused)" = 0 ] && break; sleep 0.05; done
check_eq "the served bundle back at the path: nothing refused" "$(metric airfactory_bundle_refused)" 0

# ---- 4. an older bundle put in place: refused ----
mv "$S/live" "$S/live.prev" && cp -a "$S/gen1" "$S/live"
for _ in $(seq 1 200); do [ "$(metric airfactory_bundle_refused)" = 1 ] && break; sleep 0.05; done
# the worker counts the refusal before it writes the log line: wait for the line as well
for _ in $(seq 1 200); do grep -q "is older than the bundle served (generation 3" "$SERVE_LOG" && break; sleep 0.05; done
check_contains "older bundle: refused, saying so" "$(cat "$SERVE_LOG")" "is older than the bundle served (generation 3"
check_eq "older bundle: the newer one keeps serving" "$(code "/schematics/$C")" 200
rm -rf "$S/live" && mv "$S/live.prev" "$S/live"
for _ in $(seq 1 200); do [ "$(metric airfactory_bundle_refused)" = 0 ] && break; sleep 0.05; done
kill -HUP "$SERVE_PID"
for _ in $(seq 1 200); do grep -q "is unchanged (generation 3)" "$SERVE_LOG" && break; sleep 0.05; done
check_contains "SIGHUP with nothing new: says unchanged" "$(cat "$SERVE_LOG")" "is unchanged (generation 3)"

touch "$S/stop"
wait "$CLIENT"
report=$(cat "$S/report.json")
read -r requests failures slow pulls boots <<<"$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["requests"], d["failures"], d["slow_downloads"], d["pulls"], d["ipxe_boots"])' "$S/report.json")"
check_eq "client loop: zero failed requests" "$failures" 0
[ "$failures" = 0 ] || echo "  $report"
check_eq "client loop: it ran (many requests, slow downloads completed)" "$([ "$requests" -gt 100 ] && [ "$slow" -gt 1 ] && echo yes)" yes
check_eq "client loop: installer pulls through the registry (manifest, config, layers) completed throughout" \
  "$([ "$pulls" -gt 2 ] && echo yes)" yes
check_eq "client loop: iPXE scripts and the files they chain fetched throughout" "$([ "$boots" -gt 2 ] && echo yes)" yes
echo "  ($requests requests, $slow slow downloads, $pulls installer pulls, $boots iPXE script + chain fetches)"
check_eq "no 'damaged' message: no blob was ever really missing" "$(grep -c damaged "$SERVE_LOG")" 0
check_eq "every switch logged by both workers" "$(grep -c "switched to the new bundle" "$SERVE_LOG")" 4

# ---- 5. a writer swaps in a bundle the server refuses AND removes the tree served ----
# (`unpack --allow-downgrade` against a server without that flag): the server cannot serve blobs
# that are gone; it says so precisely on /readyz, on each download (503, Retry-After) and in the
# log, and recovers at the next good swap.
"$AIRFACTORY" pack "$S/gen1" -o "$S/gen1.tar" 2>/dev/null
layer=$(python3 - "$URL/v2/installer/$A" <<'PY'
import json, sys, urllib.request
def get(path, accept):
    return json.load(urllib.request.urlopen(urllib.request.Request(sys.argv[1] + path, headers={"Accept": accept})))
index = get("/manifests/v1.11.3", "application/vnd.oci.image.index.v1+json")
print(get("/manifests/" + index["manifests"][0]["digest"], "application/vnd.oci.image.manifest.v1+json")["layers"][0]["digest"])
PY
)
check "unpack --allow-downgrade of generation 1 onto the served path (the writer removes generation 3)" \
  "$AIRFACTORY" unpack "$S/gen1.tar" "$S/live" --key "$S/k.pub" --allow-downgrade
for _ in $(seq 1 200); do [ "$(code /readyz)" = 503 ] && break; sleep 0.05; done
ready=$(curl -s -D "$S/h" "$URL/readyz")
check_eq "gone: /readyz 503" "$(code /readyz)" 503
check_contains "gone: /readyz says the bundle served was removed" "$ready" "the bundle served (generation 3) was removed from disk and the one now at $S/live is refused"
check_contains "gone: /readyz says why the new one is refused" "$ready" "is older than the bundle served"
check_contains "gone: /readyz says how it recovers" "$ready" "until a bundle that verifies and is not older is put at $S/live"
check_contains "gone: /readyz has Retry-After" "$(cat "$S/h")" "Retry-After: 30"
check_eq "gone: /healthz stays 200 (the process is fine; a restart would serve generation 1)" "$(code /healthz)" 200
check_eq "gone: metadata from the index still open answers (/versions)" "$(code /versions)" 200
body=$(curl -s -D "$S/h" "$URL/image/$C/v1.11.3/kernel-amd64")
check_eq "gone: an asset download is 503, not 500" "$(code "/image/$C/v1.11.3/kernel-amd64")" 503
check_contains "gone: the download says why" "$body" "503 Service Unavailable: the bundle served (generation 3) was removed from disk"
check_contains "gone: the download has Retry-After" "$(cat "$S/h")" "Retry-After: 30"
reg=$(curl -s -w '|%{http_code}' "$URL/v2/installer/$A/blobs/$layer")
check_contains "gone: a registry blob is 503 with the registry's error JSON (UNAVAILABLE)" "$reg" '"code":"UNAVAILABLE"'
check_contains "gone: ... status 503" "$reg" "|503"
for _ in $(seq 1 200); do [ "$(grep -c "was removed from disk and the one now at $S/live is refused" "$SERVE_LOG")" -ge 2 ] && break; sleep 0.05; done
sleep 0.5 # a third line (a worker logging twice) would show up in this time
check_eq "gone: logged once per worker, precisely" "$(grep -c "error: the bundle served (generation 3) was removed from disk and the one now at $S/live is refused" "$SERVE_LOG")" 2
check_eq "gone: never called damaged" "$(grep -c damaged "$SERVE_LOG")" 0
# the next good swap: generation 3 again (the connected side's NEXT), unpacked onto the path
"$AIRFACTORY" pack "$S/next" -o "$S/next.tar" 2>/dev/null
check "unpack generation 3 (NEXT) onto the path" "$AIRFACTORY" unpack "$S/next.tar" "$S/live" --key "$S/k.pub"
ms=$(wait_for /readyz 200)
check_eq "recovered: /readyz 200 after the good swap" "$([ "$ms" != never ] && echo yes)" yes
check_eq "recovered: downloads 200 again" "$(code "/image/$C/v1.11.3/kernel-amd64")" 200
check_eq "recovered: the registry too" "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v2/installer/$A/blobs/$layer")" 200
check_eq "recovered: generation metric 3" "$(metric airfactory_bundle_generation)" 3
check_contains "recovered: the switch logged" "$(tail -n 20 "$SERVE_LOG")" "switched to the new bundle at $S/live (generation 3"
check_eq "recovered: nothing refused" "$(metric airfactory_bundle_refused)" 0
# a blob really missing from the bundle served (the path still names it): that is damage
kernel=$(sqlite3 "$S/live/index.db" "SELECT digest FROM assets WHERE schematic='$C' AND path='kernel-amd64'" 2>/dev/null | head -1)
if [ -n "$kernel" ]; then
  rm -f "$S/live/blobs/sha256/${kernel#sha256:}"
  check_eq "a blob missing from the bundle served: 500" "$(code "/image/$C/v1.11.3/kernel-amd64")" 500
  check_contains "... logged as damage, with the fix" "$(tail -n 5 "$SERVE_LOG")" "the bundle is damaged, re-copy it (airfactory verify --full $S/live)"
else
  fail "the kernel's digest from index.db" "no row in assets for $C"
fi
# a small blob's descriptor is kept between requests (serve_response_blob's cache): a blob changed
# or removed after it was served is noticed just as on a first request
cmdline=$(sqlite3 "$S/live/index.db" "SELECT digest FROM assets WHERE schematic='$C' AND path='cmdline-metal-amd64'" 2>/dev/null | head -1)
if [ -n "$cmdline" ]; then
  f="$S/live/blobs/sha256/${cmdline#sha256:}"
  cmd_codes() { for _ in 1 2 3 4 5 6; do code "/image/$C/v1.11.3/cmdline-metal-amd64"; echo; done | sort -u | tr '\n' ' '; }
  check_eq "a small blob, asked for six times (both workers keep it): 200" "$(cmd_codes)" "200 "
  cp "$f" "$S/cmdline.saved"
  printf x >>"$f"
  check_eq "... then grown in place: 500 every time" "$(cmd_codes)" "500 "
  cat "$S/cmdline.saved" >"$f"
  check_eq "... its size back: 200 again" "$(cmd_codes)" "200 "
  rm -f "$f"
  check_eq "... then removed: 500 every time" "$(cmd_codes)" "500 "
  cp "$S/cmdline.saved" "$f"
  check_eq "... put back (a new file): 200 again" "$(cmd_codes)" "200 "
  ln -f "$f" "$S/cmdline.other-link"
  rm -f "$f"
  check_eq "... removed while a hard link to it lives elsewhere: 500 every time" "$(cmd_codes)" "500 "
  cp "$S/cmdline.saved" "$f"
  check_eq "... put back again: 200" "$(cmd_codes)" "200 "
else
  fail "the cmdline's digest from index.db" "no row in assets for $C"
fi
stop_serve
check_eq "server stops cleanly" "$STOP_RC" 0
