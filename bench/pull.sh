#!/usr/bin/env bash
# bench/pull.sh — `airfactory pull` of the demo's sources from a local registry against `skopeo
# copy --all` of the same images, one at a time, into oci-archive files (signatures excluded for
# skopeo: it has no way to carry them).
#
# The registry is CNCF distribution (Debian `docker-registry`, filesystem storage, plain HTTP on a
# random loopback port) holding the fixtures of docs/examples/demo.yaml, pushed with skopeo with
# their `.sig` and `sha256-<hex>` tags. Contestants, interleaved A B A B, medians:
#   airfactory  pull MANIFEST --to DIR --store (empty) -j 4: catalogs, then every image with all
#               platforms and signatures, verified, written as archives and import-checked;
#   skopeo      copy --all --preserve-digests docker://…/NAME:TAG oci-archive:DIR/NAME.oci.tar for
#               each image of the manifest, in a loop (what the manifest docs suggested before pull).
# Rows: wall seconds of a first pull; bytes the registry sent (its access log: response bodies);
# wall seconds and bytes of a nightly re-pull of the unchanged manifest (airfactory: into the same
# directory and store, so only manifests move; skopeo: the same loop again, as a script would).
# Both results must name the same image digests before any row is printed.
#   bash bench/pull.sh           the demo's 13 sources (v1.11.3 and v1.9.5), 3 runs
#   SMOKE=1 bash bench/pull.sh   v1.11.3's imager, catalog and three extensions, 1 run
set -uo pipefail
source "$(dirname "$0")/lib/common.sh"
ROOT=$BENCH_ROOT
AF=${AIRFACTORY_BIN:-$ROOT/build/release}/airfactory
FX=$ROOT/build/fixtures
if [ "${SMOKE:-0}" = 1 ]; then RUNS=1; else RUNS=${RUNS:-3}; fi
for tool in skopeo docker-registry curl python3; do
  command -v "$tool" >/dev/null || { echo "bench/pull.sh: $tool missing (scripts/install-deps.sh)" >&2; exit 1; }
done
[ -x "$AF" ] || { echo "bench/pull.sh: build first (make)" >&2; exit 1; }
[ -f "$FX/fixtures.json" ] || { echo "bench/pull.sh: make the fixtures first (make fixtures)" >&2; exit 1; }
bench_workdir pull || exit 1
W=$BENCH_WORKDIR
cd "$W" || exit 1

# ---- the manifest: the demo's, or its v1.11.3 part; sources go to out/ ----
if [ "${SMOKE:-0}" = 1 ]; then
  bench_manifest demo.yaml '[v1.11.3]' '[amd64]' '[initramfs.xz]' '  - name: demo
    schematic:
      customization:
        systemExtensions:
          officialExtensions: [siderolabs/hello-world-service, siderolabs/test-firmware, siderolabs/intel-ucode]'
  grep -v installer-base demo.yaml >m.tmp && mv m.tmp demo.yaml
else
  bench_demo_manifest demo.yaml
fi
# every source path -> out/<file name>; the pairs "file reference" the skopeo loop copies
sed -i "s|path: [^,]*/\([^/,]*\.oci\.tar\)|path: out/\1|" demo.yaml
images=$(sed -n 's|.*path: out/\([^,]*\), reference: ghcr.io/\([^}]*\)}.*|\1 \2|p' demo.yaml)
count=$(echo "$images" | wc -l)

# ---- the registry, filled with skopeo ----
bench_distribution registry.log info
port=$BENCH_DIST_PORT
bench_wait_http "http://127.0.0.1:$port/v2/" || { echo "bench/pull.sh: distribution did not start" >&2; exit 1; }
t0=$(bench_now)
while read -r file ref; do
  layout=layouts/${file%.oci.tar}
  mkdir -p "$layout" && tar xf "$FX/$file" -C "$layout"
  for tag in $(python3 -c 'import json,sys
for m in json.load(open(sys.argv[1]))["manifests"]: print(m["annotations"]["org.opencontainers.image.ref.name"])' \
    "$layout/index.json"); do
    pd=--preserve-digests
    case $tag in sha256-*.sig) ;; sha256-*) pd= ;; esac
    skopeo copy -q --all $pd --dest-tls-verify=false "oci:$layout:$tag" "docker://127.0.0.1:$port/${ref%:*}:$tag" ||
      { echo "bench/pull.sh: push of $file:$tag failed" >&2; exit 1; }
  done
