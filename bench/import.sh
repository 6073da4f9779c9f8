#!/usr/bin/env bash
# bench/import.sh — `airfactory import` of an oci-archive holding one big layer, against what a
# shell would do with the same file: `tar -x` it, `sha256sum` the blobs, fsync them (our import
# fsyncs every blob before renaming it, so the baseline does too).
#   rows: import throughput (MiB/s) vs tar -x + sha256sum + sync; re-import (blobs already in the
#   store: hash only) vs sha256sum; import throughput at 4×SIZE (a 4 GiB layer by default, one
#   run each) vs the same baseline; peak RSS (/usr/bin/time) at SIZE and 4×SIZE.
#   SIZE=1 GiB by default; SMOKE=1 uses 1 MiB so `make check` can run it quickly.
# Prints "BENCH|workload|airfactory|baseline-name|baseline|unit|ratio" rows (bench/run.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${AIRFACTORY_BIN:-$ROOT/build/release/airfactory}
[ -x "$BIN" ] || { echo "bench/import.sh: build first (make)" >&2; exit 1; }
if [ "${SMOKE:-0}" = 1 ]; then MIB=1; RUNS=1; else MIB=${SIZE_MIB:-1024}; RUNS=${RUNS:-3}; fi
W=$(mktemp -d "${TMPDIR:-/tmp}/airfactory-bench-import.XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W"

now() { date +%s.%N; }
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# An OCI layout whose one layer is a tar of MIB MiB of random bytes, as an oci-archive tar.
make_archive() { # MIB OUT
  local mib=$1 out=$2 d=layout-$1
  mkdir -p "$d/blobs/sha256" payload
  head -c $((mib << 20)) /dev/urandom >payload/big.bin
  tar -C payload -cf layer.tar big.bin && rm -f payload/big.bin
  local lh lsize ch csize mh msize
  lh=$(sha256sum layer.tar | cut -d' ' -f1); lsize=$(stat -c %s layer.tar)
  mv layer.tar "$d/blobs/sha256/$lh"
  printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$lh" >cfg
  ch=$(sha256sum cfg | cut -d' ' -f1); csize=$(stat -c %s cfg); mv cfg "$d/blobs/sha256/$ch"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$ch" "$csize" "$lh" "$lsize" >man
  mh=$(sha256sum man | cut -d' ' -f1); msize=$(stat -c %s man); mv man "$d/blobs/sha256/$mh"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}' \
    "$mh" "$msize" >"$d/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$d/oci-layout"
  tar -C "$d" -cf "$out" . && rm -rf "$d" payload
}

make_archive "$MIB" img.tar
bytes=$(stat -c %s img.tar)

ours=() base=() again=() hashonly=() ossl=()
for i in $(seq 1 "$RUNS"); do
  rm -rf store x; sync -f . 2>/dev/null || true
  t0=$(now); "$BIN" import --store store --insecure img.tar >/dev/null; t1=$(now)
  ours+=("$(echo "$t0 $t1" | awk '{ print $2 - $1 }')")
  t0=$(now); "$BIN" import --store store --insecure img.tar >/dev/null; t1=$(now)
  again+=("$(echo "$t0 $t1" | awk '{ print $2 - $1 }')")
  mkdir x
  t0=$(now); tar -xf img.tar -C x && sha256sum x/blobs/sha256/* >/dev/null && sync x/blobs/sha256/*; t1=$(now)
  base+=("$(echo "$t0 $t1" | awk '{ print $2 - $1 }')")
  t0=$(now); sha256sum img.tar >/dev/null; t1=$(now)
  hashonly+=("$(echo "$t0 $t1" | awk '{ print $2 - $1 }')")
  t0=$(now); openssl dgst -sha256 img.tar >/dev/null; t1=$(now)   # the SHA-NI/AVX2 code we link
  ossl+=("$(echo "$t0 $t1" | awk '{ print $2 - $1 }')")
done
o=$(printf '%s\n' "${ours[@]}" | median); b=$(printf '%s\n' "${base[@]}" | median)
a=$(printf '%s\n' "${again[@]}" | median); h=$(printf '%s\n' "${hashonly[@]}" | median)
s=$(printf '%s\n' "${ossl[@]}" | median)
mibs() { echo "$bytes $1" | awk '{ printf "%.0f", $1 / 1048576 / $2 }'; }
echo "BENCH|import ${MIB} MiB oci-archive (hash+copy+fsync)|$(mibs "$o")|tar -x + sha256sum + sync|$(mibs "$b")|MiB/s|$(echo "$b $o" | awk '{ printf "%.2f", $1 / $2 }')"
echo "BENCH|re-import ${MIB} MiB (already stored: hash only)|$(mibs "$a")|sha256sum|$(mibs "$h")|MiB/s|$(echo "$h $a" | awk '{ printf "%.2f", $1 / $2 }')"
echo "BENCH|re-import ${MIB} MiB (already stored: hash only)|$(mibs "$a")|openssl dgst -sha256|$(mibs "$s")|MiB/s|$(echo "$s $a" | awk '{ printf "%.2f", $1 / $2 }')"

# Peak RSS must not grow with the layer: SIZE vs 4×SIZE (4 GiB at the default size); the 4×SIZE
# import is also timed, beside the same shell baseline, for the throughput on a 4 GiB layer.
rss() { # ARCHIVE -> "KiB seconds"
  rm -rf store-rss
  /usr/bin/time -f '%M %e' -o rss.time "$BIN" import --store store-rss --insecure "$1" >/dev/null && cat rss.time
}
read -r r1 _ < <(rss img.tar)
rm -f img.tar; rm -rf store store-rss x
make_archive $((MIB * 4)) img4.tar
bytes4=$(stat -c %s img4.tar)
read -r r4 t4 < <(rss img4.tar)
rm -rf store-rss; sync -f . 2>/dev/null || true
mkdir x
t0=$(now); tar -xf img4.tar -C x && sha256sum x/blobs/sha256/* >/dev/null && sync x/blobs/sha256/*; t1=$(now)
b4=$(echo "$t0 $t1" | awk '{ print $2 - $1 }')
rm -rf x
mibs4() { echo "$bytes4 $1" | awk '{ printf "%.0f", $1 / 1048576 / $2 }'; }
echo "BENCH|import $((MIB * 4)) MiB oci-archive, one run (hash+copy+fsync)|$(mibs4 "$t4")|tar -x + sha256sum + sync|$(mibs4 "$b4")|MiB/s|$(echo "$b4 $t4" | awk '{ printf "%.2f", $1 / $2 }')"
echo "BENCH|peak RSS, import ${MIB} MiB vs $((MIB * 4)) MiB layer|${r4}|same import at ${MIB} MiB|${r1}|KiB|$(echo "$r1 $r4" | awk '{ printf "%.2f", $1 / $2 }')"
echo "import: ${MIB} MiB layer: airfactory $o s, tar+sha256sum+sync $b s; re-import $a s, sha256sum $h s, openssl $s s; $((MIB * 4)) MiB: airfactory $t4 s, baseline $b4 s; RSS ${r1} KiB -> ${r4} KiB at 4x" >&2
