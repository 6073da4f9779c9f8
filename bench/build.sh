#!/usr/bin/env bash
# bench/build.sh — `airfactory build` on a whole manifest, and single asset kinds against the CLI
# pipeline Talos' imager runs for the same job.
#
# Manifest builds (full: docs/examples/demo.yaml, 38 assets; SMOKE: vanilla, v1.11.3, amd64, 4
# outputs), each run interleaving:
#   full       `airfactory build M1` into an empty target with an empty store (imports included)
#   no-op      the same command again: every asset is reused from the existing bundle
#   add one    M2 = M1 + one schematic, built with --base (the M1 bundle) and M1's store, against
#              M2 built from scratch (empty store, no base): what incremental builds save
#   delta      `airfactory delta M1-bundle M2-bundle` size against `airfactory pack M2-bundle`
# Asset kinds whose baseline no other bench/*.sh covers (initramfs.sh: mksquashfs+cpio+zstd;
# disk.sh: mkfs.vfat+mcopy, sgdisk, zstd), on the imager fixtures' files, same inputs both sides:
#   ISO        `airfactory asset iso --layout uefi` vs Talos' UEFI ISO pipeline (pkg/imager/iso):
#              fallocate efiboot.img, mkfs.vfat --invariant, mcopy, xorrisofs. (Talos passes
#              -F 32, which this mtools refuses to write at ~27 MiB; mkfs.vfat then picks FAT16,
#              as airfactory's FAT writer does at that size.)
#   qcow2      `airfactory disk build -o metal-amd64.qcow2` vs `airfactory disk build` of the
#              .raw + `qemu-img convert -f raw -O qcow2` (what the imager does); the two images
#              must be identical to `qemu-img compare`
#   squashfs   `airfactory asset squashfs` (zstd 18) vs `mksquashfs -comp zstd
#              -Xcompression-level 18 -all-root`, time and size
# Rows: BENCH|workload|airfactory|baseline-name|baseline|unit|ratio (ratio > 1: airfactory better).
#   bash bench/build.sh            demo manifest, 5 runs; assets 5 runs; squashfs of the imager rootfs (~15 min)
#   SMOKE=1 bash bench/build.sh    small manifest, 1 run; assets 1 run, small squashfs tree
set -uo pipefail
source "$(dirname "$0")/lib/common.sh"
ROOT=$BENCH_ROOT
AF=${AIRFACTORY_BIN:-$ROOT/build/release}/airfactory
FIX=$ROOT/build/fixtures
I=$FIX/rootfs/imager-v1.11.3-amd64/usr/install/amd64
[ -x "$AF" ] || { echo "bench/build.sh: build first (make)" >&2; exit 1; }
[ -f "$I/systemd-boot.efi" ] || { echo "bench/build.sh: run scripts/make-fixtures first" >&2; exit 1; }
for tool in xorrisofs mkfs.vfat mcopy qemu-img mksquashfs unsquashfs python3; do
  command -v "$tool" >/dev/null || { echo "bench/build.sh: $tool missing (scripts/install-deps.sh)" >&2; exit 1; }
done
if [ "${SMOKE:-0}" = 1 ]; then
  RUNS=1 ASSET_RUNS=1 SQUASH_TREE=$FIX/rootfs/hello-world-service-v1.11.3-amd64
else
  RUNS=${RUNS:-5} ASSET_RUNS=${ASSET_RUNS:-5} SQUASH_TREE=${SQUASH_TREE:-$FIX/rootfs/imager-v1.11.3-amd64}
fi
bench_workdir build || exit 1
W=$BENCH_WORKDIR
cd "$W" || exit 1
export SOURCE_DATE_EPOCH=1700000000
"$AF" keygen -o key >/dev/null || exit 1

# ---- manifests ----
if [ "${SMOKE:-0}" = 1 ]; then
  bench_manifest m1.yaml '[v1.11.3]' '[amd64]' '[kernel, initramfs.xz, cmdline-metal, metal-uki.efi]'
  M1_NAME="vanilla v1.11.3 amd64, 4 outputs"
else
  bench_demo_manifest m1.yaml
  M1_NAME="demo manifest"
fi
awk '{ print } /^schematics:/ { print "  - name: bench-added\n    schematic:\n      customization:\n        extraKernelArgs: [console=ttyS1,115200]" }' \
  m1.yaml >m2.yaml

