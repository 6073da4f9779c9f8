#!/usr/bin/env bash
# disk.sh — `airfactory disk build` from the fixture imager files, checked with outside tools:
# sgdisk/sfdisk (table, Talos GUIDs, names, alignment), mtools (ESP content), fsck.fat, zstd/xz/
# gzip CLIs (compressed streams decode to the raw image), qemu-img (fixed VHD), determinism,
# sparseness, and refusals (dual-boot without the imager's GRUB modules, bad sector size).
source "$(dirname "$0")/../lib.sh"
S=$(scratch)
I=$FIXTURES/rootfs/imager-v1.11.3-amd64/usr/install/amd64
if [ ! -f "$I/systemd-boot.efi" ]; then
  fail disk-fixtures "no $I/systemd-boot.efi; run: bash scripts/make-fixtures"
  exit 0
fi
cat >"$S/s.yaml" <<'YAML'
customization:
  bootloader: sd-boot
  extraKernelArgs: [console=ttyS0, panic=-1]
  meta:
    - key: 0xa
      value: |
        addresses:
          - address: 192.168.10.21/24
            linkName: eth0
YAML
build() {  # OUT [extra args]
  local out=$1; shift
  SOURCE_DATE_EPOCH=1700000000 $AIRFACTORY disk build --talos-version v1.11.3 --schematic "$S/s.yaml" \
    --stub "$I/systemd-stub.efi" --kernel "$I/vmlinuz" --initrd "$I/initramfs.xz" --sd-boot "$I/systemd-boot.efi" \
    --threads 2 -o "$out" "$@"
}
mkdir -p "$S/a" "$S/b"
if out=$(build "$S/a/metal-amd64.raw" 2>&1); then pass "build metal-amd64.raw"; else fail "build metal-amd64.raw" "$out"; exit 0; fi
R=$S/a/metal-amd64.raw
check_eq "raw size = 2246 MiB (1246 + 2000 - 1000, sd-boot)" "$(stat -c %s "$R")" $((2246 * 1048576))
check "raw file is sparse (< 64 MiB allocated)" test "$(du -k "$R" | cut -f1)" -lt 65536

p=$(sgdisk -p "$R" 2>&1)
check_contains "sgdisk: disk GUID = GUIDFromLabel(talos-image-disk)" "$p" "Disk identifier (GUID): D92D45B3-CDE9-8760-BE9F-A2A71FAC8D11"
check_contains "sgdisk: EFI at 2048, 2101 MiB, EF00" "$p" "   1            2048         4304895   2.1 GiB     EF00  EFI"
check_contains "sgdisk: META 1 MiB after EFI, 8300" "$p" "   2         4304896         4306943   1024.0 KiB  8300  META"
check_contains "sgdisk: first usable LBA 2048" "$p" "First usable sector is 2048"
check_contains "sgdisk -v: no problems" "$(sgdisk -v "$R" 2>&1)" "No problems found"
check_contains "sgdisk -i 1: EFI GUID" "$(sgdisk -i 1 "$R")" "Partition unique GUID: BCA5174B-0118-8A6A-AF0B-2C6E1585ACAE"
check_contains "sgdisk -i 2: META GUID" "$(sgdisk -i 2 "$R")" "Partition unique GUID: CF04F137-101E-8EC6-9627-FA3F51CDABB8"
d=$(sfdisk -d "$R" 2>&1)
check_contains "sfdisk -d: label gpt" "$d" "label: gpt"
check_contains "sfdisk -d: EFI line" "$d" "start=        2048, size=     4302848, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=BCA5174B-0118-8A6A-AF0B-2C6E1585ACAE, name=\"EFI\""
check_contains "sfdisk -d: last-lba" "$d" "last-lba: 4599774"

ESP="$R@@1M"
check_contains "mdir: BOOTX64.efi" "$(mdir -i "$ESP" -b ::/EFI/boot 2>&1)" "::/EFI/boot/BOOTX64.efi"
check_contains "mdir: UKI Talos-v1.11.3.efi" "$(mdir -i "$ESP" -b ::/EFI/Linux 2>&1)" "::/EFI/Linux/Talos-v1.11.3.efi"
check_eq "mtype: loader.conf as Talos writes it (disk mode)" "$(mtype -i "$ESP" ::/loader/loader.conf | od -c | head -3)" \
  "$(printf '# systemd-boot configuration\n\ntimeout 10\n' | od -c | head -3)"
mcopy -n -i "$ESP" ::/EFI/boot/BOOTX64.efi "$S/bootx64.efi"
check "mcopy: BOOTX64.efi = the imager's systemd-boot.efi" cmp "$S/bootx64.efi" "$I/systemd-boot.efi"
mcopy -n -i "$ESP" ::/EFI/Linux/Talos-v1.11.3.efi "$S/uki.efi"
check_contains "UKI on the ESP carries the image cmdline" "$(strings -n 20 "$S/uki.efi" | grep -m1 '^talos.platform=metal')" \
  "talos.platform=metal console=ttyS0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on selinux=1 panic=-1"
check_contains "mdir: volume label EFI, invariant serial" "$(mdir -i "$ESP" :: 2>&1 | head -3)" "Volume Serial Number is 1234-ABCD"
dd if="$R" of="$S/esp.img" bs=1M skip=1 count=2101 conv=sparse status=none
check "fsck.fat -n on the EFI partition" fsck.fat -n "$S/esp.img"
rm -f "$S/esp.img"

