#!/usr/bin/env bash
# Boot test: a UKI (systemd-stub + kernel + initramfs with extensions + .cmdline) as
# EFI/BOOT/BOOTX64.EFI of a FAT ESP made by airfactory's FAT writer, under OVMF.
#   v1.9.5 UKI: no profiles, so the stub must use exactly the embedded command line.
#   v1.11.3 UKI: profiles main + reset (Talos >= 1.10). The fixture's systemd-stub 257 (Debian 13)
#   boots the first profile, "main", with the main .cmdline (Debian 12's 252 took the last one).
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/boot/lib/inputs.sh"
source "$ROOT/tests/boot/lib/qemu.sh"
need_qemu boot-uki ovmf || exit 0
T=$(scratch)
SCHEMATIC=376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba
CMDLINE="talos.platform=metal console=ttyS0 panic=-1 selinux=1"
for v in v1.9.5 v1.11.3; do
  boot_inputs "$v" || { fail "boot-uki-$v/inputs" "cannot prepare inputs"; continue; }
  I=$IMAGER/usr/install/amd64
  ext_args=()
  for e in "${EXT_DIRS[@]}"; do ext_args+=(--extension "$e"); done
  check "boot-uki-$v/initramfs" "$AIRFACTORY" asset initramfs --base "$I/initramfs.xz" --talos-version "$v" \
    "${ext_args[@]}" --schematic-id "$SCHEMATIC" --mtime 1735689600 -o "$T/initramfs-$v.xz"
  check "boot-uki-$v/uki" "$AIRFACTORY" asset uki --stub "$I/systemd-stub.efi" --kernel "$I/vmlinuz" \
    --initrd "$T/initramfs-$v.xz" --cmdline "$CMDLINE" --talos-version "$v" --profiles auto-image \
    --mtime 1735689600 -o "$T/uki-$v.efi"
  size=$(( ($(stat -c %s "$T/uki-$v.efi") >> 20) + 12 ))
  check "boot-uki-$v/esp" "$AIRFACTORY" asset fat --size-mib "$size" --label EFI --mtime 1735689600 \
    "$T/esp-$v.img" "EFI/BOOT/BOOTX64.EFI=$T/uki-$v.efi"
  check "boot-uki-$v/fsck" fsck.fat -n "$T/esp-$v.img"
  qemu_boot "$T/uki-$v.log" 300 -bios "$OVMF_FD" -drive "file=$T/esp-$v.img,format=raw,if=ide,snapshot=on"
  if [ "$v" = v1.9.5 ]; then
    check_boot "boot-uki-$v" "$T/uki-$v.log" "$T/initramfs-$v.xz" "$CMDLINE"
  else
    check_boot "boot-uki-$v" "$T/uki-$v.log" "$T/initramfs-$v.xz" "$CMDLINE"
  fi
done
