#!/usr/bin/env bash
# serve_real_bundle — airfactory-serve on a bundle made by `airfactory build` (not the generated
# test bundle): a v1.11.3 schematic with an extension, its installer-amd64.tar (pushed as
# installer/<id>:v1.11.3) and the talosctl-all fixture. Outside clients check the registry
# (skopeo inspect/copy with digests compared against `airfactory ls --json`, HEAD
# Docker-Content-Digest and exact Content-Type, tags/list, the cosign .sig tag verified with
# openssl, blob Range, containerd's ctr pull) and curl checks /talosctl/ and /llms.txt.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/serve-lib.bash"
for tool in skopeo jq openssl sha256sum; do
  command -v $tool >/dev/null || { skip "serve_real_bundle" "$tool not installed (scripts/install-deps.sh)"; exit 0; }
done
[ -s "$FIXTURES/talosctl-all-v1.11.3.oci.tar" ] || { fail "fixtures" "no talosctl-all fixture: run make fixtures"; exit 1; }
SCR=$(mktemp -d "${TMPDIR:-/tmp}/airfactory-serve-real.XXXXXX")
trap serve_cleanup EXIT
cd "$SCR" || exit 1
export SOURCE_DATE_EPOCH=1735689600
sha() { sha256sum | cut -d' ' -f1; }

# ---- the bundle ----
$AIRFACTORY keygen -o "$SCR/b" >/dev/null
cat >manifest.yaml <<EOF
schematics:
  - name: hello
    architectures: [amd64]
    schematic:
      customization:
        systemExtensions:
          officialExtensions: [siderolabs/hello-world-service]
versions: [v1.11.3]
architectures: [amd64]
outputs: [installer.tar]
sources:
  - {role: imager, path: $FIXTURES/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}
  - {role: installer-base, path: $FIXTURES/installer-base-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/installer-base:v1.11.3}
  - {role: extensions, path: $FIXTURES/extensions-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/extensions:v1.11.3}
  - {role: extension, path: $FIXTURES/hello-world-service-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/hello-world-service:v1.11.3}
  - {role: talosctl-all, path: $FIXTURES/talosctl-all-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/talosctl-all:v1.11.3}
trust:
  default:
    keys: [$ROOT/tests/keys/cosign.pub]
signing_key: $SCR/b.key
output: $SCR/b
EOF
out=$($AIRFACTORY build manifest.yaml 2>&1)
check_eq "airfactory build exits 0" "$?" 0 || { echo "$out" | tail -5; exit 1; }
check_contains "the build reports the talosctl files" "$out" "talosctl v1.11.3: 9 files"
B=$SCR/b
LS=$($AIRFACTORY ls "$B" --key "$B.pub" --json)
ID=$(jq -r '.schematics[0].id' <<<"$LS")
REPO=installer/$ID
INDEX=$(jq -r --arg r "$REPO" '.images[] | select(.repository == $r and .tag == "v1.11.3") | .digest' <<<"$LS")
SIGTAG=$(jq -r --arg r "$REPO" '.images[] | select(.repository == $r and (.tag | endswith(".sig"))) | .tag' <<<"$LS")
SIGDIGEST=$(jq -r --arg r "$REPO" '.images[] | select(.repository == $r and (.tag | endswith(".sig"))) | .digest' <<<"$LS")
check_eq "ls --json names the schematic as the manifest does" "$(jq -r '.schematics[0].name' <<<"$LS")" hello
check_contains "ls shows the name beside the ID" "$($AIRFACTORY ls "$B" --key "$B.pub")" "$ID  hello  "
check_eq "the bundle's schematic is the extension schematic" "$(jq -r '.schematics[0].yaml' <<<"$LS" | grep -c hello-world-service)" 1
check_eq "the bundle tags installer/<id>:v1.11.3 with an index digest" "${INDEX:0:7}" "sha256:"
check_eq "the cosign signature tag names the index" "$SIGTAG" "sha256-${INDEX#sha256:}.sig"

