#!/usr/bin/env bash
# bench/scale.sh — a generated manifest of many schematics (issue #21 item 3; the sharded build is
# bench/shard.sh's row): how the build and the bundle grow from 10 to 50 and N schematics, the
# no-op rerun, the deltas a site is sent, and airfactory-serve on the big bundle.
#
#   bash bench/scale.sh              N = 100 schematics, MID = N/2 (SCHEMATICS=N, MID=M to change)
#   SMOKE=1 bash bench/scale.sh      N = 3, MID = 2 against 1, one lookup round (so the script cannot rot)
#
# Schematic i (0 <= i < N) uses the fixtures' v1.11.3 extensions hello-world-service,
# test-firmware and intel-ucode as the bits of i mod 8 (every combination, the empty one too) and
# the kernel argument airfactory.bench=<i>, so every schematic ID differs. Talos v1.11.3, amd64;
# outputs kernel, initramfs.xz (what the extensions change) and cmdline-metal: 3 assets per
# schematic. The "changed" manifest is the N-schematic one with schematic 0's kernel argument
# changed (airfactory.bench=0-changed): a new schematic ID, what a nightly mirror sends. Rows
# (BENCH|workload|airfactory|baseline-name|baseline|unit|ratio; ratio > 1 is better):
#   1. full build of MID and of N schematics (s), each against MID/10 resp. N/10 times the build
#      of the first 10 (linear growth): ratio > 1 means the build grows slower than the count
#   2. peak RSS of the N-schematic build against the 10-schematic build's
#   3. no-op rerun of the N-schematic manifest into the same target (s) against the 2 s goal
#   4. bundle size (du, MiB), blob files and index.db size (KiB) of the MID- and N-schematic
#      bundles, each against the 10-schematic bundle's times MID/10 resp. N/10 (linear growth)
#   5. `airfactory delta` MID -> N and N -> changed: size (MiB) and time (s), each against
#      `airfactory pack` of the newer bundle (what the site is sent without deltas)
#   6. airfactory-serve start-up to the first answer on the N-schematic bundle, signature
#      checked (ms), against the 100 ms target
#   7. route lookup p99 (wrk -c8, random /image paths of the bundle) on the N-schematic bundle
#      against the same on the 10-schematic bundle: lookups must not slow down with the bundle
# One build, delta and pack each (a full build of 100 schematics takes seconds to minutes);
# start-up (5 runs) and lookups (ROUNDS rounds of DUR seconds, interleaved) are medians.
set -uo pipefail
source "$(dirname "$0")/lib/common.sh"
ROOT=$BENCH_ROOT
BIN=${AIRFACTORY_BIN:-$ROOT/build/release}
AF=$BIN/airfactory SERVE=$BIN/airfactory-serve
[ -x "$AF" ] && [ -x "$SERVE" ] || { echo "bench/scale.sh: build first (make)" >&2; exit 1; }
[ -f "$ROOT/build/fixtures/imager-v1.11.3.oci.tar" ] || { echo "bench/scale.sh: run scripts/make-fixtures first" >&2; exit 1; }
for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "bench/scale.sh: $tool missing (scripts/install-deps.sh)" >&2; exit 1; }
done
if [ "${SMOKE:-0}" = 1 ]; then
  N=${SCHEMATICS:-3} SMALL=1 DUR=1 ROUNDS=1
else
  N=${SCHEMATICS:-100} SMALL=10 DUR=${DUR:-5} ROUNDS=${ROUNDS:-3}
fi
MID=${MID:-$((N / 2 > SMALL ? N / 2 : SMALL + 1))}
[ "$SMALL" -lt "$MID" ] && [ "$MID" -lt "$N" ] ||
  { echo "bench/scale.sh: need $SMALL < MID < N schematics, have MID=$MID N=$N (set SCHEMATICS, MID)" >&2; exit 1; }
