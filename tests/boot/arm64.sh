#!/usr/bin/env bash
# boot/arm64.sh — every arm64 asset class airfactory builds boots on `qemu-system-aarch64 -M virt
# -cpu max` (TCG) to the fixture's /init, for Talos v1.11.3 (sd-boot) and v1.9.5 (GRUB):
#   signed fixtures -> `airfactory build` (architectures: [arm64]) -> airfactory-serve -> curl ->
#   * direct kernel boot of the served kernel-arm64 + initramfs-arm64.xz with the served
#     cmdline-metal-arm64 (no firmware);
#   * metal-arm64-uki.efi as EFI/BOOT/BOOTAA64.EFI of a FAT ESP, under AAVMF;
#   * metal-arm64.iso (UEFI-only) as a SCSI CD-ROM under AAVMF;
#   * metal-arm64 and nocloud-arm64 disk images (v1.11.3: systemd-boot + UKI, v1.9.5: GRUB) as raw
#     (the bundle's blob) and as qcow2 (served), virtio disks under AAVMF;
#   * PXE: Debian 13's iPXE for arm64 UEFI (tests/boot/lib/inputs.sh ipxe_arm64_efi) from an ESP,
#     DHCP bootfile http://10.0.2.2:PORT/pxe/<id>/<version>/metal-${buildarch} from QEMU's slirp:
#     iPXE runs the server's script and boots the served kernel + initramfs;
#   * SecureBoot (v1.11.3): AAVMF's code is built with Secure Boot and Debian ships its empty
#     variable store (AAVMF_VARS.fd, setup mode): the metal-arm64-secureboot.iso's systemd-boot
#     enrolls the bundle's keys (enrollKeys: force), then the same ISO and the
#     metal-arm64-secureboot.raw disk boot with Secure Boot on, and the unsigned
#     metal-arm64-uki.efi is refused by the firmware.
# Every boot asserts what the amd64 suites assert (lib/qemu.sh check_boot): the fixture marker, the
# served command line (exact where the asset carries exactly it, else each of its words plus the
# asset's own), and EXT-FILE lines equal to the files of the served initramfs' appended extension
# archive. Guests run two at a time (ARM64_JOBS); each one's wall time is printed as a "TIME" line
# (by qemu_boot_arch, as the guest ends).
# A guest that misses its marker prints the last 40 lines of its serial console.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/boot/lib/inputs.sh"
source "$ROOT/tests/boot/lib/qemu.sh"
need_qemu_arm64 arm64/qemu || exit 0
for t in curl sqlite3 python3 mcopy; do
  command -v $t >/dev/null || { fail "arm64/tools" "$t missing; run scripts/install-deps.sh"; exit 0; }
done
FX=$FIXTURES
[ -f "$FX/imager-v1.11.3.oci.tar" ] || { fail arm64/fixtures "no fixtures; run: bash scripts/make-fixtures"; exit 0; }
S=$(scratch)
JOBS=${ARM64_JOBS:-2}
TMO=${ARM64_TIMEOUT:-180}
SUITE_START=$SECONDS
export SOURCE_DATE_EPOCH=1735689600

# ---- build: one schematic with extensions, both versions, every arm64 class; SecureBoot for v1.11.3
"$AIRFACTORY" keygen -o "$S/bundle" >/dev/null
"$AIRFACTORY" keygen --secureboot --bits 2048 -o "$S/sb" >/dev/null
cat >"$S/manifest.yaml" <<YAML
schematics:
  - name: ext
    schematic:
      customization:
        extraKernelArgs: [panic=-1]
        systemExtensions:
          officialExtensions: [siderolabs/hello-world-service, siderolabs/test-firmware]
  - name: sb
    schematic:
      customization:
        extraKernelArgs: [panic=-1]
        secureboot: {enrollKeys: force}
        systemExtensions:
          officialExtensions: [siderolabs/hello-world-service, siderolabs/test-firmware]
    versions: [v1.11.3]
    outputs: [initramfs.xz, cmdline-metal-secureboot, metal-secureboot.iso, metal-secureboot.raw]
versions: [v1.11.3, v1.9.5]
architectures: [arm64]
outputs: [kernel, initramfs.xz, cmdline-metal, cmdline-nocloud, metal-uki.efi, metal.iso,
          metal.raw, metal.qcow2, nocloud.raw, nocloud.qcow2]
