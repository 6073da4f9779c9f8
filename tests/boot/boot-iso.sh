#!/usr/bin/env bash
# Boot test: ISOs in the layout Talos uses per version, as a CD and as a disk (USB stick), under
# SeaBIOS and OVMF.
#   v1.11.3 hybrid: GRUB (BIOS) + systemd-boot/UKI in the ESP (UEFI): CD/SeaBIOS, CD/OVMF, disk/OVMF;
#     systemd-boot's menu lists the UKI's two profiles, main and reset, as two entries
#   v1.9.5 GRUB-only: GRUB for BIOS and UEFI: CD/SeaBIOS, CD/OVMF
#   UEFI-only (the arm64 layout, built from amd64 inputs): CD/OVMF
#   v1.12.0 GRUB-only because the schematic says `bootloader: grub` (Talos >= 1.12 lets it choose),
#     made by `airfactory build` from the signed fixtures: CD/SeaBIOS, CD/OVMF; GRUB's menu shows
#     "Talos ISO" and "Reset Talos installation" and boots the first (Enter, lib/qemu.sh)
# GRUB passes the kernel "BOOT_IMAGE=/boot/vmlinuz" first; the fixture's systemd-stub 257 boots the
# UKI's first profile, main (see boot-uki.sh). The guests boot two at a time (lib/qemu.sh
# qemu_boot_bg), 512 MiB each, while the next ISO is made; their logs are checked at the end.
# Enter skips GRUB's 3 s countdown (QEMU_GRUB_ENTER) as it skips systemd-boot's.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/boot/lib/inputs.sh"
source "$ROOT/tests/boot/lib/qemu.sh"
need_qemu boot-iso ovmf || exit 0
T=$(scratch)
export QEMU_AMD64_MEM=512 QEMU_GRUB_ENTER=1
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
  qemu_boot_bg "$T/hybrid-cd-seabios.log" 300 -boot d -cdrom "$T/hybrid.iso"
  qemu_boot_bg "$T/hybrid-cd-ovmf.log" 300 -bios "$OVMF_FD" -cdrom "$T/hybrid.iso"
  qemu_boot_bg "$T/hybrid-disk-ovmf.log" 300 -bios "$OVMF_FD" -drive "file=$T/hybrid.iso,format=raw,if=ide,snapshot=on"
  iso uefi v1.11.3 --layout uefi
  qemu_boot_bg "$T/uefi-cd-ovmf.log" 300 -bios "$OVMF_FD" -cdrom "$T/uefi.iso"
fi

# ---- v1.9.5: GRUB only ----
if build_inputs v1.9.5; then
  iso grub v1.9.5
  qemu_boot_bg "$T/grub-cd-seabios.log" 300 -boot d -cdrom "$T/grub.iso"
  qemu_boot_bg "$T/grub-cd-ovmf.log" 300 -bios "$OVMF_FD" -cdrom "$T/grub.iso"
fi

# ---- v1.12.0: GRUB only, chosen by the schematic, from `airfactory build` ----
G=boot-iso-grub112
build_grub112() {  # -> $T/b112/metal-amd64.iso, its /boot/initramfs.xz, the bundle's cmdline-metal-amd64
  local S=$T/b112 f
  for f in imager-v1.12.0 extensions-v1.12.0 hello-world-service-v1.12.0; do
    [ -f "$FIXTURES/$f.oci.tar" ] || { fail "$G/fixtures" "no $FIXTURES/$f.oci.tar; run: bash scripts/make-fixtures"; return 1; }
  done
  for f in osirrox sqlite3; do
    command -v $f >/dev/null || { fail "$G/tools" "$f missing; run scripts/install-deps.sh"; return 1; }
  done
  mkdir -p "$S"
  "$AIRFACTORY" keygen -o "$S/b" >/dev/null || { fail "$G/keygen" "airfactory keygen failed"; return 1; }
  cat >"$S/m.yaml" <<EOF
schematics:
  - name: grub
    schematic:
      customization:
        bootloader: grub
        extraKernelArgs: [console=ttyS0, panic=-1]
        systemExtensions: {officialExtensions: [siderolabs/hello-world-service]}
versions: [v1.12.0]
architectures: [amd64]
outputs: [metal.iso, cmdline-metal]
sources:
  - {role: imager, path: $FIXTURES/imager-v1.12.0.oci.tar, reference: ghcr.io/siderolabs/imager:v1.12.0}
  - {role: extensions, path: $FIXTURES/extensions-v1.12.0.oci.tar, reference: ghcr.io/siderolabs/extensions:v1.12.0}
  - {role: extension, path: $FIXTURES/hello-world-service-v1.12.0.oci.tar, reference: ghcr.io/siderolabs/hello-world-service:v1.12.0}
trust:
  default: {keys: [$ROOT/tests/keys/cosign.pub]}
signing_key: $S/b.key
output: $S/bundle
EOF
  local out
  if ! out=$(SOURCE_DATE_EPOCH=1735689600 "$AIRFACTORY" build "$S/m.yaml" --store "$S/store" 2>&1); then
    fail "$G/build" "$(tail -5 <<<"$out" | tr '\n' ' ')"
    return 1
  fi
  pass "$G/build"
  local p
  for p in metal-amd64.iso cmdline-metal-amd64; do
    ln -sf "$S/bundle/blobs/sha256/$(sqlite3 "$S/bundle/index.db" "SELECT substr(digest, 8) FROM assets WHERE path = '$p'")" "$S/$p"
  done
  check "$G/the ISO's /boot/initramfs.xz" osirrox -indev "$S/metal-amd64.iso" -extract /boot/initramfs.xz "$S/initramfs.xz"
  check "$G/no systemd-boot, no UKI, no ESP of sd-boot" bash -c \
    "! xorriso -indev '$S/metal-amd64.iso' -find / 2>/dev/null | grep -qE \"'/(EFI/Linux|loader|efiboot.img)\""
}
if build_grub112; then
  qemu_boot_bg "$T/grub112-cd-seabios.log" 300 -boot d -cdrom "$T/b112/metal-amd64.iso"
  qemu_boot_bg "$T/grub112-cd-ovmf.log" 300 -bios "$OVMF_FD" -cdrom "$T/b112/metal-amd64.iso"
