# tests/boot/lib/inputs.sh — inputs for the builders' boot tests and benchmark (sourced).
#
# boot_inputs [VERSION] (v1.11.3 or v1.9.5) sets:
#   IMAGER         a tree shaped like the imager image: usr/install/amd64/{vmlinuz,initramfs.xz,
#                  systemd-stub.efi,systemd-boot.efi} and usr/lib/grub/{i386-pc,x86_64-efi}
#   EXT_DIRS       extension directories (manifest.yaml + rootfs/), one of them with firmware and
#                  Intel + AMD microcode
#   TALOS_VERSION  the version those inputs stand for
# It prefers the fixture staging trees of scripts/make-fixtures (build/fixtures/rootfs/...: the imager,
# test-firmware, intel-ucode and hello-world-service extensions of that version); without
# them it builds its own once into build/boot-inputs from Debian's cloud kernel and busybox-static.
# Both kinds of /init print "AIRFACTORY-FIXTURE-BOOT", "CMDLINE: <cmdline>" and one
# "EXT-FILE: <path>" per file an appended or prepended archive brought, then power off.

boot_inputs() {
  local version=${1:-v1.11.3} fx=${FIXTURES:-$ROOT/build/fixtures}/rootfs
  TALOS_VERSION=$version
  local exts
  case $version in
    v1.11.3) exts="test-firmware-20250101 intel-ucode-20250812 hello-world-service-v1.11.3" ;;
    v1.9.5) exts="test-firmware-20240101 intel-ucode-20241112 hello-world-service-v1.9.5" ;;
    *) echo "boot_inputs: no fixture set for $version" >&2; return 1 ;;
  esac
  if [ -f "$fx/imager-$version-amd64/usr/install/amd64/initramfs.xz" ]; then
    IMAGER=$fx/imager-$version-amd64
    EXT_DIRS=()
    local e ok=1
    for e in $exts; do
      if [ -f "$fx/$e-amd64/manifest.yaml" ]; then EXT_DIRS+=("$fx/$e-amd64"); else ok=0; fi
    done
    [ $ok = 1 ] && return 0
  fi
  own_boot_inputs "$version"
}

