#!/usr/bin/env bash
# tests/fuzz/run.sh DIR — run every libFuzzer binary DIR/fuzz_* for FUZZ_SECONDS (default 20;
# `make fuzz-long` gives 3600) with its seed corpus (tests/fuzz/seeds/<name>/ — hostile inputs
# kept as regression seeds, see docs/testing.md — plus tests/fuzz/corpus/<name>/ and, for
# schematics, the go-yaml vectors), inputs up to FUZZ_MAX_LEN bytes (default 1 MiB, the size
# of a real attack body), one job each (the build machine is shared). FUZZ_TARGETS="a b" runs
# only those. A crash, leak, out-of-memory or an input running over 30 s (wall clock: 1 MiB
# inputs under ASan on a busy shared machine take seconds) fails the run; the reproducer is left in
# DIR/artifacts/<name>/. New corpus entries go to DIR/corpus/<name>/. Each target ends with one
# line of figures: executions, seconds, execs/s, coverage (edges), features, corpus, peak RSS.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIR=${1:?usage: tests/fuzz/run.sh DIR}
SECONDS_EACH=${FUZZ_SECONDS:-20}
MAX_LEN=${FUZZ_MAX_LEN:-1048576}
status=0
shopt -s nullglob
targets=("$DIR"/fuzz_*)
[ ${#targets[@]} -gt 0 ] || { echo "fuzz: no targets in $DIR"; exit 1; }
for bin in "${targets[@]}"; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  if [ -n "${FUZZ_TARGETS:-}" ] && [[ " $FUZZ_TARGETS " != *" $name "* ]]; then
    continue
  fi
  corpus=$DIR/corpus/$name
  artifacts=$DIR/artifacts/$name
  mkdir -p "$corpus" "$artifacts"
  seeds=()
  [ -d "$ROOT/tests/fuzz/seeds/$name" ] && seeds+=("$ROOT/tests/fuzz/seeds/$name")
  [ -d "$ROOT/tests/fuzz/corpus/$name" ] && seeds+=("$ROOT/tests/fuzz/corpus/$name")
  if [ "$name" = fuzz_schematic ] && [ -f "$ROOT/tests/data/schematic/go-yaml-vectors.jsonl" ] &&
     [ ! -e "$corpus/.vectors" ]; then
    # every input of the go-yaml vectors is a seed
    /usr/bin/python3 - "$ROOT/tests/data/schematic/go-yaml-vectors.jsonl" "$corpus" <<'PYEOF' || true
import json, sys, hashlib, os
for line in open(sys.argv[1]):
    data = json.loads(line)["input"].encode()
    open(os.path.join(sys.argv[2], hashlib.sha1(data).hexdigest()), "wb").write(data)
open(os.path.join(sys.argv[2], ".vectors"), "w").close()
PYEOF
  fi
  if [ "$name" = fuzz_manifest ]; then
    cp "$ROOT/docs/examples/demo.yaml" "$corpus/demo.yaml" 2>/dev/null || true
  fi
  echo "fuzz: $name for ${SECONDS_EACH}s, inputs up to $MAX_LEN bytes"
  if ! ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} "$bin" -max_total_time="$SECONDS_EACH" -timeout=30 \
       -rss_limit_mb=2048 -max_len="$MAX_LEN" -print_final_stats=1 -artifact_prefix="$artifacts/" \
       "$corpus" "${seeds[@]}" >"$DIR/$name.log" 2>&1; then
    echo "fuzz: $name FAILED (log $DIR/$name.log, reproducer in $artifacts/)"
    tail -40 "$DIR/$name.log"
    status=1
  else
    # the last status line ("#N DONE cov: C ft: F corp: K/S ...") and the final stats
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$DIR/$name.log")
    secs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$DIR/$name.log")
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$DIR/$name.log")
    last=$(grep -E '^#[0-9]+' "$DIR/$name.log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[kKmMb]*\).*/\1/p' <<<"$last")
    echo "fuzz: $name execs=${execs:-?} seconds=$SECONDS_EACH exec/s=${secs:-?} cov=${cov:-?} ft=${ft:-?}" \
         "corpus=${corp:-?} peak_rss_mb=${rss:-?} crashes=0"
  fi
done
exit $status
