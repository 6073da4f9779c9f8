#!/usr/bin/env bash
# boot/disk_grub.sh — GRUB and dual-boot disk images built by `airfactory disk build` from the
# fixture imagers, checked with outside tools and booted in QEMU (TCG):
#   * metal-amd64.raw for Talos v1.11.3 with the default bootloader (dual-boot): sgdisk sees EFI,
#     BIOS (EF02, legacy-BIOS-bootable attribute), BOOT, META; the MBR boot code is GRUB's boot.img
#     but for the two fields grub-bios-setup patches (0x5c core.img LBA, 0x66 jump NOPs); the BIOS
#     partition starts with a core.img identical to grub-mkimage's own output but for the blocklist
#     start at 0x1f4; xfs_repair accepts BOOT and xfs_db lists grub/grub.cfg (text checked), A/vmlinuz,
#     A/initramfs.xz; META holds 0x11=dual-boot; two builds are byte-identical; it boots under
#     SeaBIOS (boot.img -> core.img -> grub.cfg -> /A/vmlinuz with the disk command line) and
#     under OVMF (systemd-boot -> UKI).
#   * metal-amd64.raw for v1.9.5 (the profile's default there is GRUB): EFI 100 MiB holding
#     grub-mkimage's x86_64-efi image as EFI/boot/BOOTX64.efi; boots under SeaBIOS and OVMF.
#   * both again through `airfactory build` (manifest output metal.raw): the bundle's blobs boot
#     under SeaBIOS.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib/qemu.sh"
S=$(scratch)
R11=$FIXTURES/rootfs/imager-v1.11.3-amd64
R95=$FIXTURES/rootfs/imager-v1.9.5-amd64
I=$R11/usr/install/amd64
for t in mkfs.xfs xfs_db xfs_repair sgdisk grub-mkimage mcopy qemu-system-x86_64 python3 sqlite3; do
  command -v $t >/dev/null || { fail "disk-grub/tools" "$t missing; run scripts/install-deps.sh"; exit 0; }
done
if [ ! -d "$R11/usr/lib/grub/i386-pc" ] || [ ! -d "$R95/usr/lib/grub/x86_64-efi" ] || [ ! -f "$OVMF_FD" ]; then
  fail disk-grub "no fixture imager GRUB files or OVMF; run: bash scripts/make-fixtures"
  exit 0
fi
cat >"$S/s.yaml" <<'YAML'
customization:
  extraKernelArgs: [console=ttyS0, panic=-1]
YAML
EXPECTED="talos.platform=metal console=ttyS0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on selinux=1 panic=-1"
EXPECTED95="talos.platform=metal console=ttyS0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on ima_template=ima-ng ima_appraise=fix ima_hash=sha512 panic=-1"
MODULES="part_gpt ext2 fat xfs normal configfile linux boot search search_fs_uuid search_fs_file ls cat echo test help reboot halt all_video"

build11() { # OUT
  env SOURCE_DATE_EPOCH=1700000000 $AIRFACTORY disk build --talos-version v1.11.3 --schematic "$S/s.yaml" \
    --stub "$I/systemd-stub.efi" --kernel "$I/vmlinuz" --initrd "$I/initramfs.xz" --sd-boot "$I/systemd-boot.efi" \
    --grub-dir "$R11/usr/lib/grub" -o "$1"
}
mkdir -p "$S/a" "$S/b" "$S/g"
IMG=$S/a/metal-amd64.raw
check "dual-boot: build metal-amd64.raw v1.11.3 (default bootloader)" build11 "$IMG"
check_contains "dual-boot: plan picks dual-boot" "$($AIRFACTORY disk plan metal-amd64.raw v1.11.3)" "bootloader dual-boot"

# --- partitions
p=$(sgdisk -p "$IMG" 2>&1)
check_contains "sgdisk: EFI" "$p" "   1            2048         4304895   2.1 GiB     EF00  EFI"
check_contains "sgdisk: BIOS boot (EF02)" "$p" "   2         4304896         4306943   1024.0 KiB  EF02  BIOS"
check_contains "sgdisk: BOOT" "$p" "   3         4306944         8402943   2.0 GiB     8300  BOOT"
check_contains "sgdisk: META" "$p" "   4         8402944         8404991   1024.0 KiB  8300  META"
check_contains "sgdisk: BIOS partition is legacy-BIOS-bootable (attribute bit 2)" "$(sgdisk -i 2 "$IMG" 2>&1)" \
  "Attribute flags: 0000000000000004"
