#!/usr/bin/env bash
# tests/fuzz/run.sh DIR — run every libFuzzer binary DIR/fuzz_* for FUZZ_SECONDS (default 20)
# with its seed corpus (tests/fuzz/seeds/<name>/ plus, for schematics, the go-yaml vectors),
# one job each (the build machine is shared). A crash, leak or timeout fails the run; the
# reproducer is left in DIR/artifacts/<name>/. New corpus entries go to DIR/corpus/<name>/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIR=${1:?usage: tests/fuzz/run.sh DIR}
SECONDS_EACH=${FUZZ_SECONDS:-20}
status=0
shopt -s nullglob
targets=("$DIR"/fuzz_*)
[ ${#targets[@]} -gt 0 ] || { echo "fuzz: no targets in $DIR"; exit 1; }
for bin in "${targets[@]}"; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
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
  echo "fuzz: $name for ${SECONDS_EACH}s"
  if ! ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} "$bin" -max_total_time="$SECONDS_EACH" -timeout=10 \
       -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts/" \
       "$corpus" "${seeds[@]}" >"$DIR/$name.log" 2>&1; then
    echo "fuzz: $name FAILED (log $DIR/$name.log, reproducer in $artifacts/)"
    tail -40 "$DIR/$name.log"
    status=1
  else
    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$DIR/$name.log" | sed "s/^/fuzz: $name /" || true
  fi
done
exit $status
