#!/usr/bin/env bash
# Boot test: ISOs in the layout Talos uses per version, as a CD and as a disk (USB stick), under
# SeaBIOS and OVMF.
#   v1.11.3 hybrid: GRUB (BIOS) + systemd-boot/UKI in the ESP (UEFI): CD/SeaBIOS, CD/OVMF, disk/OVMF
#   v1.9.5 GRUB-only: GRUB for BIOS and UEFI: CD/SeaBIOS, CD/OVMF
#   UEFI-only (the arm64 layout, built from amd64 inputs): CD/OVMF
# GRUB passes the kernel "BOOT_IMAGE=/boot/vmlinuz" first; the fixture's systemd-stub 257 boots the
# UKI's first profile, main (see boot-uki.sh).
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/boot/lib/inputs.sh"
source "$ROOT/tests/boot/lib/qemu.sh"
need_qemu boot-iso ovmf || exit 0
T=$(scratch)
SCHEMATIC=376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba
CMDLINE="talos.platform=metal console=ttyS0 panic=-1 talos.halt_if_installed=1"

build_inputs() {  # VERSION: initramfs (+ UKI from 1.10) into $T
  local v=$1
  boot_inputs "$v" || { fail "boot-iso-$v/inputs" "cannot prepare inputs"; return 1; }
  I=$IMAGER/usr/install/amd64
  local ext_args=() e
  for e in "${EXT_DIRS[@]}"; do ext_args+=(--extension "$e"); done
  check "boot-iso-$v/initramfs" "$AIRFACTORY" asset initramfs --base "$I/initramfs.xz" --talos-version "$v" \
    "${ext_args[@]}" --schematic-id "$SCHEMATIC" --mtime 1735689600 -o "$T/initramfs-$v.xz"
  check "boot-iso-$v/uki" "$AIRFACTORY" asset uki --stub "$I/systemd-stub.efi" --kernel "$I/vmlinuz" \
    --initrd "$T/initramfs-$v.xz" --cmdline "$CMDLINE" --talos-version "$v" --profiles auto-iso \
    --mtime 1735689600 -o "$T/uki-$v.efi"
}

iso() {  # NAME VERSION [--layout L]
  local name=$1 v=$2; shift 2
  check "boot-iso-$name/iso" "$AIRFACTORY" asset iso --talos-version "$v" --arch amd64 "$@" --kernel "$I/vmlinuz" \
    --initrd "$T/initramfs-$v.xz" --cmdline "$CMDLINE" --grub-dir "$IMAGER/usr/lib/grub" --uki "$T/uki-$v.efi" \
    --sd-boot "$I/systemd-boot.efi" --mtime 1735689600 -o "$T/$name.iso"
}

# ---- v1.11.3: hybrid ----
if build_inputs v1.11.3; then
  iso hybrid v1.11.3
  qemu_boot "$T/hybrid-cd-seabios.log" 300 -boot d -cdrom "$T/hybrid.iso"
  check_boot boot-iso-hybrid/cd-seabios "$T/hybrid-cd-seabios.log" "$T/initramfs-v1.11.3.xz" "$CMDLINE"
  qemu_boot "$T/hybrid-cd-ovmf.log" 300 -bios "$OVMF_FD" -cdrom "$T/hybrid.iso"
  check_boot boot-iso-hybrid/cd-ovmf "$T/hybrid-cd-ovmf.log" "$T/initramfs-v1.11.3.xz" "$CMDLINE"
  qemu_boot "$T/hybrid-disk-ovmf.log" 300 -bios "$OVMF_FD" -drive "file=$T/hybrid.iso,format=raw,if=ide,snapshot=on"
  check_boot boot-iso-hybrid/disk-ovmf "$T/hybrid-disk-ovmf.log" "$T/initramfs-v1.11.3.xz" "$CMDLINE"
  iso uefi v1.11.3 --layout uefi
  qemu_boot "$T/uefi-cd-ovmf.log" 300 -bios "$OVMF_FD" -cdrom "$T/uefi.iso"
  check_boot boot-iso-uefi/cd-ovmf "$T/uefi-cd-ovmf.log" "$T/initramfs-v1.11.3.xz" "$CMDLINE"
  rm -f "$T/hybrid.iso" "$T/uefi.iso"
fi

# ---- v1.9.5: GRUB only ----
if build_inputs v1.9.5; then
  iso grub v1.9.5
  qemu_boot "$T/grub-cd-seabios.log" 300 -boot d -cdrom "$T/grub.iso"
  check_boot boot-iso-grub/cd-seabios "$T/grub-cd-seabios.log" "$T/initramfs-v1.9.5.xz" "$CMDLINE"
  qemu_boot "$T/grub-cd-ovmf.log" 300 -bios "$OVMF_FD" -cdrom "$T/grub.iso"
  check_boot boot-iso-grub/cd-ovmf "$T/grub-cd-ovmf.log" "$T/initramfs-v1.9.5.xz" "$CMDLINE"
fi