# timed_build NAME MANIFEST ARGS...: seconds >> NAME; the build log is kept in NAME.log
timed_build() {
  local name=$1 t0; shift
  t0=$(bench_now)
  "$AF" build "$@" --key key.key >"$name.log" 2>&1 || { echo "bench/build.sh: $name build failed: $(tail -3 "$name.log")" >&2; return 1; }
  bench_since "$t0" >>"$name"
}
assets_in() { sed -n 's/.*written and signed: \([0-9]*\) assets built, \([0-9]*\) reused.*/\1 built, \2 reused/p' "$1"; }
for r in $(seq 1 "$RUNS"); do
  echo "bench/build: manifest round $r/$RUNS" >&2
  rm -rf b1 st1 b2 b2full st2
  timed_build full m1.yaml -o b1 --store st1 || exit 1
  timed_build noop m1.yaml -o b1 --store st1 || exit 1
  timed_build added m2.yaml -o b2 --base b1 --store st1 || exit 1
  timed_build added-full m2.yaml -o b2full --store st2 || exit 1
done
echo "bench/build: full: $(assets_in full.log); no-op: $(assets_in noop.log); added: $(assets_in added.log); added from scratch: $(assets_in added-full.log)" >&2
case "$(assets_in noop.log)" in "0 built,"*) ;; *) echo "bench/build.sh: the no-op rerun built assets" >&2; exit 1 ;; esac
"$AF" delta b1 b2 -o delta.tar >delta.log 2>&1 || { echo "bench/build.sh: delta failed: $(tail -3 delta.log)" >&2; exit 1; }
"$AF" pack b2 -o pack.tar >pack.log 2>&1 || { echo "bench/build.sh: pack failed: $(tail -3 pack.log)" >&2; exit 1; }
"$AF" verify b2 --key key.pub >/dev/null || { echo "bench/build.sh: the incremental bundle does not verify" >&2; exit 1; }
tf=$(bench_median <full) tn=$(bench_median <noop) ta=$(bench_median <added) taf=$(bench_median <added-full)
ds=$(stat -c %s delta.tar) ps=$(stat -c %s pack.tar)
mib() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1048576 }'; }
bench_row "$M1_NAME: no-op rerun into the same target (s)" "$tn" "full build, empty store and target" "$tf" s "$(bench_ratio "$tf" "$tn")"
bench_row "$M1_NAME + one schematic: rebuild with --base (s)" "$ta" "full build of the new manifest, empty store" "$taf" s "$(bench_ratio "$taf" "$ta")"
bench_row "$M1_NAME + one schematic: airfactory delta size (MiB)" "$(mib "$ds")" "airfactory pack of the new bundle" "$(mib "$ps")" MiB "$(bench_ratio "$ps" "$ds")"
rm -rf b1 b2 b2full st1 st2 delta.tar pack.tar

# ---- asset kinds ----
CMDLINE="talos.platform=metal console=tty0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on selinux=1"
"$AF" asset uki --stub "$I/systemd-stub.efi" --kernel "$I/vmlinuz" --initrd "$I/initramfs.xz" --cmdline "$CMDLINE" \
  --talos-version v1.11.3 --profiles auto-image -o uki.efi >/dev/null || exit 1
