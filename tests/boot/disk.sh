#!/usr/bin/env bash
# boot/disk.sh — a metal-amd64 disk image built by `airfactory disk build` from the fixture imager
# (sd-boot + UKI on the ESP, META) boots under OVMF (QEMU TCG, the image as a virtio disk):
# firmware -> GPT -> EFI/boot/BOOTX64.efi (systemd-boot) -> EFI/Linux/Talos-v1.11.3.efi -> the
# fixture initramfs prints AIRFACTORY-FIXTURE-BOOT and CMDLINE: <what the kernel got>.
# The fixture's systemd-stub is 257 (Debian 13, as Talos 1.10-1.12 ship), which understands UKI
# profiles and boots the first one, main: the kernel gets the main .cmdline, not the
# reset-maintenance profile's (which Debian 12's 252 stub used to take, being the last .cmdline).
# The OVA's disk.vmdk (stream-optimised) is booted the same way.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/boot/lib/qemu.sh"
S=$(scratch)
I=$FIXTURES/rootfs/imager-v1.11.3-amd64/usr/install/amd64
if [ ! -f "$I/systemd-boot.efi" ] || [ ! -f /usr/share/ovmf/OVMF.fd ]; then
  fail disk-boot "no fixture imager files or OVMF; run: bash scripts/make-fixtures"
  exit 0
fi
cat >"$S/s.yaml" <<'YAML'
customization:
  bootloader: sd-boot
  extraKernelArgs: [console=ttyS0, panic=-1]
  meta:
    - key: 0xa
      value: "addresses: []\n"
YAML
IMG=$S/metal-amd64.raw
check "build metal-amd64.raw (sd-boot)" env SOURCE_DATE_EPOCH=1700000000 $AIRFACTORY disk build --talos-version v1.11.3 \
  --schematic "$S/s.yaml" --stub "$I/systemd-stub.efi" --kernel "$I/vmlinuz" --initrd "$I/initramfs.xz" \
  --sd-boot "$I/systemd-boot.efi" -o "$IMG"

# boot IMG FORMAT LOG: OVMF, snapshot (the image is not modified), early exit on failure markers
boot() {
  local img=$1 fmt=$2 log=$3
  qemu-system-x86_64 -accel tcg -m 512 -smp 1 -nographic -no-reboot -nic none -bios /usr/share/ovmf/OVMF.fd \
    -drive file="$img",format="$fmt",if=virtio,snapshot=on </dev/null >"$log" 2>&1 &
  local pid=$! i
  for i in $(seq 1 480); do   # at most 240 s
    sleep 0.5
    kill -0 $pid 2>/dev/null || break
    if tr -d '\r' <"$log" | grep -qaE 'AIRFACTORY-FIXTURE-DONE|Kernel panic|No bootable option|Shell> '; then
      sleep 0.5
      break
    fi
  done
  kill $pid 2>/dev/null
  wait $pid 2>/dev/null
  tr -d '\r' <"$log" >"$log.txt"
}
EXPECTED="talos.platform=metal console=ttyS0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on selinux=1 panic=-1"
boot "$IMG" raw "$S/raw.log"
out=$(grep -a -E 'AIRFACTORY|CMDLINE:|Kernel panic|No bootable|Shell>' "$S/raw.log.txt")
check_contains "raw image: fixture marker under OVMF" "$out" "AIRFACTORY-FIXTURE-BOOT v1.11.3 amd64"
check_eq "raw image: CMDLINE is the disk-image command line (profile main)" \
  "$(grep -a '^CMDLINE: ' <<<"$out" | head -1)" "CMDLINE: $EXPECTED"
check_contains "raw image: init finished" "$out" "AIRFACTORY-FIXTURE-DONE"
case $out in *"Kernel panic"*|*"No bootable option"*|*"Shell>"*) fail "raw image: no boot failure marker" "$out" ;;
  *) pass "raw image: no boot failure marker" ;; esac
# systemd-boot's menu (loader.conf: timeout 10) lists the UKI's profiles main and reset-maintenance
# as two entries; the default, main, is the one booted (its CMDLINE above)
check_menu "raw image: systemd-boot lists an entry per UKI profile" "$S/raw.log" \
  "Talos (v1.11.3)" "Talos (v1.11.3) (Reset to maintenance mode)"

# The OVA's stream-optimised VMDK boots too (QEMU reads it through its vmdk driver, snapshot=on):
# the same firmware -> sd-boot -> UKI chain as the raw image, for the vmware platform.
OVA=$S/vmware-amd64.ova
check "build vmware-amd64.ova (sd-boot)" env SOURCE_DATE_EPOCH=1700000000 $AIRFACTORY disk build --talos-version v1.11.3 \
  --schematic "$S/s.yaml" --stub "$I/systemd-stub.efi" --kernel "$I/vmlinuz" --initrd "$I/initramfs.xz" \
  --sd-boot "$I/systemd-boot.efi" -o "$OVA"
mkdir -p "$S/ova" && tar xf "$OVA" -C "$S/ova" disk.vmdk
boot "$S/ova/disk.vmdk" vmdk "$S/vmdk.log"
out=$(grep -a -E 'AIRFACTORY|CMDLINE:|Kernel panic|No bootable|Shell>' "$S/vmdk.log.txt")
check_contains "vmdk (OVA): fixture marker under OVMF" "$out" "AIRFACTORY-FIXTURE-BOOT v1.11.3 amd64"
check_contains "vmdk (OVA): CMDLINE is vmware's disk-image command line" "$out" "CMDLINE: talos.platform=vmware"
check_contains "vmdk (OVA): init finished" "$out" "AIRFACTORY-FIXTURE-DONE"