done <<<"$images"
echo "bench/pull: $count images pushed in $(bench_since "$t0") s" >&2

# Bytes the registry sent since line $1 of its log (the access log's response size column).
sent_since() {
  tail -n +"$(($1 + 1))" registry.log | awk '/^127\.0\.0\.1 - - \[/ { split($0, a, "\" "); split(a[2], b, " ");
    s += b[2] } END { printf "%d\n", s }'
}
lines() { wc -l <registry.log; }
ours() { # DIR [fresh]: airfactory pull into DIR (an empty store when fresh)
  [ "${2:-}" = fresh ] && rm -rf "$1"
  mkdir -p "$1"
  "$AF" pull demo.yaml --to "$1" --store "$1/store" --plain-http --mirror "ghcr.io=127.0.0.1:$port" -j 4 \
    >/dev/null 2>"$1.log" || { echo "bench/pull.sh: airfactory pull failed: $(tail -2 "$1.log")" >&2; exit 1; }
}
theirs() { # DIR
  rm -rf "$1"
  mkdir -p "$1"
  while read -r file ref; do
    skopeo copy -q --all --preserve-digests --src-tls-verify=false "docker://127.0.0.1:$port/$ref" \
      "oci-archive:$1/$file:${ref##*:}" || { echo "bench/pull.sh: skopeo copy of $ref failed" >&2; exit 1; }
  done <<<"$images"
}
timed() { # VAR-PREFIX CMD...: run, append seconds to VAR_t and bytes sent to VAR_b
  local prefix=$1 l t
  shift
  l=$(lines)
  t=$(bench_now)
  "$@"
  eval "${prefix}_t+=(\"$(bench_since "$t")\")"
  eval "${prefix}_b+=(\"$(sent_since "$l")\")"
}
a_t=() a_b=() s_t=() s_b=() ar_t=() ar_b=() sr_t=() sr_b=()
for i in $(seq 1 "$RUNS"); do
  timed a ours pulled fresh
  timed s theirs copied
  timed ar ours pulled
  timed sr theirs copied
done

# ---- both hold the same images ----
top_digest() { # ARCHIVE TAG: the digest index.json names TAG by
  python3 -c 'import json,sys,tarfile
for m in json.load(tarfile.open(sys.argv[1]).extractfile("index.json"))["manifests"]:
    if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == sys.argv[2]: print(m["digest"])' "$1" "$2"
}
while read -r file ref; do
  a=$(top_digest "pulled/$file" "${ref##*:}") b=$(top_digest "copied/$file" "${ref##*:}")
  if [ -z "$a" ] || [ "$a" != "$b" ]; then
    echo "bench/pull.sh: $ref: airfactory has '$a', skopeo '$b'" >&2
    exit 1
  fi
done <<<"$images"
grep -q '"written":0' <("$AF" pull demo.yaml --to pulled --store pulled/store --plain-http \
  --mirror "ghcr.io=127.0.0.1:$port" --json 2>&1 >/dev/null) ||
  { echo "bench/pull.sh: the re-pull rewrote archives" >&2; exit 1; }

med() { printf '%s\n' "$@" | bench_median; }
at=$(med "${a_t[@]}") st=$(med "${s_t[@]}") ab=$(med "${a_b[@]}") sb=$(med "${s_b[@]}")
art=$(med "${ar_t[@]}") srt=$(med "${sr_t[@]}") arb=$(med "${ar_b[@]}") srb=$(med "${sr_b[@]}")
kib() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1024 }'; }
bench_row "pull of $count sources, empty store (s)" "$at" "skopeo copy --all per image (no signatures)" "$st" s \
  "$(bench_ratio "$st" "$at")"
bench_row "pull of $count sources: bytes the registry sent (KiB)" "$(kib "$ab")" \
  "skopeo copy --all per image (no signatures)" "$(kib "$sb")" KiB "$(bench_ratio "$sb" "$ab")"
bench_row "nightly re-pull, unchanged manifest (s)" "$art" "skopeo copy --all per image again" "$srt" s \
  "$(bench_ratio "$srt" "$art")"
bench_row "nightly re-pull, unchanged manifest: bytes sent (KiB)" "$(kib "$arb")" "skopeo copy --all per image again" \
  "$(kib "$srb")" KiB "$(bench_ratio "$srb" "$arb")"
echo "pull: $count images; first pull airfactory $at s / $ab B, skopeo $st s / $sb B; re-pull airfactory $art s / $arb B, skopeo $srt s / $srb B" >&2
