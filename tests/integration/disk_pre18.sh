#!/usr/bin/env bash
# disk_pre18.sh — the two disk-image layouts Image Factory builds that airfactory once refused:
# Talos < 1.8 disk images (STATE and EPHEMERAL after META) and SecureBoot disk images of platforms
# without a `secureboot-<platform>` imager profile (aws-amd64-secureboot). The upstream numbers,
# talos v1.14.0-rc.1 (the library Image Factory v1.5.0 links for every version):
#   cmd/installer/pkg/install/install.go:932-953  META, then STATE and EPHEMERAL when the image
#                                                 mode's version lacks SkipDataPartitions (< 1.8)
#   pkg/machinery/imager/quirks/quirks.go:145-155 SkipDataPartitions: v1.8.0 and later
#   pkg/machinery/imager/quirks/partitions.go:46-48 StateSize 100 MiB
#   internal/pkg/partition/partition.go:80-93     STATE and EPHEMERAL: LinuxFilesystemData
#                                                 (constants.go:16 0FC63DAF-…), EPHEMERAL size 0
#   cmd/installer/pkg/install/install.go:657-660  size 0 = go-blockdevice LargestContiguousAllocatable
#   internal/pkg/partition/format.go:173-182      STATE, EPHEMERAL: FilesystemTypeNone (not formatted)
#   pkg/imager/profile/output.go:164-186          < 1.10 without SecureBoot: GRUB; SecureBoot: sd-boot
#   pkg/imager/profile/profile.go:87-88           "secureboot is not supported for Talos version %q" (< 1.5)
# image-factory v1.5.0:
#   internal/profile/profile.go:43-62,237-245     P-A-secureboot.<disk> = platform P's own profile
#                                                 (disk size), SecureBoot on; no secureboot-P needed
#   cmd/image-factory/cmd/options.go:822          MinTalosVersion "1.2.0"
# The < 1.8 image is built through `airfactory build` from the v1.9.5 fixture imager under the
# reference ghcr.io/siderolabs/imager:v1.7.6 (the layout is the library's, not the imager's; the
# fixture's kernel and initramfs only fill BOOT), and checked with sgdisk, blkid, xfs_db, mtools
# and sbverify.
source "$(dirname "$0")/../lib.sh"
S=$(scratch)
export SOURCE_DATE_EPOCH=1735689600
for tool in sgdisk blkid xfs_db mdir mcopy mtype python3; do
  command -v $tool >/dev/null || { skip "disk_pre18.sh" "$tool not installed (scripts/install-deps.sh)"; exit 0; }
done
for f in imager-v1.9.5 imager-v1.11.3; do
  [ -f "$FIXTURES/$f.oci.tar" ] || { fail disk-pre18-fixtures "no $FIXTURES/$f.oci.tar; run: bash scripts/make-fixtures"; exit 0; }
done
L=0FC63DAF-8483-4772-8E79-3D69D8477DE4 E=C12A7328-F81F-11D2-BA4B-00A0C93EC93B B=21686148-6449-6E6F-744E-656564454649

# --- disk plan: the library's partition table for a v1.7.x name --------------------------------
# metal: diskSize 1246 MiB (default.go MinRAWDiskSize), GRUB (< 1.10): EFI 100 MiB (GrubEFISize),
# BIOS 1 MiB, BOOT 1000 MiB (< 1.11), META 1 MiB, STATE 100 MiB, EPHEMERAL = 1246 - 1203 MiB less
# the backup GPT, down to 1 MiB = 42 MiB. Columns: name, bytes, type, file system, first LBA.
out=$($AIRFACTORY disk plan metal-amd64.raw.zst v1.7.6 2>&1)
check_contains "plan v1.7.6: GRUB" "$out" "bootloader grub"
check_contains "plan v1.7.6: 1246 MiB" "$out" "disk_size $((1246 * 1048576))"
check_eq "plan v1.7.6: partitions" "$(grep '^partition' <<<"$out")" "partition EFI 104857600 $E vfat 2048
partition BIOS 1048576 $B zeroes 206848
partition BOOT 1048576000 $L xfs 208896
partition META 1048576 $L zeroes 2256896
partition STATE 104857600 $L none 2258944
partition EPHEMERAL 44040192 $L none 2463744"
check_eq "plan v1.8.0: no STATE/EPHEMERAL" "$($AIRFACTORY disk plan metal-amd64.raw.zst v1.8.0 | grep -c '^partition')" 4
out=$($AIRFACTORY disk plan aws-amd64-secureboot.raw.xz v1.7.6 2>&1)
check_contains "plan aws SecureBoot v1.7.6: sd-boot" "$out" "bootloader sd-boot"
check_eq "plan aws SecureBoot v1.7.6: UKI ESP 1101 MiB, META, STATE, EPHEMERAL (8192 MiB disk)" \
  "$(grep '^partition' <<<"$out" | awk '{print $2, $3}' | tr '\n' ' ')" \
  "EFI 1154482176 META 1048576 STATE 104857600 EPHEMERAL 7327449088 "