sources:
  - {role: imager, path: $FX/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}
  - {role: extensions, path: $FX/extensions-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/extensions:v1.11.3}
  - {role: extension, path: $FX/hello-world-service-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/hello-world-service:v1.11.3}
  - {role: extension, path: $FX/test-firmware-20250101.oci.tar, reference: ghcr.io/siderolabs/test-firmware:20250101}
  - {role: imager, path: $FX/imager-v1.9.5.oci.tar, reference: ghcr.io/siderolabs/imager:v1.9.5}
  - {role: extensions, path: $FX/extensions-v1.9.5.oci.tar, reference: ghcr.io/siderolabs/extensions:v1.9.5}
  - {role: extension, path: $FX/hello-world-service-v1.9.5.oci.tar, reference: ghcr.io/siderolabs/hello-world-service:v1.9.5}
  - {role: extension, path: $FX/test-firmware-20240101.oci.tar, reference: ghcr.io/siderolabs/test-firmware:20240101}
trust:
  default: {keys: [$ROOT/tests/keys/cosign.pub]}
secureboot: {signing_key: $S/sb.key, signing_cert: $S/sb.crt}
signing_key: $S/bundle.key
output: $S/bundle
YAML
t0=$SECONDS
check "arm64/build" "$AIRFACTORY" build -j 2 "$S/manifest.yaml"
echo "TIME arm64/build $((SECONDS - t0))s"
[ -f "$S/bundle/index.db" ] || exit 0
ID=$("$AIRFACTORY" plan "$S/manifest.yaml" | awk '$2 == "ext" { print $1; exit }')
SBID=$("$AIRFACTORY" plan "$S/manifest.yaml" | awk '$2 == "sb" { print $1; exit }')

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$AIRFACTORY_SERVE" "$S/bundle" --listen "127.0.0.1:$PORT" --key "$S/bundle.pub" 2>"$S/serve.log" &
SERVE_PID=$!
trap 'kill $SERVE_PID 2>/dev/null; wait $SERVE_PID 2>/dev/null; _scratch_cleanup' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done

# fetch ID VERSION DIR FILE...: served assets into DIR, each checked against its ETag digest
fetch() {
  local id=$1 v=$2 dir=$3 f etag; shift 3
  mkdir -p "$dir"
  for f in "$@"; do
    etag=$(curl -sf -D "$dir/$f.headers" -o "$dir/$f" "http://127.0.0.1:$PORT/image/$id/$v/$f" &&
      grep -i '^etag:' "$dir/$f.headers" | tr -d '\r"' | sed 's/.*sha256://')
    check_eq "arm64/$v/served $f matches its ETag" "$(sha256sum "$dir/$f" 2>/dev/null | cut -d' ' -f1)" "${etag:-none}"
  done
}
blob() { # ID VERSION PATH -> the bundle blob of that asset (raw disks stay sparse there)
  local d
  d=$(sqlite3 "$S/bundle/index.db" "select digest from assets where schematic = '$1' and version = '$2' and path = '$3'")
  echo "$S/bundle/blobs/sha256/${d#sha256:}"
}

# ---- the guest pool: guest NAME QEMU-ARGS... boots in the background, at most $JOBS at once
declare -a GUESTS=()
guest() {
  local name=$1; shift
  while [ "$(jobs -rp | grep -vx "$SERVE_PID" | wc -l)" -ge "$JOBS" ]; do wait -n; done
  GUESTS+=("$name")
  boot_hang_retried "$name" "$@" &
}
# boot_hang_retried NAME QEMU-ARGS...: a guest that sat silent until its timeout without reaching
# the marker or a verdict (seen once in six runs: v1.9.5's ISO froze after the AAVMF banner under
# TCG on a loaded machine) boots once more, said so in a RETRY line; the first log is kept as
# NAME.log.hung. A guest that fails fast (rescue shell, panic, Access Denied) is never retried.
boot_hang_retried() {
  local name=$1; shift
  qemu_boot_arch arm64 "$S/$name.log" "$TMO" "$@"
  if ! grep -aqE 'AIRFACTORY-FIXTURE-DONE|Access Denied' "$S/$name.log" &&
     [ "$(cat "$S/$name.log.time" 2>/dev/null || echo 0)" -ge "$TMO" ]; then
    mv "$S/$name.log" "$S/$name.log.hung"
    echo "RETRY arm64/$name: silent until its ${TMO} s timeout (last line: $(tr -d '\r' <"$S/$name.log.hung" | grep -a . | tail -1 | cut -c1-80)); booting it once more"
    qemu_boot_arch arm64 "$S/$name.log" "$TMO" "$@"
  fi
}
wait_guests() {
  local p
  for p in $(jobs -rp); do [ "$p" = "$SERVE_PID" ] || wait "$p"; done
}
esp() { # OUT EFI-BINARY: a FAT ESP holding it as EFI/BOOT/BOOTAA64.EFI (airfactory's FAT writer)
  local size=$(( ($(stat -c %s "$2") >> 20) + 12 ))
  check "arm64/esp $(basename "$1")" "$AIRFACTORY" asset fat --size-mib "$size" --label EFI --mtime 1735689600 \
    "$1" "EFI/BOOT/BOOTAA64.EFI=$2"
}
cdrom() { echo "-device virtio-scsi-pci -drive file=$1,format=raw,if=none,id=cd0,media=cdrom,readonly=on -device scsi-cd,drive=cd0"; }
disk() { echo "-drive file=$1,format=$2,if=virtio,snapshot=on"; }

