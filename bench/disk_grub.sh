#!/usr/bin/env bash
# bench/disk_grub.sh — a dual-boot metal-amd64 disk image (Talos 1.11.3 default: EFI 2101 MiB with
# systemd-boot + UKI, BIOS 1 MiB with GRUB core.img, BOOT 2000 MiB XFS, META; 4247 MiB) built by
# `airfactory disk build` vs the rootless CLI pipeline Talos' imager (1.13+) runs: truncate, sgdisk,
# mkfs.vfat --invariant + mcopy, grub-mkimage (i386-pc), boot.img/core.img patched and dd'ed,
# mkfs.xfs -p protofile, dd conv=notrunc,sparse per partition, zstd -T0 -18. The UKI is made once,
# outside the timing, for both. META is left empty in the baseline (Talos writes its ADV in Go).
#   bash bench/disk_grub.sh            .raw.zst, 3 runs each
#   SMOKE=1 bash bench/disk_grub.sh    .raw only, 1 run, so the script cannot rot
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
AF=${AIRFACTORY:-$ROOT/build/release/airfactory}
R=$ROOT/build/fixtures/rootfs/imager-v1.11.3-amd64
I=$R/usr/install/amd64
G=$R/usr/lib/grub
[ -x "$AF" ] || { echo "bench/disk_grub.sh: build first (make)"; exit 1; }
[ -d "$G/i386-pc" ] || { echo "bench/disk_grub.sh: run scripts/make-fixtures first"; exit 1; }
T=$(mktemp -d "${TMPDIR:-/tmp}/airfactory-bench-disk-grub.XXXXXX")
mkdir -p "$T/a"  # airfactory names the disk after the output file: a/metal-amd64.EXT
trap 'rm -rf "$T"' EXIT
if [ "${SMOKE:-0}" = 1 ]; then RUNS=1; EXT=raw; else RUNS=3; EXT=raw.zst; fi
export SOURCE_DATE_EPOCH=1700000000
CMDLINE="talos.platform=metal console=tty0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on selinux=1"
MODULES="part_gpt ext2 fat xfs normal configfile linux boot search search_fs_uuid search_fs_file ls cat echo test help reboot halt all_video"
"$AF" asset uki --stub "$I/systemd-stub.efi" --kernel "$I/vmlinuz" --initrd "$I/initramfs.xz" --cmdline "$CMDLINE" \
  --talos-version v1.11.3 --profiles auto-image -o "$T/uki.efi" || exit 1