bench_workdir scale || exit 1
W=$BENCH_WORKDIR
cd "$W" || exit 1
export SOURCE_DATE_EPOCH=1700000000
"$AF" keygen -o key >/dev/null || exit 1

# schematics COUNT [CHANGE]: the schematics: YAML of the first COUNT schematics; with CHANGE,
# schematic 0's kernel argument is airfactory.bench=0-CHANGE (so its ID differs)
schematics() {
  local i bits arg
  for ((i = 0; i < $1; i++)); do
    bits=$((i % 8)) arg=$i
    [ "$i" -eq 0 ] && [ -n "${2:-}" ] && arg=0-$2
    printf '  - name: scale-%03d\n    schematic:\n      customization:\n        extraKernelArgs: [airfactory.bench=%s]\n' "$i" "$arg"
    if [ "$bits" -ne 0 ]; then
      printf '        systemExtensions:\n          officialExtensions:\n'
      [ $((bits & 1)) -ne 0 ] && printf '            - siderolabs/hello-world-service\n'
      [ $((bits & 2)) -ne 0 ] && printf '            - siderolabs/test-firmware\n'
      [ $((bits & 4)) -ne 0 ] && printf '            - siderolabs/intel-ucode\n'
    fi
  done
}
bench_manifest small.yaml '[v1.11.3]' '[amd64]' '[kernel, initramfs.xz, cmdline-metal]' "$(schematics "$SMALL")"
bench_manifest mid.yaml '[v1.11.3]' '[amd64]' '[kernel, initramfs.xz, cmdline-metal]' "$(schematics "$MID")"
bench_manifest big.yaml '[v1.11.3]' '[amd64]' '[kernel, initramfs.xz, cmdline-metal]' "$(schematics "$N")"
bench_manifest changed.yaml '[v1.11.3]' '[amd64]' '[kernel, initramfs.xz, cmdline-metal]' "$(schematics "$N" changed)"

# build NAME MANIFEST TARGET STORE: "seconds peak-RSS-KiB" of `airfactory build` into TARGET
# (each full build has its own empty store, so it imports its sources; the no-op rerun and the
# changed manifest's build reuse the N-schematic store)
build() {
  local t0 rss
  t0=$(bench_now)
  rss=$(python3 - "$AF" build "$2" -o "$3" --store "$4" --key key.key <<'EOF' 2>"$1.log"
import resource, subprocess, sys
rc = subprocess.call(sys.argv[1:], stdout=sys.stderr)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc)
EOF
  ) || { echo "bench/scale.sh: $1 build failed: $(tail -3 "$1.log")" >&2; return 1; }
  echo "$(bench_since "$t0") $rss"
}
echo "bench/scale: building $SMALL schematics" >&2
read -r ts rs < <(build small small.yaml bsmall store-small) || exit 1
echo "bench/scale: building $MID schematics" >&2
read -r tm _ < <(build mid mid.yaml bmid store-mid) || exit 1
echo "bench/scale: building $N schematics" >&2
read -r tb rb < <(build big big.yaml bbig store-big) || exit 1
echo "bench/scale: no-op rerun" >&2
read -r tn _ < <(build noop big.yaml bbig store-big) || exit 1
grep -q 'written and signed: 0 assets built' noop.log ||
  { echo "bench/scale.sh: the no-op rerun built assets: $(grep 'written and signed' noop.log)" >&2; exit 1; }
echo "bench/scale: $N schematics, one changed (the same store, a new target)" >&2
read -r _ _ < <(build changed changed.yaml bchanged store-big) || exit 1