check "sgdisk -v: no problems" bash -c "sgdisk -v '$IMG' 2>&1 | grep -q 'No problems found'"

# --- MBR boot code and core.img against GRUB's own files
# (the imager's own grub-mkimage: its modules are GRUB 2.12, the host's tool may be another GRUB)
check "grub-mkimage: reference core.img" image_tool "$R11" usr/bin/grub-mkimage --directory "$R11/usr/lib/grub/i386-pc" --format i386-pc \
  --output "$S/core.ref" --prefix '(hd0,gpt3)/grub' $MODULES biosdisk part_msdos
bin=$(python3 - "$IMG" "$R11/usr/lib/grub/i386-pc/boot.img" "$S/core.ref" 4304896 <<'PY'
import struct, sys
img, boot, core, lba = sys.argv[1], open(sys.argv[2], 'rb').read(), open(sys.argv[3], 'rb').read(), int(sys.argv[4])
with open(img, 'rb') as f:
    mbr = f.read(512)
    f.seek(lba * 512)
    got = f.read(len(core))
    rest = f.read(2048 * 512 - len(core))
diff = [i for i in range(446) if mbr[i] != boot[i]]
print('mbr-diff-outside-patches', [i for i in diff if not (0x5c <= i < 0x64 or 0x66 <= i < 0x68)])
print('mbr-kernel-sector', struct.unpack_from('<Q', mbr, 0x5c)[0])
print('mbr-jump', mbr[0x66:0x68].hex())
print('mbr-protective-type', hex(mbr[446 + 4]), 'signature', mbr[510:512].hex())
print('core-diff-outside-blocklist', [i for i in range(len(core)) if got[i] != core[i] and not (0x1f4 <= i < 0x1fc)][:10])
print('core-blocklist-start', struct.unpack_from('<Q', got, 0x1f4)[0])
print('bios-rest-zero', rest.count(0) == len(rest))
PY
)
check_contains "MBR: boot.img except the patched fields" "$bin" "mbr-diff-outside-patches []"
check_contains "MBR: 0x5c = BIOS partition LBA" "$bin" "mbr-kernel-sector 4304896"
check_contains "MBR: 0x66 NOP NOP" "$bin" "mbr-jump 9090"
check_contains "MBR: protective entry and 55AA kept" "$bin" "mbr-protective-type 0xee signature 55aa"
check_contains "BIOS partition: grub-mkimage's core.img except the blocklist" "$bin" "core-diff-outside-blocklist []"
check_contains "BIOS partition: blocklist start = LBA + 1" "$bin" "core-blocklist-start 4304897"
check_contains "BIOS partition: zeros after core.img" "$bin" "bios-rest-zero True"

# --- BOOT (XFS)
dd if="$IMG" of="$S/boot.xfs" bs=1M skip=$((4306944 / 2048)) count=2000 conv=sparse status=none
check "xfs_repair -n accepts BOOT" xfs_repair -n "$S/boot.xfs"
sb=$(xfs_db -r -c 'sb 0' -c 'p fname uuid' "$S/boot.xfs" 2>&1)
check_contains "BOOT: label BOOT" "$sb" 'fname = "BOOT'
check_contains "BOOT: UUID = GUIDFromLabel(BOOT)" "$sb" "uuid = 24c73076-4092-85dd-9d98-686a2dbf6d81"
ls=$(xfs_db -r -c 'ls /grub' -c 'ls /A' "$S/boot.xfs" 2>&1)
check_contains "xfs_db: grub/grub.cfg" "$ls" "regular        0x251738c9   8 grub.cfg"
check_contains "xfs_db: A/vmlinuz" "$ls" "7 vmlinuz"
check_contains "xfs_db: A/initramfs.xz" "$ls" "12 initramfs.xz"
# grub.cfg's bytes, located with xfs_db (bmap -> fsblock -> byte offset; size from the inode)
fsb=$(xfs_db -r -c 'path /grub/grub.cfg' -c bmap "$S/boot.xfs" | sed -n 's/.*startblock \([0-9]*\).*/\1/p')
off=$(xfs_db -r -c "convert fsblock ${fsb:-0} byte" "$S/boot.xfs" | sed 's/.*(\(.*\))/\1/')
size=$(xfs_db -r -c 'path /grub/grub.cfg' -c 'p core.size' "$S/boot.xfs" | sed 's/.*= //')
cfg=$(dd if="$S/boot.xfs" iflag=skip_bytes,count_bytes skip="${off:-0}" count="${size:-0}" status=none)
want=$(printf 'set default="A - Talos v1.11.3"\n\nset timeout=3\n\ninsmod all_video\n\nterminal_input console\nterminal_output console\n\nmenuentry "A - Talos v1.11.3" {\n  set gfxmode=auto\n  set gfxpayload=text\n  linux /A/vmlinuz %s\n  initrd /A/initramfs.xz\n}\nmenuentry "Reset Talos installation and return to maintenance mode" {\n  set gfxmode=auto\n  set gfxpayload=text\n  linux /A/vmlinuz %s talos.experimental.wipe=system:EPHEMERAL,STATE\n  initrd /A/initramfs.xz\n}' "$EXPECTED" "$EXPECTED")
check_eq "BOOT: grub/grub.cfg text" "$cfg" "$want"
check_contains "BOOT: grub.cfg mode 0600" "$(xfs_db -r -c 'path /grub/grub.cfg' -c 'p core.mode' "$S/boot.xfs")" "0100600"
ino=$(xfs_db -r -c 'path /A/vmlinuz' -c 'p core.mode core.mtime.sec v3.crtime.sec v3.crc' "$S/boot.xfs" 2>&1)
check_contains "BOOT: inode times = SOURCE_DATE_EPOCH" "$ino" "core.mtime.sec = Tue Nov 14 22:13:20 2023"
check_contains "BOOT: inode crtime = SOURCE_DATE_EPOCH" "$ino" "v3.crtime.sec = Tue Nov 14 22:13:20 2023"
check_contains "BOOT: inode CRC valid after re-timing" "$ino" "(correct)"