ours() {  # OUT -> prints "seconds peak_kib"
  /usr/bin/time -f '%e %M' -o "$T/time" "$AF" disk build --talos-version v1.11.3 \
    --stub "$I/systemd-stub.efi" --kernel "$I/vmlinuz" --initrd "$I/initramfs.xz" --sd-boot "$I/systemd-boot.efi" \
    --grub-dir "$G" --cmdline "$CMDLINE" --threads 0 -o "$1" || return 1
  cat "$T/time"
}
talos_cli() {  # OUT -> prints "seconds"
  local out=$1 raw=${1%.zst} start end
  start=$(date +%s.%N)
  rm -rf "$T/tree" "$T/boot" "$T"/*.img "$raw"
  mkdir -p "$T/tree/EFI/boot" "$T/tree/EFI/Linux" "$T/tree/loader" "$T/boot/A" "$T/boot/grub"
  cp "$I/systemd-boot.efi" "$T/tree/EFI/boot/BOOTX64.efi"
  cp "$T/uki.efi" "$T/tree/EFI/Linux/Talos-v1.11.3.efi"
  printf '# systemd-boot configuration\n\ntimeout 10\n' >"$T/tree/loader/loader.conf"
  cp "$I/vmlinuz" "$T/boot/A/vmlinuz"; cp "$I/initramfs.xz" "$T/boot/A/initramfs.xz"
  printf 'set default="A - Talos v1.11.3"\n\nset timeout=3\n\nmenuentry "A - Talos v1.11.3" {\n  linux /A/vmlinuz %s\n  initrd /A/initramfs.xz\n}\n' "$CMDLINE" >"$T/boot/grub/grub.cfg"
  truncate -s 4247M "$raw"
  sgdisk -o -n 1:2048:+2101M -t 1:ef00 -c 1:EFI -n 2:0:+1M -t 2:ef02 -c 2:BIOS -A 2:set:2 \
    -n 3:0:+2000M -t 3:8300 -c 3:BOOT -n 4:0:+1M -t 4:8300 -c 4:META "$raw" >/dev/null
  truncate -s 2101M "$T/EFI.img"
  mkfs.vfat -F 32 -n EFI --invariant "$T/EFI.img" >/dev/null
  for e in "$T/tree"/*; do mcopy -s -p -Q -m -i "$T/EFI.img" "$e" ::; done
  grub-mkimage --directory "$G/i386-pc" --format i386-pc --output "$T/core.img" --prefix '(hd0,gpt3)/grub' \
    $MODULES biosdisk part_msdos
  cp "$G/i386-pc/boot.img" "$T/bootmbr.img"
  python3 - "$T/bootmbr.img" "$T/core.img" 4304896 <<'PY'
import struct, sys
lba = int(sys.argv[3])
for path, off, val in ((sys.argv[1], 0x5c, lba), (sys.argv[2], 0x1f4, lba + 1)):
    b = bytearray(open(path, 'rb').read())
    struct.pack_into('<Q', b, off, val)
    if off == 0x5c:
        b[0x66:0x68] = b'\x90\x90'
    open(path, 'wb').write(b)
PY
  printf '/\n0 0\nd--755 0 0\n A d--755 0 0\n  initramfs.xz ---644 0 0 %s\n  vmlinuz ---644 0 0 %s\n $\n grub d--755 0 0\n  grub.cfg ---600 0 0 %s\n $\n$\n' \
    "$T/boot/A/initramfs.xz" "$T/boot/A/vmlinuz" "$T/boot/grub/grub.cfg" >"$T/proto"
  truncate -s 2000M "$T/BOOT.img"
  mkfs.xfs -q -f -n ftype=1 -m crc=1,finobt=1,inobtcount=1,reflink=1,rmapbt=0,bigtime=1,uuid=24c73076-4092-85dd-9d98-686a2dbf6d81 \
    -i sparse=1 -L BOOT -p "$T/proto" "$T/BOOT.img"
  dd if="$T/EFI.img" of="$raw" bs=1M seek=1 conv=notrunc,sparse status=none
  dd if="$T/core.img" of="$raw" bs=512 seek=4304896 conv=notrunc status=none
  dd if="$T/BOOT.img" of="$raw" bs=1M seek=$((4306944 / 2048)) conv=notrunc,sparse status=none
  dd if="$T/bootmbr.img" of="$raw" bs=446 count=1 conv=notrunc status=none
  if [ "$out" != "$raw" ]; then zstd -T0 --rm -18 --quiet --force -o "$out" "$raw"; fi
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

: >"$T/ours"; : >"$T/cli"; : >"$T/rss"; : >"$T/cli-rss"
# The pipeline runs in a child bash under GNU time: its %M is the peak RSS of the largest process
# of the pipeline (wait4 reports the biggest descendant), comparable to our one process's peak.
export -f talos_cli
export T I G CMDLINE MODULES
for r in $(seq 1 "$RUNS"); do   # interleaved A B A B
  ours "$T/a/metal-amd64.$EXT" >"$T/one" || exit 1
  awk '{print $1}' "$T/one" >>"$T/ours"; awk '{print $2}' "$T/one" >>"$T/rss"
  rm -f "$T/a/metal-amd64.$EXT"
  /usr/bin/time -f '%M' -o "$T/cli-time" bash -c 'talos_cli "$1"' _ "$T/b-metal-amd64.$EXT" >>"$T/cli" || exit 1
  cat "$T/cli-time" >>"$T/cli-rss"
  rm -f "$T/b-metal-amd64.$EXT" "$T/b-metal-amd64.raw"
done
a=$(median <"$T/ours"); b=$(median <"$T/cli")
echo "BENCH|dual-boot metal-amd64.$EXT build (4247 MiB), s|$a|talos imager rootless CLI pipeline|$b|s|$(echo "scale=2; $b / $a" | bc)"
c=$(median <"$T/rss"); d=$(median <"$T/cli-rss")
echo "BENCH|dual-boot metal-amd64.$EXT peak RSS, KiB|$c|largest process of the CLI pipeline|$d|KiB|$(echo "scale=2; $d / $c" | bc)"
