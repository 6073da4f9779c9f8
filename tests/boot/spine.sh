#!/usr/bin/env bash
# The whole path a user takes, end to end: signed Talos-shaped OCI tarballs -> `airfactory build`
# -> `airfactory verify --full` -> `airfactory-serve` -> curl -> QEMU. The guest is the fixture
# kernel + initramfs as the SERVER handed them out; its /init reports the kernel command line and
# every file the appended extension archive brought, so the assertions below can only pass if
# import, verification, initramfs building, cmdline building, the bundle and the server all did
# their part. Boots: direct kernel (-kernel/-initrd/-append) and the UKI under OVMF.
source "$(dirname "$0")/../lib.sh"
S=$(scratch)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
FX=$FIXTURES

if [ ! -f "$FX/imager-v1.11.3.oci.tar" ]; then
  fail "fixtures present" "run scripts/make-fixtures first ($FX)"; exit 1
fi

cat >"$S/manifest.yaml" <<YAML
schematics:
  - name: vanilla
    schematic: {customization: {}}
  - name: demo
    schematic:
      customization:
        extraKernelArgs: [console=ttyS0, -talos.dashboard.disabled]
        meta: [{key: 0xa, value: "hello"}]
        systemExtensions:
          officialExtensions: [siderolabs/hello-world-service, siderolabs/test-firmware, siderolabs/intel-ucode]
versions: [v1.11.3, v1.9.5]
architectures: [amd64]
outputs: [kernel, initramfs.xz, cmdline-metal, metal-uki.efi, metal.iso]
sources:
  - {role: imager, path: $FX/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}
  - {role: extensions, path: $FX/extensions-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/extensions:v1.11.3}
  - {role: extension, path: $FX/hello-world-service-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/hello-world-service:v1.11.3}
  - {role: extension, path: $FX/test-firmware-20250101.oci.tar, reference: ghcr.io/siderolabs/test-firmware:20250101}
  - {role: extension, path: $FX/intel-ucode-20250812.oci.tar, reference: ghcr.io/siderolabs/intel-ucode:20250812}
  - {role: imager, path: $FX/imager-v1.9.5.oci.tar, reference: ghcr.io/siderolabs/imager:v1.9.5}
  - {role: extensions, path: $FX/extensions-v1.9.5.oci.tar, reference: ghcr.io/siderolabs/extensions:v1.9.5}
  - {role: extension, path: $FX/hello-world-service-v1.9.5.oci.tar, reference: ghcr.io/siderolabs/hello-world-service:v1.9.5}
  - {role: extension, path: $FX/test-firmware-20240101.oci.tar, reference: ghcr.io/siderolabs/test-firmware:20240101}
  - {role: extension, path: $FX/intel-ucode-20241112.oci.tar, reference: ghcr.io/siderolabs/intel-ucode:20241112}
trust:
  default: {keys: [$ROOT/tests/keys/cosign.pub]}
signing_key: $S/bundle.key
output: $S/bundle
YAML

check "keygen" "$AIRFACTORY" keygen -o "$S/bundle"
check "plan lists 20 models" bash -c "[ \$('$AIRFACTORY' plan '$S/manifest.yaml' | wc -l) -eq 20 ]"
check "build from signed fixtures" "$AIRFACTORY" build "$S/manifest.yaml"
check "verify --full" "$AIRFACTORY" verify "$S/bundle" --key "$S/bundle.pub" --full
check "openssl verifies the bundle signature" \
  openssl dgst -sha256 -verify "$S/bundle.pub" -signature "$S/bundle/index.db.sig.der" "$S/bundle/index.db"
out=$("$AIRFACTORY" build "$S/manifest.yaml" 2>&1)
check_contains "no-op rerun reuses every asset" "$out" "0 assets built, 20 reused"

ID=$("$AIRFACTORY" plan "$S/manifest.yaml" | awk '$2 == "demo" { print $1; exit }')
check_eq "schematic ID from plan is 64 hex" "$(echo -n "$ID" | grep -cE '^[0-9a-f]{64}$')" 1