out=$($AIRFACTORY disk plan metal-amd64.raw.zst v1.1.0 2>&1); rc=$?
check_eq "plan v1.1.0 is refused (exit 2)" "$rc" 2
check_contains "... below Image Factory's minimum" "$out" "Talos v1.1.0 is not supported; Image Factory builds v1.2.0 and later"

# --- airfactory plan: what Image Factory refuses ------------------------------------------------
$AIRFACTORY keygen -o "$S/b" >/dev/null
$AIRFACTORY keygen --secureboot --bits 2048 -o "$S/sb" >/dev/null
manifest() {  # FILE VERSION OUTPUT
  cat >"$1" <<EOF
schematics:
  - {name: v, schematic: {}}
versions: [$2]
architectures: [amd64]
outputs: [$3]
sources:
  - {role: imager, path: $FIXTURES/imager-v1.9.5.oci.tar, reference: ghcr.io/siderolabs/imager:$2}
trust:
  default:
    keys: [$ROOT/tests/keys/cosign.pub]
secureboot: {signing_key: $S/sb.key, signing_cert: $S/sb.crt}
signing_key: $S/b.key
output: $S/refused
EOF
}
manifest "$S/m.yaml" v1.4.0 aws-amd64-secureboot.raw.xz
out=$($AIRFACTORY plan "$S/m.yaml" 2>&1); rc=$?
check_eq "plan refuses aws-amd64-secureboot for v1.4.0 (exit 2)" "$rc" 2
check_contains "... in Image Factory's words" "$out" 'secureboot is not supported for Talos version "v1.4.0"'
manifest "$S/m.yaml" v1.1.0 metal-amd64.raw.zst
out=$($AIRFACTORY plan "$S/m.yaml" 2>&1); rc=$?
check_eq "plan refuses Talos v1.1.0 (exit 2)" "$rc" 2
check_contains "... naming Image Factory's minimum" "$out" "Image Factory builds v1.2.0 and later"

# --- airfactory build: v1.7.6 metal and aws SecureBoot, v1.11.3 aws SecureBoot --------------------
cat >"$S/build.yaml" <<EOF
schematics:
  - name: old
    schematic: {}
    versions: [v1.7.6]
    outputs: [metal-amd64.raw, aws-amd64-secureboot.raw]
  - name: sb
    schematic: {customization: {extraKernelArgs: [talos.dashboard.disabled=1]}}
    versions: [v1.11.3]
    outputs: [aws-amd64-secureboot.raw]
versions: [v1.7.6]
architectures: [amd64]
outputs: [kernel]
sources:
  - {role: imager, path: $FIXTURES/imager-v1.9.5.oci.tar, reference: ghcr.io/siderolabs/imager:v1.7.6}
  - {role: imager, path: $FIXTURES/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}
trust:
  default:
    keys: [$ROOT/tests/keys/cosign.pub]
