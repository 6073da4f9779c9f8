#!/usr/bin/env bash
# fixture-init.sh — the fixture imager's kernel + busybox initramfs really boot (QEMU TCG, direct
# kernel boot), print the marker on the serial console (ttyS0 on amd64, ttyAMA0 on arm64), and
# report the files an appended extension archive brought. The extension segments are made here
# with GNU cpio, mksquashfs and the zstd CLI (not with project or generator code), in Talos'
# layout: [raw newc: kernel/x86/microcode/GenuineIntel.bin] [base initramfs (zstd)]
# [zstd newc: extensions.yaml, 0.sqsh, usr/lib/firmware/...].
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/boot/lib/qemu.sh"
T=$(mktemp -d "${TMPDIR:-/tmp}/airfactory-boot-test.XXXXXX")
trap '[ -n "${KEEP_BOOT_LOGS:-}" ] || rm -rf "$T"' EXIT

if [ ! -f "$FIXTURES/fixtures.json" ]; then
  fail fixture-boot "no $FIXTURES/fixtures.json; run: bash scripts/make-fixtures"
  exit 1
fi

# boot ARCH KERNEL INITRD APPEND LOG: direct kernel boot (lib/qemu.sh qemu_boot_arch), bounded
boot() {
  local arch=$1 kernel=$2 initrd=$3 append=$4 log=$5
  qemu_boot_arch "$arch" "$log" 240 -kernel "$kernel" -initrd "$initrd" -append "$append"
  tr -d '\r' <"$log" >"$log.txt"
}

# extension segment (zstd newc) from a directory, with GNU cpio like Talos' imager does
ext_segment() {  # DIR OUT
  (cd "$1" && find . -mindepth 1 | sed 's|^\./||' | LC_ALL=C sort |
     cpio -o -H newc --reproducible -R +0:+0 --quiet) | zstd -q -3 -c >"$2"
}

E=$T/ext
mkdir -p "$E/usr/lib/firmware"
HWS=$FIXTURES/rootfs/hello-world-service-v1.11.3-amd64
mksquashfs "$HWS/rootfs" "$E/0.sqsh" -noappend -all-root -no-progress -quiet -comp zstd >/dev/null
cp -r "$FIXTURES/rootfs/test-firmware-20250101-amd64/rootfs/usr/lib/firmware/airfactory-test" "$E/usr/lib/firmware/"
cat >"$E/extensions.yaml" <<'EOF'
layers:
    - image: 0.sqsh
      metadata:
        name: hello-world-service
        version: v1.11.3
EOF
ext_segment "$E" "$T/ext.cpio.zst"
U=$T/ucode
mkdir -p "$U/kernel/x86/microcode"
cat "$FIXTURES"/rootfs/intel-ucode-20250812-amd64/rootfs/usr/lib/firmware/intel-ucode/* \
  >"$U/kernel/x86/microcode/GenuineIntel.bin"
(cd "$U" && find . -mindepth 1 | sed 's|^\./||' | LC_ALL=C sort |
   cpio -o -H newc --reproducible -R +0:+0 --quiet) >"$T/ucode.cpio"
check "microcode cpio is 4-byte aligned (kernel skips unaligned raw segments)" \
  test $(( $(stat -c %s "$T/ucode.cpio") % 4 )) -eq 0

run_case() {  # NAME VERSION ARCH VARIANT(base|ext)
  local name=$1 v=$2 arch=$3 variant=$4
  local dir=$FIXTURES/rootfs/imager-$v-amd64/usr/install/$arch
  local con=ttyS0; [ "$arch" = arm64 ] && con=ttyAMA0
  local initrd=$dir/initramfs.xz
  if [ "$variant" = ext ]; then
    initrd=$T/initrd-$v-$arch
    if [ "$arch" = amd64 ]; then
      cat "$T/ucode.cpio" "$dir/initramfs.xz" "$T/ext.cpio.zst" >"$initrd"
    else
      cat "$dir/initramfs.xz" "$T/ext.cpio.zst" >"$initrd"
    fi
  fi
  local log=$T/$name.log
  local args="console=$con panic=-1 quiet talos.platform=metal airfactory.case=$name"
  boot "$arch" "$dir/vmlinuz" "$initrd" "$args" "$log"
  local out; out=$(cat "$log.txt")
  check_contains "$name: marker" "$out" "AIRFACTORY-FIXTURE-BOOT $v $arch"
  check_contains "$name: CMDLINE line" "$out" "CMDLINE: $args"
  check_contains "$name: done marker" "$out" "AIRFACTORY-FIXTURE-DONE"
  if [ "$variant" = ext ]; then
    check_contains "$name: EXT-FILE extensions.yaml" "$out" "EXT-FILE: /extensions.yaml"
    check_contains "$name: EXT-FILE 0.sqsh" "$out" "EXT-FILE: /0.sqsh"
    check_contains "$name: EXT-FILE firmware" "$out" "EXT-FILE: /usr/lib/firmware/airfactory-test/test-fw.bin"
    if [ "$arch" = amd64 ]; then
      check_contains "$name: EXT-FILE early microcode" "$out" "EXT-FILE: /kernel/x86/microcode/GenuineIntel.bin"
    fi
    check_fails "$name: no unpack error" grep -q "Initramfs unpacking failed" "$log.txt"
  else
    check_eq "$name: no EXT-FILE lines without extensions" "$(grep -c 'EXT-FILE:' "$log.txt")" 0
  fi
}

run_case amd64-v1.11.3-base v1.11.3 amd64 base
run_case amd64-v1.11.3-ext v1.11.3 amd64 ext
run_case amd64-v1.9.5-ext v1.9.5 amd64 ext
if command -v qemu-system-aarch64 >/dev/null; then
  run_case arm64-v1.11.3-ext v1.11.3 arm64 ext
else
  skip arm64-boot "qemu-system-aarch64 missing (scripts/install-deps.sh installs qemu-system-arm)"
fi

# negative control: an extension segment appended at an unaligned offset after a raw cpio is
# dropped by the kernel, and the test notices (the EXT-FILE lines are what proves the append)
dir=$FIXTURES/rootfs/imager-v1.11.3-amd64/usr/install/amd64
{ cat "$dir/initramfs.xz"; printf 'x'; cat "$T/ucode.cpio"; } >"$T/bad-initrd"
boot amd64 "$dir/vmlinuz" "$T/bad-initrd" "console=ttyS0 panic=-1 quiet" "$T/bad.log"
check_contains "negative control: still boots" "$(cat "$T/bad.log.txt")" "AIRFACTORY-FIXTURE-BOOT"
check_fails "negative control: misaligned microcode is not seen" grep -q "EXT-FILE: /kernel/x86/microcode" "$T/bad.log.txt"
