#!/usr/bin/env bash
# image_cache — `image-cache: true` (docs/manifest.md "Image cache"): ISOs and disk images carry the
# manifest's cluster images as Talos' image cache, in the layout Talos' registryd reads. Checked
# against the fixture generator's own record (scripts/fixtures/cluster.py's cluster.json), not
# against airfactory's code, file by file:
#   siderolabs/talos v1.11.3 pkg/imager/cache/cache.go (checked at the tag):
#     :37-38   blobsDir "blob", manifestsDir "manifests"
#     :42-54   rewriteRegistry: Docker Hub is "docker.io"; ":port" is "_port_"
#     :118-119 manifests/<registry>/<repository>/{reference,digest}
#     :156,161 reference/<tag> and digest/sha256-<hex of what the tag names> hold the same bytes
#     :194,203,256 digest/sha256-<platform manifest>, blob/sha256-<config>, blob/sha256-<layer>
#   internal/app/machined/pkg/system/services/registry/registry.go (registryd, what boots read):
#     :124,128 blobs from blob/, manifests from manifests/<name>/digest/
#     :188-208 reference/<tag> is hashed and must equal digest/sha256-<that hash>
#     :247-262 a manifest must carry a non-empty mediaType
#   pkg/imager/out.go:100-104 the ISO's /imagecache directory; internal/app/machined/pkg/controllers/
#     cri/image_cache_config.go:214-246 the ISO volume is iso9660 labelled TALOS_*, the cache under
#     imagecache/ (:507); :271-319 the disk volume is the partition labelled IMAGECACHE
#   internal/pkg/partition/format.go:107-111 IMAGECACHE is ext4 labelled IMAGECACHE; partition.go:94
#     LinuxFilesystemData, size 0: the rest of the disk (cmd/installer/pkg/install/install.go:515-525)
# and the cache's content is imported again by airfactory's own OCI reader (`airfactory import`).
. "$(dirname "$0")/../lib.sh"
S=$(scratch)
/usr/bin/python3 "$ROOT/scripts/fixtures/cluster.py" "$S/fx" >/dev/null || { fail "cluster fixtures" "cluster.py failed"; exit 1; }
"$AIRFACTORY" keygen -o "$S/bundle" >/dev/null 2>&1 || { fail "keygen" ""; exit 1; }
manifest() { # FILE OUTPUT [extra top-level YAML]
  cat >"$1" <<YAML
schematics: [{name: v, schematic: {}}]
versions: [v1.11.3]
architectures: [amd64]
outputs: [metal-amd64.iso, metal-amd64.raw]
image-cache: true
sources:
  - {role: imager, path: $FIXTURES/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}
images:
  - {reference: registry.k8s.io/pause:3.10, path: fx/pause-3.10.oci.tar}
  - {reference: 'busybox:1.36', path: fx/busybox-1.36.oci.tar}
  - {reference: ghcr.io/siderolabs/flannel:v0.27.4, path: fx/flannel-v0.27.4.oci.tar, trust: lab}
trust:
  default: {keys: [$ROOT/tests/keys/cosign.pub]}
  lab: {insecure: true}
signing_key: bundle.key
output: $2
${3:-}
YAML
}
manifest "$S/m.yaml" out
export SOURCE_DATE_EPOCH=1700000000
check "build an ISO and a disk image with the image cache" "$AIRFACTORY" build "$S/m.yaml" -j 2
asset() { echo "$1/blobs/sha256/$(sqlite3 "$1/index.db" "select substr(digest,8) from assets where path='$2'")"; }
ISO=$(asset "$S/out" metal-amd64.iso); RAW=$(asset "$S/out" metal-amd64.raw)

# the expected tree, from cluster.json and the fixture tarballs: "path sha256" lines
python3 - "$S/fx" >"$S/expected" <<'EOF'
import hashlib, json, sys, tarfile
fx = sys.argv[1]
d = json.load(open(f"{fx}/cluster.json"))
files = {}
names = {"registry.k8s.io/pause:3.10": "pause-3.10", "docker.io/library/busybox:1.36": "busybox-1.36",
         "ghcr.io/siderolabs/flannel:v0.27.4": "flannel-v0.27.4"}
