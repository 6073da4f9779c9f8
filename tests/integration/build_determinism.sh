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
S=$(scratch)
FX=$FIXTURES
if [ ! -f "$FX/imager-v1.11.3.oci.tar" ]; then
  fail "fixtures present" "run scripts/make-fixtures first ($FX)"; exit 1
fi
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
