#!/usr/bin/env bash
# tests/run.sh — runs every suite and prints one closing line "N passed, M failed".
#   unit:        build/asan/tests/test_*   (C, ASan+UBSan)
#   integration: tests/integration/*.sh    (CLI, server, real clients: curl, skopeo, ctr, openssl)
#   boot:        tests/boot/*.sh           (QEMU TCG: direct kernel, UKI under OVMF, ISO, iPXE)
# A suite that exits non-zero without printing a FAIL line counts as one failure, so a crash can
# never pass silently. TESTS=pattern runs only suites whose name contains the pattern.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${AIRFACTORY_BUILD:-build/asan}
export AIRFACTORY_BUILD=$BUILD ROOT
LOG_DIR=$BUILD/test-logs
mkdir -p "$LOG_DIR"
passed=0 failed=0 skipped=0

run_suite() {
  local name=$1; shift
  case "$name" in *"${TESTS:-}"*) ;; *) return ;; esac
  local log=$LOG_DIR/$(echo "$name" | tr '/' '_').log
  local start=$SECONDS
  "$@" >"$log" 2>&1
  local rc=$?
  local p f s
  p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log"); s=$(grep -c '^SKIP ' "$log")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1
    echo "FAIL $name: exited with status $rc without reporting a failed test" >>"$log"
  fi
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  printf '%-40s %4d passed %3d failed %3d skipped  (%ds)\n' "$name" "$p" "$f" "$s" $((SECONDS - start))
  if [ "$f" -gt 0 ]; then
    # each failure with 12 lines of context, plus a failed guest's serial console ("  | " lines)
    awk '/^FAIL |check failed|ERROR: AddressSanitizer|runtime error/ { n = 13 }
         /^  \| / && (n > 0 || t) { print; t = 1; next } { t = 0 } n > 0 { print; n-- }' "$log" |
      head -120 | sed 's/^/    /'
  fi
}

for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  run_suite "unit/$(basename "$t")" "$t"
done
for t in tests/integration/*.sh tests/boot/*.sh; do
  [ -f "$t" ] || continue
  run_suite "${t#tests/}" bash "$t"
done

echo "logs: $LOG_DIR"
if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