own_boot_inputs() {
  local base=$ROOT/build/boot-inputs
  IMAGER=$base/imager
  TALOS_VERSION=${1:-v1.11.3}
  if [ "$TALOS_VERSION" = v1.11.3 ]; then
    EXT_DIRS=("$base/ext/0-firmware" "$base/ext/1-hello" "$base/ext/2-tools")
  else  # the firmware test extension needs >= v1.10
    EXT_DIRS=("$base/ext/1-hello" "$base/ext/2-tools")
  fi
  if [ -f "$base/.done" ]; then return 0; fi
  (
    set -euo pipefail
    exec 9>"$ROOT/build/.boot-inputs.lock"; flock 9
    [ -f "$base/.done" ] && exit 0
    rm -rf "$base"; mkdir -p "$base/kpkg" "$IMAGER/usr/install/amd64" "$IMAGER/usr/lib/grub"
    local k
    k=$(ls "$ROOT"/build/kpkg/cloud/boot/vmlinuz-* 2>/dev/null | head -1 || true)
    if [ -z "$k" ]; then
      local pkg
      pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
      (cd "$base/kpkg" && apt-get download "$pkg" >/dev/null 2>&1 && dpkg-deb -x ./*.deb x)
      k=$(ls "$base"/kpkg/x/boot/vmlinuz-* | head -1)
    fi
    local inst=$IMAGER/usr/install/amd64
    cp "$k" "$inst/vmlinuz"
    cp /usr/lib/systemd/boot/efi/linuxx64.efi.stub "$inst/systemd-stub.efi"
    cp /usr/lib/systemd/boot/efi/systemd-bootx64.efi "$inst/systemd-boot.efi"
    cp -a /usr/lib/grub/i386-pc /usr/lib/grub/x86_64-efi "$IMAGER/usr/lib/grub/"
    # base initramfs: busybox + /init + a stand-in rootfs.sqsh, newc, zstd (Talos >= 1.8)
    local r=$base/initroot
    mkdir -p "$r/bin" "$r/dev" "$r/proc" "$r/sys" "$base/sq"
    cp /bin/busybox "$r/bin/busybox"
    local a
    for a in sh mount cat find sort echo poweroff sleep ls; do ln -s busybox "$r/bin/$a"; done
    cat >"$r/init" <<'INIT'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
echo "AIRFACTORY-FIXTURE-BOOT own-inputs amd64"
echo "CMDLINE: $(cat /proc/cmdline)"
{
  for f in /extensions.yaml /*.sqsh; do
    [ -f "$f" ] && [ "$f" != /rootfs.sqsh ] && echo "$f"
  done
  find /usr/lib/firmware /lib/firmware /kernel -type f 2>/dev/null
} | sort | while read -r f; do echo "EXT-FILE: $f"; done
echo "AIRFACTORY-FIXTURE-DONE"
poweroff -f
sleep 5
INIT
    chmod 755 "$r/init"
    echo "stand-in root filesystem" >"$base/sq/README"
    mksquashfs "$base/sq" "$r/rootfs.sqsh" -all-root -noappend -no-progress -quiet -comp zstd >/dev/null
    find "$r" -exec touch -h -d @1735689600 {} +
    (cd "$r" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible) | zstd -q -19 -c >"$inst/initramfs.xz"
    # extensions
    local e=$base/ext/0-firmware/rootfs/usr/lib/firmware
    mkdir -p "$e/airfactory-test/nested" "$e/intel-ucode" "$e/amd-ucode"
    head -c 4096 /dev/urandom >"$e/airfactory-test/test-fw.bin"
    head -c 1024 /dev/urandom >"$e/airfactory-test/nested/second-fw.bin"
    head -c 2048 /dev/urandom >"$e/intel-ucode/06-55-04"
    head -c 1024 /dev/urandom >"$e/intel-ucode/06-8f-08"
    head -c 3000 /dev/urandom >"$e/amd-ucode/microcode_amd_fam17h.bin"
    mkdir -p "$base/ext/0-firmware/rootfs/usr/local/share/firmware-test"
    echo "firmware extension" >"$base/ext/0-firmware/rootfs/usr/local/share/firmware-test/README"
    cat >"$base/ext/0-firmware/manifest.yaml" <<'M'
version: v1alpha1
metadata:
  name: airfactory-test-firmware
  version: 20250101
  author: airfactory tests
  description: Test firmware and microcode.
  compatibility:
    talos:
      version: ">= v1.10.0"
M
    mkdir -p "$base/ext/1-hello/rootfs/usr/local/share/hello" "$base/ext/1-hello/rootfs/usr/local/lib/containers/hello"
    echo "hello from an extension" >"$base/ext/1-hello/rootfs/usr/local/share/hello/README"
    head -c 300000 /dev/urandom >"$base/ext/1-hello/rootfs/usr/local/lib/containers/hello/hello-bin"
    ln -s ../share/hello/README "$base/ext/1-hello/rootfs/usr/local/lib/README.link"
    cat >"$base/ext/1-hello/manifest.yaml" <<'M'
version: v1alpha1
metadata:
  name: hello-world-service
  version: v1.0.0
  author: airfactory tests
  description: |
    A multi-line
    description.
  compatibility:
    talos:
      version: '>= v1.0.0'
M
    mkdir -p "$base/ext/2-tools/rootfs/usr/local/bin"
    cp /bin/busybox "$base/ext/2-tools/rootfs/usr/local/bin/busybox"
    cat >"$base/ext/2-tools/manifest.yaml" <<'M'
version: v1alpha1
metadata:
  name: airfactory-tools
  version: 1.36.1
  author: airfactory tests
  description: busybox as a stand-in for a tools extension
  compatibility:
    talos:
      version: ">= v1.8.0 < v2.0.0"
M
    touch "$base/.done"
  ) || { echo "boot_inputs: cannot build test inputs" >&2; return 1; }
}

# ipxe_arm64_efi: prints the path of iPXE's arm64 UEFI binary. Debian 12's ipxe package carries
# only x86 binaries; Debian 13's (1.21.1+git20250501) carries usr/lib/ipxe/ipxe-arm64.efi. It is
# downloaded once through the private trixie apt configuration scripts/make-fixtures keeps in
# build/debs/apt-trixie (the system's apt sources are never touched) and extracted beside the
# fixtures' other packages in build/debs/x/.
ipxe_arm64_efi() {
  local cache=${AIRFACTORY_DEB_CACHE:-$ROOT/build/debs}
  local conf=$cache/apt-trixie/apt.conf dir
  [ -f "$conf" ] || { echo "ipxe_arm64_efi: $conf missing; run: bash scripts/make-fixtures" >&2; return 1; }
  (
    set -eo pipefail
    exec 9>"$cache/.ipxe.lock"; flock 9
    local v deb have
    have=$(ls "$cache"/x/ipxe_*_all/usr/lib/ipxe/ipxe-arm64.efi 2>/dev/null | tail -1)
    [ -z "$have" ] || { echo "$have"; exit 0; }
    v=$(APT_CONFIG=$conf apt-cache show --no-all-versions ipxe 2>/dev/null | sed -n 's/^Version: //p' | head -1)
    [ -n "$v" ] || { echo "ipxe_arm64_efi: trixie's apt lists know no ipxe (APT_CONFIG=$conf apt-get update)" >&2; exit 1; }
    deb=ipxe_${v//:/%3a}_all.deb
    dir=$cache/x/${deb%.deb}
    if [ ! -f "$dir/.extracted" ]; then
      if [ ! -s "$cache/$deb" ]; then
        (cd "$cache" && APT_CONFIG=$conf apt-get download -q "ipxe=$v" >/dev/null 2>&1) ||
          { echo "ipxe_arm64_efi: apt-get download ipxe=$v (trixie) failed" >&2; exit 1; }
      fi
      rm -rf "$dir"; mkdir -p "$dir"
      dpkg-deb -x "$cache/$deb" "$dir"
      touch "$dir/.extracted"
    fi
    [ -f "$dir/usr/lib/ipxe/ipxe-arm64.efi" ] || { echo "ipxe_arm64_efi: $deb has no usr/lib/ipxe/ipxe-arm64.efi" >&2; exit 1; }
    echo "$dir/usr/lib/ipxe/ipxe-arm64.efi"
  )
}
