#!/usr/bin/env bash
# bench/run.sh — runs every bench/*.sh and collects bench/results/REPORT.md.
# Each benchmark prints rows "BENCH|workload|airfactory|baseline-name|baseline|unit|ratio" on stdout;
# this driver puts them in one table with the machine facts and the date.
#   bash bench/run.sh            full sizes (minutes; not run by CI)
#   SMOKE=1 bash bench/run.sh    tiny sizes: every benchmark runs once so it cannot rot
#   bash bench/run.sh serve      only benchmarks whose file name contains "serve"
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=bench/results
mkdir -p "$OUT"
report=$OUT/REPORT.md
[ "${SMOKE:-0}" = 1 ] && report=$OUT/REPORT-smoke.md
rows=$(mktemp)
status=0
for b in bench/*.sh; do
  [ "$(basename "$b")" = run.sh ] && continue
  case "$b" in *"${1:-}"*) ;; *) continue ;; esac
  echo "== $b"
  if ! bash "$b" | tee /dev/stderr | grep '^BENCH|' >>"$rows"; then
    echo "bench: $b failed" >&2
    status=1
  fi
done
{
  echo "# airfactory benchmark report"
  echo
  echo "- date: $(date -u +%Y-%m-%d) · mode: $([ "${SMOKE:-0}" = 1 ] && echo smoke || echo full)"
  echo "- machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM, kernel $(uname -r), $(uname -m)"
  echo "- method: baselines run in the same run, interleaved A B A B; medians (see each bench/*.sh)"
  echo
  echo "| workload | airfactory | baseline | baseline value | unit | ratio |"
  echo "|---|---|---|---|---|---|"
  awk -F'|' '{printf "| %s | %s | %s | %s | %s | %s |\n", $2, $3, $4, $5, $6, $7}' "$rows"
  echo
  echo "ratio > 1 means airfactory is better (faster, or less memory) than the baseline."
} >"$report"
rm -f "$rows"
echo "report: $report"
exit $status