for img in d["images"]:
    if img["reference"] not in names:
        continue
    t = tarfile.open(f"{fx}/{names[img['reference']]}.oci.tar")
    blob = lambda dg: t.extractfile("blobs/sha256/" + dg[7:]).read()
    repo = img["repository"]  # registry/repository, Docker Hub as docker.io
    top = blob(img["digest"])
    files[f"manifests/{repo}/reference/{img['tag']}"] = top
    files[f"manifests/{repo}/digest/{img['digest'].replace(':', '-')}"] = top
    p = [p for p in img["platforms"] if p["platform"] == "linux/amd64"][0]
    files[f"manifests/{repo}/digest/{p['digest'].replace(':', '-')}"] = blob(p["digest"])
    for dg in [p["config"]] + [l["digest"] for l in p["layers"]]:
        files[f"blob/{dg.replace(':', '-')}"] = blob(dg)
for path in sorted(files):
    print(path, hashlib.sha256(files[path]).hexdigest())
EOF
check_eq "expected layout: 3 images, 13 files or more" "$(($(wc -l <"$S/expected") >= 13))" "1"
listing() { # DIR -> "path sha256" of every file
  (cd "$1" && find . -type f | sed 's|^\./||' | LC_ALL=C sort | while read -r f; do echo "$f $(sha256sum "$f" | cut -c1-64)"; done)
}
# registryd's own checks (registry.go), on a tree: every digest/ and blob/ file hashes to its
# name, every reference file equals digest/sha256-<its hash>, every manifest has a mediaType
registryd_checks() { # DIR
  python3 - "$1" <<'EOF'
import hashlib, json, os, sys
root, bad = sys.argv[1], []
for dirpath, _, names in os.walk(root):
    for n in names:
        p = os.path.join(dirpath, n); data = open(p, "rb").read(); h = hashlib.sha256(data).hexdigest()
        rel = os.path.relpath(p, root)
        if "/digest/" in rel or rel.startswith("blob/"):
            if n != "sha256-" + h: bad.append(f"{rel}: hashes to {h}")
        if "/reference/" in rel:
            twin = os.path.join(os.path.dirname(os.path.dirname(p)), "digest", "sha256-" + h)
            if not os.path.exists(twin): bad.append(f"{rel}: no digest/sha256-{h}")
        if rel.startswith("manifests/") and not json.loads(data).get("mediaType"): bad.append(f"{rel}: no mediaType")
print("\n".join(bad) if bad else "ok")
EOF
}

# ---- the ISO: /imagecache on an iso9660 volume labelled TALOS_*
mkdir -p "$S/iso"
check "xorriso extracts /imagecache" xorriso -osirrox on -indev "$ISO" -extract /imagecache "$S/iso/imagecache"
check_contains "ISO volume id starts with TALOS_ (image_cache_config.go)" "$(xorriso -indev "$ISO" -pvd_info 2>&1 | grep -i 'Volume Id')" "TALOS_V1_11_3"
listing "$S/iso/imagecache" >"$S/iso.list"
check_eq "ISO /imagecache holds exactly the expected files, byte for byte" "$(diff "$S/expected" "$S/iso.list" && echo same)" "same"
check_eq "ISO /imagecache passes registryd's checks" "$(registryd_checks "$S/iso/imagecache")" "ok"
check_contains "ISO: a layer pause and busybox share is there once" "$(ls "$S/iso/imagecache/blob" | wc -l)" \
  "$(grep -c '^blob/' "$S/expected")"

# ---- the disk image: the last partition, IMAGECACHE, Linux data, ext4 labelled IMAGECACHE
parts=$(sgdisk -p "$RAW" 2>&1)
last=$(echo "$parts" | awk '/^ +[0-9]+ /{n=$1; name=$7; start=$2; end=$3} END{print n, name, start, end}')
read -r pn pname pstart pend <<<"$last"
check_eq "disk: the last partition is IMAGECACHE" "$pname" "IMAGECACHE"
check_contains "disk: IMAGECACHE is Linux filesystem data (partition.go)" "$(sgdisk -i "$pn" "$RAW")" \
  "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
sectors=$(($(stat -c %s "$RAW") / 512))
check_eq "disk: IMAGECACHE takes the rest of the disk, ending on a MiB boundary (LargestContiguousAllocatable)" \
  "$(((pend + 1) % 2048)):$(((sectors - 34) / 2048 * 2048 - 1 == pend))" "0:1"
