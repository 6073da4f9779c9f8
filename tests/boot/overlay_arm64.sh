#!/usr/bin/env bash
# boot/overlay_arm64.sh — an overlay (SBC) disk image boots the way the board would boot it: the
# sbc-test overlay's `install` step (sbc-rockchip style) wrote U-Boot at byte 32 KiB of the disk
# and its get-options moved the partitions up 10 MiB (partitionOptions.offset 20480). A board's
# boot ROM loads that U-Boot from the disk; here the test plays the ROM: it takes the bytes from
# 32 KiB up to the GPT entries (LBA 20482) out of the built disk and hands them to
# `qemu-system-aarch64 -M virt` as -bios (the fixture's U-Boot is Debian's qemu_arm64 build). That
# U-Boot finds the ESP, runs GRUB (the board profile's bootloader), which boots the kernel with
# the overlay's kernel args: the fixture /init prints them. One guest, about a minute under TCG.
#   overlay-arm64/firmware     the firmware QEMU runs is the overlay's artifact, read off the disk
#   overlay-arm64/u-boot       the guest's console shows that U-Boot starting and booting GRUB
#   overlay-arm64/marker, /cmdline (each overlay kernel arg), /extension-files  (lib/qemu.sh check_boot)
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/boot/lib/inputs.sh"
source "$ROOT/tests/boot/lib/qemu.sh"
if ! have_landlock; then
  skip "overlay_arm64.sh" "this kernel has no Landlock, which overlay installers run under (src/imager/overlay.c)"
  exit 0
fi
command -v qemu-system-aarch64 >/dev/null ||
  { fail overlay-arm64/qemu "qemu-system-aarch64 missing; run scripts/install-deps.sh (qemu-system-arm)"; exit 0; }
for t in sqlite3 python3; do
  command -v $t >/dev/null || { fail "overlay-arm64/tools" "$t missing; run scripts/install-deps.sh"; exit 0; }
done
FX=$FIXTURES
[ -f "$FX/sbc-test-v0.1.0.oci.tar" ] || { fail overlay-arm64/fixtures "no sbc-test fixture; run: bash scripts/make-fixtures"; exit 0; }
S=$(scratch)
TMO=${ARM64_TIMEOUT:-180}
export SOURCE_DATE_EPOCH=1735689600

"$AIRFACTORY" keygen -o "$S/bundle" >/dev/null
cat >"$S/manifest.yaml" <<YAML
schematics:
  - name: board
    schematic:
      overlay: {image: siderolabs/sbc-test, name: sbc_test}
      customization:
        extraKernelArgs: [panic=-1]
versions: [v1.11.3]
architectures: [arm64]
outputs: [initramfs.xz, metal.raw]
sources:
  - {role: imager, path: $FX/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}
  - {role: overlays, path: $FX/overlays-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/overlays:v1.11.3}
  - {role: overlay, path: $FX/sbc-test-v0.1.0.oci.tar, reference: ghcr.io/siderolabs/sbc-test:v0.1.0}
trust:
  default: {keys: [$ROOT/tests/keys/cosign.pub]}
signing_key: $S/bundle.key
output: $S/bundle
YAML
check "overlay-arm64/build" "$AIRFACTORY" build -j 2 "$S/manifest.yaml"
blob() { # PATH -> the bundle blob of that asset (the raw disk stays sparse there)
  local d
  d=$(sqlite3 "$S/bundle/index.db" "select digest from assets where version = 'v1.11.3' and path = '$1'")
  [ -n "$d" ] && echo "$S/bundle/blobs/sha256/${d#sha256:}"
}
DISK=$(blob metal-arm64.raw) INITRD=$(blob initramfs-arm64.xz)
[ -n "$DISK" ] && [ -n "$INITRD" ] || { fail overlay-arm64/assets "metal-arm64.raw or initramfs-arm64.xz missing from the bundle"; exit 0; }

# what the overlay says of itself (fixtures.json: the board's U-Boot, its offset, its kernel args)
read -r UBOOT OFFSET ARGS < <(python3 -c '
import json, sys
f = json.load(open(sys.argv[1] + "/fixtures.json"))
b = [b for x in f["fixtures"] if x.get("role") == "overlay" for b in x["overlay"]["boards"] if b["name"] == "sbc_test"][0]
print(b["uboot"], b["uboot_offset"], " ".join(b["kernel_args"]))' "$FX")
UB=$FX/rootfs/sbc-test-v0.1.0-amd64/$UBOOT
# the ROM's part: from the U-Boot offset up to the GPT entry array (LBA 2 + partition offset)
entries=$(python3 -c 'import struct, sys; f = open(sys.argv[1], "rb"); f.seek(512 + 72); print(struct.unpack("<Q", f.read(8))[0])' "$DISK")
check_eq "overlay-arm64/gpt entries after the overlay's offset" "$entries" 20482
dd if="$DISK" of="$S/firmware.bin" bs=512 skip=$((OFFSET / 512)) count=$((entries - OFFSET / 512)) status=none
check "overlay-arm64/firmware: the disk holds the overlay's U-Boot at byte $OFFSET" cmp -n "$(stat -c %s "$UB")" "$UB" "$S/firmware.bin"

qemu_boot_arch arm64 "$S/overlay.log" "$TMO" -bios "$S/firmware.bin" -drive "file=$DISK,format=raw,if=virtio,snapshot=on"
clean=$(tr -d '\r' <"$S/overlay.log" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g')
banner=$(strings "$UB" | grep -m1 '^U-Boot 20')
check_contains "overlay-arm64/u-boot: the overlay's U-Boot ran" "$clean" "${banner%% (*}"
check_contains "overlay-arm64/u-boot: ... and booted GRUB from the disk" "$clean" "Booting \`A - Talos v1.11.3'"
check_boot overlay-arm64 "$S/overlay.log" "$INITRD" "contains:talos.platform=metal $ARGS panic=-1"
