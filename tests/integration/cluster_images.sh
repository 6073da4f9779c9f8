#!/usr/bin/env bash
# cluster_images — the manifest's `images:` and `talos-images:` (docs/manifest.md "Cluster images"):
# each image is imported and verified like any source (trust policies apply, `insecure` recorded as
# such), stored in the bundle with its signatures and tagged in the registry under its upstream
# name; a layer two images share is stored once; `platforms:` keeps only those; bad input is a plan
# error naming the entry. Fixture images: scripts/fixtures/cluster.py (made here, seconds).
. "$(dirname "$0")/../lib.sh"
S=$(scratch)
/usr/bin/python3 "$ROOT/scripts/fixtures/cluster.py" "$S/fx" || { fail "cluster fixtures" "cluster.py failed"; exit 1; }
FX=$S/fx
j() { python3 -c "import json,sys; d=json.load(open('$FX/cluster.json')); print($1)"; }
"$AIRFACTORY" keygen -o "$S/bundle" >/dev/null 2>&1 || { fail "keygen" ""; exit 1; }
cat >"$S/m.yaml" <<YAML
schematics: [{name: v, schematic: {}}]
versions: [v1.11.3]
architectures: [amd64]
outputs: [kernel]
sources:
  - {role: imager, path: $FIXTURES/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}
images:
  - {reference: registry.k8s.io/pause:3.10, path: fx/pause-3.10.oci.tar}
  - {reference: 'busybox:1.36', path: fx/busybox-1.36.oci.tar, platforms: [linux/arm64]}
  - {reference: ghcr.io/siderolabs/flannel:v0.27.4, path: fx/flannel-v0.27.4.oci.tar, trust: lab}
  - {reference: registry.k8s.io/coredns/coredns:v1.12.4, path: fx/coredns-v1.12.4.oci.tar}
trust:
  default: {keys: [$ROOT/tests/keys/cosign.pub]}
  lab: {insecure: true}
signing_key: bundle.key
output: out
YAML
check "build with cluster images" "$AIRFACTORY" build "$S/m.yaml" -j 1
DB=$S/out/index.db
q() { sqlite3 "$DB" "$1"; }
check_eq "tag rows under the upstream names" "$(q "select repository||':'||tag||' '||digest from images where tag not like 'sha256-%' order by 1")" \
"docker.io/library/busybox:1.36 $(j 'd["images"][1]["digest"]')
ghcr.io/siderolabs/flannel:v0.27.4 $(j 'd["images"][2]["digest"]')
registry.k8s.io/coredns/coredns:v1.12.4 $(j 'd["images"][3]["digest"]')
registry.k8s.io/pause:3.10 $(j 'd["images"][0]["digest"]')"
sig=$(j 'sorted(d["images"][0]["signatures"].items())[0][0]')
check_eq "cosign .sig tags kept" "$(q "select digest from images where repository='registry.k8s.io/pause' and tag='$sig'")" \
  "$(j "d['images'][0]['signatures']['$sig']")"
check_eq "every signature of pause (index and both platforms)" "$(q "select count(*) from images where repository='registry.k8s.io/pause' and tag like '%.sig'")" "3"
check_eq "sources: the key policy verified pause" "$(q "select json_extract(receipt,'\$.method') from sources where reference='registry.k8s.io/pause:3.10' and platform='linux/amd64'")" "cosign-key"
check_eq "sources: insecure is recorded as such" "$(q "select distinct json_extract(receipt,'\$.method') from sources where reference like 'ghcr.io/siderolabs/flannel:%'")" "insecure"
check_eq "sources: role image" "$(q "select count(*) from sources where role='image'")" "7"
shared=$(j 'd["images"][0]["platforms"][0]["layers"][0]["digest"]')
check_eq "fixture: pause and busybox share their base layer" "$(j 'd["images"][1]["platforms"][0]["layers"][0]["digest"]')" "$shared"
check_eq "shared layer: one blob row, one file" "$(q "select count(*) from blobs where digest='$shared'"):$(ls "$S/out/blobs/sha256/" | grep -c "^${shared#sha256:}$")" "1:1"
check_eq "shared layer: servable from both repositories" "$(q "select group_concat(repository,' ') from (select repository from repository_blobs where digest='$shared' order by 1)")" \
  "docker.io/library/busybox registry.k8s.io/pause"
busybox_amd64=$(j 'd["images"][1]["platforms"][0]["digest"]')
busybox_arm64=$(j 'd["images"][1]["platforms"][1]["digest"]')
check_eq "platforms: [linux/arm64] keeps arm64" "$(q "select count(*) from repository_blobs where digest='$busybox_arm64'")" "1"
check_eq "platforms: [linux/arm64] leaves amd64 out" "$(q "select count(*) from blobs where digest='$busybox_amd64'")" "0"
check "bundle verifies" "$AIRFACTORY" verify "$S/out" --key "$S/bundle.pub"

# talos-images: the exact `talosctl images default` list (profiles/talos-images.yaml); plan checks
# the files, so a pull-less manifest names each missing one
cat >"$S/t.yaml" <<YAML
schematics: [{name: v, schematic: {}}]
versions: [v1.11.3]
architectures: [amd64]
outputs: [kernel]
sources:
  - {role: imager, path: $FIXTURES/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}
talos-images: {talos: v1.11.3, kubernetes: v1.34.1}
trust: {default: {keys: [$ROOT/tests/keys/cosign.pub]}}
signing_key: bundle.key
output: out2
YAML
out=$("$AIRFACTORY" plan "$S/t.yaml" 2>&1); rc=$?
check_eq "talos-images without files: plan exits 2" "$rc" "2"
check_contains "talos-images: first missing image named with its default path" "$out" \
  "t.yaml:7:15: missing source file $S/images/ghcr.io_siderolabs_flannel_v0.27.4.oci.tar (image ghcr.io/siderolabs/flannel:v0.27.4)"
sed -i 's/talos: v1.11.3, kubernetes/talos: v1.2.0, kubernetes/' "$S/t.yaml"
check_contains "talos-images: a release without data" "$("$AIRFACTORY" plan "$S/t.yaml" 2>&1)" "no image list for Talos 'v1.2.0'"