# timed OUT-FILE CMD...: seconds of CMD >> OUT-FILE
timed() {
  local out=$1 t0; shift
  t0=$(bench_now)
  "$@" >/dev/null 2>&1 || { echo "bench/build.sh: failed: $*" >&2; return 1; }
  bench_since "$t0" >>"$out"
}
iso_ours() {
  rm -f ours.iso
  "$AF" asset iso --talos-version v1.11.3 --arch amd64 --layout uefi --uki uki.efi --sd-boot "$I/systemd-boot.efi" \
    --mtime "$SOURCE_DATE_EPOCH" --work-dir "$W" -o ours.iso
}
iso_talos() { # pkg/imager/iso/uefi.go as shell (talos-imager.md §6.3, §6.4; dates: SOURCE_DATE_EPOCH)
  local mib=$((1 << 20)) sdb uki size
  rm -rf iso-root efiboot.img talos.iso
  mkdir -p iso-root/EFI/BOOT iso-root/EFI/Linux iso-root/loader
  cp "$I/systemd-boot.efi" iso-root/EFI/BOOT/BOOTX64.EFI
  cp uki.efi iso-root/EFI/Linux/Talos-v1.11.3.efi
  printf '# systemd-boot configuration\n\ntimeout 10\n\nsecure-boot-enroll off\n' >iso-root/loader/loader.conf
  sdb=$(stat -c %s iso-root/EFI/BOOT/BOOTX64.EFI) uki=$(stat -c %s uki.efi)
  size=$((10 * mib + (sdb + mib - 1) / mib * mib + (uki + mib - 1) / mib * mib))
  fallocate -l "$size" efiboot.img &&
    mkfs.vfat -n EFI --invariant efiboot.img >/dev/null &&
    mcopy -s -p -Q -m -i efiboot.img iso-root/EFI iso-root/loader :: &&
    xorrisofs -e --interval:appended_partition_2:all:: -append_partition 2 0xef efiboot.img \
      -partition_cyl_align all -partition_offset 16 -iso_mbr_part_type 0x83 -no-emul-boot -m efiboot.img \
      -iso-level 3 -V TALOS_V1_11_3 -volset Talos-v1.11.3 -o talos.iso iso-root -- 2>/dev/null
}
disk() { # NAME: airfactory disk build of the sd-boot metal image called NAME
  "$AF" disk build --talos-version v1.11.3 --schematic disk-schematic.yaml --stub "$I/systemd-stub.efi" \
    --kernel "$I/vmlinuz" --initrd "$I/initramfs.xz" --sd-boot "$I/systemd-boot.efi" --cmdline "$CMDLINE" \
    --threads 0 --mtime "$SOURCE_DATE_EPOCH" --work-dir "$W" -o "$1"
}
printf 'customization:\n  bootloader: sd-boot\n' >disk-schematic.yaml
qcow2_ours() { rm -f ours/metal-amd64.qcow2; mkdir -p ours && disk ours/metal-amd64.qcow2; }
qcow2_talos() {
  rm -f talos/metal-amd64.raw talos/metal-amd64.qcow2; mkdir -p talos
  disk talos/metal-amd64.raw && qemu-img convert -f raw -O qcow2 talos/metal-amd64.raw talos/metal-amd64.qcow2
}
squash_ours() { rm -f ours.sqsh; "$AF" asset squashfs --compression zstd --level 18 --mtime "$SOURCE_DATE_EPOCH" "$SQUASH_TREE" ours.sqsh; }
squash_cli() {
  rm -f cli.sqsh
  # times from SOURCE_DATE_EPOCH (mksquashfs refuses -mkfs-time/-all-time beside it)
  mksquashfs "$SQUASH_TREE" cli.sqsh -all-root -noappend -no-progress -quiet -comp zstd -Xcompression-level 18
}
iso_ours >/dev/null 2>&1 && iso_talos >/dev/null 2>&1 || { echo "bench/build.sh: ISO warm-up failed" >&2; exit 1; }
for r in $(seq 1 "$ASSET_RUNS"); do
  timed iso.a iso_ours && timed iso.b iso_talos &&
    timed qcow2.a qcow2_ours && timed qcow2.b qcow2_talos &&
    timed squash.a squash_ours && timed squash.b squash_cli || exit 1
done
# the outputs are what they claim to be
xorriso -indev ours.iso -find /EFI/Linux/Talos-v1.11.3.efi 2>/dev/null | grep -q Talos ||
  { echo "bench/build.sh: ours.iso has no UKI" >&2; exit 1; }
qemu-img compare ours/metal-amd64.qcow2 talos/metal-amd64.qcow2 >/dev/null ||
  { echo "bench/build.sh: the qcow2 images differ from qemu-img's conversion" >&2; exit 1; }
[ "$(unsquashfs -lc ours.sqsh | sed 's|^[^/]*||' | sort)" = "$(unsquashfs -lc cli.sqsh | sed 's|^[^/]*||' | sort)" ] ||
  { echo "bench/build.sh: the two squashfs images hold different files" >&2; exit 1; }
ia=$(bench_median <iso.a) ib=$(bench_median <iso.b) qa=$(bench_median <qcow2.a) qb=$(bench_median <qcow2.b)
sa=$(bench_median <squash.a) sb=$(bench_median <squash.b)
SQ_MIB=$(du -sm "$SQUASH_TREE" | cut -f1)
bench_row "UEFI ISO, systemd-boot + $(mib "$(stat -c %s uki.efi)") MiB UKI (s)" "$ia" "mkfs.vfat+mcopy+xorrisofs" "$ib" s "$(bench_ratio "$ib" "$ia")"
bench_row "metal-amd64.qcow2 sd-boot disk image (s)" "$qa" "disk build .raw + qemu-img convert" "$qb" s "$(bench_ratio "$qb" "$qa")"
bench_row "squashfs zstd 18 of a $SQ_MIB MiB tree (s)" "$sa" "mksquashfs -comp zstd -Xcompression-level 18" "$sb" s "$(bench_ratio "$sb" "$sa")"
bench_row "squashfs zstd 18 of a $SQ_MIB MiB tree: size (KiB)" "$(($(stat -c %s ours.sqsh) / 1024))" \
  "mksquashfs -comp zstd -Xcompression-level 18" "$(($(stat -c %s cli.sqsh) / 1024))" KiB \
  "$(bench_ratio "$(stat -c %s cli.sqsh)" "$(stat -c %s ours.sqsh)")"
