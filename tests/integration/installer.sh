#!/usr/bin/env bash
# Installer images end to end, witnessed by outside tools: `airfactory build` of the v1.11.3
# fixtures (amd64 + arm64 installers; the C generator in test_installer builds the same for the
# determinism check), then skopeo reads the bundle as an OCI layout, umoci unpacks the copy (it
# checks every diff_id), skopeo reads installer-amd64.tar as a docker-archive, openssl verifies the
# cosign signature of the index over the exact payload bytes.
source "$(dirname "$0")/../lib.sh"
GEN=$BUILD/tests/test_installer
S=$(scratch)
cd "$ROOT" || exit 1
export SOURCE_DATE_EPOCH=1735689600

for tool in skopeo umoci openssl jq objdump objcopy sqlite3; do
  command -v $tool >/dev/null || { skip "installer.sh" "$tool not installed (scripts/install-deps.sh)"; exit 0; }
done

$AIRFACTORY keygen -o "$S/b" >/dev/null
cat >"$S/manifest.yaml" <<EOF
schematics:
  - name: test
    schematic:
      customization:
        extraKernelArgs: [console=ttyS0, talos.dashboard.disabled=1]
versions: [v1.11.3]
architectures: [amd64, arm64]
outputs: [installer.tar]
sources:
  - {role: imager, path: $FIXTURES/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}
  - {role: installer-base, path: $FIXTURES/installer-base-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/installer-base:v1.11.3}
trust:
  default:
    keys: [$ROOT/tests/keys/cosign.pub]
signing_key: $S/b.key
output: $S/b
EOF
out=$($AIRFACTORY build "$S/manifest.yaml" 2>&1)
check_eq "airfactory build of installer-{amd64,arm64}.tar exits 0" "$?" 0
check_contains "it built installer-arm64.tar" "$out" "installer-arm64.tar"
B=$S/b
ID=$(sqlite3 "$B/index.db" "SELECT id FROM schematics")
REPO=installer/$ID
check "the bundle verifies" $AIRFACTORY verify "$B" --key "$B.pub"

# ---- the registry image: a multi-arch OCI index in the bundle's OCI layout ----
raw=$(skopeo inspect --raw "oci:$B:$REPO:v1.11.3")
check_eq "tag is an OCI index" "$(jq -r .mediaType <<<"$raw")" "application/vnd.oci.image.index.v1+json"
check_eq "index platforms are linux/amd64, linux/arm64" \
  "$(jq -r '[.manifests[].platform | .os + "/" + .architecture] | join(",")' <<<"$raw")" "linux/amd64,linux/arm64"
INDEX=sha256:$(printf '%s' "$raw" | sha256sum | cut -d' ' -f1)
check_eq "index.db tags the index" \
  "$(sqlite3 "$B/index.db" "SELECT digest FROM images WHERE repository='$REPO' AND tag='v1.11.3'")" "$INDEX"

info=$(skopeo --override-arch amd64 inspect "oci:$B:$REPO:v1.11.3")
check_eq "amd64 image architecture" "$(jq -r .Architecture <<<"$info")" amd64
check_eq "two layers: installer-base + artifacts" "$(jq -r '.Layers | length' <<<"$info")" 2
check_eq "first layer is installer-base's" "$(jq -r '.Layers[0]' <<<"$info")" \
  "$(jq -r '.fixtures[] | select(.name=="installer-base" and .version=="v1.11.3") | .platforms[0].layers[0].digest' "$FIXTURES/fixtures.json")"
check_eq "created = SOURCE_DATE_EPOCH" "$(jq -r .Created <<<"$info")" "2025-01-01T00:00:00Z"
check_eq "base labels are kept" "$(jq -r '.Labels["alpha.talos.dev/version"]' <<<"$info")" v1.11.3

# ---- copy out and unpack: umoci checks each layer against the config's diff_ids ----
check "skopeo copy of the amd64 image" skopeo copy -q --override-arch amd64 "oci:$B:$REPO:v1.11.3" "oci:$S/copy:amd64"
check "skopeo copy of the arm64 image" skopeo copy -q --override-arch arm64 "oci:$B:$REPO:v1.11.3" "oci:$S/copy:arm64"
check "umoci unpacks amd64 (diff_ids match)" umoci unpack --rootless --image "$S/copy:amd64" "$S/amd64"
check "umoci unpacks arm64 (diff_ids match)" umoci unpack --rootless --image "$S/copy:arm64" "$S/arm64"
R=$S/amd64/rootfs
check "usr/install/amd64/vmlinuz.efi is there" test -s "$R/usr/install/amd64/vmlinuz.efi"
check "usr/bin/installer from installer-base is there" test -x "$R/usr/bin/installer"
check_eq "vmlinuz.efi is a PE file" "$(head -c 2 "$R/usr/install/amd64/vmlinuz.efi")" "MZ"
sections=$(objdump -h "$R/usr/install/amd64/vmlinuz.efi" 2>&1)
for s in .osrel .cmdline .linux .initrd .profile; do
  check_contains "UKI has section $s" "$sections" "$s"
