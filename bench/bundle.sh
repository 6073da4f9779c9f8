#!/usr/bin/env bash
# bench/bundle.sh — moving a bundle: airfactory pack / unpack / verify --full against the plain
# CLI pipeline an operator would otherwise use on the same tree (GNU tar, sha256sum).
#
#   pack              airfactory pack B -o F          vs  tar -cf F -C B . && sync F
#   unpack+verify     airfactory unpack F D --key K   vs  tar -xf F -C D && sync (every file) && sha256sum -c
#   verify --full     airfactory verify B --full      vs  sha256sum -c (every blob)
#
# Like is compared with like: airfactory fsyncs what it writes, so the baseline syncs what it wrote
# (coreutils `sync FILE…` fsyncs those files). airfactory's unpack also checks the signature, writes
# into D.tmp-X and renames; the baseline does not, so a ratio near 1 means that safety is close to free.
# Page cache is warm for both (each runs once before timing). Runs interleave A B A B; medians.
# Rows: BENCH|workload|airfactory|baseline-name|baseline|unit|ratio (ratio > 1: airfactory faster).
#   SMOKE=1 bash bench/bundle.sh    tiny bundle (seconds), so the benchmark cannot rot
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
AIRFACTORY=${AIRFACTORY:-$ROOT/build/release/airfactory}
GEN=${GEN:-$ROOT/build/asan/tests/test_bundle}
if [ "${SMOKE:-0}" = 1 ]; then BIG=$((8 << 20)); RUNS=1; else BIG=$((1 << 30)); RUNS=3; fi
BIG=${BENCH_BUNDLE_BYTES:-$BIG}
[ -x "$AIRFACTORY" ] || make -j2 build/release/airfactory >/dev/null
[ -x "$GEN" ] || make -j2 build/asan/tests/test_bundle >/dev/null

W=$(mktemp -d "${TMPDIR:-/tmp}/airfactory-bench-bundle.XXXXXX")
trap 'rm -rf "$W"' EXIT
"$AIRFACTORY" keygen -o "$W/k" >/dev/null
ASAN_OPTIONS=detect_leaks=0 "$GEN" make-bundle "$W/b" "$W/k.key" --big "$BIG" >/dev/null
BYTES=$(du -sb "$W/b" | cut -f1)
MB=$(awk -v b="$BYTES" 'BEGIN { printf "%.1f", b / 1048576 }')
echo "bundle: $MB MiB in $(ls "$W/b/blobs/sha256" | wc -l) blobs; $RUNS run(s) each"
(cd "$W/b/blobs/sha256" && for f in *; do echo "$f  $f"; done) >"$W/sums"

now() { date +%s.%N; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# time_cmd SETUP CMD... : seconds for CMD after running SETUP (untimed)
time_cmd() {
  local setup=$1; shift
  eval "$setup"
  local t0 t1; t0=$(now); "$@" >/dev/null 2>&1; t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}

ours_pack() { "$AIRFACTORY" pack "$W/b" -o "$W/ours.tar"; }
base_pack() { tar -cf "$W/base.tar" -C "$W/b" . && sync "$W/base.tar"; }
ours_unpack() { "$AIRFACTORY" unpack "$W/ours.tar" "$W/u-ours" --key "$W/k.pub"; }
base_unpack() {
  mkdir "$W/u-base" && tar -xf "$W/base.tar" -C "$W/u-base" && find "$W/u-base" -type f -exec sync {} + &&
    (cd "$W/u-base/blobs/sha256" && sha256sum --quiet -c "$W/sums")
}
ours_verify() { "$AIRFACTORY" verify "$W/b" --key "$W/k.pub" --full; }
base_verify() { (cd "$W/b/blobs/sha256" && sha256sum --quiet -c "$W/sums"); }

# warm-up (and make the tars the unpack runs read)
ours_pack; base_pack; ours_verify >/dev/null; base_verify
rows=()
for workload in pack unpack verify; do
  a=() b=()
  for _ in $(seq "$RUNS"); do
    case $workload in
      pack)
        a+=("$(time_cmd 'rm -f "$W/ours.tar"' ours_pack)"); b+=("$(time_cmd 'rm -f "$W/base.tar"' base_pack)") ;;
      unpack)
        a+=("$(time_cmd 'rm -rf "$W/u-ours"' ours_unpack)"); b+=("$(time_cmd 'rm -rf "$W/u-base"' base_unpack)") ;;
      verify)
        a+=("$(time_cmd : ours_verify)"); b+=("$(time_cmd : base_verify)") ;;
    esac
  done
  ta=$(printf '%s\n' "${a[@]}" | median); tb=$(printf '%s\n' "${b[@]}" | median)
  ra=$(awk -v m="$MB" -v t="$ta" 'BEGIN { printf "%.0f", m / t }')
  rb=$(awk -v m="$MB" -v t="$tb" 'BEGIN { printf "%.0f", m / t }')
  ratio=$(awk -v a="$ta" -v b="$tb" 'BEGIN { printf "%.2f", b / a }')
  case $workload in
    pack) name="pack $MB MiB bundle, both fsync"; base="tar -c + sync" ;;
    unpack) name="unpack+verify $MB MiB, both fsync (airfactory also checks the signature)"; base="tar -x + sync + sha256sum -c" ;;
    verify) name="verify --full $MB MiB"; base="sha256sum -c" ;;
  esac
  echo "BENCH|$name|$ra|$base|$rb|MiB/s|$ratio"
done
# correctness guard: what was timed produced the right trees
diff -r "$W/b" "$W/u-ours" >/dev/null && diff -r "$W/b" "$W/u-base" >/dev/null
