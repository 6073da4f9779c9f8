#!/usr/bin/env bash
# `airfactory build` is deterministic whatever the parallelism: the same manifest and fixtures,
# built into different targets with fresh stores, with -j 1, -j 4 and -j 2 on a warm store, give a
# byte-identical index.db (cmp) and index.db.sig (RFC 6979 signatures), identical bundle
# directories (diff -r), the same blob set and the same order of asset events (assets are
# committed in plan order by one thread, whichever worker finishes first). The manifest is small
# (one schematic with extensions, one version, amd64; kernel, initramfs, cmdline, UKI, ISO) but
# has every dependency the parallel scheduler must respect: four assets wait for one initramfs,
# which waits for three flattened extensions and the extracted imager.
source "$(dirname "$0")/../lib.sh"
need_fixtures imager-v1.11.3.oci.tar || exit 1
S=$(scratch)
FX=$FIXTURES
export SOURCE_DATE_EPOCH=1700000000

cat >"$S/manifest.yaml" <<YAML
schematics:
  - name: demo
    schematic:
      customization:
        extraKernelArgs: [console=ttyS0]
        systemExtensions:
          officialExtensions: [siderolabs/hello-world-service, siderolabs/test-firmware, siderolabs/intel-ucode]
versions: [v1.11.3]
architectures: [amd64]
outputs: [kernel, initramfs.xz, cmdline-metal, metal-uki.efi, metal.iso]
sources:
  - {role: imager, path: $FX/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}
  - {role: extensions, path: $FX/extensions-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/extensions:v1.11.3}
  - {role: extension, path: $FX/hello-world-service-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/hello-world-service:v1.11.3}
  - {role: extension, path: $FX/test-firmware-20250101.oci.tar, reference: ghcr.io/siderolabs/test-firmware:20250101}
  - {role: extension, path: $FX/intel-ucode-20250812.oci.tar, reference: ghcr.io/siderolabs/intel-ucode:20250812}
trust:
  default: {keys: [$ROOT/tests/keys/cosign.pub]}
signing_key: $S/bundle.key
output: $S/unused
YAML

check "keygen" "$AIRFACTORY" keygen -o "$S/bundle"

build() { # NAME STORE JOBS: build into $S/NAME, NDJSON events in $S/NAME.events
  "$AIRFACTORY" build "$S/manifest.yaml" -o "$S/$1" --store "$S/$2" -j "$3" --json 2>"$S/$1.events"
}
asset_events() { # the asset events' paths, in the order they were reported
  python3 -c '
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"].startswith("asset_"):
        print(e["event"], e["path"], e["index"], e["total"])' "$1"
}

check "build 1: -j 1, fresh store" build one store1 1
check "build 2: -j 4, fresh store" build two store2 4
check "build 3: -j 2, the first build's store (extracted inputs cached)" build three store1 2
check "build 1 verifies (--full)" "$AIRFACTORY" verify "$S/one" --key "$S/bundle.pub" --full
check "build 2 verifies (--full)" "$AIRFACTORY" verify "$S/two" --key "$S/bundle.pub" --full

check "index.db: -j 1 and -j 4 (fresh stores) are byte-identical" cmp "$S/one/index.db" "$S/two/index.db"
check "index.db: -j 1 and -j 2 (warm store) are byte-identical" cmp "$S/one/index.db" "$S/three/index.db"
check "index.json is identical" cmp "$S/one/index.json" "$S/two/index.json"
# signatures are deterministic ECDSA (RFC 6979), so the signed bundle is identical too
check "index.db.sig: -j 1 and -j 4 are byte-identical" cmp "$S/one/index.db.sig" "$S/two/index.db.sig"
check "diff -r: the whole bundles of -j 1 and -j 4 are identical" diff -r "$S/one" "$S/two"
check "diff -r: the whole bundles of -j 1 and -j 2 (warm store) are identical" diff -r "$S/one" "$S/three"
blobs1=$(cd "$S/one/blobs/sha256" && ls | sort)
check_eq "blob sets of -j 1 and -j 4 are identical" "$(cd "$S/two/blobs/sha256" && ls | sort)" "$blobs1"
check_eq "blob sets of -j 1 and -j 2 are identical" "$(cd "$S/three/blobs/sha256" && ls | sort)" "$blobs1"
check "the blob set is not empty (kernel, initramfs, cmdline, UKI, ISO at least)" \
  test "$(echo "$blobs1" | wc -l)" -ge 5
assets=$(sqlite3 "$S/one/index.db" "SELECT path FROM assets ORDER BY path" | tr '\n' ' ')
check_eq "the bundle lists the five assets" "$assets" \
  "cmdline-metal-amd64 initramfs-amd64.xz kernel-amd64 metal-amd64-uki.efi metal-amd64.iso "

events1=$(asset_events "$S/one.events")
check_eq "asset events come in plan order with -j 4 too" "$(asset_events "$S/two.events")" "$events1"
check_contains "asset events are numbered in plan order" "$(echo "$events1" | head -1)" "asset_built kernel-amd64 1 5"
check_contains "the ISO is reported last" "$(echo "$events1" | tail -1)" "asset_built metal-amd64.iso 5 5"
check_eq "every built asset reports its bytes" \
  "$(grep -c '"event":"asset_built".*"bytes":[1-9]' "$S/two.events")" 5