"$AIRFACTORY_SERVE" "$S/bundle" --listen "127.0.0.1:$PORT" --key "$S/bundle.pub" 2>"$S/serve.log" &
SERVE_PID=$!
trap 'kill $SERVE_PID 2>/dev/null; wait $SERVE_PID 2>/dev/null' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
fetch() { # VERSION: the demo schematic's assets into $S/VERSION/, checked against their ETags
  local v=$1 f etag
  mkdir -p "$S/$v"
  for f in kernel-amd64 initramfs-amd64.xz cmdline-metal-amd64 metal-amd64-uki.efi metal-amd64.iso; do
    etag=$(curl -sf -D "$S/$v/$f.headers" -o "$S/$v/$f" "http://127.0.0.1:$PORT/image/$ID/$v/$f" &&
      grep -i '^etag:' "$S/$v/$f.headers" | tr -d '\r"' | sed 's/.*sha256://')
    check_eq "$v: served $f matches its ETag digest" "$(sha256sum "$S/$v/$f" | cut -d' ' -f1)" "${etag:-none}"
  done
}
fetch v1.11.3
fetch v1.9.5
BASE=http://127.0.0.1:$PORT/image/$ID/v1.11.3
CMDLINE=$(cat "$S/v1.11.3/cmdline-metal-amd64")
check_contains "cmdline carries the platform" "$CMDLINE" "talos.platform=metal"
check_contains "cmdline carries extraKernelArgs" "$CMDLINE" "console=ttyS0"
check_contains "cmdline carries META" "$CMDLINE" "talos.environment=INSTALLER_META_BASE64="
pxe=$(curl -sf "http://127.0.0.1:$PORT/pxe/$ID/v1.11.3/metal-amd64")
check_contains "PXE script boots the served kernel" "$pxe" "kernel $BASE/kernel-amd64 $CMDLINE"

# UKIs: Image Factory gives uki outputs no META ever, and the schematic's extraKernelArgs only from
# Talos 1.10 (image-factory-spec §2.3 step 6). Read the sections with python3-pefile (Debian's
# python, which has the module).
uki_sections() {
  /usr/bin/python3 - "$1" <<'PY'
import sys, pefile
pe = pefile.PE(sys.argv[1])
for s in pe.sections:
    name = s.Name.rstrip(b"\0").decode()
    data = s.get_data()[: s.Misc_VirtualSize]
    print(name, data.decode(errors="replace").strip("\0").replace("\n", " ") if name in (".cmdline", ".profile") else len(data))
PY
}
UKI_CMDLINE=$(echo "$CMDLINE" | sed 's/ talos.environment=[^ ]*//')
sections=$(uki_sections "$S/v1.11.3/metal-amd64-uki.efi")
check_eq "v1.11.3 UKI main .cmdline: the cmdline without META" "$(echo "$sections" | grep -m1 '^\.cmdline ' | sed 's/^\.cmdline //')" "$UKI_CMDLINE"
# the standalone UKI has the main profile only (imager.go buildUKI adds none for OutKindUKI)
check_eq "v1.11.3 UKI has one .profile section" "$(echo "$sections" | grep -c '^\.profile')" 1
check_contains "v1.11.3 UKI's profile is main" "$sections" ".profile ID=main"
check_eq "v1.11.3 UKI sections in Talos order" "$(echo "$sections" | awk '{print $1}' | grep -E '^\.(osrel|cmdline|uname|linux|initrd|profile)$' | head -5 | tr '\n' ' ')" ".osrel .cmdline .uname .linux .initrd "
VANILLA=376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba
vanilla_195=$(curl -sf "http://127.0.0.1:$PORT/image/$VANILLA/v1.9.5/cmdline-metal-amd64")
sections=$(uki_sections "$S/v1.9.5/metal-amd64-uki.efi")
check_eq "v1.9.5 UKI .cmdline: no extraKernelArgs, no META (as vanilla)" "$(echo "$sections" | grep -m1 '^\.cmdline ' | sed 's/^\.cmdline //')" "${vanilla_195:-none}"
check_eq "v1.9.5 UKI has no profiles" "$(echo "$sections" | grep -c '^\.profile')" 0