# sizes BUNDLE: "du-MiB blob-count index.db-KiB" of BUNDLE
sizes() {
  local kib blobs db
  kib=$(du -sk "$1" | cut -f1) && blobs=$(find "$1/blobs/sha256" -type f | wc -l) &&
    db=$(stat -c %s "$1/index.db") || { echo "bench/scale.sh: cannot measure $1" >&2; return 1; }
  awk -v k="$kib" -v b="$blobs" -v d="$db" 'BEGIN { printf "%.2f %d %.1f\n", k / 1024, b, d / 1024 }'
}
read -r ks bs ds < <(sizes bsmall) && read -r km bm dm < <(sizes bmid) && read -r kb bb db < <(sizes bbig) || exit 1
for n in "$SMALL $ks $bs $ds" "$MID $km $bm $dm" "$N $kb $bb $db"; do
  read -r c k b d <<<"$n"
  echo "bench/scale: $c schematics: $k MiB bundle (du), $b blobs, index.db $d KiB" >&2
done

# timed_size NAME CMD...: "seconds MiB" of CMD, which writes the file NAME (removed after)
timed_size() {
  local out=$1 t0 t
  shift
  t0=$(bench_now)
  "$@" >"$out.log" 2>&1 || { echo "bench/scale.sh: $* failed: $(tail -3 "$out.log")" >&2; return 1; }
  t=$(bench_since "$t0")
  awk -v t="$t" -v s="$(stat -c %s "$out")" 'BEGIN { printf "%.3f %.2f\n", t, s / 1048576 }'
  rm -f "$out"
}
echo "bench/scale: deltas and packs" >&2
read -r tdm sdm < <(timed_size d-mid.tar "$AF" delta bmid bbig -o d-mid.tar) || exit 1
read -r tpb spb < <(timed_size p-big.tar "$AF" pack bbig -o p-big.tar) || exit 1
read -r tdc sdc < <(timed_size d-chg.tar "$AF" delta bbig bchanged -o d-chg.tar) || exit 1
read -r tpc spc < <(timed_size p-chg.tar "$AF" pack bchanged -o p-chg.tar) || exit 1

# start-up: exec -> first /healthz answer, signature checked (bench/serve.sh's measure)
startup_ms() {
  python3 - "$SERVE" "$1" key.pub <<'EOF'
import socket, subprocess, sys, time
serve, bundle, pub = sys.argv[1:4]
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
t0 = time.perf_counter()
p = subprocess.Popen([serve, bundle, "--key", pub, "--listen", "127.0.0.1:%d" % port, "--log-format", "none"],
                     stderr=subprocess.DEVNULL)
while True:
    try:
        c = socket.create_connection(("127.0.0.1", port))
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        if c.recv(100).startswith(b"HTTP/1.1 200"):
            break
    except OSError:
        time.sleep(0.0005)
print("%.1f" % ((time.perf_counter() - t0) * 1000))
p.terminate()
p.wait()
EOF
}
: >start
for _ in 1 2 3 4 5; do startup_ms bbig >>start; done

# lookup_p99 BUNDLE: p99 ms of wrk -c8 over random asset paths of BUNDLE (every answer a 200)
lookup_p99() {
  local port pid
  port=$(bench_free_port)
  "$AF" ls "$1" --json 2>/dev/null | python3 -c '
import json, sys
paths = ["/image/%s/%s/%s" % (a["schematic"], a["version"], a["path"]) for a in json.load(sys.stdin)["assets"]]
print("local paths = {%s}" % ",".join(json.dumps(p) for p in paths))
print("math.randomseed(42)")
print("request = function() return wrk.format(\"GET\", paths[math.random(#paths)]) end")' >"$1.lua" ||
    { echo "bench/scale.sh: cannot list $1" >&2; return 1; }
  bench_spawn "$SERVE" "$1" --key key.pub --listen "127.0.0.1:$port" --log-format none 2>/dev/null
  pid=$BENCH_LAST_PID
  bench_wait_http "http://127.0.0.1:$port/healthz" || { echo "bench/scale.sh: airfactory-serve did not start" >&2; return 1; }
  timeout $((DUR + 30)) wrk -t1 -c8 -d"${DUR}s" --latency -s "$1.lua" "http://127.0.0.1:$port/" 2>&1 | awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    $1 == "99%" { p99 = ms($2) } /Non-2xx/ { bad = 1 }
    END { if (bad || p99 == "") exit 1; printf "%.4f\n", p99 }'
  local rc=$?
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return $rc
}
: >lookup.small; : >lookup.big
for _ in $(seq 1 "$ROUNDS"); do
  lookup_p99 bsmall >>lookup.small && lookup_p99 bbig >>lookup.big ||
    { echo "bench/scale.sh: wrk failed (or non-2xx answers)" >&2; exit 1; }