# --- ESP and META
esp=$(mdir -i "$IMG@@1M" -/ -b :: 2>&1)
check_contains "ESP: systemd-boot" "$esp" "::/EFI/boot/BOOTX64.efi"
check_contains "ESP: UKI" "$esp" "::/EFI/Linux/Talos-v1.11.3.efi"
check_contains "META: 0x11=dual-boot" "$($AIRFACTORY disk meta "$IMG" 2>&1)" "0x11=dual-boot"

# --- determinism
check "dual-boot: second build" build11 "$S/b/metal-amd64.raw"
check "dual-boot: two builds are byte-identical" cmp "$IMG" "$S/b/metal-amd64.raw"
rm -f "$S/b/metal-amd64.raw" "$S/boot.xfs"

# boot_check NAME LOG WANT-CMDLINE: the fixture /init's marker and its CMDLINE line
boot_check() {
  local clean
  clean=$(tr -d '\r' <"$2" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g')
  check_contains "$1: fixture marker" "$clean" "AIRFACTORY-FIXTURE-BOOT"
  check_contains "$1: command line" "$(grep -a '^CMDLINE:' <<<"$clean" | head -1)" "CMDLINE: $3"
  check_contains "$1: init finished" "$clean" "AIRFACTORY-FIXTURE-DONE"
}
qemu_boot "$S/dual-seabios.log" 240 -drive "file=$IMG,format=raw,if=virtio,snapshot=on"
boot_check "dual-boot SeaBIOS (GRUB)" "$S/dual-seabios.log" "BOOT_IMAGE=/A/vmlinuz $EXPECTED"
check_contains "dual-boot SeaBIOS: GRUB shows entry A" \
  "$(tr -d '\r' <"$S/dual-seabios.log" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g')" "A - Talos v1.11.3"
qemu_boot "$S/dual-ovmf.log" 240 -bios "$OVMF_FD" -drive "file=$IMG,format=raw,if=virtio,snapshot=on"
# the fixture's systemd-stub 257 boots the UKI's first profile, main (see boot/disk.sh)
boot_check "dual-boot OVMF (systemd-boot + UKI, profile main)" "$S/dual-ovmf.log" "$EXPECTED"
check_eq "dual-boot OVMF: exactly the main profile's command line" \
  "$(tr -d '\r' <"$S/dual-ovmf.log" | grep -a '^CMDLINE:' | head -1)" "CMDLINE: $EXPECTED"
rm -f "$IMG"

# --- GRUB-only (v1.9.5)
G=$S/g/metal-amd64.raw
check_contains "v1.9.5: plan picks grub" "$($AIRFACTORY disk plan metal-amd64.raw v1.9.5)" "bootloader grub"
check "grub: build metal-amd64.raw v1.9.5 (no sd-boot, no stub)" env SOURCE_DATE_EPOCH=1700000000 $AIRFACTORY disk build \
  --talos-version v1.9.5 --schematic "$S/s.yaml" --kernel "$R95/usr/install/amd64/vmlinuz" \
  --initrd "$R95/usr/install/amd64/initramfs.xz" --grub-dir "$R95/usr/lib/grub" -o "$G"
p=$(sgdisk -p "$G" 2>&1)
check_contains "grub sgdisk: EFI 100 MiB" "$p" "   1            2048          206847   100.0 MiB   EF00  EFI"
check_contains "grub sgdisk: BIOS" "$p" "   2          206848          208895   1024.0 KiB  EF02  BIOS"
check_contains "grub sgdisk: BOOT 1000 MiB" "$p" "   3          208896         2256895   1000.0 MiB  8300  BOOT"
esp=$(mdir -i "$G@@1M" -/ -b :: 2>&1)
check_eq "grub ESP: only EFI/boot/BOOTX64.efi" "$(grep -v '/$' <<<"$esp")" "::/EFI/boot/BOOTX64.efi"
check "grub-mkimage: reference x86_64-efi image" image_tool "$R95" usr/bin/grub-mkimage --directory "$R95/usr/lib/grub/x86_64-efi" \
  --format x86_64-efi --output "$S/grubx64.ref" --prefix '(hd0,gpt3)/grub' --compression xz $MODULES
check "grub ESP: extract BOOTX64.efi" mcopy -n -i "$G@@1M" ::EFI/boot/BOOTX64.efi "$S/grubx64.got"
check "grub ESP: BOOTX64.efi is grub-mkimage's x86_64-efi image" cmp "$S/grubx64.ref" "$S/grubx64.got"
check_contains "grub META: no 0x11 (not dual-boot)" "x$($AIRFACTORY disk meta "$G" 2>&1 | grep -c 0x11)" "x0"
qemu_boot "$S/grub-seabios.log" 240 -drive "file=$G,format=raw,if=virtio,snapshot=on"
boot_check "grub SeaBIOS" "$S/grub-seabios.log" "BOOT_IMAGE=/A/vmlinuz $EXPECTED95"
qemu_boot "$S/grub-ovmf.log" 240 -bios "$OVMF_FD" -drive "file=$G,format=raw,if=virtio,snapshot=on"
boot_check "grub OVMF (GRUB EFI)" "$S/grub-ovmf.log" "BOOT_IMAGE=/A/vmlinuz $EXPECTED95"

# --- the same through `airfactory build`: the default metal-amd64.raw of Talos 1.11.3 (dual-boot)
# and 1.9.5 (GRUB) in a bundle, the GRUB side booted under SeaBIOS from the bundle's blobs
FX=$FIXTURES
cat >"$S/manifest.yaml" <<YAML
schematics:
  - name: serial
    schematic: {customization: {extraKernelArgs: [console=ttyS0]}}
versions: [v1.11.3, v1.9.5]
architectures: [amd64]
outputs: [metal.raw]
sources:
  - {role: imager, path: $FX/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}
  - {role: imager, path: $FX/imager-v1.9.5.oci.tar, reference: ghcr.io/siderolabs/imager:v1.9.5}
trust:
  default: {keys: [$ROOT/tests/keys/cosign.pub]}
signing_key: $S/bundle.key
output: $S/bundle
YAML
check "bundle: keygen" "$AIRFACTORY" keygen -o "$S/bundle"
check "bundle: build metal-amd64.raw for v1.11.3 and v1.9.5" env SOURCE_DATE_EPOCH=1700000000 "$AIRFACTORY" build "$S/manifest.yaml"
for v in v1.11.3 v1.9.5; do
  d=$(sqlite3 "$S/bundle/index.db" "select digest from assets where version = '$v' and path = 'metal-amd64.raw'")
  blob=$S/bundle/blobs/sha256/${d#sha256:}
  check "bundle $v: metal-amd64.raw blob present" test -f "$blob"
  [ -f "$blob" ] || continue
  want=$([ $v = v1.11.3 ] && echo "EF00  EFI" || echo "100.0 MiB   EF00  EFI")
  p=$(sgdisk -p "$blob" 2>&1)
  check_contains "bundle $v: sgdisk EFI" "$p" "$want"
  check_contains "bundle $v: sgdisk BIOS" "$p" "EF02  BIOS"
  qemu_boot "$S/bundle-$v.log" 240 -drive "file=$blob,format=raw,if=virtio,snapshot=on"
  boot_check "bundle $v SeaBIOS (GRUB)" "$S/bundle-$v.log" "BOOT_IMAGE=/A/vmlinuz talos.platform=metal console=ttyS0 "
done
