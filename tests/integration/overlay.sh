#!/usr/bin/env bash
# overlay.sh — overlay (SBC) schematics as Image Factory builds them, against the sbc-test fixture
# (the real overlay layout; its installers are static ELFs answering the Go overlay SDK's protocol):
# the overlay image of the build host's arch is imported and verified, its installers/<name>
# get-options is run, the kernelArgs it prints land in the UKI's .cmdline (objcopy) after the
# platform's (read with pefile), while the cmdline asset stays without them (Image Factory builds it without the
# overlay). An installer that fails or floods its output fails the asset with a message naming the
# overlay and the step, and no bundle is written.
source "$(dirname "$0")/../lib.sh"
if ! have_landlock; then
  skip "overlay.sh" "this kernel has no Landlock, which overlay installers run under (src/imager/overlay.c)"
  exit 0
fi
S=$(scratch)
export SOURCE_DATE_EPOCH=1735689600
for tool in python3; do
  command -v $tool >/dev/null || { skip "overlay.sh" "$tool not installed (scripts/install-deps.sh)"; exit 0; }
done
if [ ! -f "$FIXTURES/sbc-test-v0.1.0.oci.tar" ] || [ ! -f "$FIXTURES/overlays-v1.11.3.oci.tar" ]; then
  fail overlay-fixtures "no sbc-test/overlays fixtures in $FIXTURES; run: bash scripts/make-fixtures"
  exit 0
fi
$AIRFACTORY keygen -o "$S/b" >/dev/null
manifest() {  # OVERLAY-NAME OVERLAYS-CATALOG OVERLAY-IMAGE OUTPUT-DIR [TRUST-OF-THE-OVERLAY]
  cat <<EOF
schematics:
  - name: board
    schematic:
      overlay:
        image: siderolabs/sbc-test
        name: $1
      customization:
        extraKernelArgs: [net.ifnames=0]
versions: [v1.11.3]
architectures: [arm64]
outputs: [metal-uki.efi, cmdline-metal, installer.tar]
sources:
  - {role: imager, path: $FIXTURES/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}
  - {role: installer-base, path: $FIXTURES/installer-base-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/installer-base:v1.11.3}
  - {role: overlays, path: $2, reference: ghcr.io/siderolabs/overlays:v1.11.3, trust: any}
  - {role: overlay, path: $3, reference: ghcr.io/siderolabs/sbc-test:v0.1.0, trust: any}
trust:
  default:
    keys: [$ROOT/tests/keys/cosign.pub]
  any:
    ${5:-keys: [$ROOT/tests/keys/cosign.pub]}
signing_key: $S/b.key
output: $4
EOF
}
manifest sbc_test "$FIXTURES/overlays-v1.11.3.oci.tar" "$FIXTURES/sbc-test-v0.1.0.oci.tar" "$S/out" >"$S/m.yaml"
out=$($AIRFACTORY build "$S/m.yaml" 2>&1); rc=$?
check_eq "build of an overlay schematic exits 0" "$rc" 0
[ "$rc" -eq 0 ] || echo "$out" | tail -5
ls_json=$($AIRFACTORY ls "$S/out" --json 2>/dev/null)
blob() {
  local d
  d=$(python3 -c 'import json,sys; print([a["digest"] for a in json.load(sys.stdin)["assets"] if a["path"]==sys.argv[1]][0])' "$1" <<<"$ls_json" 2>/dev/null) || return 1
  echo "$S/out/blobs/sha256/${d#sha256:}"
}
args="console=tty0 console=ttyAMA0,115200 sysctl.kernel.kexec_load_disabled=1 talos.dashboard.disabled=1"
if uki=$(blob metal-arm64-uki.efi); then
  c=$(/usr/bin/python3 -c 'import pefile,sys; pe=pefile.PE(sys.argv[1]); print([s.get_data()[:s.Misc_VirtualSize].rstrip(b"\0").decode() for s in pe.sections if s.Name.rstrip(b"\0")==b".cmdline"][0])' "$uki")
  check_contains "UKI .cmdline: platform, then the overlay's get-options kernelArgs" "$c" "talos.platform=metal $args "
  check_contains "UKI .cmdline: the schematic's extraKernelArgs still last" "$c" " net.ifnames=0"
