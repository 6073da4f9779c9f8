#!/usr/bin/env bash
# bench/registry.sh — pulling an installer image: airfactory-serve's read-only registry against the
# CNCF distribution registry (Debian `docker-registry`, filesystem storage) holding the SAME image.
#
# The bundle is built by `airfactory build` from a small manifest (vanilla schematic, v1.11.3,
# amd64, installer.tar) over build/fixtures. The bundle directory is an OCI layout, so
# `skopeo copy oci:BUNDLE:installer/ID:v1.11.3 docker://distribution/...` pushes exactly the bytes
# airfactory-serve serves (same manifests, same digests) into distribution. Then:
#   1. `skopeo copy --all docker://SERVER/installer/ID:v1.11.3 dir:OUT` from each server, one pull
#      at a time, interleaved A B A B; median wall seconds per pull.
#   2. CONC concurrent pulls from each server (interleaved): pulls per second.
#   3. server CPU time per pull (utime+stime of the server process over the sequential pulls):
#      what the server itself costs, free of skopeo's own client time, which dominates (1).
# Both servers log every request (distribution at its default access log, airfactory-serve's
# text access log); neither uses TLS (skopeo --src-tls-verify=false). Every pull's result is
# compared with the first one (same files, same bytes).
# Rows: BENCH|workload|airfactory|baseline-name|baseline|unit|ratio (ratio > 1: airfactory better).
#   bash bench/registry.sh            7 sequential pulls per server, 3 rounds of 8 concurrent pulls
#   SMOKE=1 bash bench/registry.sh    1 pull and 1 round of 2 concurrent pulls (so it cannot rot)
set -uo pipefail
source "$(dirname "$0")/lib/common.sh"
ROOT=$BENCH_ROOT
BIN=${AIRFACTORY_BIN:-$ROOT/build/release}
AF=$BIN/airfactory SERVE=$BIN/airfactory-serve
if [ "${SMOKE:-0}" = 1 ]; then RUNS=1 CONC=2 CROUNDS=1; else RUNS=${RUNS:-7} CONC=${CONC:-8} CROUNDS=${CROUNDS:-3}; fi
for tool in skopeo docker-registry curl python3; do
  command -v "$tool" >/dev/null || { echo "bench/registry.sh: $tool missing (scripts/install-deps.sh)" >&2; exit 1; }
done
[ -x "$AF" ] && [ -x "$SERVE" ] || { echo "bench/registry.sh: build first (make)" >&2; exit 1; }
bench_workdir registry || exit 1
W=$BENCH_WORKDIR
cd "$W" || exit 1

# ---- the bundle, and the same image in distribution ----
"$AF" keygen -o bundle >/dev/null || exit 1
bench_manifest manifest.yaml '[v1.11.3]' '[amd64]' '[installer.tar]'
t0=$(bench_now)
"$AF" build manifest.yaml -o bundle --key bundle.key --store store >build.log 2>&1 ||
  { echo "bench/registry.sh: airfactory build failed: $(tail -3 build.log)" >&2; exit 1; }