fi
qemu_wait_guests

if [ -f "$T/hybrid-cd-seabios.log" ]; then
  check_boot boot-iso-hybrid/cd-seabios "$T/hybrid-cd-seabios.log" "$T/initramfs-v1.11.3.xz" "$CMDLINE"
  check_boot boot-iso-hybrid/cd-ovmf "$T/hybrid-cd-ovmf.log" "$T/initramfs-v1.11.3.xz" "$CMDLINE"
  check_menu "boot-iso-hybrid/cd-ovmf/menu: an entry per UKI profile" "$T/hybrid-cd-ovmf.log" \
    "Talos (v1.11.3)" "Talos (v1.11.3) (Reset system disk)"
  check_boot boot-iso-hybrid/disk-ovmf "$T/hybrid-disk-ovmf.log" "$T/initramfs-v1.11.3.xz" "$CMDLINE"
  check_menu "boot-iso-hybrid/disk-ovmf/menu: an entry per UKI profile" "$T/hybrid-disk-ovmf.log" \
    "Talos (v1.11.3)" "Talos (v1.11.3) (Reset system disk)"
  check_boot boot-iso-uefi/cd-ovmf "$T/uefi-cd-ovmf.log" "$T/initramfs-v1.11.3.xz" "$CMDLINE"
fi
if [ -f "$T/grub-cd-seabios.log" ]; then
  check_boot boot-iso-grub/cd-seabios "$T/grub-cd-seabios.log" "$T/initramfs-v1.9.5.xz" "$CMDLINE"
  check_boot boot-iso-grub/cd-ovmf "$T/grub-cd-ovmf.log" "$T/initramfs-v1.9.5.xz" "$CMDLINE"
fi
if [ -f "$T/grub112-cd-seabios.log" ]; then
  # the kernel gets the bundle's metal command line plus the ISO's talos.halt_if_installed=1,
  # through GRUB (BOOT_IMAGE first) and its first entry (no talos.experimental.wipe)
  want="contains:$(cat "$T/b112/cmdline-metal-amd64") talos.halt_if_installed=1"
  for fw in seabios ovmf; do
    log=$T/grub112-cd-$fw.log
    check_boot "$G/cd-$fw" "$log" "$T/b112/initramfs.xz" "$want"
    grub=$(console_lines "$log" | grep -a GRUB | head -4)
    if grep -aqE 'GNU GRUB +version 2\.12' <<<"$grub"; then pass "$G/cd-$fw/GRUB 2.12 on the console"; else
      fail "$G/cd-$fw/GRUB 2.12 on the console" "the console's GRUB lines: $(tr '\n' '|' <<<"$grub" | cut -c1-300)"; fi
    check_menu "$G/cd-$fw/GRUB menu" "$log" "Talos ISO" "Reset Talos installation"
    got=$(console_lines "$log" | grep -a -m1 '^CMDLINE: ')
    case $got in
      "CMDLINE: BOOT_IMAGE=/boot/vmlinuz "*talos.experimental.wipe*) fail "$G/cd-$fw/GRUB booted the first entry" "$got" ;;
      "CMDLINE: BOOT_IMAGE=/boot/vmlinuz "*) pass "$G/cd-$fw/GRUB booted the first entry" ;;
      *) fail "$G/cd-$fw/GRUB booted the first entry" "no BOOT_IMAGE=/boot/vmlinuz first: '$got'" ;;
    esac
  done
fi
