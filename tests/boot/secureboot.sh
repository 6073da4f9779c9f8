#!/usr/bin/env bash
# Boot test: UEFI SecureBoot with OVMF's secure-boot firmware (SMM, OVMF_CODE_4M.secboot.fd) and an
# empty variable store (setup mode, OVMF_VARS_4M.fd):
#   1. the SecureBoot ISO (schematic enrollKeys: force) boots its signed systemd-boot, which enrolls
#      loader/keys/auto/{db,KEK,PK}.auth into the variable store and resets the machine;
#   2. the next boot, now in user mode with SecureBoot on, runs the signed UKI: the fixture /init
#      prints its marker, the kernel reports "Secure boot enabled" and loaded our db certificate;
#   3. with the same enrolled variables, the ISO's ESP booted as a disk boots, but the same ESP with
#      its UKI signed by another key, or unsigned, must NOT boot (the firmware refuses the image).
# The schematic asks for `secure-boot-enroll force`, which every systemd-boot that auto-enrolls
# understands (`if-safe` came in 253; the v1.11.3 fixture's is 257, v1.9.5's 252).
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/boot/lib/qemu.sh"
CODE=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd
VARS=/usr/share/OVMF/OVMF_VARS_4M.fd
need_qemu secureboot || exit 0
for f in "$CODE" "$VARS"; do
  [ -f "$f" ] || { skip secureboot "$f not installed (ovmf)"; exit 0; }
done
for tool in sbsign sbattach mcopy osirrox sqlite3; do
  command -v $tool >/dev/null || { skip secureboot "$tool not installed"; exit 0; }
done
S=$(scratch)
export SOURCE_DATE_EPOCH=1735689600

"$AIRFACTORY" keygen -o "$S/b" >/dev/null
"$AIRFACTORY" keygen --secureboot --bits 2048 -o "$S/sb" >/dev/null
"$AIRFACTORY" keygen --secureboot --bits 2048 -o "$S/other" >/dev/null
cat >"$S/m.yaml" <<EOF
schematics:
  - name: sb
    schematic:
      customization:
        extraKernelArgs: [console=ttyS0]
        secureboot: {enrollKeys: force}
versions: [v1.11.3]
architectures: [amd64]
outputs: [metal-secureboot.iso]
sources:
  - {role: imager, path: $FIXTURES/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}
trust:
  default:
    keys: [$ROOT/tests/keys/cosign.pub]
secureboot: {signing_key: $S/sb.key, signing_cert: $S/sb.crt}
signing_key: $S/b.key
output: $S/out
EOF
check "build metal-amd64-secureboot.iso" "$AIRFACTORY" build "$S/m.yaml"
ISO=$S/out/blobs/sha256/$(sqlite3 "$S/out/index.db" "SELECT substr(digest, 8) FROM assets WHERE path = 'metal-amd64-secureboot.iso'")
cp "$VARS" "$S/vars.fd"
SB=(-machine q35,smm=on -global driver=cfi.pflash01,property=secure,value=on
  -drive "if=pflash,format=raw,unit=0,file=$CODE,readonly=on")
clean() { tr -d '\r' <"$1" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g'; }

# 1. setup mode: systemd-boot enrolls the keys and resets (QEMU runs with -no-reboot, so it exits)
qemu_boot "$S/enroll.log" 240 "${SB[@]}" -drive "if=pflash,format=raw,unit=1,file=$S/vars.fd" -cdrom "$ISO"
log=$(clean "$S/enroll.log")
check_contains "systemd-boot enrolls the keys from loader/keys/auto" "$log" 'Enrolling secure boot keys from directory: \loader\keys\auto'
if grep -aq 'Failed to write' <<<"$log"; then
  fail "the firmware accepted PK, KEK and db" "$(grep -a 'Failed to write' <<<"$log" | head -3)"
else
  pass "the firmware accepted PK, KEK and db"
fi
check "the variable store changed" bash -c "! cmp -s '$VARS' '$S/vars.fd'"

# 2. user mode, SecureBoot on: the signed UKI boots
qemu_boot "$S/boot.log" 300 "${SB[@]}" -drive "if=pflash,format=raw,unit=1,file=$S/vars.fd,snapshot=on" -cdrom "$ISO"
log=$(clean "$S/boot.log")
check_contains "the signed UKI boots to the fixture /init" "$log" "AIRFACTORY-FIXTURE-BOOT v1.11.3 amd64"
check_contains "with SecureBoot enabled" "$log" "secureboot: Secure boot enabled"
check_contains "the kernel loaded our db certificate" "$log" "Loaded X.509 cert 'airfactory SecureBoot signing key"
check_contains "its command line is the SecureBoot ISO's" "$(grep -a '^CMDLINE: ' <<<"$log")" "lockdown=confidentiality"

# 3. the same machine refuses a UKI signed by another key, and an unsigned one
osirrox -indev "$ISO" -extract /efiboot.img "$S/esp.img" >/dev/null 2>&1
chmod u+w "$S/esp.img"
mcopy -n -i "$S/esp.img" ::/EFI/Linux/Talos-v1.11.3.efi "$S/uki.efi"
chmod u+w "$S/uki.efi"
sbattach --remove "$S/uki.efi" >/dev/null 2>&1
sbsign --key "$S/other.key" --cert "$S/other.crt" --output "$S/uki-other.efi" "$S/uki.efi" >/dev/null 2>&1
# (control: the unmodified ESP booted the same way does boot)
for variant in ours other unsigned; do
  cp "$S/esp.img" "$S/esp-$variant.img"
  src=$S/uki-other.efi
  [ $variant = unsigned ] && src=$S/uki.efi
  [ $variant = ours ] || mcopy -o -i "$S/esp-$variant.img" "$src" ::/EFI/Linux/Talos-v1.11.3.efi
  qemu_boot "$S/$variant.log" 180 "${SB[@]}" -drive "if=pflash,format=raw,unit=1,file=$S/vars.fd,snapshot=on" \
    -drive "file=$S/esp-$variant.img,format=raw,if=ide,snapshot=on"
  log=$(clean "$S/$variant.log")
  check_contains "$variant UKI: systemd-boot (signed) starts" "$log" "Talos (v1.11.3)"
  if [ $variant = ours ]; then
    check_contains "ours UKI from the ESP as a disk: boots" "$log" "AIRFACTORY-FIXTURE-BOOT v1.11.3 amd64"
  elif grep -aq 'AIRFACTORY-FIXTURE-BOOT' <<<"$log"; then
    fail "$variant UKI: the firmware refuses it" "it booted"
  else
    check_contains "$variant UKI: the firmware refuses it" "$log" "Access Denied"
  fi
done
