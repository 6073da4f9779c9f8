#!/usr/bin/env bash
# hostile_sources.sh — nothing of the build host ever reaches an asset. Every hostile fixture
# (scripts/fixtures/hostile.py: validly signed images whose firmware, microcode, modules, rootfs,
# manifest, catalog, kernel, stubs, GRUB modules or talosctl files are symlinks, absolute or
# `../`-climbing, to files of the build host) is built by `airfactory build`:
#   - the host files are planted first: a random secret, and the bundle's OWN signing key (the
#     manifest signs with /tmp/airfactory-hostile-host/bundle.key, the file the links name);
#   - a hostile case ends with ONE line naming the image, the link and its target, exit status
#     non-zero, and no bundle;
#   - an in-image case (links Talos resolves inside the image) succeeds, and one build of all of
#     them together (kernel, initramfs, cmdline, UKI, ISO, installer, disk image, talosctl) is
#     unpacked all the way down by asset_scan.py (xz/zstd/gzip, cpio, squashfs via unsquashfs, ISO
#     via xorriso, FAT via mtools, GPT partitions via sgdisk, installer tar layers): the secret's
#     and the key's bytes are nowhere, and the image's own bytes the links lead to ARE found in
#     every asset that carries the initramfs (the scan can see that deep: a test that cannot fail
#     is no test);
#   - finally the whole store, work directories and outputs are grepped for the secret.
# Takes about 3 minutes on 2 cores (most of it the unpacking scan of the disk image and ISO).
source "$(dirname "$0")/../lib.sh"
S=$(scratch)
FX=$FIXTURES
HFX=$FX/hostile
if [ ! -f "$HFX/imager.oci.tar" ] || [ ! -f "$FX/imager-v1.11.3.oci.tar" ]; then
  fail "hostile fixtures present" "run scripts/make-fixtures first ($HFX)"; exit 1
fi
for tool in jq xorriso mcopy sgdisk unsquashfs zstd qemu-img depmod; do
  command -v "$tool" >/dev/null || { fail "tool $tool" "not installed (scripts/install-deps.sh)"; exit 1; }
done
q() { jq -r "$@" "$FX/fixtures.json"; }

# The links name this fixed directory (it is in the signed fixtures). Two runs of this suite wait
# for each other; the directory is removed at exit.
HOST=/tmp/airfactory-hostile-host
exec 8>"$HOST.lock"
if ! flock -w 900 8; then fail "lock $HOST.lock" "another run held it for 15 minutes"; exit 1; fi
trap '_scratch_cleanup; rm -rf "$HOST"' EXIT
rm -rf "$HOST" && mkdir -p "$HOST" && chmod 700 "$HOST"
printf 'AIRFACTORY-HOSTILE-SECRET-%s\n' "$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" >"$HOST/secret"
check "keygen: the bundle key the links point at" "$AIRFACTORY" keygen -o "$HOST/bundle"
[ -f "$HOST/bundle.key" ] || { fail "bundle key" "keygen wrote no $HOST/bundle.key"; exit 1; }

IMAGER="{role: imager, path: $FX/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}"
CATALOG="{role: extensions, path: $HFX/extensions-catalog.oci.tar, reference: ghcr.io/siderolabs/extensions:catalog, version: v1.11.3}"
INSTALLER="{role: installer-base, path: $FX/installer-base-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/installer-base:v1.11.3}"

manifest() { # FILE EXTENSIONS OUTPUTS SOURCE... : a one-schematic manifest signed with the planted key
  local file=$1 exts=$2 outputs=$3; shift 3
  {
    echo "schematics:"
    echo "  - {name: hostile, schematic: {customization: {systemExtensions: {officialExtensions: [$exts]}}}}"
    echo "versions: [v1.11.3]"
    echo "architectures: [amd64]"
    echo "outputs: [$outputs]"
    echo "sources:"
    for src in "$@"; do echo "  - $src"; done
    echo "trust: {default: {keys: [$ROOT/tests/keys/cosign.pub]}}"
    echo "signing_key: $HOST/bundle.key"
    echo "output: $S/unused"
  } >"$file"
}

STORE=$S/store  # shared: each source is imported (and its signature verified) once
build() { # NAME MANIFEST: build into $S/out-NAME; stderr in $S/NAME.err
  "$AIRFACTORY" build "$2" -o "$S/out-$1" --store "$STORE" -j 2 >"$S/$1.out" 2>"$S/$1.err"
}