echo "bench/registry: bundle built in $(bench_since "$t0") s" >&2
REF=$(python3 -c '
import json, sys
for m in json.load(open("bundle/index.json"))["manifests"]:
    n = m.get("annotations", {}).get("org.opencontainers.image.ref.name", "")
    if n.startswith("installer/") and n.endswith(":v1.11.3"):
        print(n)')
[ -n "$REF" ] || { echo "bench/registry.sh: no installer/...:v1.11.3 in the bundle's index.json" >&2; exit 1; }
REPO=${REF%:*} TAG=${REF##*:}

bench_distribution distribution.log
DP=$BENCH_DIST_PORT AP=$(bench_free_port)
DPID=$BENCH_LAST_PID
# like with like: distribution (Go) runs on every CPU, so airfactory-serve gets one worker per CPU,
# as contrib/ deploys it
bench_spawn "$SERVE" bundle --key bundle.pub --listen "127.0.0.1:$AP" --workers "$(nproc)" >airfactory.log 2>&1
APID=$BENCH_LAST_PID
bench_wait_http "http://127.0.0.1:$DP/v2/" || { echo "distribution did not start: $(tail -3 distribution.log)" >&2; exit 1; }
bench_wait_http "http://127.0.0.1:$AP/healthz" || { echo "airfactory-serve did not start: $(tail -3 airfactory.log)" >&2; exit 1; }
skopeo copy -q --all --dest-tls-verify=false "oci:bundle:$REF" "docker://127.0.0.1:$DP/$REPO:$TAG" ||
  { echo "bench/registry.sh: push into distribution failed" >&2; exit 1; }
IMAGE_BYTES=$(python3 -c '
import json, os, sys
blobs = "bundle/blobs/sha256/"
def size(d): return os.path.getsize(blobs + d.split(":")[1])
idx = json.load(open(sys.argv[1]))
total = 0
for m in idx["manifests"]:
    man = json.load(open(blobs + m["digest"].split(":")[1]))
    total += size(m["digest"]) + sum(size(l["digest"]) for l in man["layers"] + [man["config"]])
print(total)' "bundle/blobs/sha256/$(skopeo inspect --raw "oci:bundle:$REF" | sha256sum | cut -d' ' -f1)")
MIB=$(awk -v b="$IMAGE_BYTES" 'BEGIN { printf "%.1f", b / 1048576 }')
echo "bench/registry: $REPO:$TAG, $MIB MiB of manifests and blobs; distribution :$DP, airfactory-serve :$AP" >&2

# pull PORT OUT: one skopeo pull of the image into dir:OUT
pull() { skopeo copy -q --all --src-tls-verify=false "docker://127.0.0.1:$1/$REPO:$TAG" "dir:$2" >/dev/null 2>&1; }
same_as_reference() { # OUT: the pulled files are the ones of the reference pull
  [ -d reference ] || { cp -a "$1" reference; return 0; }
  diff -r -q reference "$1" >/dev/null
}
seq_pulls() { # PID PORT NAME: one timed pull, its time >> NAME.s; server CPU ticks >> NAME.cpu
  local before t0
  rm -rf "pull-$3"
  before=$(bench_cpu_ticks "$1")
  t0=$(bench_now)
  pull "$2" "pull-$3" || { echo "bench/registry.sh: pull from $3 failed" >&2; return 1; }
  bench_since "$t0" >>"$3.s"
  echo $(($(bench_cpu_ticks "$1") - before)) >>"$3.cpu"
  same_as_reference "pull-$3" || { echo "bench/registry.sh: $3 served other bytes than the reference pull" >&2; return 1; }
}
conc_pulls() { # PORT NAME: CONC pulls at once; pulls/s >> NAME.rate
  local t0 i pids=() ok=1
  rm -rf "conc-$2"; mkdir "conc-$2"
  t0=$(bench_now)
  for i in $(seq 1 "$CONC"); do pull "$1" "conc-$2/$i" & pids+=($!); done
  for i in "${pids[@]}"; do wait "$i" || ok=0; done
  [ "$ok" = 1 ] || { echo "bench/registry.sh: a concurrent pull from $2 failed" >&2; return 1; }
  awk -v n="$CONC" -v t="$(bench_since "$t0")" 'BEGIN { printf "%.4f\n", n / t }' >>"$2.rate"
  same_as_reference "conc-$2/$CONC" || { echo "bench/registry.sh: $2 served other bytes" >&2; return 1; }
  rm -rf "conc-$2"
}

pull "$DP" warm-d && pull "$AP" warm-a || { echo "bench/registry.sh: warm-up pulls failed" >&2; exit 1; }
same_as_reference warm-d && same_as_reference warm-a || { echo "bench/registry.sh: the servers' images differ" >&2; exit 1; }
for _ in $(seq 1 "$RUNS"); do
  seq_pulls "$APID" "$AP" airfactory || exit 1
  seq_pulls "$DPID" "$DP" distribution || exit 1
done
for _ in $(seq 1 "$CROUNDS"); do
  conc_pulls "$AP" airfactory || exit 1
  conc_pulls "$DP" distribution || exit 1
done
HZ=$(getconf CLK_TCK)
sa=$(bench_median <airfactory.s) sd=$(bench_median <distribution.s)
ra=$(bench_median <airfactory.rate) rd=$(bench_median <distribution.rate)
# CPU: total ticks over all sequential pulls / pulls, in ms (one tick is 10 ms: a per-pull median
# would round to 0 for the faster server)
ca=$(awk -v hz="$HZ" '{ t += $1 } END { printf "%.1f", t * 1000 / hz / NR }' airfactory.cpu)
cd_=$(awk -v hz="$HZ" '{ t += $1 } END { printf "%.1f", t * 1000 / hz / NR }' distribution.cpu)
# below one clock tick in all (short smoke runs): count one tick, so the row still has numbers
floor=$(awk -v hz="$HZ" -v n="$RUNS" 'BEGIN { printf "%.1f", 1000 / hz / n }')
[ "$(awk -v a="$ca" 'BEGIN { print (a > 0) }')" = 1 ] || ca=$floor
[ "$(awk -v a="$cd_" 'BEGIN { print (a > 0) }')" = 1 ] || cd_=$floor
bench_row "skopeo pull of the installer image ($MIB MiB), one at a time (s)" "$sa" "distribution (docker-registry)" "$sd" s "$(bench_ratio "$sd" "$sa")"
bench_row "skopeo pulls of the installer image, $CONC at once (pulls/s)" "$ra" "distribution (docker-registry)" "$rd" pulls/s "$(bench_ratio "$ra" "$rd")"
bench_row "server CPU per installer pull (ms)" "$ca" "distribution (docker-registry)" "$cd_" ms "$(bench_ratio "$cd_" "$ca")"
echo "bench/registry: sequential pulls airfactory $(tr '\n' ' ' <airfactory.s)| distribution $(tr '\n' ' ' <distribution.s)" >&2
