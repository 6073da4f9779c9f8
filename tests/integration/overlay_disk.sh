#!/usr/bin/env bash
# overlay_disk.sh — a disk image of an overlay schematic takes the board profile's bootloader, as
# Image Factory merges profiles/<name>.yaml into the profile (profile.go MergeOverlayProfile): the
# sbc-test fixture's profiles/sbc_test.yaml says `bootloader: grub`, so metal-arm64.raw.zst for
# v1.11.3 (whose default is sd-boot) gets the GRUB layout (EFI 100 MiB, BIOS, BOOT), read with
# sgdisk. (About a minute and a half under ASan: a real 8 GiB sparse disk with XFS and GRUB.)
source "$(dirname "$0")/../lib.sh"
S=$(scratch)
export SOURCE_DATE_EPOCH=1735689600
for tool in python3 sgdisk zstd; do
  command -v $tool >/dev/null || { skip "overlay_disk.sh" "$tool not installed (scripts/install-deps.sh)"; exit 0; }
done
if [ ! -f "$FIXTURES/sbc-test-v0.1.0.oci.tar" ]; then
  fail overlay-disk-fixtures "no sbc-test fixture in $FIXTURES; run: bash scripts/make-fixtures"
  exit 0
fi
$AIRFACTORY keygen -o "$S/b" >/dev/null
cat >"$S/m.yaml" <<EOF
schematics:
  - name: board
    schematic:
      overlay: {image: siderolabs/sbc-test, name: sbc_test}
versions: [v1.11.3]
architectures: [arm64]
outputs: [metal.raw.zst]
sources:
  - {role: imager, path: $FIXTURES/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}
  - {role: overlays, path: $FIXTURES/overlays-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/overlays:v1.11.3}
  - {role: overlay, path: $FIXTURES/sbc-test-v0.1.0.oci.tar, reference: ghcr.io/siderolabs/sbc-test:v0.1.0}
trust:
  default:
    keys: [$ROOT/tests/keys/cosign.pub]
signing_key: $S/b.key
output: $S/out
EOF
out=$($AIRFACTORY build -j 2 "$S/m.yaml" 2>&1); rc=$?
check_eq "build of an overlay disk image exits 0" "$rc" 0
[ "$rc" -eq 0 ] || echo "$out" | tail -5
ls_json=$($AIRFACTORY ls "$S/out" --json 2>/dev/null)
printf 'overlay:\n  image: siderolabs/sbc-test\n  name: sbc_test\n' >"$S/s.yaml"
ID=$($AIRFACTORY schematic id "$S/s.yaml")
ls_json=$($AIRFACTORY ls "$S/out" --json 2>/dev/null)
d=$(python3 -c 'import json,sys; print([a["digest"] for a in json.load(sys.stdin)["assets"] if a["path"]=="metal-arm64.raw.zst" and a.get("schematic")==sys.argv[1]][0])' "$ID" <<<"$ls_json" 2>/dev/null)
if [ -n "$d" ]; then
  zstd -qdc "$S/out/blobs/sha256/${d#sha256:}" >"$S/d.raw"
  p=$(sgdisk -p "$S/d.raw" 2>&1)
  check_contains "overlay profile bootloader grub: EFI 100 MiB (not sd-boot's 2101 MiB)" "$p" \
    "   1            2048          206847   100.0 MiB   EF00  EFI"
  check_contains "overlay profile bootloader grub: BIOS" "$p" "EF02  BIOS"
  check_contains "overlay profile bootloader grub: BOOT" "$p" "8300  BOOT"
  check_contains "sgdisk -v" "$(sgdisk -v "$S/d.raw" 2>&1)" "No problems found"
else
  fail "metal-arm64.raw.zst of schematic $ID in the bundle" "not listed"
fi
