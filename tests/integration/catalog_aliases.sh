#!/usr/bin/env bash
# catalog_aliases.sh — real extension catalogs as Image Factory reads them: a catalog holding only
# /image-digests (every catalog before Talos 1.7: descriptions.yaml came with 1.7) builds, and a
# schematic naming a renamed extension by its old name (siderolabs/i915-ucode) gets the one the
# catalog lists under the new name (siderolabs/i915), as image-factory's ExtensionNameAlias table
# (profiles/extension-aliases.yaml) says. The catalog is made here (unsigned, trusted as `insecure`)
# and lists the hello-world-service fixture's digest under the name siderolabs/i915; the
# initramfs is unpacked with initramfs-unpack.py (zstd + newc, independent of airfactory) and its
# extensions.yaml checked. An old name the catalog lacks entirely still fails, naming it.
source "$(dirname "$0")/../lib.sh"
S=$(scratch)
export SOURCE_DATE_EPOCH=1735689600
for tool in python3 zstd; do
  command -v $tool >/dev/null || { skip "catalog_aliases.sh" "$tool not installed (scripts/install-deps.sh)"; exit 0; }
done
need_fixtures imager-v1.11.3.oci.tar hello-world-service-v1.11.3.oci.tar || exit 1
hws=$(python3 -c 'import json,sys; print([f["digest"] for f in json.load(open(sys.argv[1]))["fixtures"] if f["file"]=="hello-world-service-v1.11.3.oci.tar"][0])' "$FIXTURES/fixtures.json")
# an extensions catalog with image-digests only, as ghcr.io/siderolabs/extensions:v1.6.x
oci_python "$S/catalog.oci.tar" "$hws" <<'PY'
out, digest = sys.argv[1], sys.argv[2]
tw = TarWriter(1735689600, "root", "root")
tw.add_file("image-digests", f"ghcr.io/siderolabs/i915:20250101-v1.11.3@{digest}\n".encode())
write_image(out, "v1.11.3", tw.finish())
PY
check_eq "the test catalog was written" "$?" 0
$AIRFACTORY keygen -o "$S/b" >/dev/null
manifest() {  # EXTENSION OUTPUT-DIR
  cat <<EOF
schematics:
  - name: old-name
    schematic:
      customization:
        systemExtensions:
          officialExtensions: [$1]
versions: [v1.11.3]
architectures: [amd64]
outputs: [initramfs-amd64.xz]
sources:
  - {role: imager, path: $FIXTURES/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}
  - {role: extensions, path: $S/catalog.oci.tar, reference: ghcr.io/siderolabs/extensions:v1.11.3, trust: lab}
  - {role: extension, path: $FIXTURES/hello-world-service-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/hello-world-service:v1.11.3}
trust:
  default:
    keys: [$ROOT/tests/keys/cosign.pub]
  lab:
    insecure: true
signing_key: $S/b.key
output: $2
EOF
}
manifest siderolabs/i915-ucode "$S/out" >"$S/m.yaml"
out=$($AIRFACTORY build "$S/m.yaml" 2>&1); rc=$?
check_eq "build with a catalog without descriptions.yaml and an old extension name exits 0" "$rc" 0
[ "$rc" -eq 0 ] || echo "$out" | tail -5
d=$($AIRFACTORY ls "$S/out" --json | python3 -c 'import json,sys; print([a["digest"] for a in json.load(sys.stdin)["assets"] if a["path"]=="initramfs-amd64.xz"][0])' 2>/dev/null)
if [ -n "$d" ]; then
  python3 tests/integration/initramfs-unpack.py "$S/out/blobs/sha256/${d#sha256:}" "$S/x" >"$S/x.list"
  y=$(cat "$S/x/extensions.yaml" 2>/dev/null)
  check_contains "extensions.yaml: the aliased extension is layer 0" "$y" "- image: 0.sqsh
      metadata:
        name: hello-world-service"
  check_contains "extensions.yaml: the schematic extension follows" "$y" "- image: 1.sqsh"
else
  fail "initramfs-amd64.xz in the bundle" "not listed by airfactory ls"
fi
# siderolabs/amdgpu-firmware aliases to siderolabs/amdgpu, which this catalog does not list
manifest siderolabs/amdgpu-firmware "$S/out2" >"$S/m2.yaml"
out=$($AIRFACTORY build "$S/m2.yaml" 2>&1); rc=$?
check_eq "an old name whose new name is missing too fails (exit 2, bad input)" "$rc" 2
check_contains "the error names the extension and the version" "$out" "extension siderolabs/amdgpu-firmware is not available for Talos v1.11.3"
check "nothing is written for the failed build" test ! -e "$S/out2"
