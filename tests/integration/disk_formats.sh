#!/usr/bin/env bash
# disk_formats.sh — the output formats of `airfactory disk build` beyond raw/qcow2/vhd, checked with
# outside tools: OVA (GNU tar members, sha256sum against the .mf, OVF fields, qemu-img info/check/
# compare of the stream-optimised VMDK against the raw image), GCP .raw.tar.gz (tar -tvzf, GNU tar
# extracts a sparse disk.raw identical to the raw image, Python's tarfile sees an old-GNU sparse
# member), .raw.xz/.raw.gz with zero runs (xz/gzip CLIs decode to the raw image), 4Kn images
# (fdisk -b 4096, mtools and fsck.fat on a 4096-byte-sector ESP, META round trip), determinism.
source "$(dirname "$0")/../lib.sh"
S=$(scratch)
I=$FIXTURES/rootfs/imager-v1.11.3-amd64/usr/install/amd64
if [ ! -f "$I/systemd-boot.efi" ]; then
  fail disk-formats-fixtures "no $I/systemd-boot.efi; run: bash scripts/make-fixtures"
  exit 0
fi
cat >"$S/s.yaml" <<'YAML'
customization:
  bootloader: sd-boot
  extraKernelArgs: [console=ttyS0]
  meta:
    - key: 0xa
      value: "addresses: []\n"
YAML
build() {  # OUT [extra args]
  local out=$1; shift
  SOURCE_DATE_EPOCH=1700000000 $AIRFACTORY disk build --talos-version v1.11.3 --schematic "$S/s.yaml" \
    --stub "$I/systemd-stub.efi" --kernel "$I/vmlinuz" --initrd "$I/initramfs.xz" --sd-boot "$I/systemd-boot.efi" \
    --threads 2 -o "$out" "$@"
}
mkdir -p "$S/a" "$S/b"

# ---- OVA (vmware: 8192 + 1000 MiB) ------------------------------------------------------------
SIZE=$((9192 * 1048576))
check "build vmware-amd64.raw" build "$S/a/vmware-amd64.raw"
check "build vmware-amd64.ova" build "$S/a/vmware-amd64.ova"
O=$S/a/vmware-amd64.ova
check_eq "tar tf: disk.ovf, disk.mf, disk.vmdk in Talos' order" "$(tar tf "$O" | tr '\n' ' ')" "disk.ovf disk.mf disk.vmdk "
check_contains "tar tvf: root-owned, fixed mtime" "$(tar tvf "$O" --numeric-owner | head -1)" "-rw-r--r-- 0/0"
check_contains "tar tvf: mtime is SOURCE_DATE_EPOCH" "$(TZ=UTC tar tvf "$O" | head -1)" "2023-11-14 22:13"
mkdir -p "$S/ova" && tar xf "$O" -C "$S/ova"
check_eq "disk.mf = sha256 of disk.vmdk and disk.ovf" "$(cat "$S/ova/disk.mf")" \
  "$(cd "$S/ova" && printf 'SHA256(disk.vmdk)= %s\nSHA256(disk.ovf)= %s\n' "$(sha256sum disk.vmdk | cut -d' ' -f1)" "$(sha256sum disk.ovf | cut -d' ' -f1)")"
ovf=$(cat "$S/ova/disk.ovf")
check_contains "ovf: File size = the VMDK's size" "$ovf" "<File ovf:href=\"disk.vmdk\" ovf:id=\"file1\" ovf:size=\"$(stat -c %s "$S/ova/disk.vmdk")\"/>"
check_contains "ovf: capacity in MiB" "$ovf" "ovf:capacity=\"9192\" ovf:capacityAllocationUnits=\"byte * 2^20\""
check_contains "ovf: Talos' template (vmx-15, talos.config)" "$ovf" "<vssd:VirtualSystemType>vmx-15</vssd:VirtualSystemType>"
check_contains "ovf: talos.config property" "$ovf" 'ovf:key="talos.config"'
check "ovf is well-formed XML" python3 -c "import sys,xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])" "$S/ova/disk.ovf"
V=$S/ova/disk.vmdk
check_eq "vmdk magic KDMV" "$(head -c 4 "$V")" "KDMV"
vi=$(qemu-img info --output=json "$V" 2>&1)
check_contains "qemu-img info: vmdk" "$vi" '"format": "vmdk"'
check_contains "qemu-img info: streamOptimized" "$vi" '"create-type": "streamOptimized"'
check_contains "qemu-img info: compressed extent" "$vi" '"compressed": true'
check_contains "qemu-img info: virtual size" "$vi" "\"virtual-size\": $SIZE"
check_contains "qemu-img check vmdk: no errors" "$(qemu-img check "$V" 2>&1)" "No errors were found on the image."
check "qemu-img compare vmdk vs raw" qemu-img compare -f vmdk -F raw "$V" "$S/a/vmware-amd64.raw"
check "vmdk stores only data grains (< 64 MiB)" test "$(stat -c %s "$V")" -lt 67108864
check_eq "vmdk ends with footer marker, footer, end-of-stream marker" \
  "$(tail -c 1536 "$V" | od -An -tx1 -N16 | tr -d ' \n') $(tail -c 1024 "$V" | head -c 4) $(tail -c 512 "$V" | tr -d '\0' | wc -c)" \
  "01000000000000000000000003000000 KDMV 0"