FILES=(kernel-arm64 initramfs-arm64.xz cmdline-metal-arm64 cmdline-nocloud-arm64 metal-arm64-uki.efi
  metal-arm64.iso metal-arm64.qcow2 nocloud-arm64.qcow2)
for v in v1.11.3 v1.9.5; do
  fetch "$ID" "$v" "$S/$v" "${FILES[@]}"
  esp "$S/$v/uki-esp.img" "$S/$v/metal-arm64-uki.efi"
done
fetch "$SBID" v1.11.3 "$S/sb" initramfs-arm64.xz cmdline-metal-arm64-secureboot metal-arm64-secureboot.iso
IPXE=$(ipxe_arm64_efi 2>"$S/ipxe.err") || fail "arm64/pxe/ipxe-arm64.efi" "$(cat "$S/ipxe.err")"
[ -z "$IPXE" ] || esp "$S/ipxe-esp.img" "$IPXE"

# ---- phase 1: every guest that needs no enrolled keys, the slow ones first
cp --sparse=always "$AAVMF_VARS" "$S/sb-vars.fd"
guest sb-enroll $(aavmf_args "$S/sb-vars.fd" rw) $(cdrom "$S/sb/metal-arm64-secureboot.iso")
for v in v1.11.3 v1.9.5; do
  if [ -n "$IPXE" ]; then
    guest "pxe-$v" $(aavmf_args) -drive "file=$S/ipxe-esp.img,format=raw,if=none,id=d0,snapshot=on" \
      -device virtio-blk-pci,drive=d0,bootindex=0 \
      -netdev "user,id=n0,bootfile=http://10.0.2.2:$PORT/pxe/$ID/$v/metal-\${buildarch}" \
      -device virtio-net-pci,netdev=n0,romfile=
  fi
  guest "direct-$v" -kernel "$S/$v/kernel-arm64" -initrd "$S/$v/initramfs-arm64.xz" -append "$(cat "$S/$v/cmdline-metal-arm64")"
  guest "uki-$v" $(aavmf_args) $(disk "$S/$v/uki-esp.img" raw)
  guest "iso-$v" $(aavmf_args) $(cdrom "$S/$v/metal-arm64.iso")
  guest "metal-raw-$v" $(aavmf_args) $(disk "$(blob "$ID" "$v" metal-arm64.raw)" raw)
  guest "metal-qcow2-$v" $(aavmf_args) $(disk "$S/$v/metal-arm64.qcow2" qcow2)
  guest "nocloud-raw-$v" $(aavmf_args) $(disk "$(blob "$ID" "$v" nocloud-arm64.raw)" raw)
  guest "nocloud-qcow2-$v" $(aavmf_args) $(disk "$S/$v/nocloud-arm64.qcow2" qcow2)
done
wait_guests

# ---- phase 2: with the keys the SecureBoot ISO enrolled
guest sb-iso $(aavmf_args "$S/sb-vars.fd") $(cdrom "$S/sb/metal-arm64-secureboot.iso")
guest sb-raw $(aavmf_args "$S/sb-vars.fd") $(disk "$(blob "$SBID" v1.11.3 metal-arm64-secureboot.raw)" raw)
guest sb-unsigned $(aavmf_args "$S/sb-vars.fd") $(disk "$S/v1.11.3/uki-esp.img" raw)
wait_guests

