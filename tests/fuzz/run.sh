#!/usr/bin/env bash
# tests/fuzz/run.sh BIN_DIR — runs every libFuzzer target built by `make fuzz` for a short,
# bounded time (FUZZ_SECONDS, default 30 each) with its seed corpus tests/fuzz/corpus/<target>/
# (if any); a crash leaves the reproducer in build/asan/fuzz/artifacts/ and fails the run.
set -uo pipefail
BIN=${1:-build/asan/fuzz}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_EACH=${FUZZ_SECONDS:-30}
status=0
mkdir -p "$BIN/artifacts"
for f in "$BIN"/fuzz_*; do
  [ -x "$f" ] || continue
  name=$(basename "$f")
  work=$BIN/corpus-$name
  mkdir -p "$work"
  seeds=()
  [ -d "$ROOT/tests/fuzz/corpus/$name" ] && seeds=("$ROOT/tests/fuzz/corpus/$name")
  echo "== $name (${SECONDS_EACH}s)"
  if ! "$f" -max_total_time="$SECONDS_EACH" -max_len=65536 -artifact_prefix="$BIN/artifacts/$name-" \
      "$work" "${seeds[@]}" 2>"$BIN/$name.log"; then
    echo "FAIL $name: see $BIN/$name.log"; tail -20 "$BIN/$name.log"; status=1
  else
    echo "PASS $name: $(grep -o 'stat::number_of_executed_units: [0-9]*' "$BIN/$name.log" | tail -1)"
    tail -1 "$BIN/$name.log"
  fi
done
exit $status