start_serve real "$B" --key "$B.pub" || { fail "server starts on the built bundle"; exit 1; }
D=docker://127.0.0.1:$PORT/$REPO

# ---- skopeo ----
check_eq "skopeo inspect: the digest is the bundle's index" \
  "$(skopeo inspect --tls-verify=false "$D:v1.11.3" | jq -r .Digest)" "$INDEX"
raw=$(skopeo inspect --raw --tls-verify=false "$D:v1.11.3")
check_eq "skopeo inspect --raw: the bytes hash to the index digest" "sha256:$(printf '%s' "$raw" | sha)" "$INDEX"
AMD64=$(jq -r '.manifests[] | select(.platform.architecture == "amd64") | .digest' <<<"$raw")
check_eq "skopeo inspect: amd64 image" \
  "$(skopeo inspect --tls-verify=false --override-arch amd64 "$D:v1.11.3" | jq -r .Architecture)" amd64
check "skopeo copy --all into an OCI layout" skopeo copy -q --all --src-tls-verify=false "$D:v1.11.3" "oci:$SCR/oci:v1.11.3"
check_eq "skopeo copy: the copied index digest is the bundle's" "$(jq -r '.manifests[0].digest' oci/index.json)" "$INDEX"
bad=0 n=0
for f in oci/blobs/sha256/*; do
  n=$((n + 1))
  h=$(sha <"$f")
  { [ "$h" = "$(basename "$f")" ] && cmp -s "$f" "$B/blobs/sha256/$h"; } || bad=$((bad + 1))
done
check_eq "skopeo copy: all $n blobs hash to their names and equal the bundle's blob files" "$bad" 0
check "skopeo copy (one platform) into an OCI layout" skopeo copy -q --src-tls-verify=false "$D:v1.11.3" "oci:$SCR/oci1:x"
check_eq "skopeo copy: the platform manifest is the bundle's amd64 manifest" \
  "$(jq -r '.manifests[0].digest' oci1/index.json)" "$AMD64"

# ---- HEAD, Content-Type, tags/list ----
R=$URL/v2/$REPO
ACCEPT='Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json'
curl -s -I -H "$ACCEPT" "$R/manifests/v1.11.3" >head.txt
check_eq "HEAD manifest: 200" "$(head -1 head.txt | cut -d' ' -f2)" 200
check_eq "HEAD manifest: Docker-Content-Digest is the index" "$(header Docker-Content-Digest head.txt)" "$INDEX"
check_eq "HEAD manifest: exact Content-Type" "$(header Content-Type head.txt)" "application/vnd.oci.image.index.v1+json"
check_eq "HEAD manifest: Content-Length is the index size" "$(header Content-Length head.txt)" "${#raw}"
check_eq "GET manifest by digest: the bytes hash to it" "sha256:$(curl -s -H "$ACCEPT" "$R/manifests/$AMD64" | sha)" "$AMD64"
check_eq "GET amd64 manifest: exact Content-Type" \
  "$(curl -s -o /dev/null -w '%{content_type}' -H "$ACCEPT" "$R/manifests/$AMD64")" "application/vnd.oci.image.manifest.v1+json"
check_eq "tags/list: the version and the cosign tag" "$(curl -s "$R/tags/list" | jq -c .)" \
  "{\"name\":\"$REPO\",\"tags\":[\"$SIGTAG\",\"v1.11.3\"]}"

# ---- the cosign signature tag, verified with openssl against the served key ----
sigm=$(curl -s -H "$ACCEPT" "$R/manifests/$SIGTAG")
check_eq "the .sig tag answers the bundle's signature manifest" "sha256:$(printf '%s' "$sigm" | sha)" "$SIGDIGEST"
PAYLOAD=$(jq -r '.layers[0].digest' <<<"$sigm")
curl -s -o payload.json "$R/blobs/$PAYLOAD"
check_eq "signature payload: simple signing, naming the index" \
  "$(jq -r '.critical.image["docker-manifest-digest"]' payload.json)" "$INDEX"
jq -r '.layers[0].annotations["dev.cosignproject.cosign/signature"]' <<<"$sigm" | base64 -d >sig.der
curl -s -o cosign.pub "$URL/oci/cosign/signing-key.pub"
check "openssl verifies the cosign signature with /oci/cosign/signing-key.pub" \
  openssl dgst -sha256 -verify cosign.pub -signature sig.der payload.json

# ---- blob Range ----
LAYER=$(curl -s -H "$ACCEPT" "$R/manifests/$AMD64" | jq -r '[.layers[] | {size, digest}] | max_by(.size) | .digest')
LSIZE=$(stat -c %s "$B/blobs/sha256/${LAYER#sha256:}")
curl -s -D range.h -o range.bin -r 1000-1999 "$R/blobs/$LAYER"
check_eq "blob Range: 206" "$(head -1 range.h | cut -d' ' -f2)" 206
check_eq "blob Range: Content-Range" "$(header Content-Range range.h)" "bytes 1000-1999/$LSIZE"
tail -c +1001 "$B/blobs/sha256/${LAYER#sha256:}" | head -c 1000 >range.want
check "blob Range: the bytes are the blob's" cmp range.bin range.want
curl -s -I "$R/blobs/$LAYER" >blobhead.h
check_eq "blob HEAD: Docker-Content-Digest" "$(header Docker-Content-Digest blobhead.h)" "$LAYER"

# ---- containerd ----
if containerd_start; then
  check "ctr images pull --plain-http" timeout 120 $CTR images pull --plain-http "127.0.0.1:$PORT/$REPO:v1.11.3"
  check_contains "ctr: the image digest is the bundle's index" "$($CTR images ls)" "$INDEX"
  check_contains "ctr asked HEAD first" "$(cat "$SERVE_LOG")" "\"HEAD /v2/$REPO/manifests/v1.11.3 HTTP/1.1\" 200"
else
  skip "containerd" "containerd not installed or did not start"
fi

# ---- /talosctl/ from the talosctl-all fixture ----
want=$(jq -r '.fixtures[] | select(.name == "talosctl-all" and .tag == "v1.11.3") | .talosctl_files[]' \
  "$FIXTURES/fixtures.json" | sed "s|^|$URL/talosctl/v1.11.3/|" | jq -R . | jq -cs .)
check_eq "GET /talosctl/v1.11.3: the 9 files' URLs, sorted" "$(curl -s "$URL/talosctl/v1.11.3" | jq -c .)" "$want"
check_eq "GET /talosctl/v1.11.3: application/json" \
  "$(curl -s -o /dev/null -w '%{content_type}' "$URL/talosctl/v1.11.3")" "application/json"
ROOTFS=$FIXTURES/rootfs/talosctl-all-v1.11.3-amd64
check_eq "talosctl-linux-amd64: the image's file" "$(curl -s "$URL/talosctl/v1.11.3/talosctl-linux-amd64" | sha)" \
  "$(sha <"$ROOTFS/talosctl-linux-amd64")"
curl -s -I "$URL/talosctl/v1.11.3/talosctl-windows-arm64.exe" >exe.h
check_eq "HEAD .exe: 200" "$(head -1 exe.h | cut -d' ' -f2)" 200
check_eq "HEAD .exe: Content-Length" "$(header Content-Length exe.h)" "$(stat -c %s "$ROOTFS/talosctl-windows-arm64.exe")"
check_eq "HEAD .exe: Content-Type" "$(header Content-Type exe.h)" "application/x-msdos-program"
check_eq "HEAD .exe: Content-Disposition" "$(header Content-Disposition exe.h)" \
  'attachment; filename="talosctl-windows-arm64.exe"'
check_contains "/llms.txt: describes this server at its address" "$(curl -s "$URL/llms.txt")" "chain --replace --autofree $URL/pxe/"

stop_serve
check_eq "SIGTERM: clean exit" "$STOP_RC" "0"
