#!/usr/bin/env bash
# Boot test: a UKI (systemd-stub + kernel + initramfs with extensions + .cmdline) under OVMF.
#   v1.9.5 UKI as EFI/BOOT/BOOTX64.EFI of a FAT ESP made by airfactory's FAT writer: no profiles,
#   so the stub must use exactly the embedded command line.
#   v1.11.3 UKI, likewise: profiles main + reset-maintenance (Talos >= 1.10). The fixture's
#   systemd-stub 257 (Debian 13) boots the first profile, "main", with the main .cmdline (Debian
#   12's 252 took the last one).
#   v1.11.3 reset profile selected through systemd-boot, as a user selects it: the ISO's UKI
#   (profiles main + reset) as EFI/Linux/Talos-v1.11.3.efi, the fixture's systemd-boot 257 as
#   EFI/BOOT/BOOTX64.EFI, and loader/loader.conf choosing the reset entry with timeout 0.
#   systemd-boot 257 lists a multi-profile UKI as one entry per profile; the id of profile N > 0
#   is "<file name>@<the .profile's ID=>", lowercased ("@N" only for a profile without ID=;
#   systemd's boot.c boot_entry_add_type2, and the fixture's 257.13 binary carries both formats),
#   so Talos' reset entry is "talos-v1.11.3.efi@reset" ("...@1" matches nothing and the first
#   entry, main, boots: the cmdline check then fails). The kernel must get the reset profile's
#   own .cmdline: the main one plus talos.experimental.wipe=system.
# The guests boot two at a time (lib/qemu.sh qemu_boot_bg), 512 MiB each.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/boot/lib/inputs.sh"
source "$ROOT/tests/boot/lib/qemu.sh"
need_qemu boot-uki ovmf || exit 0
T=$(scratch)
export QEMU_AMD64_MEM=512
SCHEMATIC=376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba
CMDLINE="talos.platform=metal console=ttyS0 panic=-1 selinux=1"
booted=()
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
  qemu_boot_bg "$T/uki-$v.log" 300 -bios "$OVMF_FD" -drive "file=$T/esp-$v.img,format=raw,if=ide,snapshot=on"
  booted+=("$v")
done

# ---- v1.11.3: systemd-boot boots the reset profile of the ISO's UKI when loader.conf selects it
RESET=boot-uki-v1.11.3/sdboot-reset
WANT_RESET="$CMDLINE talos.experimental.wipe=system"
if boot_inputs v1.11.3 && [ -f "$T/initramfs-v1.11.3.xz" ]; then
  I=$IMAGER/usr/install/amd64
  check "$RESET/uki" "$AIRFACTORY" asset uki --stub "$I/systemd-stub.efi" --kernel "$I/vmlinuz" \
    --initrd "$T/initramfs-v1.11.3.xz" --cmdline "$CMDLINE" --talos-version v1.11.3 --profiles auto-iso \
    --mtime 1735689600 -o "$T/uki-iso.efi"
  # the profiles as python3-pefile reads them: "N ID=... | .cmdline" (a profile without its own
  # .cmdline has the base one, the sections before the first .profile)
  profiles=$(/usr/bin/python3 - "$T/uki-iso.efi" <<'PY'
import sys, pefile
base, cur, out = None, None, []
for s in pefile.PE(sys.argv[1]).sections:
    name = s.Name.rstrip(b"\0").decode()
    text = s.get_data()[: s.Misc_VirtualSize].decode(errors="replace").strip("\0").strip()
    if name == ".profile":
        cur = [text.replace("\n", " "), None]
        out.append(cur)
    elif name == ".cmdline":
        if cur is None:
            base = text
        else:
            cur[1] = text
for i, (p, c) in enumerate(out):
    print(i, p, "|", c if c is not None else base)
PY
  )
  check_contains "$RESET/profile 0 is main with the main .cmdline" "$profiles" "0 ID=main | $CMDLINE"$'\n'
  check_contains "$RESET/profile 1 is reset with its own .cmdline (wipe=system)" "$profiles" \
    "1 ID=reset TITLE=Reset system disk | $WANT_RESET"
  printf 'default talos-v1.11.3.efi@reset\ntimeout 0\n' >"$T/loader.conf"
  size=$(( ($(stat -c %s "$T/uki-iso.efi") >> 20) + 12 ))
  check "$RESET/esp" "$AIRFACTORY" asset fat --size-mib "$size" --label EFI --mtime 1735689600 "$T/esp-sdboot.img" \
    "EFI/BOOT/BOOTX64.EFI=$I/systemd-boot.efi" "EFI/Linux/Talos-v1.11.3.efi=$T/uki-iso.efi" \
    "loader/loader.conf=$T/loader.conf"
  check "$RESET/fsck" fsck.fat -n "$T/esp-sdboot.img"
  qemu_boot_bg "$T/sdboot-reset.log" 300 -bios "$OVMF_FD" -drive "file=$T/esp-sdboot.img,format=raw,if=ide,snapshot=on"
else
  fail "$RESET/inputs" "no v1.11.3 inputs or initramfs (see boot-uki-v1.11.3 above)"
fi
qemu_wait_guests

for v in "${booted[@]}"; do
  check_boot "boot-uki-$v" "$T/uki-$v.log" "$T/initramfs-$v.xz" "$CMDLINE"
done
if [ -f "$T/sdboot-reset.log" ]; then
  check_boot "$RESET" "$T/sdboot-reset.log" "$T/initramfs-v1.11.3.xz" "$WANT_RESET"
fi
