#!/usr/bin/env bash
# boot/disk_nocloud.sh — the nocloud disk images a manifest asks for, built by `airfactory build`
# and booted from the bundle's blobs (issue [disks]: "nocloud image likewise"):
#   * nocloud-amd64.raw.xz (Talos v1.11.3, default bootloader dual-boot): xz -t accepts the blob, it
#     decompresses to 4247 MiB (the profile's 1246 MiB base + 1000 MiB boot-partition delta since
#     1.11 + 2001 MiB BIOS+BOOT for dual-boot, talos-imager.md §2.4), sgdisk shows EFI/BIOS/BOOT/META, and it boots under
#     SeaBIOS (GRUB) with the nocloud command line (talos.platform=nocloud and the console/ifnames
#     arguments Talos gives that platform) plus the schematic's extraKernelArgs;
#   * nocloud-amd64.qcow2: qemu-img check accepts it, and QEMU boots the qcow2 itself (no
#     conversion) under OVMF: systemd-boot -> the UKI, same platform arguments.
# What the guest prints comes from the fixture's /init, so a wrong platform, a broken partition
# table, a kernel that is not the imager's or a qcow2 QEMU cannot read all fail here.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib/qemu.sh"
S=$(scratch)
for t in sgdisk xz qemu-img qemu-system-x86_64 sqlite3; do
  command -v $t >/dev/null || { fail "disk-nocloud/tools" "$t missing; run scripts/install-deps.sh"; exit 0; }
done
[ -f "$OVMF_FD" ] || { fail "disk-nocloud/ovmf" "$OVMF_FD missing; run scripts/install-deps.sh"; exit 0; }
FX=$FIXTURES
[ -f "$FX/imager-v1.11.3.oci.tar" ] || { fail "disk-nocloud/fixtures" "no fixtures; run: bash scripts/make-fixtures"; exit 0; }

cat >"$S/manifest.yaml" <<YAML
schematics:
  - name: nocloud
    schematic: {customization: {extraKernelArgs: [panic=-1]}}
versions: [v1.11.3]
architectures: [amd64]
outputs: [nocloud.raw.xz, nocloud.qcow2]
sources:
  - {role: imager, path: $FX/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}
trust:
  default: {keys: [$ROOT/tests/keys/cosign.pub]}
signing_key: $S/bundle.key
output: $S/bundle
YAML
check "keygen" "$AIRFACTORY" keygen -o "$S/bundle"
check "build nocloud-amd64.raw.xz and nocloud-amd64.qcow2" env SOURCE_DATE_EPOCH=1700000000 "$AIRFACTORY" build -j 2 "$S/manifest.yaml"
check "verify --full" "$AIRFACTORY" verify "$S/bundle" --key "$S/bundle.pub" --full

blob() { # PATH -> the bundle blob of that asset
  local d
  d=$(sqlite3 "$S/bundle/index.db" "select digest from assets where version = 'v1.11.3' and path = '$1'")
  echo "$S/bundle/blobs/sha256/${d#sha256:}"
}
RAWXZ=$(blob nocloud-amd64.raw.xz)
QCOW=$(blob nocloud-amd64.qcow2)
check "raw.xz: blob present and xz -t accepts it" xz -t "$RAWXZ"
check "raw.xz: decompresses" bash -c "xz -dc '$RAWXZ' | cp --sparse=always /dev/stdin '$S/nocloud.raw'"
check_eq "raw.xz: 4247 MiB, the dual-boot nocloud size" "$(stat -c %s "$S/nocloud.raw" 2>/dev/null)" "$((4247 * 1024 * 1024))"
p=$(sgdisk -p "$S/nocloud.raw" 2>&1)
for part in "EF00  EFI" "EF02  BIOS" "8300  BOOT" "8300  META"; do
  check_contains "raw: sgdisk shows $part" "$p" "$part"
done
check "qcow2: qemu-img check" qemu-img check -q "$QCOW"
check_contains "qcow2: qemu-img info says qcow2" "$(qemu-img info "$QCOW" 2>&1)" "file format: qcow2"
check "qcow2: same disk as the raw image" qemu-img compare -q -f qcow2 -F raw "$QCOW" "$S/nocloud.raw"

# The nocloud arguments (talos-imager.md: console=tty1 console=ttyS0 net.ifnames=0), before the
# schematic's extraKernelArgs
boot_check() { # NAME LOG
  local clean line
  clean=$(tr -d '\r' <"$2" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g')
  line=$(grep -a '^CMDLINE:' <<<"$clean" | head -1)
  check_contains "$1: fixture marker" "$clean" "AIRFACTORY-FIXTURE-BOOT"
  check_contains "$1: talos.platform=nocloud" "$line" " talos.platform=nocloud "
  check_contains "$1: nocloud console and ifnames arguments" "$line" "console=tty1 console=ttyS0 net.ifnames=0"
  check_contains "$1: schematic's extraKernelArgs" "$line" " panic=-1"
  check_contains "$1: init finished" "$clean" "AIRFACTORY-FIXTURE-DONE"
}
qemu_boot "$S/seabios.log" 240 -drive "file=$S/nocloud.raw,format=raw,if=virtio,snapshot=on"
boot_check "raw SeaBIOS (GRUB)" "$S/seabios.log"
rm -f "$S/nocloud.raw"
qemu_boot "$S/ovmf.log" 240 -bios "$OVMF_FD" -drive "file=$QCOW,format=qcow2,if=virtio,snapshot=on"
boot_check "qcow2 OVMF (systemd-boot + UKI)" "$S/ovmf.log"