# a no-op rerun into the same target reuses all five and changes nothing
cp "$S/two/index.db" "$S/two.index.db.before"
check "no-op rerun with -j 4" build two store2 4
check_eq "no-op rerun reuses every asset" "$(grep -c '"event":"asset_reused"' "$S/two.events")" 5
check "no-op rerun: index.db unchanged" cmp "$S/two/index.db" "$S/two.index.db.before"

# ---- installer (and cmdline) assets, built in worker threads, committed in plan order ----
# Two arches of installer-<arch>.tar plus cmdline-metal: -j 1 and -j 4 (fresh stores) give the same
# assets, the same per-arch manifests, configs and layers, the same multi-arch index and tags.
# The installer's cosign signature is deterministic ECDSA (RFC 6979) like the bundle's, so the
# whole bundles must be byte-identical, signatures included.
cat >"$S/installer.yaml" <<YAML
schematics:
  - name: demo
    schematic:
      customization:
        extraKernelArgs: [console=ttyS0]
versions: [v1.11.3]
architectures: [amd64, arm64]
outputs: [cmdline-metal, installer.tar]
sources:
  - {role: imager, path: $FX/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}
  - {role: installer-base, path: $FX/installer-base-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/installer-base:v1.11.3}
trust:
  default: {keys: [$ROOT/tests/keys/cosign.pub]}
signing_key: $S/bundle.key
output: $S/unused
YAML
ibuild() { # NAME STORE JOBS
  "$AIRFACTORY" build "$S/installer.yaml" -o "$S/$1" --store "$S/$2" -j "$3" --json 2>"$S/$1.events"
}
check "installer build: -j 1, fresh store" ibuild ione istore1 1
check "installer build: -j 4, fresh store" ibuild ifour istore4 4
check "installer build -j 4 verifies (--full)" "$AIRFACTORY" verify "$S/ifour" --key "$S/bundle.pub" --full
rows() { sqlite3 "$1" "SELECT path, digest, size, media_type FROM assets ORDER BY path"; }
check_eq "installer assets: -j 4 rows equal -j 1's" "$(rows "$S/ifour/index.db")" "$(rows "$S/ione/index.db")"
check_eq "the four assets are listed" "$(sqlite3 "$S/ione/index.db" "SELECT path FROM assets ORDER BY path" | tr '\n' ' ')" \
  "cmdline-metal-amd64 cmdline-metal-arm64 installer-amd64.tar installer-arm64.tar "
repo=$(sqlite3 "$S/ione/index.db" "SELECT repository FROM images WHERE tag='v1.11.3'")
check_contains "the installer is tagged installer/<id>:v1.11.3" "$repo" "installer/"
# the per-arch manifests and their layers, read from each bundle's own index blob
image_digests() { # BUNDLE: index digest, then per arch: manifest digest, config digest, layer digests
  local b=$1 index
  index=$(sqlite3 "$b/index.db" "SELECT digest FROM images WHERE repository='$repo' AND tag='v1.11.3'")
  echo "index $index"
  for m in $(jq -r '.manifests[] | .platform.architecture + "=" + .digest' "$b/blobs/sha256/${index#sha256:}"); do
    local d=${m#*=}
    echo "${m%%=*} manifest $d config $(jq -r .config.digest "$b/blobs/sha256/${d#sha256:}")" \
      "layers $(jq -r '[.layers[].digest] | join(",")' "$b/blobs/sha256/${d#sha256:}")"
  done
}
digests1=$(image_digests "$S/ione")
check_eq "installer index, manifests, configs and layers: -j 4 equal -j 1's" "$(image_digests "$S/ifour")" "$digests1"
check_eq "the index has both arches, two layers each" "$(grep -c 'layers sha256:[0-9a-f]*,sha256:' <<<"$digests1")" 2
check_eq "one signature tag per build" "$(sqlite3 "$S/ione/index.db" "SELECT count(*) FROM images WHERE tag LIKE '%.sig'")" 1
check "installer index.db: -j 4 and -j 1 are byte-identical (cosign signatures included)" \
  cmp "$S/ifour/index.db" "$S/ione/index.db"
check "installer bundles: diff -r of -j 4 and -j 1 finds nothing" diff -r "$S/ifour" "$S/ione"
check_eq "asset events come in plan order with -j 4 (installers too)" "$(asset_events "$S/ifour.events")" \
  "$(asset_events "$S/ione.events")"
check_eq "every installer asset reports its bytes" \
  "$(grep -c '"event":"asset_built".*"path":"installer-[a-z0-9]*.tar".*"bytes":[1-9]' "$S/ifour.events")" 2
# a rerun into the same target reuses the installers by cache key (installer_asset_reused recovers
# their image blobs from the archives) and gives the same registry rows
check "installer no-op rerun with -j 4" ibuild ifour istore4 4
check_eq "the rerun reuses all four assets" "$(grep -c '"event":"asset_reused"' "$S/ifour.events")" 4
check_eq "the rerun's index, manifests and layers are unchanged" "$(image_digests "$S/ifour")" "$digests1"
check "the rerun's index.db is byte-identical to the -j 1 build's" cmp "$S/ifour/index.db" "$S/ione/index.db"
check "the rerun verifies (--full)" "$AIRFACTORY" verify "$S/ifour" --key "$S/bundle.pub" --full