secureboot: {signing_key: $S/sb.key, signing_cert: $S/sb.crt}
signing_key: $S/b.key
output: $S/bundle
EOF
out=$($AIRFACTORY build "$S/build.yaml" 2>&1); rc=$?
check_eq "airfactory build exits 0" "$rc" 0
check_contains "three images built" "$out" "3 assets built, 0 reused"
ls_json=$($AIRFACTORY ls "$S/bundle" --json)
blob() {  # ASSET VERSION -> blob path
  local d
  d=$(python3 -c 'import json,sys; print([a["digest"] for a in json.load(sys.stdin)["assets"] if a["path"]==sys.argv[1] and a["version"]==sys.argv[2]][0])' "$1" "$2" <<<"$ls_json") || return 1
  echo "$S/bundle/blobs/sha256/${d#sha256:}"
}
zero_range() {  # FILE START_LBA END_LBA(inclusive) -> "zero" when every byte is zero
  python3 - "$@" <<'EOF'
import sys
f, a, b = sys.argv[1], int(sys.argv[2]) * 512, (int(sys.argv[3]) + 1) * 512
with open(f, 'rb') as h:
    h.seek(a)
    left = b - a
    while left:
        chunk = h.read(min(left, 1 << 22))
        if not chunk or chunk.count(0) != len(chunk):
            print("data at", h.tell()); sys.exit(0)
        left -= len(chunk)
print("zero")
EOF
}

# metal-amd64.raw v1.7.6: the GRUB layout + STATE + EPHEMERAL
M=$(blob metal-amd64.raw v1.7.6) || fail "metal v1.7.6 in the bundle" "$ls_json"
p=$(sgdisk -p "$M" 2>&1)
check_contains "metal v1.7.6: 1246 MiB" "$p" "Disk $M: 2551808 sectors"
check_eq "metal v1.7.6: sgdisk partition table" "$(grep -E '^ +[0-9]+ ' <<<"$p")" \
"   1            2048          206847   100.0 MiB   EF00  EFI
   2          206848          208895   1024.0 KiB  EF02  BIOS
   3          208896         2256895   1000.0 MiB  8300  BOOT
   4         2256896         2258943   1024.0 KiB  8300  META
   5         2258944         2463743   100.0 MiB   8300  STATE
   6         2463744         2549759   42.0 MiB    8300  EPHEMERAL"
check_contains "metal v1.7.6: sgdisk -v" "$(sgdisk -v "$M" 2>&1)" "No problems found"
# an empty schematic writes no META values: the partition stays blank, and `disk meta` says so by
# printing none (it used to fail with "ADV magic numbers missing")
out=$($AIRFACTORY disk meta "$M" 2>&1); rc=$?
check_eq "metal v1.7.6: disk meta of a blank META: no values, exit 0" "$rc:$out" "0:"
for n in 5 6; do
  i=$(sgdisk -i $n "$M")
  check_contains "metal v1.7.6: partition $n is Linux filesystem data" "$i" "Partition GUID code: $L"
done
# unique GUIDs = GUIDFromLabel (install.go:979-985), as BOOT's
check_contains "metal v1.7.6: STATE GUID from its label" "$(sgdisk -i 5 "$M")" "Partition unique GUID: F7F88648-DF7C-8ACB-B4D2-6F124659D923"
check_contains "metal v1.7.6: blkid EFI vfat" "$(blkid -p -O $((2048 * 512)) "$M")" 'TYPE="vfat"'
check_contains "metal v1.7.6: blkid BOOT xfs" "$(blkid -p -O $((208896 * 512)) "$M")" 'LABEL="BOOT" UUID="24c73076-4092-85dd-9d98-686a2dbf6d81"'
for part in "STATE 2258944 2463743" "EPHEMERAL 2463744 2549759"; do
  read -r name a b <<<"$part"
  blkid -p -O $((a * 512)) "$M" >/dev/null 2>&1; rc=$?
  check_eq "metal v1.7.6: blkid finds no file system on $name" "$rc" 2
  check_eq "metal v1.7.6: $name is all zeros" "$(zero_range "$M" "$a" "$b")" zero