# assert what the guest printed: marker, exact cmdline, the appended archive's files, microcode
assert_guest() { # WHAT LOG CMDLINE FIRMWARE-DIR
  local what=$1 log=$2 CMDLINE=$3 fw=$4
  if grep -q 'AIRFACTORY-FIXTURE-BOOT' "$log"; then pass "$what: fixture init ran"; else
    fail "$what: fixture init ran" "$(tail -5 "$log" | tr '\n' ' ')"; return; fi
  local got; got=$(grep -a '^CMDLINE: ' "$log" | head -1 | tr -d '\r' | sed 's/^CMDLINE: //')
  if [ "${CMDLINE#contains:}" != "$CMDLINE" ]; then
    local word; for word in ${CMDLINE#contains:}; do check_contains "$what: cmdline has $word" " $got " " $word "; done
  else
    check_eq "$what: kernel got the bundle's cmdline" "$got" "$CMDLINE"
  fi
  local files; files=$(grep -a '^EXT-FILE: ' "$log" | tr -d '\r')
  check_contains "$what: appended /extensions.yaml" "$files" "EXT-FILE: /extensions.yaml"
  # three extensions plus the virtual schematic extension, one squashfs each
  check_eq "$what: one squashfs per extension" "$(echo "$files" | grep -c '\.sqsh$')" 4
  check_contains "$what: firmware moved out of the extension" "$files" "EXT-FILE: /$fw/"
  check_contains "$what: microcode prepended" "$files" "kernel/x86/microcode/GenuineIntel.bin"
}

qemu_run() { # LOG ARGS...: TCG boot, bounded, early exit on a dead end
  local log=$1; shift
  timeout 120 qemu-system-x86_64 -accel tcg -m 1024 -smp 1 -nographic -no-reboot -nic none "$@" \
    </dev/null >"$log" 2>&1 &
  local pid=$!
  for _ in $(seq 1200); do
    kill -0 $pid 2>/dev/null || break
    if grep -qa -E 'AIRFACTORY-FIXTURE-DONE|Kernel panic|No bootable option|Shell> ' "$log"; then
      sleep 0.5; kill $pid 2>/dev/null; break; fi
    sleep 0.1
  done
  wait $pid 2>/dev/null
}

qemu_run "$S/direct.log" -kernel "$S/v1.11.3/kernel-amd64" -initrd "$S/v1.11.3/initramfs-amd64.xz" -append "$CMDLINE"
assert_guest "v1.11.3 direct boot" "$S/direct.log" "$CMDLINE" usr/lib/firmware

# The fixtures' systemd-stub is 257 (Debian 13, as Talos 1.10-1.12 ship): it understands multi-profile
# UKIs and boots the first profile, main, with the main .cmdline (252 took the LAST .cmdline).
rm -f "$S/esp.img"; truncate -s 64M "$S/esp.img"
mformat -i "$S/esp.img" -F -v ESP :: && mmd -i "$S/esp.img" ::/EFI ::/EFI/BOOT &&
  mcopy -i "$S/esp.img" "$S/v1.11.3/metal-amd64-uki.efi" ::/EFI/BOOT/BOOTX64.EFI
qemu_run "$S/uki.log" -bios /usr/share/ovmf/OVMF.fd -drive "file=$S/esp.img,format=raw,if=ide,snapshot=on"
assert_guest "v1.11.3 UKI under OVMF" "$S/uki.log" "$UKI_CMDLINE" usr/lib/firmware

# ISOs: GRUB boots them with the ISO command line (talos.halt_if_installed=1, META, extra args).
META=$(echo "$CMDLINE" | grep -o 'talos.environment=[^ ]*')
qemu_run "$S/iso-bios.log" -cdrom "$S/v1.11.3/metal-amd64.iso"
assert_guest "v1.11.3 hybrid ISO under SeaBIOS (GRUB)" "$S/iso-bios.log" \
  "contains:talos.platform=metal console=ttyS0 talos.halt_if_installed=1 selinux=1 $META" usr/lib/firmware
check_eq "v1.11.3 ISO volume ID" "$(xorriso -indev "$S/v1.11.3/metal-amd64.iso" -pvd_info 2>/dev/null | sed -n 's/^Volume Id *: *//p')" TALOS_V1_11_3
qemu_run "$S/iso-efi.log" -bios /usr/share/ovmf/OVMF.fd -cdrom "$S/v1.9.5/metal-amd64.iso"
assert_guest "v1.9.5 GRUB ISO under OVMF" "$S/iso-efi.log" \
  "contains:talos.platform=metal console=ttyS0 talos.halt_if_installed=1 ima_hash=sha512" lib/firmware