dd if="$RAW" of="$S/part.img" bs=512 skip="$pstart" count=$((pend - pstart + 1)) status=none
check_eq "disk: blkid sees ext4 labelled IMAGECACHE (format.go)" "$(blkid -o value -s TYPE -s LABEL "$S/part.img" | sort | tr "\n" " ")" "IMAGECACHE ext4 "
check "disk: e2fsck -fn finds the file system clean" e2fsck -fn "$S/part.img"
mkdir -p "$S/ext4"
check "debugfs copies the partition's tree out" debugfs -R "rdump / $S/ext4" "$S/part.img"
rm -rf "$S/ext4/lost+found"
listing "$S/ext4" >"$S/ext4.list"
check_eq "IMAGECACHE holds exactly the expected files, byte for byte" "$(diff "$S/expected" "$S/ext4.list" && echo same)" "same"
check_eq "IMAGECACHE passes registryd's checks" "$(registryd_checks "$S/ext4")" "ok"
owners=$(debugfs -R "stat /manifests/registry.k8s.io/pause/reference/3.10" "$S/part.img" 2>/dev/null)
check_contains "IMAGECACHE files: root-owned, 0644 (cache.go WriteFile)" "$owners" "Mode:  0644"
check_contains "IMAGECACHE files: SOURCE_DATE_EPOCH times" "$owners" "mtime: 0x6553f100"

# ---- re-imported by airfactory's own OCI reader: a layout per image from the cache's files
for ref in registry.k8s.io/pause:3.10 docker.io/library/busybox:1.36 ghcr.io/siderolabs/flannel:v0.27.4; do
  repo=${ref%:*}; tag=${ref##*:}; L=$S/layout-${tag}
  mkdir -p "$L/blobs/sha256"
  for f in "$S/iso/imagecache/manifests/$repo/digest/"* "$S/iso/imagecache/blob/"*; do
    cp "$f" "$L/blobs/sha256/$(basename "$f" | sed 's/^sha256-//')"
  done
  top=$(sha256sum "$S/iso/imagecache/manifests/$repo/reference/$tag" | cut -c1-64)
  mt=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['mediaType'])" "$S/iso/imagecache/manifests/$repo/reference/$tag")
  echo '{"imageLayoutVersion":"1.0.0"}' >"$L/oci-layout"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"%s","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
    "$mt" "$top" "$(stat -c %s "$S/iso/imagecache/manifests/$repo/reference/$tag")" "$tag" >"$L/index.json"
  out=$("$AIRFACTORY" import --store "$S/store" --insecure --platform linux/amd64 --reference "$ref" --json "$L" 2>&1)
  check_contains "airfactory import reads the cache's $ref back (linux/amd64)" "$out" "sha256:$top"
done
check_eq "re-imported: three images, linux/amd64" "$(sqlite3 "$S/store/store.db" "select count(*) from sources where platform='linux/amd64'" 2>/dev/null || sqlite3 "$S/store/index.db" "select count(*) from sources where platform='linux/amd64'")" "3"

# ---- deterministic: the same manifest built again elsewhere gives the same bytes
manifest "$S/m2.yaml" out2
check "build again into another bundle" "$AIRFACTORY" build "$S/m2.yaml" -j 1
check_eq "same ISO bytes" "$(asset "$S/out2" metal-amd64.iso)" "${ISO/\/out\//\/out2\/}"
check_eq "same disk image bytes" "$(asset "$S/out2" metal-amd64.raw)" "${RAW/\/out\//\/out2\/}"

# ---- the cache is a cache-key input: unchanged, both assets are reused; without it, both rebuilt
check_contains "an unchanged rebuild reuses the ISO and the disk image" "$("$AIRFACTORY" build "$S/m.yaml" -j 2 2>&1)" \
  "0 assets built, 2 reused"
sed 's/^image-cache: true/image-cache: false/' "$S/m.yaml" >"$S/off.yaml"
check_contains "image-cache: false rebuilds both" "$("$AIRFACTORY" build "$S/off.yaml" -j 2 2>&1)" "2 assets built, 0 reused"
check_fails "without the cache the ISO has no /imagecache" xorriso -indev "$(asset "$S/out" metal-amd64.iso)" -find /imagecache
check_eq "without the cache the disk image has no IMAGECACHE" "$(sgdisk -p "$(asset "$S/out" metal-amd64.raw)" | grep -c IMAGECACHE)" "0"