check_eq "META round trip (airfactory disk meta)" "$($AIRFACTORY disk meta "$R")" \
  "$(printf '0xa=addresses:\n  - address: 192.168.10.21/24\n    linkName: eth0\n')"
# the ADV magic at the start of META (LBA 4304896) and its copy 256 KiB later, read with od
check_eq "META ADV magic, copy 1" "$(od -An -tx1 -j $((4304896 * 512)) -N4 "$R" | tr -d ' ')" "5a4b3c2d"
check_eq "META ADV magic, copy 2" "$(od -An -tx1 -j $((4304896 * 512 + 262144)) -N4 "$R" | tr -d ' ')" "5a4b3c2d"

check "build again into another directory" build "$S/b/metal-amd64.raw"
check "deterministic: identical bytes" cmp "$R" "$S/b/metal-amd64.raw"
rm -f "$S/b/metal-amd64.raw"

# compression: zstd (what metal uses) here; .raw.xz/.raw.gz (zero runs skip the compressor) are
# checked in disk_formats.sh; DISK_TEST_ALL=1 repeats them here.
comps="zst"; [ -n "${DISK_TEST_ALL:-}" ] && comps="zst xz gz"
for c in $comps; do
  check "build metal-amd64.raw.$c" build "$S/a/metal-amd64.raw.$c"
done
check "zstd -d of .raw.zst = raw" sh -c "zstd -dc '$S/a/metal-amd64.raw.zst' | cmp - '$R'"
check_contains "zstd -lv: one zstd frame, XXH64 check" "$(zstd -lv "$S/a/metal-amd64.raw.zst" 2>&1)" "# Zstandard Frames: 1"
if [ -n "${DISK_TEST_ALL:-}" ]; then
  check "xz -d of .raw.xz = raw" sh -c "xz -dc '$S/a/metal-amd64.raw.xz' | cmp - '$R'"
  check "gzip -d of .raw.gz = raw" sh -c "gzip -dc '$S/a/metal-amd64.raw.gz' | cmp - '$R'"
fi
rm -f "$S"/a/metal-amd64.raw.*

# fixed VHD (Azure's format): qemu-img reads it as vpc with the exact virtual size
check "build metal-amd64.vhd" build "$S/a/metal-amd64.vhd"
V=$S/a/metal-amd64.vhd
check_eq "vhd = raw + 512-byte footer" "$(stat -c %s "$V")" $((2246 * 1048576 + 512))
info=$(qemu-img info -f vpc --output=json "$V" 2>&1)
check_contains "qemu-img info: vpc" "$info" '"format": "vpc"'
check_contains "qemu-img info: virtual size exact" "$info" "\"virtual-size\": $((2246 * 1048576))"
check "qemu-img compare vhd vs raw" qemu-img compare -f vpc -F raw "$V" "$R"
rm -f "$V"

# qcow2 (oracle/exoscale/alibabacloud: cluster_size=8k), written in C: qemu-img checks and compares
check "build oracle-amd64.raw (2246 MiB)" build "$S/a/oracle-amd64.raw" --disk-size-mib 2246
check "build oracle-amd64.qcow2 (2246 MiB)" build "$S/a/oracle-amd64.qcow2" --disk-size-mib 2246
Q=$S/a/oracle-amd64.qcow2
check_contains "qemu-img check qcow2: no errors" "$(qemu-img check "$Q" 2>&1)" "No errors were found on the image."
qi=$(qemu-img info --output=json "$Q" 2>&1)
check_contains "qemu-img info: qcow2" "$qi" '"format": "qcow2"'
check_contains "qemu-img info: cluster_size 8k (profile diskFormatOptions)" "$qi" '"cluster-size": 8192'
check_contains "qemu-img info: virtual size" "$qi" "\"virtual-size\": $((2246 * 1048576))"
check "qemu-img compare qcow2 vs raw" qemu-img compare -f qcow2 -F raw "$Q" "$S/a/oracle-amd64.raw"
check "qcow2 holds only data clusters (< 64 MiB)" test "$(stat -c %s "$Q")" -lt 67108864
rm -f "$Q" "$S/a/oracle-amd64.raw"

# refusals
check_fails "dual-boot without --grub-dir is refused" env SOURCE_DATE_EPOCH=1 $AIRFACTORY disk build --talos-version v1.11.3 \
  --stub "$I/systemd-stub.efi" --kernel "$I/vmlinuz" --initrd "$I/initramfs.xz" --sd-boot "$I/systemd-boot.efi" -o "$S/a/metal-amd64.raw.zst"
out=$($AIRFACTORY disk build --talos-version v1.11.3 --stub "$I/systemd-stub.efi" --kernel "$I/vmlinuz" \
  --initrd "$I/initramfs.xz" --sd-boot "$I/systemd-boot.efi" -o "$S/a/metal-amd64.raw" 2>&1); rc=$?
check_eq "dual-boot refusal is an input error (exit 2)" "$rc" 2
check_contains "dual-boot refusal says how to fix" "$out" "needs --grub-dir"
check_eq "no partial output after a refusal" "$(ls "$S/a" | grep -c 'metal-amd64.raw.')" 0
check_fails "unknown output name is refused" build "$S/a/metal-amd64.img"
