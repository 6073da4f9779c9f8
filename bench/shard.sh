#!/usr/bin/env bash
# bench/shard.sh — a sharded build on one machine: `airfactory build --shard I/4` for I = 0..3 as
# four processes at once (each with its own store, as the pods of contrib/kubernetes have) and
# `airfactory merge`, against one `airfactory build` of the same manifest (empty store, -j = CPUs),
# interleaved. Both start from nothing: the shards import every source four times, which is what a
# sharded build pays; on one machine the shards share its cores, so this row shows the overhead
# of sharding (a ratio < 1 is expected here: the gain comes from more machines). The merged
# bundle must be byte-identical to the one-process build's (cmp index.db, diff -r), else the
# benchmark fails. Second row: the merge alone (hard links and one hash pass over every part)
# against `cp -r` of the bundle.
# Rows: BENCH|workload|airfactory|baseline-name|baseline|unit|ratio (ratio > 1: airfactory better).
#   bash bench/shard.sh            demo manifest (docs/examples/demo.yaml), RUNS=3
#   SMOKE=1 bash bench/shard.sh    two schematics, v1.11.3, amd64+arm64, kernel/cmdline/initramfs; 1 run
set -uo pipefail
source "$(dirname "$0")/lib/common.sh"
ROOT=$BENCH_ROOT
AF=${AIRFACTORY_BIN:-$ROOT/build/release}/airfactory
[ -x "$AF" ] || { echo "bench/shard.sh: build first (make)" >&2; exit 1; }
[ -f "$ROOT/build/fixtures/imager-v1.11.3.oci.tar" ] || { echo "bench/shard.sh: run scripts/make-fixtures first" >&2; exit 1; }
SHARDS=4
bench_workdir shard || exit 1
W=$BENCH_WORKDIR
cd "$W" || exit 1
export SOURCE_DATE_EPOCH=1700000000
"$AF" keygen -o bundle >/dev/null || exit 1   # the manifests' signing_key: bundle.key
if [ "${SMOKE:-0}" = 1 ]; then
  RUNS=1
  bench_manifest m.yaml '[v1.11.3]' '[amd64, arm64]' '[kernel, cmdline-metal, initramfs.xz]' \
    "$(printf '  - name: a\n    schematic: {customization: {extraKernelArgs: [console=ttyS0]}}\n  - name: b\n    schematic: {customization: {extraKernelArgs: [console=ttyS1]}}\n')"
  NAME="2 schematics x 2 arches, 12 assets"
else
  RUNS=${RUNS:-3}
  bench_demo_manifest m.yaml
  sed -i "s|^signing_key:.*|signing_key: $W/bundle.key|" m.yaml   # the demo's key is build/demo's
  NAME="demo manifest"
fi
models=$("$AF" plan m.yaml | wc -l)

for r in $(seq 1 "$RUNS"); do
  echo "bench/shard: round $r/$RUNS ($models models)" >&2
  rm -rf one st parts merged copy
  t0=$(bench_now)
  "$AF" build m.yaml -o one --store st --key bundle.key >one.log 2>&1 || { echo "bench/shard.sh: build failed: $(tail -3 one.log)" >&2; exit 1; }
  bench_since "$t0" >>one.t
  t0=$(bench_now)
  pids=()
  for i in $(seq 0 $((SHARDS - 1))); do
    "$AF" build m.yaml --shard "$i/$SHARDS" -o "parts/shard-$i" --store "parts/store-$i" --key bundle.key >"shard-$i.log" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { echo "bench/shard.sh: shard $i failed: $(tail -3 "shard-$i.log")" >&2; exit 1; }
  done
  t1=$(bench_now)
  "$AF" merge parts/shard-* -o merged --key bundle.key >merge.log 2>&1 || { echo "bench/shard.sh: merge failed: $(tail -3 merge.log)" >&2; exit 1; }
  bench_since "$t1" >>merge.t
  bench_since "$t0" >>sharded.t
  t1=$(bench_now)
  cp -r one copy
  bench_since "$t1" >>copy.t
  cmp -s one/index.db merged/index.db && diff -r one merged >/dev/null ||
    { echo "bench/shard.sh: the merged bundle differs from the one-process build" >&2; exit 1; }
done
one=$(bench_median <one.t) sharded=$(bench_median <sharded.t) merge=$(bench_median <merge.t) copy=$(bench_median <copy.t)
bench_row "$NAME: 4 shards at once + merge, one machine (s)" "$sharded" "one-process build (-j CPUs)" "$one" s "$(bench_ratio "$one" "$sharded")"
bench_row "$NAME: merge of the 4 parts (s)" "$merge" "cp -r of the bundle" "$copy" s "$(bench_ratio "$copy" "$merge")"
rm -rf one st parts merged copy