done

linear=$(awk -v t="$ts" -v n="$MID" -v s="$SMALL" 'BEGIN { printf "%.2f", t * n / s }')
bench_row "$MID schematics x 3 outputs (v1.11.3 amd64): full build (s)" "$(printf '%.2f' "$tm")" \
  "$SMALL schematics x $MID/$SMALL (linear growth)" "$linear" s "$(bench_ratio "$linear" "$tm")"
linear=$(awk -v t="$ts" -v n="$N" -v s="$SMALL" 'BEGIN { printf "%.2f", t * n / s }')
bench_row "$N schematics x 3 outputs (v1.11.3 amd64): full build (s)" "$(printf '%.2f' "$tb")" \
  "$SMALL schematics x $N/$SMALL (linear growth)" "$linear" s "$(bench_ratio "$linear" "$tb")"
bench_row "$N schematics: peak RSS of the full build (KiB)" "$rb" "$SMALL schematics" "$rs" KiB "$(bench_ratio "$rs" "$rb")"
bench_row "$N schematics: no-op rerun into the same target (s)" "$(printf '%.2f' "$tn")" goal 2 s "$(bench_ratio 2 "$tn")"
# linear_row WHAT UNIT COUNT VALUE SMALL-VALUE: VALUE of the COUNT-schematic bundle against the
# 10-schematic bundle's times COUNT/10
linear_row() {
  local lin
  lin=$(awk -v v="$5" -v n="$3" -v s="$SMALL" 'BEGIN { printf "%.2f", v * n / s }')
  bench_row "$3-schematic bundle: $1 ($2)" "$4" "$SMALL-schematic bundle x $3/$SMALL (linear growth)" "$lin" "$2" \
    "$(bench_ratio "$lin" "$4")"
}
linear_row "size on disk, du" MiB "$MID" "$km" "$ks"
linear_row "size on disk, du" MiB "$N" "$kb" "$ks"
linear_row "blob files" files "$MID" "$bm" "$bs"
linear_row "blob files" files "$N" "$bb" "$bs"
linear_row "index.db size" KiB "$MID" "$dm" "$ds"
linear_row "index.db size" KiB "$N" "$db" "$ds"
bench_row "delta $MID -> $N schematics: size (MiB)" "$sdm" "pack of the $N-schematic bundle" "$spb" MiB "$(bench_ratio "$spb" "$sdm")"
bench_row "delta $MID -> $N schematics: time (s)" "$tdm" "pack of the $N-schematic bundle" "$tpb" s "$(bench_ratio "$tpb" "$tdm")"
bench_row "delta $N schematics -> one changed (nightly): size (MiB)" "$sdc" "pack of the changed bundle" "$spc" MiB \
  "$(bench_ratio "$spc" "$sdc")"
bench_row "delta $N schematics -> one changed (nightly): time (s)" "$tdc" "pack of the changed bundle" "$tpc" s \
  "$(bench_ratio "$tpc" "$tdc")"
st=$(bench_median <start)
bench_row "$N-schematic bundle: serve start-up to first answer, signature checked (ms wall)" "$st" target 100 ms \
  "$(bench_ratio 100 "$st")"
lb=$(bench_median <lookup.big) lsm=$(bench_median <lookup.small)
bench_row "$N-schematic bundle: route lookup p99, wrk -c8 (ms)" "$lb" "$SMALL-schematic bundle" "$lsm" ms \
  "$(bench_ratio "$lsm" "$lb")"