done
dd if="$M" of="$S/boot.xfs" bs=1M skip=102 count=1000 conv=sparse status=none
check_contains "metal v1.7.6: xfs_db reads BOOT's label" "$(xfs_db -r -c label "$S/boot.xfs" 2>&1)" 'label = "BOOT"'
check_contains "metal v1.7.6: BOOT holds grub/grub.cfg" "$(xfs_db -r -c 'ls /grub' "$S/boot.xfs" 2>&1)" "grub.cfg (good)"
cfg=$(strings "$S/boot.xfs" | grep -A3 -m1 'menuentry "A - Talos v1.7.6"')
check_contains "metal v1.7.6: grub.cfg entry and < 1.8 metal console" "$cfg" "linux /A/vmlinuz talos.platform=metal console=ttyS0 console=tty0 "
check_contains "metal v1.7.6: GRUB EFI on the ESP" "$(mdir -i "$M@@1M" -b ::/EFI/boot 2>&1)" "::/EFI/boot/BOOTX64.efi"
# no META values (no schematic meta, no 0x11 before 1.10): Talos leaves META untouched (install.go:453-456)
check_eq "metal v1.7.6: META untouched" "$(zero_range "$M" 2256896 2258943)" zero
rm -f "$S/boot.xfs"

# aws-amd64-secureboot.raw: aws' disk size, sd-boot ESP with the signed UKI, keys for enrollment
sb_check() {  # VERSION DISK_MIB EXPECTED_PARTITIONS
  local A p esp
  A=$(blob aws-amd64-secureboot.raw "$1") || { fail "aws SecureBoot $1 in the bundle" "$ls_json"; return; }
  p=$(sgdisk -p "$A" 2>&1)
  check_contains "aws SecureBoot $1: $2 MiB" "$p" "Disk $A: $(($2 * 2048)) sectors"
  check_eq "aws SecureBoot $1: partitions" "$(grep -E '^ +[0-9]+ ' <<<"$p" | awk '{print $1, $2, $3, $6, $7}' | tr '\n' ' ')" "$3"
  check_contains "aws SecureBoot $1: sgdisk -v" "$(sgdisk -v "$A" 2>&1)" "No problems found"
  esp=$(mdir -i "$A@@1M" -/ -b :: 2>&1)
  for f in EFI/boot/BOOTX64.efi "EFI/Linux/Talos-$1.efi" loader/loader.conf \
    loader/keys/auto/PK.auth loader/keys/auto/KEK.auth loader/keys/auto/db.auth; do
    check_contains "aws SecureBoot $1: ESP holds $f" "$esp" "::/$f"
  done
  check_contains "aws SecureBoot $1: loader.conf enrolls if-safe" "$(mtype -i "$A@@1M" ::/loader/loader.conf)" "secure-boot-enroll if-safe"
  mcopy -n -i "$A@@1M" "::/EFI/Linux/Talos-$1.efi" "$S/uki.efi"
  mcopy -n -i "$A@@1M" ::/EFI/boot/BOOTX64.efi "$S/sdboot.efi"
  check_contains "aws SecureBoot $1: UKI for aws with lockdown" "$(strings -n 20 "$S/uki.efi" | grep -m1 '^talos.platform=')" \
    "talos.platform=aws console=tty1 console=ttyS0 net.ifnames=0 "
  check_contains "aws SecureBoot $1: lockdown" "$(strings -n 20 "$S/uki.efi" | grep -m1 '^talos.platform=')" "lockdown=confidentiality"
  if command -v sbverify >/dev/null; then
    check "aws SecureBoot $1: sbverify UKI" sbverify --cert "$S/sb.crt" "$S/uki.efi"
    check "aws SecureBoot $1: sbverify systemd-boot" sbverify --cert "$S/sb.crt" "$S/sdboot.efi"
  fi
  rm -f "$S/uki.efi" "$S/sdboot.efi"
}
# v1.7.6: 8192 MiB (aws), EFI 1101 MiB, META, STATE 100 MiB, EPHEMERAL the rest
sb_check v1.7.6 8192 "1 2048 2256895 EF00 EFI 2 2256896 2258943 8300 META 3 2258944 2463743 8300 STATE 4 2463744 16775167 8300 EPHEMERAL "
# v1.11.3: 8192 + 2000 - 1000 MiB, EFI 2101 MiB, META
sb_check v1.11.3 9192 "1 2048 4304895 EF00 EFI 2 4304896 4306943 8300 META "
