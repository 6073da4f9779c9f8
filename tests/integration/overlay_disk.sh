#!/usr/bin/env bash
# overlay_disk.sh — disk images of overlay schematics as Talos' imager builds them (v1.14 library,
# cmd/installer/pkg/install in image mode), read back with sgdisk, mtools and xfs_db:
#  * the board profile's bootloader (profile.go MergeOverlayProfile): sbc-test's
#    profiles/sbc_test.yaml says `bootloader: grub`, so metal-arm64.raw for v1.11.3 (default
#    sd-boot) gets the GRUB layout (EFI 100 MiB, BIOS, BOOT);
#  * get-options' partitionOptions.offset (20480, go-blockdevice gpt.WithSkipLBAs): the GPT
#    entries at LBA 20482, the first partition at 22528;
#  * the overlay's `install` step (GRUB's ExtraInstallStep, before the partitions are written):
#    U-Boot from its artifacts at byte 32 KiB of the disk, untouched by the GPT; config.txt (with
#    the schematic's overlay.options configTxtAppend) and the dtb it writes under
#    mountPrefix/boot/EFI land in the BOOT partition's /EFI (v1.14's GRUB image mode makes BOOT
#    from mountPrefix/boot);
#  * sbc_test_mini (no bootloader in its profile: sd-boot, no offset): partitions at 1 MiB, and no
#    install step (Talos' sd-boot image mode never calls it): nothing of the overlay on the ESP;
#  * bad input: an installer whose install fails, and one that writes outside its scratch
#    directory (refused by Landlock), fail the asset naming the overlay and the step, and no
#    bundle is written. (A hanging install is killed at the timeout: unit/test_overlay.)
# (A minute or two under ASan: real 8 GiB sparse disks with XFS and GRUB.)
source "$(dirname "$0")/../lib.sh"
if ! have_landlock; then
  skip "overlay_disk.sh" "this kernel has no Landlock, which overlay installers run under (src/imager/overlay.c)"
  exit 0
fi
S=$(scratch)
export SOURCE_DATE_EPOCH=1735689600
for tool in python3 sgdisk mdir xfs_db cc; do
  command -v $tool >/dev/null || { skip "overlay_disk.sh" "$tool not installed (scripts/install-deps.sh)"; exit 0; }
done
if [ ! -f "$FIXTURES/sbc-test-v0.1.0.oci.tar" ]; then
  fail overlay-disk-fixtures "no sbc-test fixture in $FIXTURES; run: bash scripts/make-fixtures"
  exit 0
fi
$AIRFACTORY keygen -o "$S/b" >/dev/null
manifest() { # OUT OVERLAYS-CATALOG OVERLAY-IMAGE TRUST-OF-THE-OVERLAY SCHEMATIC-YAML...
  local out=$1 cat=$2 img=$3 trust=$4; shift 4
  echo "schematics:"
  printf '%s\n' "$@"
  cat <<EOF
versions: [v1.11.3]
architectures: [arm64]
outputs: [metal.raw]
sources:
  - {role: imager, path: $FIXTURES/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}
  - {role: overlays, path: $cat, reference: ghcr.io/siderolabs/overlays:v1.11.3, trust: any}
  - {role: overlay, path: $img, reference: ghcr.io/siderolabs/sbc-test:v0.1.0, trust: any}
trust:
  default:
    keys: [$ROOT/tests/keys/cosign.pub]
  any:
    ${trust:-keys: [$ROOT/tests/keys/cosign.pub]}
signing_key: $S/b.key
output: $out
EOF
}
manifest "$S/out" "$FIXTURES/overlays-v1.11.3.oci.tar" "$FIXTURES/sbc-test-v0.1.0.oci.tar" "" \
  "  - name: board" "    schematic:" \
  "      overlay: {image: siderolabs/sbc-test, name: sbc_test, options: {configTxtAppend: dtoverlay=airfactory}}" \
  "  - name: mini" "    schematic:" "      overlay: {image: siderolabs/sbc-test, name: sbc_test_mini}" >"$S/m.yaml"
