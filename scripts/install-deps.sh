#!/usr/bin/env bash
# Installs every build, test and demo dependency of airfactory from Debian's
# package archive. Non-interactive and idempotent: when everything is already
# present it runs dpkg-query once and exits (well under a second). `make check`
# and `make run` run it first; as root it calls apt-get directly, otherwise
# through sudo.
set -euo pipefail

# Build: the libraries on the design card, plus the tools to compile and fuzz.
build_packages=(
  build-essential pkg-config clang llvm
  clang-format   # make format; scripts/check-format (the style is fitted to version 14)
  help2man       # make man: the manual pages, from the programs' --help (scripts/gen-man)
  libarchive-dev liblzma-dev libssl-dev libyaml-dev libsqlite3-dev libzstd-dev
  libsquashfs-dev libisofs-dev zlib1g-dev
  libcurl4-openssl-dev   # airfactory pull (registry client); linked into airfactory only
)
# Tools the builders call, as Talos' imager does.
builder_tools=(
  xfsprogs e2fsprogs mtools dosfstools grub-common grub-pc-bin grub-efi-amd64-bin grub-efi-arm64-bin
  qemu-utils kmod
)
# Fixture generation and tests: outside validators and real clients.
test_packages=(
  python3 openssl sqlite3 curl socat cpio zstd xz-utils squashfs-tools gdisk fdisk
  busybox-static systemd-boot-efi xorriso qemu-system-x86 qemu-system-arm ovmf ipxe-qemu
  qemu-efi-aarch64   # AAVMF, the arm64 UEFI firmware of tests/boot/arm64.sh
  skopeo umoci containerd python3-pefile python3-yaml sbsigntool binutils file jq lld
  debian-archive-keyring attr
  systemd   # systemd-analyze verify of contrib/systemd (tests/integration/contrib.sh)
  strace    # which parts a resumed unpack opens (tests/integration/bundle_split.sh)
)
# Benchmarks (bench/serve.sh): load generator and the baseline web server; gnuplot draws the
# per-benchmark PNGs of bench/results/ (bench/run.sh skips plotting when it is missing).
bench_packages=(wrk nginx-light gnuplot-nox)
# The reference registry the server is compared with (tests/integration/serve_distribution.sh).
test_packages+=(docker-registry)
# The web UI's browser test (tests/integration/serve_browser.sh): Debian's headless Chromium,
# driven by puppeteer-core with axe-core (npm packages the test installs into build/node-ui).
test_packages+=(chromium)
# Packaging (make deb, make image; tests/integration/package_*.sh): debhelper builds the .deb,
# lintian checks it.
build_packages+=(debhelper fakeroot lintian)
test_packages+=(groff-base bsdextrautils)   # package_deb.sh renders the man pages (groff, col)
# Node.js runs @sigstore/verify, an independent cosign verifier; the machine
# image may already carry its own Node.js, which Debian's npm conflicts with.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  test_packages+=(nodejs npm)
fi
# Fixture inputs for arm64 (kernel, busybox, systemd-boot stub) come from
# Debian's arm64 archive; dpkg needs the foreign architecture to download them.
foreign_arch=arm64

want=("${build_packages[@]}" "${builder_tools[@]}" "${test_packages[@]}" "${bench_packages[@]}")

# one dpkg-query for every package (one call per package took seconds); a package dpkg has never
# heard of is not printed at all, so "installed" is looked up, never "missing"
declare -A installed=()
while read -r name status; do
  [ "$status" = installed ] && installed[$name]=1
done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${want[@]}" 2>/dev/null || true)
missing=()
for p in "${want[@]}"; do
  [ -n "${installed[$p]:-}" ] || missing+=("$p")
done

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

need_update=0
if ! dpkg --print-foreign-architectures | grep -qx "$foreign_arch"; then
  "${sudo_cmd[@]}" dpkg --add-architecture "$foreign_arch"
  need_update=1
fi

if [ ${#missing[@]} -gt 0 ] || [ $need_update -eq 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi
echo "install-deps: all dependencies present"