else
  fail "metal-arm64-uki.efi in the bundle" "not listed by airfactory ls"
fi
if cl=$(blob cmdline-metal-arm64); then
  check_eq "the cmdline asset carries no overlay args (as Image Factory)" "$(grep -c 'ttyAMA0,115200' "$cl")" 0
else
  fail "cmdline-metal-arm64 in the bundle" "not listed by airfactory ls"
fi

# The installer image's third layer (Talos out.go): /overlay/artifacts from the arm64 overlay image,
# the board's installer as /overlay/installers/default, /overlay/extra-options. Read from the
# installer-arm64.tar docker archive with tar and jq, and through skopeo + umoci (diff_ids checked).
if arc=$(blob installer-arm64.tar); then
  mj=$(tar -xOf "$arc" manifest.json)
  check_eq "installer-arm64.tar: three layers (base, artifacts, overlay)" "$(jq -r '.[0].Layers | length' <<<"$mj")" 3
  last=$(jq -r '.[0].Layers[2]' <<<"$mj")
  tar -xOf "$arc" "$last" | tar -tzvf - >"$S/overlay-layer.txt" 2>&1
  l=$(cat "$S/overlay-layer.txt")
  check_contains "overlay layer: the default installer, executable" "$l" "-rwxr-xr-x 0/0"
  check_contains "overlay layer: overlay/installers/default" "$l" " overlay/installers/default"
  check_contains "overlay layer: the u-boot artifact" "$l" " overlay/artifacts/arm64/u-boot/sbc_test/u-boot.bin"
  check_contains "overlay layer: the artifacts directory itself" "$l" " overlay/artifacts/"
  check_contains "overlay layer: extra-options" "$l" " overlay/extra-options"
  tar -xOf "$arc" "$last" | tar -xzf - -C "$S" overlay/installers/default overlay/extra-options
  check_eq "the default installer is the arm64 image's installers/sbc_test" \
    "$(sha256sum <"$S/overlay/installers/default" | cut -d' ' -f1)" \
    "$(sha256sum <"$FIXTURES/rootfs/sbc-test-v0.1.0-arm64/installers/sbc_test" | cut -d' ' -f1)"
  check_eq "extra-options: the schematic has no overlay.options" "$(cat "$S/overlay/extra-options")" "{}"
  if command -v skopeo >/dev/null && command -v umoci >/dev/null; then
    ID=$(sqlite3 "$S/out/index.db" "SELECT id FROM schematics" 2>/dev/null)
    check "skopeo copy of the arm64 installer" skopeo copy -q --override-arch arm64 \
      "oci:$S/out:installer/$ID:v1.11.3" "oci:$S/copy:arm64"
    check "umoci unpacks it (diff_ids match)" umoci unpack --rootless --image "$S/copy:arm64" "$S/unpacked"
    check "the unpacked image has /overlay/installers/default" test -x "$S/unpacked/rootfs/overlay/installers/default"
  fi
else
  fail "installer-arm64.tar in the bundle" "not listed by airfactory ls"
fi

# Hostile installers, in an unsigned copy of the overlay (trusted as `insecure` here): one exits 1
# with a message, one floods stdout. Each fails the build naming the overlay and the step.
hostile_overlay "$S" "" "bad_fail=$(type -P false)" "bad_flood=$(type -P yes)"
check_eq "the hostile overlay and its catalog were written" "$?" 0
for board in bad_fail bad_flood; do
  manifest $board "$S/bad-overlays.oci.tar" "$S/bad-overlay.oci.tar" "$S/out-$board" "insecure: true" >"$S/m-$board.yaml"
  out=$($AIRFACTORY build "$S/m-$board.yaml" 2>&1); rc=$?
  check_eq "$board: the build fails (exit 2, bad input)" "$rc" 2
  check_contains "$board: the error names the overlay and the step" "$out" "overlay $board (ghcr.io/siderolabs/sbc-test:v0.1.0@sha256:"
  check_contains "$board: ... and the installer step" "$out" "/installers/$board get-options"
  check "$board: no bundle is written" test ! -e "$S/out-$board"
done