out=$($AIRFACTORY build -j 2 "$S/m.yaml" 2>&1); rc=$?
check_eq "build of overlay disk images exits 0" "$rc" 0
[ "$rc" -eq 0 ] || echo "$out" | tail -5
# relative --store and -o: the installer runs in its own scratch directory, so every path it is
# handed (its artifacts in the store, the disk in the writer's scratch) must be absolute
out=$(cd "$S" && $AIRFACTORY build -j 2 m.yaml -o rel-out --store rel-store 2>&1); rc=$?
check_eq "build with a relative --store and -o exits 0 (the installer finds its artifacts)" "$rc" 0
[ "$rc" -eq 0 ] || echo "$out" | tail -3
check_eq "... and writes the same index.db as with absolute paths" "$(cmp "$S/rel-out/index.db" "$S/out/index.db" 2>&1)" ""
rm -rf "$S/rel-out" "$S/rel-store"
disk_of() { # OVERLAY-NAME [OPTIONS-YAML-LINES]: the bundle blob of that schematic's metal-arm64.raw
  printf 'overlay:\n  image: siderolabs/sbc-test\n  name: %s\n%s' "$1" "${2:-}" >"$S/s-$1.yaml"
  local id d
  id=$($AIRFACTORY schematic id "$S/s-$1.yaml")
  d=$(sqlite3 "$S/out/index.db" "select digest from assets where schematic = '$id' and path = 'metal-arm64.raw'" 2>/dev/null)
  [ -n "$d" ] && echo "$S/out/blobs/sha256/${d#sha256:}"
}
O=$FIXTURES/rootfs/sbc-test-v0.1.0-amd64
D=$(disk_of sbc_test "$(printf '  options:\n    configTxtAppend: dtoverlay=airfactory\n')")
if [ -n "$D" ]; then
  p=$(sgdisk -p "$D" 2>&1)
  check_contains "board profile bootloader grub + partition offset 20480: EFI 100 MiB from sector 22528" "$p" \
    "   1           22528          227327   100.0 MiB   EF00  EFI"
  check_contains "overlay profile bootloader grub: BIOS" "$p" "EF02  BIOS"
  check_contains "overlay profile bootloader grub: BOOT" "$p" "8300  BOOT"
  check_contains "sgdisk -v" "$(sgdisk -v "$D" 2>&1)" "No problems found"
  check_eq "GPT header: entries at LBA 2 + 20480, first usable LBA 22528" \
    "$(python3 -c 'import struct, sys; f = open(sys.argv[1], "rb"); f.seek(512); h = f.read(92); print(struct.unpack_from("<QQ", h, 40)[0], struct.unpack_from("<Q", h, 72)[0])' "$D")" \
    "22528 20482"
  UB=$O/artifacts/arm64/u-boot/sbc_test/u-boot.bin
  check "install: U-Boot from the overlay's artifacts at byte 32768 of the disk" \
    cmp -n "$(stat -c %s "$UB")" "$UB" <(tail -c +32769 "$D")
  check_eq "install: nothing else between the GPT header and U-Boot" "$(head -c 32768 "$D" | tail -c +1025 | tr -d '\0' | wc -c)" 0
  esp=$(( 22528 * 512 ))
  check_eq "ESP: only GRUB (the installer wrote under mountPrefix/boot/EFI, which is BOOT's)" \
    "$(mdir -/ -b -i "$D@@$esp" ::/ 2>&1 | sed 's|^::/||' | LC_ALL=C sort | tr '\n' ' ')" "EFI/ EFI/boot/ EFI/boot/BOOTAA64.efi "
  boot_start=$(sgdisk -i 3 "$D" | awk '/First sector/ { print $3 }')
  boot_end=$(sgdisk -i 3 "$D" | awk '/Last sector/ { print $3 }')
  dd if="$D" of="$S/boot.xfs" bs=1M iflag=skip_bytes,count_bytes skip=$((boot_start * 512)) \
    count=$(( (boot_end - boot_start + 1) * 512 )) conv=sparse status=none
  ls_efi=$(xfs_db -r -c 'ls /EFI' "$S/boot.xfs" 2>/dev/null)
  check_contains "BOOT /EFI/config.txt from the install step" "$ls_efi" "config.txt (good)"
  check_contains "BOOT /EFI/dtb from the install step" "$ls_efi" "dtb (good)"
  check_contains "BOOT /EFI/dtb/airfactory/sbc-test.dtb" "$(xfs_db -r -c 'ls /EFI/dtb/airfactory' "$S/boot.xfs" 2>/dev/null)" "sbc-test.dtb (good)"
  cfg_ino=$(xfs_db -r -c 'ls /EFI' "$S/boot.xfs" 2>/dev/null | awk '$NF == "(good)" && $(NF-1) == "config.txt" { print $2 }')
  append=dtoverlay=airfactory
  want=$(( $(stat -c %s "$O/artifacts/arm64/firmware/boot/config.txt") + ${#append} + 1 ))
  check_eq "BOOT /EFI/config.txt: the artifact + extraOptions.configTxtAppend (size)" \
    "$(xfs_db -r -c "inode $cfg_ino" -c 'print core.size' "$S/boot.xfs" 2>/dev/null)" "core.size = $want"
  check_contains "BOOT keeps the imager's own files" "$(xfs_db -r -c 'ls /A' "$S/boot.xfs" 2>/dev/null)" "vmlinuz (good)"
else
  fail "metal-arm64.raw of the sbc_test schematic in the bundle" "not listed"
fi
M=$(disk_of sbc_test_mini)
if [ -n "$M" ]; then
  p=$(sgdisk -p "$M" 2>&1)
  check_contains "sbc_test_mini: sd-boot, no offset: EFI from sector 2048" "$p" "   1            2048 "
  check_eq "sbc_test_mini: no install step in sd-boot image mode (the ESP holds the boot loader only)" \
    "$(mdir -/ -b -i "$M@@$((2048 * 512))" ::/ 2>&1 | sed 's|^::/||' | grep -v '/$' | LC_ALL=C sort | tr '\n' ' ')" \
    "EFI/Linux/Talos-v1.11.3.efi EFI/boot/BOOTAA64.efi loader/loader.conf "
else
  fail "metal-arm64.raw of the sbc_test_mini schematic in the bundle" "not listed"
fi

# Hostile installers, in an unsigned overlay (trusted as `insecure`): get-options answers, then
# install fails, or writes beside the build's own files. Each fails the asset naming the overlay
# and the step; nothing is written.
cat >"$S/bad.c" <<'C'
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv)
{
    if (argc < 2)
        return 1;
    if (!strcmp(argv[1], "get-options")) {
        printf("name: bad\nkernelArgs:\n    - console=ttyAMA0\n");
        return 0;
    }
#ifdef ESCAPE
    FILE *f = fopen(ESCAPE, "w");
    if (!f) {
        perror("cannot create " ESCAPE);
        return 1;
    }
    fclose(f);
    return 0;
#else
    fprintf(stderr, "u-boot for this board is missing");
    return 1;
#endif
}
C
cc -O1 -o "$S/bad_install" "$S/bad.c" && cc -O1 -DESCAPE="\"$S/escaped\"" -o "$S/bad_escape" "$S/bad.c"
check_eq "the hostile installers compile" "$?" 0
hostile_overlay "$S" $'arch: arm64\noutput:\n  kind: image\n  imageOptions:\n    bootloader: grub\n' \
  "bad_install=$S/bad_install" "bad_escape=$S/bad_escape"
check_eq "the hostile overlay and its catalog were written" "$?" 0
for board in bad_install bad_escape; do
  manifest "$S/out-$board" "$S/bad-overlays.oci.tar" "$S/bad-overlay.oci.tar" "insecure: true" \
    "  - name: board" "    schematic:" "      overlay: {image: siderolabs/sbc-test, name: $board}" >"$S/m-$board.yaml"
  out=$($AIRFACTORY build "$S/m-$board.yaml" 2>&1); rc=$?
  check_eq "$board: the build fails (exit 2, bad input)" "$rc" 2
  check_contains "$board: the error names the asset, the overlay and the install step" "$out" \
    "metal-arm64.raw: overlay $board (ghcr.io/siderolabs/sbc-test:v0.1.0@sha256:"
  check_contains "$board: ... and the installer step" "$out" "/installers/$board install failed (exit 1): "
  check "$board: no bundle is written" test ! -e "$S/out-$board"
done
check_contains "bad_install: the installer's own message" "$(build_out=$($AIRFACTORY build "$S/m-bad_install.yaml" 2>&1); echo "$build_out")" \
  "u-boot for this board is missing"
check_contains "bad_escape: the write outside the scratch directory was refused" "$out" "cannot create $S/escaped: Permission denied"
check "bad_escape: nothing was written outside" test ! -e "$S/escaped"
