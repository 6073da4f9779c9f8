#!/usr/bin/env bash
# bench/disk.sh — a metal-amd64 disk image (sd-boot: EFI 2101 MiB + META, the fixture imager's
# systemd-boot and a UKI), built by `airfactory disk build` vs the CLI pipeline Talos' imager runs
# (truncate, sgdisk, truncate + mkfs.vfat -F 32 --invariant + mcopy, dd conv=notrunc,sparse,
# zstd -T0 -18). The UKI is made once, outside the timing, for both.
# Rows: build time (median), and airfactory's peak RSS at two disk sizes (must stay flat).
#   bash bench/disk.sh            .raw.zst, 3 runs each, sizes 2246 and 8192 MiB (minutes)
#   SMOKE=1 bash bench/disk.sh    .raw only (no compression), 1 run, so the script cannot rot
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
AF=${AIRFACTORY:-$ROOT/build/release/airfactory}
I=$ROOT/build/fixtures/rootfs/imager-v1.11.3-amd64/usr/install/amd64
[ -x "$AF" ] || { echo "bench/disk.sh: build first (make)"; exit 1; }
[ -f "$I/systemd-boot.efi" ] || { echo "bench/disk.sh: run scripts/make-fixtures first"; exit 1; }
T=$(mktemp -d "${TMPDIR:-/tmp}/airfactory-bench-disk.XXXXXX")
mkdir -p "$T/a"  # airfactory names the disk after the output file: a/metal-amd64.EXT
trap 'rm -rf "$T"' EXIT
if [ "${SMOKE:-0}" = 1 ]; then RUNS=1; EXT=raw; SIZES="2246 2300"; else RUNS=3; EXT=raw.zst; SIZES="2246 8192"; fi
export SOURCE_DATE_EPOCH=1700000000
printf 'customization:\n  bootloader: sd-boot\n' >"$T/s.yaml"
CMDLINE="talos.platform=metal console=tty0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on selinux=1"
"$AF" asset uki --stub "$I/systemd-stub.efi" --kernel "$I/vmlinuz" --initrd "$I/initramfs.xz" --cmdline "$CMDLINE" \
  --talos-version v1.11.3 --profiles auto-image -o "$T/uki.efi" || exit 1

ours() {  # SIZE_MIB OUT -> prints "seconds peak_kib"
  /usr/bin/time -f '%e %M' -o "$T/time" "$AF" disk build --talos-version v1.11.3 --schematic "$T/s.yaml" \
    --stub "$I/systemd-stub.efi" --kernel "$I/vmlinuz" --initrd "$I/initramfs.xz" --sd-boot "$I/systemd-boot.efi" \
    --cmdline "$CMDLINE" --threads 0 --disk-size-mib "$1" -o "$2" || return 1
  cat "$T/time"
}
talos_cli() {  # SIZE_MIB OUT -> prints "seconds"
  local size=$1 out=$2 raw=${2%.zst} start end
  start=$(date +%s.%N)
  rm -rf "$T/tree" "$T/EFI.img" "$raw"
  mkdir -p "$T/tree/EFI/boot" "$T/tree/EFI/Linux" "$T/tree/loader"
  cp "$I/systemd-boot.efi" "$T/tree/EFI/boot/BOOTX64.efi"
  cp "$T/uki.efi" "$T/tree/EFI/Linux/Talos-v1.11.3.efi"
  printf '# systemd-boot configuration\n\ntimeout 10\n' >"$T/tree/loader/loader.conf"
  truncate -s "${size}M" "$raw"
  sgdisk -o -n 1:2048:+2101M -t 1:ef00 -c 1:EFI -n 2:0:+1M -t 2:8300 -c 2:META "$raw" >/dev/null
  truncate -s 2101M "$T/EFI.img"
  mkfs.vfat -F 32 -n EFI --invariant "$T/EFI.img" >/dev/null
  for e in "$T/tree"/*; do mcopy -s -p -Q -m -i "$T/EFI.img" "$e" ::; done
  dd if="$T/EFI.img" of="$raw" bs=1M seek=1 conv=notrunc,sparse status=none
  if [ "$out" != "$raw" ]; then zstd -T0 --rm -18 --quiet --force -o "$out" "$raw"; fi
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

first=${SIZES%% *}
: >"$T/ours"; : >"$T/cli"
for r in $(seq 1 "$RUNS"); do   # interleaved A B A B
  ours "$first" "$T/a/metal-amd64.$EXT" | awk '{print $1}' >>"$T/ours" || exit 1
  rm -f "$T/a/metal-amd64.$EXT"
  talos_cli "$first" "$T/b-metal-amd64.$EXT" >>"$T/cli" || exit 1
  rm -f "$T/b-metal-amd64.$EXT" "$T/b-metal-amd64.raw"
done
a=$(median <"$T/ours"); b=$(median <"$T/cli")
echo "BENCH|metal-amd64.$EXT build (${first} MiB), s|$a|talos imager CLI pipeline|$b|s|$(echo "scale=2; $b / $a" | bc)"
rss=""
for s in $SIZES; do
  m=$(ours "$s" "$T/a/metal-amd64.$EXT" | awk '{print $2}') || exit 1
  rm -f "$T/a/metal-amd64.$EXT"
  rss="$rss $m"
done
set -- $rss
echo "BENCH|peak RSS ${SIZES% *} MiB disk vs ${SIZES#* } MiB disk, KiB|$2|same build, ${SIZES% *} MiB disk|$1|KiB|$(echo "scale=2; $1 / $2" | bc)"