# ---------------------------------------------------------------- every hostile case fails cleanly
n_cases=0
while IFS=$'\t' read -r kind as_role reference file tag expect contains; do
  [ "$expect" = error ] || continue
  n_cases=$((n_cases + 1))
  src="{role: $as_role, path: $FX/$file, reference: $reference, version: v1.11.3}"
  case $as_role in
    extension)
      name=$(q --arg k "$kind" '.fixtures[] | select(.hostile.kind == $k) | .hostile.catalog_name')
      manifest "$S/$kind.yaml" "$name" "initramfs.xz" "$IMAGER" "$CATALOG" "$src" ;;
    extensions)
      manifest "$S/$kind.yaml" "siderolabs/links-in-tree" "initramfs.xz" "$IMAGER" "$src" \
        "{role: extension, path: $HFX/extensions.oci.tar, reference: ghcr.io/siderolabs/links-in-tree:links-in-tree}" ;;
    talosctl-all)
      manifest "$S/$kind.yaml" "" "kernel" "$IMAGER" "$src" ;;
    imager)
      manifest "$S/$kind.yaml" "" "kernel, initramfs.xz, metal-uki.efi, metal.iso" "$src" ;;
  esac
  if build "$kind" "$S/$kind.yaml"; then
    fail "$kind: the build fails" "it succeeded"
    continue
  fi
  err=$(grep '^airfactory: ' "$S/$kind.err")  # the other lines are progress ("verified ...")
  check_eq "$kind: the build ends with ONE error line" "$(echo "$err" | wc -l) $(tail -1 "$S/$kind.err" | head -c 12)" \
    "1 airfactory: "
  check_contains "$kind: the error names the image" "$err" "$tag"
  ok=1
  IFS='|' read -ra needles <<<"$contains"
  for n in "${needles[@]}"; do case $err in *"$n"*) ;; *) ok=0; fail "$kind: the error names the link and target" "'$n' not in: $err" ;; esac; done
  [ $ok = 1 ] && pass "$kind: the error names the link and its target ($(echo "${needles[0]}" | head -c 60))"
  case $err in
    *AIRFACTORY-HOSTILE-SECRET*|*PRIVATE\ KEY*) fail "$kind: the error never echoes the host file" "$err" ;;
    *) pass "$kind: the error never echoes the host file" ;;
  esac
  check "$kind: no bundle was written" test ! -e "$S/out-$kind"
