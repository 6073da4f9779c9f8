#!/usr/bin/env bash
# Boot test: the imager's kernel + an initramfs built with three extensions and the schematic
# extension, passed to QEMU as -kernel/-initrd/-append (what PXE boots). The guest's /init must
# see every file of the early microcode archive and of the appended extensions archive, and
# exactly the given command line.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/boot/lib/inputs.sh"
source "$ROOT/tests/boot/lib/qemu.sh"
need_qemu boot-initramfs || exit 0
boot_inputs v1.11.3 || { fail boot-initramfs/inputs "cannot prepare inputs"; exit 1; }
T=$(scratch)
I=$IMAGER/usr/install/amd64
SCHEMATIC=376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba
ext_args=()
for e in "${EXT_DIRS[@]}"; do ext_args+=(--extension "$e"); done
check boot-initramfs/build "$AIRFACTORY" asset initramfs --base "$I/initramfs.xz" --talos-version "$TALOS_VERSION" \
  "${ext_args[@]}" --schematic-id "$SCHEMATIC" --mtime 1735689600 -o "$T/initramfs.xz"
CMDLINE="talos.platform=metal console=ttyS0 panic=-1 slab_nomerge pti=on"
qemu_boot "$T/direct.log" 300 -kernel "$I/vmlinuz" -initrd "$T/initramfs.xz" -append "$CMDLINE"
check_boot boot-initramfs "$T/direct.log" "$T/initramfs.xz" "$CMDLINE"