check "build vmware-amd64.ova again" build "$S/b/vmware-amd64.ova"
check "OVA is deterministic" cmp "$O" "$S/b/vmware-amd64.ova"
rm -rf "$S/ova" "$S/b/vmware-amd64.ova" "$S/a/vmware-amd64.raw" "$O"

# ---- GCP .raw.tar.gz (8192 + 1000 MiB) --------------------------------------------------------
check "build gcp-amd64.raw" build "$S/a/gcp-amd64.raw"
check "build gcp-amd64.raw.tar.gz" build "$S/a/gcp-amd64.raw.tar.gz"
G=$S/a/gcp-amd64.raw.tar.gz
check_eq "gzip magic" "$(od -An -tx1 -N3 "$G" | tr -d ' ')" "1f8b08"
listing=$(TZ=UTC tar -tvzf "$G" --numeric-owner 2>&1)
check_eq "tar -tvzf: one member disk.raw, 0/0, full size, SOURCE_DATE_EPOCH" "$listing" \
  "-rw-r--r-- 0/0      $SIZE 2023-11-14 22:13 disk.raw"
mkdir -p "$S/x" && tar -xzf "$G" -C "$S/x"
check "extracted disk.raw = the raw image" cmp "$S/x/disk.raw" "$S/a/gcp-amd64.raw"
check "extracted disk.raw is sparse (< 64 MiB allocated)" test "$(du -k "$S/x/disk.raw" | cut -f1)" -lt 65536
rm -rf "$S/x"
py=$(python3 - "$G" <<'PY'
import sys, tarfile
t = tarfile.open(sys.argv[1], "r:gz")
m = t.getmembers()
print(len(m), m[0].name, m[0].type.decode(), m[0].size, m[0].uid, m[0].gid, m[0].mtime, len(m[0].sparse) > 4)
PY
)
check_eq "python tarfile: old GNU sparse member ('S'), > 4 regions (extension headers)" "$py" \
  "1 disk.raw S $SIZE 0 0 1700000000 True"
check_eq "tar header magic is GNU ('ustar  ')" "$(gzip -dc "$G" | head -c 265 | tail -c 8 | od -An -c | tr -s ' ')" \
  " u s t a r \0"
check "build gcp-amd64.raw.tar.gz again" build "$S/b/gcp-amd64.raw.tar.gz"
check "tar.gz is deterministic" cmp "$G" "$S/b/gcp-amd64.raw.tar.gz"
rm -f "$S/a/gcp-amd64.raw" "$G" "$S/b/gcp-amd64.raw.tar.gz"

# ---- .raw.xz / .raw.gz: zero runs skip the compressor, the tools still decode the image -------
check "build metal-amd64.raw" build "$S/a/metal-amd64.raw"
for c in xz gz; do
  check "build metal-amd64.raw.$c" build "$S/a/metal-amd64.raw.$c"
