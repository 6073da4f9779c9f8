#!/usr/bin/env bash
# Every benchmark under bench/ runs once at its tiny SMOKE size, so none of them can rot between the
# full runs (`make bench`). Each BENCH row must carry numbers; timing values are never asserted.
# The report writer (bench/lib/report.sh) must link one PNG chart per benchmark when gnuplot is
# installed, and skip the charts with a note, not fail, when it is not.
source "$(dirname "$0")/../lib.sh"
S=$(scratch)
cd "$ROOT" || exit 1
if SMOKE=1 bash bench/run.sh >"$S/out" 2>"$S/err"; then pass "bench/run.sh smoke run"; else
  fail "bench/run.sh smoke run" "$(grep -i 'fail\|error' "$S/err" | tail -5 | tr '\n' ' ')"; fi
report=bench/results/REPORT-smoke.md
rows=$(grep -h '^| [a-z]' "$report" | tail -n +2)
check_eq "smoke report has rows" "$([ -n "$rows" ] && echo yes)" yes
for b in bench/*.sh; do
  [ "$(basename "$b")" = run.sh ] && continue
  name=$(basename "$b" .sh)
  grep -q "^== $b" "$S/out" "$S/err" && pass "ran $name" || fail "ran $name" "not in the run's output"
  check_contains "report has rows of $name" "$rows" "| $name |"
done
while IFS='|' read -r _ bench workload ours _ theirs _ ratio _; do
  if [[ $ours =~ [0-9] && $theirs =~ [0-9] && $ratio =~ [0-9] ]]; then pass "numbers:$bench:$workload"
  else fail "numbers:$bench:$workload" "ours='$ours' baseline='$theirs' ratio='$ratio'"; fi
done <<<"$rows"
if command -v gnuplot >/dev/null; then
  for b in bench/*.sh; do
    name=$(basename "$b" .sh)
    [ "$name" = run ] && continue
    check_contains "PNG of $name is an image" "$(file -b "bench/results/$name-smoke.png" 2>&1)" "PNG image data"
    check_contains "report links the PNG of $name" "$(cat "$report")" "($name-smoke.png)"
  done
else
  skip "benchmark PNGs" "gnuplot not installed (scripts/install-deps.sh)"
fi

# the report writer on its own: two benchmarks' rows, one n/a ratio, one failed benchmark
mkdir -p "$S/rows" "$S/out1" "$S/out2"
printf 'BENCH|w one (s)|1.5|base one|3.0|s|2.00\nBENCH|w two|1|base two|0|x|n/a\n' >"$S/rows/alpha.rows"
printf 'BENCH|w three (MiB)|10|base three|5|MiB|0.50\n' >"$S/rows/beta.rows"
echo gamma >"$S/rows/failed"
check "report without gnuplot succeeds" env GNUPLOT=/nonexistent/gnuplot bash bench/lib/report.sh "$S/rows" "$S/out1" full
r=$(cat "$S/out1/REPORT.md" 2>/dev/null)
check_contains "without gnuplot: the report says the plots were skipped" "$r" "plots skipped: gnuplot not found"
check_eq "without gnuplot: no PNG written" "$(find "$S/out1" -name "*.png" | wc -l)" 0
check_contains "report table row" "$r" "| alpha | w one (s) | 1.5 | base one | 3.0 | s | 2.00 |"
check_contains "report table row of the second benchmark" "$r" "| beta | w three (MiB) | 10 | base three | 5 | MiB | 0.50 |"
check_contains "report names the failed benchmark" "$r" "FAILED (no or partial rows): gamma"
if command -v gnuplot >/dev/null; then
  check "report with gnuplot succeeds" bash bench/lib/report.sh "$S/rows" "$S/out2" full
  r=$(cat "$S/out2/REPORT.md" 2>/dev/null)
  check_contains "with gnuplot: alpha.png is a PNG" "$(file -b "$S/out2/alpha.png" 2>&1)" "PNG image data"
  check_contains "with gnuplot: beta.png is a PNG" "$(file -b "$S/out2/beta.png" 2>&1)" "PNG image data"
  check_contains "with gnuplot: the report links alpha.png" "$r" "![bench/alpha.sh](alpha.png)"
  check_eq "with gnuplot: no skip note" "$(grep -c 'plots skipped' <<<"$r")" 0
fi
