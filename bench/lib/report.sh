#!/usr/bin/env bash
# bench/lib/report.sh ROWS_DIR OUT_DIR full|smoke — writes the benchmark report from the rows the
# benchmarks printed: OUT_DIR/REPORT.md (REPORT-smoke.md in smoke mode) and, when gnuplot is
# installed, one bar chart per benchmark, OUT_DIR/NAME.png (NAME-smoke.png), linked from the report.
# ROWS_DIR holds NAME.rows (the "BENCH|workload|airfactory|baseline-name|baseline|unit|ratio"
# lines of bench/NAME.sh) and, optionally, `failed` (names of benchmarks that failed, one a line).
# Without gnuplot (or with GNUPLOT naming a missing program) the plots are skipped and the report
# says so; that is not an error.
set -uo pipefail
rows_dir=$1 out=$2 mode=$3
gnuplot=${GNUPLOT:-gnuplot}
suffix=""
[ "$mode" = smoke ] && suffix=-smoke
report=$out/REPORT$suffix.md
mkdir -p "$out"
names=()
for f in "$rows_dir"/*.rows; do
  [ -e "$f" ] || continue
  names+=("$(basename "$f" .rows)")
done

# plot NAME: OUT/NAME$suffix.png — per workload two bars, the baseline at 1 and airfactory at the
# ratio (higher is better: the rows' ratios are already oriented that way), the ratio above the
# bar and under it the workload, both raw figures and the baseline's name. Units differ between
# workloads, so the bars are relative. Rows without a numeric ratio (n/a) stay in the table only.
plot() {
  local name=$1 dat
  dat=$(mktemp "${TMPDIR:-/tmp}/airfactory-bench-plot.XXXXXX") || return 1
  awk -F'|' '$7 ~ /^[0-9.]+$/ { printf "%s\t1\n", $7 }' "$rows_dir/$name.rows" >"$dat"
  local n
  n=$(wc -l <"$dat")
  if [ "$n" -eq 0 ]; then rm -f "$dat"; return 1; fi
  # the x tic labels, as one gnuplot `set xtics (...)` (double-quoted strings: \n breaks lines)
  local tics
  tics=$(awk -F'|' '
    function wrap(text, width,   words, k, i, line, out) {
      gsub(/["\\]/, "", text)
      k = split(text, words, " "); line = ""; out = ""
      for (i = 1; i <= k; i++) {
        if (line != "" && length(line) + 1 + length(words[i]) > width) {
          out = out (out == "" ? "" : "\\n") line; line = words[i]
        } else line = (line == "" ? words[i] : line " " words[i])
      }
      return out (out == "" ? "" : "\\n") line
    }
    $7 ~ /^[0-9.]+$/ {
      printf "%s\"%s\\n\\nairfactory %s %s\\n%s: %s %s\" %d", (m++ ? ", " : ""), wrap($2, 30), $3, $6, wrap($4, 30), $5, $6, m - 1
    }' "$rows_dir/$name.rows")
  local width=$((260 + 230 * n))
  "$gnuplot" <<EOF >/dev/null 2>"$dat.err"
set terminal pngcairo size $width,720 font "sans,9" noenhanced
set output "$out/$name$suffix.png"
set title "bench/$name.sh ($mode): airfactory relative to its baseline (baseline = 1, higher = airfactory better)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 1
set ylabel "relative to the baseline"
set yrange [0:*]
set offsets 0, 0, graph 0.1, 0
set grid ytics
set xtics ($tics) nomirror
set key top left
set bmargin 14
set lmargin 10
plot "$dat" using 1 title "airfactory" lc rgb "#2f6fb0", \
     "" using 2 title "baseline" lc rgb "#b0b0b0", \
     "" using (\$0 - 1.0/6):1:(sprintf("%.2fx", \$1)) with labels offset 0,0.8 notitle
EOF
  local rc=$?
  [ $rc -eq 0 ] || echo "bench: gnuplot failed for $name: $(head -3 "$dat.err")" >&2
  rm -f "$dat" "$dat.err"
  return $rc
}

plots=()
plot_note=""
if command -v "$gnuplot" >/dev/null 2>&1; then
  for name in "${names[@]}"; do
    rm -f "$out/$name$suffix.png"
    plot "$name" && plots+=("$name")
  done
else
  plot_note="plots skipped: gnuplot not found (\`apt-get install gnuplot-nox\`, see scripts/install-deps.sh)"
  echo "bench: $plot_note" >&2
fi

{
  echo "# airfactory benchmark report"
  echo
  echo "- date: $(date -u +%Y-%m-%d) · mode: $mode"
  echo "- machine: $(nproc) cores, $(free -g | awk '/Mem:/{ print $2 }') GiB RAM, kernel $(uname -r), $(uname -m)"
  echo "- method: baselines run in the same run, interleaved A B A B; medians (see each bench/*.sh)"
  if [ -s "$rows_dir/failed" ]; then
    echo "- FAILED (no or partial rows): $(tr '\n' ' ' <"$rows_dir/failed")"
  fi
  echo
  echo "| benchmark | workload | airfactory | baseline | baseline value | unit | ratio |"
  echo "|---|---|---|---|---|---|---|"
  for name in "${names[@]}"; do
    awk -F'|' -v b="$name" '{ printf "| %s | %s | %s | %s | %s | %s | %s |\n", b, $2, $3, $4, $5, $6, $7 }' \
      "$rows_dir/$name.rows"
  done
  echo
  echo "ratio > 1 means airfactory is better (faster, smaller, or less memory) than the baseline."
  echo "How to read this report and what each baseline is: docs/benchmarks.md."
  echo
  echo "## Plots"
  echo
  if [ -n "$plot_note" ]; then
    echo "$plot_note"
  else
    echo "One chart per benchmark: per workload the baseline is the grey bar at 1 and airfactory the blue"
    echo "bar at the ratio (higher is better); under each pair, the workload and both raw figures."
    for name in "${plots[@]}"; do
      echo
      echo "### $name"
      echo
      echo "![bench/$name.sh]($name$suffix.png)"
    done
  fi
} >"$report"
echo "report: $report"