# ---- what each guest printed
for v in v1.11.3 v1.9.5; do
  C=$(cat "$S/$v/cmdline-metal-arm64")
  N=$(cat "$S/$v/cmdline-nocloud-arm64")
  I=$S/$v/initramfs-arm64.xz
  check_boot "arm64/direct-$v" "$S/direct-$v.log" "$I" "$C"
  if [ -n "$IPXE" ]; then
    # iPXE hands an EFI kernel its image name as the first word of the command line
    check_boot "arm64/pxe-$v" "$S/pxe-$v.log" "$I" "kernel-arm64 $C"
    log=$(cat "$S/serve.log")
    for f in "pxe/$ID/$v/metal-arm64" "image/$ID/$v/kernel-arm64" "image/$ID/$v/initramfs-arm64.xz"; do
      check_contains "arm64/pxe-$v/iPXE fetched /$f" "$log" "\"GET /$f HTTP/1.1\" 200"
    done
  fi
  # Image Factory's UKI carries the schematic's extraKernelArgs from Talos 1.10 on only
  if [ "$v" = v1.9.5 ]; then
    check_eq "arm64/uki-$v/served cmdline ends with the extra argument" "${C% panic=-1} panic=-1" "$C"
    check_boot "arm64/uki-$v" "$S/uki-$v.log" "$I" "${C% panic=-1}"
  else
    check_boot "arm64/uki-$v" "$S/uki-$v.log" "$I" "$C"
  fi
  check_boot "arm64/iso-$v" "$S/iso-$v.log" "$I" "contains:$C talos.halt_if_installed=1"
  check_boot "arm64/metal-raw-$v" "$S/metal-raw-$v.log" "$I" "$C"
  check_boot "arm64/metal-qcow2-$v" "$S/metal-qcow2-$v.log" "$I" "$C"
  check_boot "arm64/nocloud-raw-$v" "$S/nocloud-raw-$v.log" "$I" "$N"
  check_boot "arm64/nocloud-qcow2-$v" "$S/nocloud-qcow2-$v.log" "$I" "$N"
done
clean() { tr -d '\r' <"$1" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g'; }
# v1.11.3 boots through systemd-boot, v1.9.5 through GRUB (the profiles' default bootloaders)
check_contains "arm64/metal-raw-v1.11.3/systemd-boot loaded the UKI" "$(clean "$S/metal-raw-v1.11.3.log")" "EFI stub: "
check_contains "arm64/metal-raw-v1.9.5/GRUB loaded /A/vmlinuz" "$(clean "$S/metal-raw-v1.9.5.log")" "CMDLINE: BOOT_IMAGE=/A/vmlinuz "

# SecureBoot
log=$(clean "$S/sb-enroll.log")
check_contains "arm64/sb-enroll/systemd-boot enrolls the keys" "$log" 'Enrolling secure boot keys from directory: \loader\keys\auto'
check_contains "arm64/sb-enroll/the firmware took them" "$log" 'Custom Secure Boot keys successfully enrolled'
check "arm64/sb-enroll/the variable store changed" bash -c "! cmp -s '$AAVMF_VARS' '$S/sb-vars.fd'"
SBC=$(cat "$S/sb/cmdline-metal-arm64-secureboot")
check_boot arm64/sb-iso "$S/sb-iso.log" "$S/sb/initramfs-arm64.xz" "contains:$SBC talos.halt_if_installed=1"
check_boot arm64/sb-raw "$S/sb-raw.log" "$S/sb/initramfs-arm64.xz" "$SBC"
for g in sb-iso sb-raw; do
  log=$(clean "$S/$g.log")
  check_contains "arm64/$g/with Secure Boot on" "$log" "EFI stub: UEFI Secure Boot is enabled."
  check_contains "arm64/$g/the kernel loaded our db certificate" "$log" "Loaded X.509 cert 'airfactory SecureBoot signing key"
done
log=$(clean "$S/sb-unsigned.log")
if grep -aq AIRFACTORY-FIXTURE-BOOT <<<"$log"; then
  fail "arm64/sb-unsigned/the firmware refuses the unsigned UKI" "it booted"
else
  check_contains "arm64/sb-unsigned/the firmware refuses the unsigned UKI" "$log" "Access Denied"
fi
echo "TIME arm64/suite $((SECONDS - SUITE_START))s"

# A guest that misses its marker fails with the last 40 lines of its serial console (a made-up log
# of 50 lines: the check must fail and show lines 11-50).
seq -f 'serial line %g' 1 50 >"$S/dead.log"
echo 7 >"$S/dead.log.time"
out=$(check_boot arm64/dead "$S/dead.log" "$S/v1.11.3/initramfs-arm64.xz" x)
check_contains "arm64/a failed guest: FAIL marker" "$out" "FAIL arm64/dead/marker: no AIRFACTORY-FIXTURE-BOOT after 7 s"
check_eq "arm64/a failed guest: its serial console's last 40 lines" "$(grep -c '^  | serial line' <<<"$out")/$(grep -m1 '^  | ' <<<"$out")" "40/  | serial line 11"