done < <(q '.fixtures[] | select(.role == "hostile") |
             [.hostile.kind, .hostile.as_role, .reference, .path, .tag, .hostile.expect,
              (.hostile.error_contains | join("|"))] | @tsv')
check "at least 18 hostile cases were built ($n_cases)" test "$n_cases" -ge 18

# ---------------------------------------------------------------- in-image links: one full build
manifest "$S/in-tree.yaml" "siderolabs/links-in-tree" \
  "kernel, initramfs.xz, cmdline-metal, metal-uki.efi, metal.iso, installer.tar, metal.raw.zst" \
  "{role: imager, path: $HFX/imager.oci.tar, reference: ghcr.io/siderolabs/imager:links-in-tree, version: v1.11.3}" \
  "$CATALOG" "$INSTALLER" \
  "{role: extension, path: $HFX/extensions.oci.tar, reference: ghcr.io/siderolabs/links-in-tree:links-in-tree}" \
  "{role: talosctl-all, path: $HFX/talosctl-all.oci.tar, reference: ghcr.io/siderolabs/talosctl-all:links-in-tree, version: v1.11.3}"
if build in-tree "$S/in-tree.yaml"; then
  pass "in-image links: the build succeeds"
else
  fail "in-image links: the build succeeds" "$(tail -3 "$S/in-tree.err")"
fi
B=$S/out-in-tree
check "in-image links: the bundle verifies (--full)" "$AIRFACTORY" verify "$B" --key "$HOST/bundle.pub" --full
asset() { sqlite3 "$B/index.db" "SELECT 'blobs/sha256/' || substr(digest, 8) FROM assets WHERE path = '$1'"; }
kernel_fixture=$(q '.fixtures[] | select(.role == "imager" and .version == "v1.11.3") | .boot.assets.amd64.vmlinuz')
check "in-image links: the kernel is the in-image file vmlinuz links to" cmp "$B/$(asset kernel-amd64)" "$FX/$kernel_fixture"

# needles: the host's files (must be absent) and the bytes in-image links lead to (must be found)
printf 'AIRFACTORY-IN-TREE-FIRMWARE\n' >"$S/fw.needle"
printf 'AIRFACTORY-IN-TREE-MICROCODE' >"$S/ucode.needle"
printf 'AIRFACTORY-EXTENSION-OWN-ETC-SHADOW\n' >"$S/shadow.needle"
printf 'AIRFACTORY-IN-TREE-GRUB-FONT\n' >"$S/grub.needle"
printf 'AIRFACTORY-IN-TREE-TALOSCTL\n' >"$S/talosctl.needle"
scan() { # ASSET-PATH...: asset_scan over the bundle's blobs of those assets
  local paths=() a
  for a in "$@"; do paths+=("$B/$(asset "$a")"); done
  python3 "$ROOT/tests/integration/asset_scan.py" --needle secret="$HOST/secret" --needle bundle.key="$HOST/bundle.key" \
    --needle firmware="$S/fw.needle" --needle microcode="$S/ucode.needle" --needle ext-shadow="$S/shadow.needle" \
    --needle grub="$S/grub.needle" --needle talosctl="$S/talosctl.needle" "${paths[@]}"
}
for a in initramfs-amd64.xz metal-amd64-uki.efi metal-amd64.iso installer-amd64.tar metal-amd64.raw.zst; do
  out=$(scan "$a" 2>&1)
  summary=$(echo "$out" | tail -1)
  case $out in *"HIT secret"*|*"HIT bundle.key"*) fail "$a: no byte of a host file ($summary)" "$(echo "$out" | grep 'HIT \(secret\|bundle\)' | head -3)" ;;
    *"scanned "*) pass "$a: no byte of the secret or the bundle key, unpacked all the way ($summary)" ;;
    *) fail "$a: scanned" "$(echo "$out" | tail -3)" ;; esac
  for n in firmware microcode ext-shadow; do
    check_contains "$a: carries the in-image bytes its links lead to ($n)" "$out" "HIT $n "
  done
done
# The imager's usr/lib/grub/i386-pc/airfactory-marker{,-abs}.lst are in-image links (to
# ../fonts/marker.pf2): the build above succeeding means they were resolved inside the image
# (grub_dir_check refuses any link left). The ISO no longer carries them: it takes what
# grub-mkrescue takes of a platform directory (*.mod and GRUB's own .lst lists, iso.c), which
# these names are not; a fixture link named like a module would bring the positive check back.
out=$(scan metal-amd64.iso 2>&1)
case $out in
  *"HIT grub "*) fail "metal-amd64.iso: no GRUB file grub-mkrescue would not copy (the marker .lst links)" \
    "$(echo "$out" | grep 'HIT grub' | head -3)" ;;
  *"scanned "*) pass "metal-amd64.iso: no GRUB file grub-mkrescue would not copy (the marker .lst links)" ;;
  *) fail "metal-amd64.iso: scanned" "$(echo "$out" | tail -3)" ;;
esac
talosctl_blobs=$(sqlite3 "$B/index.db" "SELECT DISTINCT 'blobs/sha256/' || substr(digest, 8) FROM talosctl" 2>/dev/null)
if [ -n "$talosctl_blobs" ]; then
  out=$(cd "$B" && python3 "$ROOT/tests/integration/asset_scan.py" --needle secret="$HOST/secret" \
    --needle bundle.key="$HOST/bundle.key" --needle talosctl="$S/talosctl.needle" $talosctl_blobs 2>&1)
  check_contains "talosctl: in-image links serve the image's own file" "$out" "HIT talosctl "
  case $out in *"HIT secret"*|*"HIT bundle.key"*) fail "talosctl: no byte of a host file" "$out" ;;
    *) pass "talosctl: no byte of a host file" ;; esac
else
  fail "talosctl: the bundle lists talosctl files" "no rows"
fi

# ---------------------------------------------------------------- nothing anywhere on disk
hits=$(grep -rlF --binary-files=text -f "$HOST/secret" "$S" 2>/dev/null | grep -v "^$S/[^/]*\.\(err\|out\|yaml\)$" | head -5)
check_eq "the secret is in no file of the store, work directories or outputs" "$hits" ""
