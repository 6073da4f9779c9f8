#!/usr/bin/env bash
# iso_grub.sh — which GRUB directories a GRUB-only and a hybrid metal ISO carry, per arch, built from
# the fixtures by `airfactory build` (#15; docs/differences.md). Image Factory's ISOs come from
# Talos' grub-mkrescue calls run in Image Factory's container, whose usr/lib/grub holds i386-pc and
# x86_64-efi (pkgs amd64 grub) and arm64-efi (pkgs arm64 grub) (image-factory v1.5.0
# Dockerfile:114-116; pkgs grub/pkg.yaml:31-38):
#   - GRUB-only (talos v1.14.0-rc.1 pkg/imager/iso/grub.go:73-83): no --directory, so grub-mkrescue
#     copies EVERY platform under usr/lib/grub, whatever the ISO's arch — amd64 and arm64 alike
#     carry i386-pc, x86_64-efi and arm64-efi;
#   - hybrid (pkg/imager/iso/hybrid.go:31, --directory=/usr/lib/grub/i386-pc): i386-pc only;
#   - both: fonts/, locale/ (grub_install_copy_files, util/grub-install-common.c) and roms/
#     (util/grub-mkrescue.c main), grub.cfg; the El Torito catalog is /boot.catalog.
# arm64 with dual-boot is the deliberate difference of docs/differences.md: UEFI-only, no /boot.
source "$(dirname "$0")/../lib.sh"
S=$(scratch)
export SOURCE_DATE_EPOCH=1735689600
command -v xorriso >/dev/null || { skip "iso_grub.sh" "xorriso not installed (scripts/install-deps.sh)"; exit 0; }
command -v sqlite3 >/dev/null || { skip "iso_grub.sh" "sqlite3 not installed (scripts/install-deps.sh)"; exit 0; }
need_fixtures imager-v1.12.0.oci.tar || exit 1
$AIRFACTORY keygen -o "$S/b" >/dev/null

cat >"$S/m.yaml" <<EOF
schematics:
  - {name: grub, schematic: {customization: {bootloader: grub}}}
  - {name: dual, schematic: {customization: {bootloader: dual-boot}}}
versions: [v1.12.0]
architectures: [amd64, arm64]
outputs: [metal.iso]
sources:
  - {role: imager, path: $FIXTURES/imager-v1.12.0.oci.tar, reference: ghcr.io/siderolabs/imager:v1.12.0}
trust:
  default:
    keys: [$ROOT/tests/keys/cosign.pub]
signing_key: $S/b.key
output: $S/out
EOF
out=$($AIRFACTORY build "$S/m.yaml" --store "$S/store" 2>&1); rc=$?
check_eq "build GRUB-only and dual-boot ISOs, amd64 + arm64 (v1.12.0) exits 0" "$rc" 0
[ "$rc" -eq 0 ] || { echo "$out" | tail -5; exit 0; }

iso() {  # BOOTLOADER ARCH -> the ISO blob of the schematic with that bootloader
  local id
  id=$(sqlite3 "$S/out/index.db" "SELECT id FROM schematics WHERE yaml LIKE '%bootloader: $1%'")
  echo "$S/out/blobs/sha256/$(sqlite3 "$S/out/index.db" \
    "SELECT substr(digest, 8) FROM assets WHERE path = 'metal-$2.iso' AND schematic = '$id'")"
}
ls1() { xorriso -indev "$1" -find "$2" -maxdepth 1 2>/dev/null | tr '\n' ' '; }

GRUB_ONLY="'/boot/grub' '/boot/grub/arm64-efi' '/boot/grub/fonts' '/boot/grub/grub.cfg' '/boot/grub/i386-pc' \
'/boot/grub/locale' '/boot/grub/roms' '/boot/grub/x86_64-efi' "
HYBRID="'/boot/grub' '/boot/grub/fonts' '/boot/grub/grub.cfg' '/boot/grub/i386-pc' '/boot/grub/locale' \
'/boot/grub/roms' "
for arch in amd64 arm64; do
  I=$(iso grub "$arch")
  check "grub/$arch: the ISO is in the bundle" test -s "$I"
  check_eq "grub/$arch: /boot/grub holds every platform of the imager's GRUB (grub.go, no --directory)" \
    "$(ls1 "$I" /boot/grub)" "$GRUB_ONLY"
  check_eq "grub/$arch: / holds the El Torito catalog /boot.catalog and GRUB's efi.img" "$(ls1 "$I" /)" \
    "'/' '/boot' '/boot.catalog' '/efi.img' "
  check_contains "grub/$arch: BIOS El Torito from i386-pc" \
    "$(xorriso -indev "$I" -report_el_torito plain 2>/dev/null)" "El Torito boot img :   1  BIOS"
  check_eq "grub/$arch: i386-pc holds grub-mkrescue's files only (*.mod, the .lst lists, eltorito.img)" \
    "$(xorriso -indev "$I" -find /boot/grub/i386-pc -type f 2>/dev/null | grep -v "\.mod'$" | sed 's|.*/||' | tr '\n' ' ')" \
    "command.lst' crypto.lst' efiemu32.o' efiemu64.o' eltorito.img' fs.lst' moddep.lst' modinfo.sh' partmap.lst' parttool.lst' terminal.lst' video.lst' "
done
check_eq "dual/amd64: the hybrid's /boot/grub is i386-pc only (hybrid.go --directory)" \
  "$(ls1 "$(iso dual-boot amd64)" /boot/grub)" "$HYBRID"
I=$(iso dual-boot arm64)
check "dual/arm64: the ISO is in the bundle" test -s "$I"
check_eq "dual/arm64: UEFI-only (the deliberate difference)" \
  "$(xorriso -indev "$I" -report_el_torito plain 2>/dev/null | grep '^El Torito boot img' | awk '{print $7}' | tr '\n' ' ')" "UEFI "
check_eq "dual/arm64: ... so no /boot at all" "$(ls1 "$I" /boot)" ""