done
objcopy -O binary --only-section=.cmdline "$R/usr/install/amd64/vmlinuz.efi" "$S/cmdline"
cmdline=$(tr -d '\0' <"$S/cmdline")
check_contains "UKI command line is metal's" "$cmdline" "talos.platform=metal "
check_contains "UKI command line has the schematic's extraKernelArgs" "$cmdline" " talos.dashboard.disabled=1"
check_eq "systemd-boot.efi is the imager's" \
  "$(sha256sum <"$R/usr/install/amd64/systemd-boot.efi")" \
  "$(sha256sum <"$FIXTURES/rootfs/imager-v1.11.3-amd64/usr/install/amd64/systemd-boot.efi")"
check "usr/install/arm64/vmlinuz.efi in the arm64 image" test -s "$S/arm64/rootfs/usr/install/arm64/vmlinuz.efi"
check_fails "no amd64 files in the arm64 image" test -e "$S/arm64/rootfs/usr/install/amd64"

# ---- installer-amd64.tar: the same image as a docker-archive ----
TAR=$(sqlite3 "$B/index.db" "SELECT digest FROM assets WHERE path='installer-amd64.tar'")
cp "$B/blobs/sha256/${TAR#sha256:}" "$S/installer-amd64.tar"
dinfo=$(skopeo inspect docker-archive:"$S/installer-amd64.tar")
check_eq "docker-archive architecture" "$(jq -r .Architecture <<<"$dinfo")" amd64
check_eq "docker-archive has two layers" "$(jq -r '.Layers | length' <<<"$dinfo")" 2
mj=$(tar -xOf "$S/installer-amd64.tar" manifest.json)
check_eq "manifest.json names the base installer" "$(jq -r '.[0].RepoTags[0]' <<<"$mj")" \
  "ghcr.io/siderolabs/installer-base:v1.11.3"
config=$(skopeo --override-arch amd64 inspect --config --raw "oci:$B:$REPO:v1.11.3" | sha256sum | cut -d' ' -f1)
check_eq "docker-archive config = registry image config" "$(jq -r '.[0].Config' <<<"$mj")" "sha256:$config"
check "skopeo copies the docker-archive" skopeo copy -q docker-archive:"$S/installer-amd64.tar" "oci:$S/fromtar:x"
check "umoci unpacks it" umoci unpack --rootless --image "$S/fromtar:x" "$S/fromtar-x"
check_eq "same vmlinuz.efi through both paths" "$(sha256sum <"$S/fromtar-x/rootfs/usr/install/amd64/vmlinuz.efi")" \
  "$(sha256sum <"$R/usr/install/amd64/vmlinuz.efi")"

# ---- cosign signature: sha256-<hex>.sig, checked with openssl over the stored payload ----
SIGTAG=sha256-${INDEX#sha256:}.sig
sig=$(skopeo inspect --raw "oci:$B:$REPO:$SIGTAG")
check_eq "signature layer media type" "$(jq -r '.layers[0].mediaType' <<<"$sig")" \
  "application/vnd.dev.cosign.simplesigning.v1+json"
PAYLOAD=$(jq -r '.layers[0].digest' <<<"$sig")
cp "$B/blobs/sha256/${PAYLOAD#sha256:}" "$S/payload"
jq -r '.layers[0].annotations["dev.cosignproject.cosign/signature"]' <<<"$sig" | base64 -d >"$S/sig.der"
check_eq "payload names the index digest" "$(jq -r '.critical.image["docker-manifest-digest"]' "$S/payload")" "$INDEX"
check_eq "payload type" "$(jq -r '.critical.type' "$S/payload")" "cosign container image signature"
check_contains "openssl verifies the signature with the bundle key" \
  "$(openssl dgst -sha256 -verify "$B.pub" -signature "$S/sig.der" "$S/payload" 2>&1)" "Verified OK"
sed 's/installer/xnstaller/' "$S/payload" >"$S/payload.bad"
check_fails "openssl rejects a changed payload" openssl dgst -sha256 -verify "$B.pub" -signature "$S/sig.der" "$S/payload.bad"
check_fails "openssl rejects another key" openssl dgst -sha256 -verify tests/keys/wrong.pub -signature "$S/sig.der" "$S/payload"

# ---- determinism: the same build driven by the C generator elsewhere gives the same bytes ----
ID2=$(FIXTURES=$FIXTURES "$GEN" make-bundle "$S/c" 2>/dev/null)
check_eq "same schematic" "$ID2" "$ID"
check_eq "same index digest" "$(sqlite3 "$S/c/index.db" "SELECT digest FROM images WHERE repository='$REPO' AND tag='v1.11.3'")" "$INDEX"
check_eq "same installer-amd64.tar" "$(sqlite3 "$S/c/index.db" "SELECT digest FROM assets WHERE path='installer-amd64.tar'")" "$TAR"