done
check "xz -dc .raw.xz = raw (checks every stream's CRC32 and index)" sh -c "xz -dc '$S/a/metal-amd64.raw.xz' | cmp - '$S/a/metal-amd64.raw'"
check "gzip -dc .raw.gz = raw (checks every member's CRC32/ISIZE)" sh -c "gzip -dc '$S/a/metal-amd64.raw.gz' | cmp - '$S/a/metal-amd64.raw'"
xl=$(xz -lv "$S/a/metal-amd64.raw.xz")
check_contains "xz -l: CRC32 check" "$xl" "Check:             CRC32"
check_contains "xz -l: one stream (zero runs are blocks inside it)" "$xl" "Streams:           1"
check_contains "xz -l: 1 MiB blocks, as xz -0 -T makes them" "$xl" "Blocks:            2246"
check "zero runs make the .xz small (< 16 MiB)" test "$(stat -c %s "$S/a/metal-amd64.raw.xz")" -lt 16777216
check "build metal-amd64.raw.xz again" build "$S/b/metal-amd64.raw.xz"
check ".raw.xz is deterministic" cmp "$S/a/metal-amd64.raw.xz" "$S/b/metal-amd64.raw.xz"
rm -f "$S"/a/metal-amd64.raw* "$S"/b/*

# ---- 4Kn (diskImage.sectorSize 4096, Talos' metal-4k) ------------------------------------------
check "build metal-amd64.raw --sector-size 4096" build "$S/a/metal-amd64.raw" --sector-size 4096
R=$S/a/metal-amd64.raw
f=$(fdisk -b 4096 -l -o Device,Start,End,Sectors,Type-UUID,UUID,Name "$R" 2>&1)
check_contains "fdisk -b 4096: GPT" "$f" "Disklabel type: gpt"
check_contains "fdisk -b 4096: Talos disk GUID" "$f" "Disk identifier: D92D45B3-CDE9-8760-BE9F-A2A71FAC8D11"
check_contains "fdisk -b 4096: EFI at LBA 256 (1 MiB), 2101 MiB" "$f" \
  "metal-amd64.raw1    256 538111  537856 C12A7328-F81F-11D2-BA4B-00A0C93EC93B BCA5174B-0118-8A6A-AF0B-2C6E1585ACAE EFI"
check_contains "fdisk -b 4096: META right after, 1 MiB" "$f" \
  "metal-amd64.raw2 538112 538367     256 0FC63DAF-8483-4772-8E79-3D69D8477DE4 CF04F137-101E-8EC6-9627-FA3F51CDABB8 META"
check_contains "sgdisk (512-byte view) finds no GPT at LBA 1: the table is in 4 KiB units" "$(sgdisk -p "$R" 2>&1)" "Creating new GPT entries"
check_eq "GPT header at byte 4096" "$(od -An -c -j 4096 -N 8 "$R" | tr -d ' ')" "EFIPART"
check_contains "mdir: UKI on the 4Kn ESP" "$(mdir -i "$R@@1M" -b ::/EFI/Linux 2>&1)" "::/EFI/Linux/Talos-v1.11.3.efi"
mcopy -n -i "$R@@1M" ::/EFI/boot/BOOTX64.efi "$S/bootx64.efi"
check "mcopy: BOOTX64.efi = systemd-boot.efi" cmp "$S/bootx64.efi" "$I/systemd-boot.efi"
dd if="$R" of="$S/esp.img" bs=1M skip=1 count=2101 conv=sparse status=none
fv=$(fsck.fat -n -v "$S/esp.img" 2>&1)
check_contains "fsck.fat: 4096 bytes per logical sector" "$fv" "4096 bytes per logical sector"
check_contains "fsck.fat: FAT32" "$fv" "32 bit entries"
check "fsck.fat -n: clean" fsck.fat -n "$S/esp.img"
rm -f "$S/esp.img"
check_eq "META round trip at 4096-byte LBAs" "$($AIRFACTORY disk meta --sector-size 4096 "$R")" "0xa=addresses: []"
check_eq "META ADV magic at LBA 538112 x 4096" "$(od -An -tx1 -j $((538112 * 4096)) -N4 "$R" | tr -d ' ')" "5a4b3c2d"
cat >"$S/s4k.yaml" <<'YAML'
customization:
  bootloader: sd-boot
  extraKernelArgs: [console=ttyS0]
  meta:
    - key: 0xa
      value: "addresses: []\n"
  diskImage:
    sectorSize: 4096
YAML
check "schematic diskImage.sectorSize 4096 builds the same image" sh -c "
  SOURCE_DATE_EPOCH=1700000000 $AIRFACTORY disk build --talos-version v1.11.3 --schematic '$S/s4k.yaml' \
    --stub '$I/systemd-stub.efi' --kernel '$I/vmlinuz' --initrd '$I/initramfs.xz' --sd-boot '$I/systemd-boot.efi' \
    --threads 2 -o '$S/b/metal-amd64.raw' && cmp '$R' '$S/b/metal-amd64.raw'"
check_fails "sector size 1024 is refused" build "$S/a/x/metal-amd64.raw" --sector-size 1024
rm -f "$R" "$S/b/metal-amd64.raw"
