#!/usr/bin/env bash
# Every benchmark under bench/ runs once at its tiny SMOKE size, so none of them can rot between the
# full runs (`make bench`). Each BENCH row must carry numbers; timing values are never asserted.
source "$(dirname "$0")/../lib.sh"
S=$(scratch)
cd "$ROOT"
if SMOKE=1 bash bench/run.sh >"$S/out" 2>"$S/err"; then pass "bench/run.sh smoke run"; else
  fail "bench/run.sh smoke run" "$(grep -i 'fail\|error' "$S/err" | tail -5 | tr '\n' ' ')"; fi
rows=$(grep -h '^|' bench/results/REPORT-smoke.md | tail -n +3)
check_eq "smoke report has rows" "$([ -n "$rows" ] && echo yes)" yes
for b in bench/*.sh; do
  [ "$(basename "$b")" = run.sh ] && continue
  grep -q "^== $b" "$S/out" "$S/err" && pass "ran $(basename "$b")" || fail "ran $(basename "$b")" "not in the run's output"
done
while IFS='|' read -r _ workload ours _ theirs _ ratio _; do
  if [[ $ours =~ [0-9] && $theirs =~ [0-9] && $ratio =~ [0-9] ]]; then pass "numbers:$workload"
  else fail "numbers:$workload" "ours='$ours' baseline='$theirs' ratio='$ratio'"; fi
done <<<"$rows"
