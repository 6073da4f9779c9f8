#!/usr/bin/env bash
# bench/run.sh — runs every bench/*.sh and collects bench/results/REPORT.md (and a PNG chart per
# benchmark, bench/results/NAME.png, when gnuplot is installed; see bench/lib/report.sh).
# Each benchmark prints rows "BENCH|workload|airfactory|baseline-name|baseline|unit|ratio" on stdout;
# this driver puts them in one table with the machine facts and the date. docs/benchmarks.md
# explains every benchmark, its baseline and how to read the report.
#   bash bench/run.sh            full sizes (minutes; not run by CI)
#   SMOKE=1 bash bench/run.sh    tiny sizes: every benchmark runs once so it cannot rot
#                                (REPORT-smoke.md, NAME-smoke.png; not tracked by git)
#   bash bench/run.sh serve      only benchmarks whose file name contains "serve"
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
OUT=bench/results
mkdir -p "$OUT"
mode=full
[ "${SMOKE:-0}" = 1 ] && mode=smoke
rows=$(mktemp -d "${TMPDIR:-/tmp}/airfactory-bench-rows.XXXXXX")
trap 'rm -rf "$rows"' EXIT
status=0
for b in bench/*.sh; do
  [ "$(basename "$b")" = run.sh ] && continue
  case "$b" in *"${1:-}"*) ;; *) continue ;; esac
  name=$(basename "$b" .sh)
  echo "== $b"
  bash "$b" | tee /dev/stderr | grep '^BENCH|' >"$rows/$name.rows"
  if [ "${PIPESTATUS[0]}" -ne 0 ] || [ ! -s "$rows/$name.rows" ]; then
    echo "bench: $b failed" >&2
    echo "$name" >>"$rows/failed"
    status=1
  fi
done
bash bench/lib/report.sh "$rows" "$OUT" "$mode" || status=1
exit $status
