#!/usr/bin/env bash
# bench/initramfs.sh — building an initramfs with 3 extensions: `airfactory asset initramfs`
# (libsquashfs + in-process cpio + libzstd) against the CLI pipeline Talos' imager runs for the
# same job: per extension `mksquashfs -all-root -noappend -comp zstd -Xcompression-level 18`,
# firmware moved out, then `cpio -H newc --create --reproducible -R +0:+0 | zstd -T0 -18`
# appended to the base. Both use every core. Runs interleave A B A B; medians are reported.
#   bash bench/initramfs.sh          ~75 MiB of extension content, 3 runs each
#   SMOKE=1 bash bench/initramfs.sh  ~3 MiB, 1 run each (CI: keeps the benchmark from rotting)
# Prints "BENCH|workload|airfactory|baseline-name|baseline|unit|ratio" rows (ratio > 1: airfactory better).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
AF=${AIRFACTORY:-$ROOT/build/release/airfactory}
[ -x "$AF" ] || { echo "bench/initramfs: build first (make)" >&2; exit 1; }
for t in mksquashfs cpio zstd; do command -v $t >/dev/null || { echo "bench/initramfs: $t missing" >&2; exit 1; }; done
source tests/boot/lib/inputs.sh
boot_inputs v1.11.3 >/dev/null
BASE=$IMAGER/usr/install/amd64/initramfs.xz
W=$(mktemp -d "${TMPDIR:-/tmp}/airfactory-bench-initramfs.XXXXXX")
trap 'rm -rf "$W"' EXIT
SMOKE=${SMOKE:-0}
RUNS=3; SCALE=25
[ "$SMOKE" = 1 ] && { RUNS=1; SCALE=1; }

# ---- three extensions of different kinds: binaries, text, firmware blobs ----
mkext() {  # DIR NAME
  mkdir -p "$1/rootfs"
  printf 'version: v1alpha1\nmetadata:\n  name: %s\n  version: 1.0.0\n  author: bench\n  description: %s\n  compatibility:\n    talos:\n      version: ">= v1.10.0"\n' "$2" "$2" >"$1/manifest.yaml"
}
# copy regular files found under DIRS into DEST until BYTES (one find + one tar, no per-file processes)
fill() {  # DEST BYTES DIRS...
  local dest=$1 bytes=$2; shift 2
  mkdir -p "$dest"
  find "$@" -xdev -type f -size -4M -printf '%s %p\n' 2>/dev/null | LC_ALL=C sort -k2 |
    awk -v max="$bytes" '{ n += $1; sub(/^[0-9]+ /, ""); print; if (n > max) exit }' >"$W/list" || true
  tar -cf - -T "$W/list" 2>/dev/null | tar -xf - -C "$dest"
}
mkext "$W/ext/0" bench-binaries
fill "$W/ext/0/rootfs/usr/local" $((SCALE * 1048576)) /usr/bin /usr/lib/x86_64-linux-gnu
mkext "$W/ext/1" bench-text
fill "$W/ext/1/rootfs/usr/local" $((SCALE * 1048576)) /usr/share/doc /usr/share/man /usr/share/perl5 /usr/include
mkext "$W/ext/2" bench-firmware
mkdir -p "$W/ext/2/rootfs/usr/lib/firmware/vendor" "$W/ext/2/rootfs/usr/local/share/fw"
for i in $(seq 1 $((SCALE * 4))); do   # firmware: half random, half zeros, like padded blobs
  { head -c 131072 /dev/urandom; head -c 131072 /dev/zero; } >"$W/ext/2/rootfs/usr/lib/firmware/vendor/blob$i.bin"
done
echo readme >"$W/ext/2/rootfs/usr/local/share/fw/README"
CONTENT=$(du -sb "$W/ext" | cut -f1)

ours() {
  "$AF" asset initramfs --base "$BASE" --talos-version v1.11.3 --extension "$W/ext/0" --extension "$W/ext/1" \
    --extension "$W/ext/2" --mtime 1735689600 --work-dir "$W" -o "$W/ours.xz"
}

baseline() {  # the imager's steps, as shell; the extension trees are hard-link copies (Talos extracts them)
  local s=$W/stage t=$W/tmp
  rm -rf "$s" "$t"; mkdir -p "$t"
  cp -al "$W/ext" "$s"
  cp "$BASE" "$W/baseline.xz"
  for i in 0 1 2; do
    if [ -d "$s/$i/rootfs/usr/lib/firmware" ]; then
      mkdir -p "$t/usr/lib"; cp -a "$s/$i/rootfs/usr/lib/firmware" "$t/usr/lib/"; rm -rf "$s/$i/rootfs/usr/lib/firmware"
    fi
    mksquashfs "$s/$i/rootfs" "$t/$i.sqsh" -all-root -noappend -no-progress -quiet -comp zstd -Xcompression-level 18 >/dev/null
  done
  "$AF" asset segments --cat extensions.yaml "$W/ours.xz" >"$t/extensions.yaml" 2>/dev/null || echo "layers: []" >"$t/extensions.yaml"
  (cd "$t" && find . -mindepth 1 | sed 's|^\./||' | LC_ALL=C sort | cpio -H newc --create --reproducible --quiet -R +0:+0 | zstd -T0 -18 -c -q) >>"$W/baseline.xz"
}

now() { date +%s.%N; }
median() { LC_ALL=C sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ours   # warm-up: page cache, and extensions.yaml for the baseline
a=() b=()
for r in $(seq 1 $RUNS); do
  s=$(now); ours; e=$(now); a+=("$(echo "$e - $s" | bc)")
  s=$(now); baseline; e=$(now); b+=("$(echo "$e - $s" | bc)")
done
ta=$(printf '%s\n' "${a[@]}" | median); tb=$(printf '%s\n' "${b[@]}" | median)
"$AF" asset segments "$W/ours.xz" >/dev/null  # the result must read back
sa=$(stat -c %s "$W/ours.xz"); sb=$(stat -c %s "$W/baseline.xz")
label="initramfs, 3 extensions ($((CONTENT / 1048576)) MiB)$([ "$SMOKE" = 1 ] && echo ', smoke')"
printf 'BENCH|%s: build time|%.2f|mksquashfs+cpio+zstd -18|%.2f|s|%.2f\n' "$label" "$ta" "$tb" "$(echo "$tb / $ta" | bc -l)"
printf 'BENCH|%s: output size|%d|mksquashfs+cpio+zstd -18|%d|bytes|%.3f\n' "$label" "$sa" "$sb" "$(echo "$sb / $sa" | bc -l)"