# ---- airfactory ls: the bytes each image adds, a shared blob counted once
ls_json=$("$AIRFACTORY" ls "$S/out" --json 2>&1)
ib() { echo "$ls_json" | python3 -c "import json,sys; d={r['repository']: r for r in json.load(sys.stdin)['image_bytes']}; print($1)"; }
shared=$(python3 -c "import json; d=json.load(open('$S/fx/cluster.json')); print(d['images'][0]['platforms'][0]['layers'][0]['size'])")
check_eq "ls: busybox (first to serve the layer it shares with pause) adds all its bytes" \
  "$(ib "d['docker.io/library/busybox']['adds'] == d['docker.io/library/busybox']['size']")" "True"
check_eq "ls: pause adds its size less the layer busybox already stored" \
  "$(ib "d['registry.k8s.io/pause']['size'] - d['registry.k8s.io/pause']['adds']")" "$shared"
check_eq "ls: the adds column sums to the distinct image blobs (sqlite over index.db)" "$(ib "sum(r['adds'] for r in d.values())")" \
  "$(sqlite3 "$S/out/index.db" "select sum(size) from blobs where digest in (select digest from repository_blobs) and digest not in (select digest from assets)")"
check_contains "ls: the column header says a shared blob is counted once" "$("$AIRFACTORY" ls "$S/out" 2>&1)" \
  "a blob several images share is counted once"

# ---- plan-time refusals, each at the image-cache key's position
: >"$S/empty.oci.tar"
cat >"$S/old.yaml" <<YAML
schematics: [{name: v, schematic: {}}]
versions: [v1.8.3]
architectures: [amd64]
outputs: [metal-amd64.iso]
image-cache: true
sources:
  - {role: imager, path: empty.oci.tar, reference: ghcr.io/siderolabs/imager:v1.8.3}
images:
  - {reference: registry.k8s.io/pause:3.10, path: fx/pause-3.10.oci.tar}
trust: {default: {keys: [$ROOT/tests/keys/cosign.pub]}}
signing_key: bundle.key
output: o
YAML
out=$("$AIRFACTORY" plan "$S/old.yaml" 2>&1)
check_contains "Talos < 1.9 refused with file:line" "$out" "old.yaml:5:14: image-cache: Talos v1.8.3 has no image cache (needs v1.9.0 or later)"
sed -i 's/^image-cache: true/image-cache: false/; s/^schematics: .*/schematics: [{name: v, schematic: {}, image-cache: true}]/' "$S/old.yaml"
out=$("$AIRFACTORY" plan "$S/old.yaml" 2>&1)
check_contains "a schematic's own image-cache is refused at its position" "$out" "old.yaml:1:52: image-cache: Talos v1.8.3"
sed -i 's/image-cache: true}]/image-cache: false}]/; s/^image-cache: false/image-cache: true/' "$S/old.yaml"
check "a schematic's image-cache: false overrides the manifest's" "$AIRFACTORY" plan "$S/old.yaml"
sed -i 's/v1.8.3/v1.11.3/g; s/, image-cache: false}]/}]/; /^images:/,/pause/d' "$S/old.yaml"
out=$("$AIRFACTORY" plan "$S/old.yaml" 2>&1)
check_contains "image-cache without images refused" "$out" "old.yaml:5:14: image-cache: true, but the manifest lists no 'images:'"
manifest "$S/arm.yaml" o3
sed -i 's|path: fx/busybox-1.36.oci.tar}|path: fx/busybox-1.36.oci.tar, platforms: [linux/arm64]}|' "$S/arm.yaml"
out=$("$AIRFACTORY" plan "$S/arm.yaml" 2>&1)
check_contains "an image whose platforms lack the output's arch refused" "$out" \
  "image docker.io/library/busybox:1.36: platforms has no linux/amd64, which the image cache of 'metal-amd64.iso'"
out=$(sed 's/^image-cache: true/image-cache: yes please/' "$S/m.yaml" >"$S/bad.yaml"; "$AIRFACTORY" plan "$S/bad.yaml" 2>&1)
check_contains "image-cache must be a boolean" "$out" "bad.yaml:5:14: image-cache: expected true or false"
