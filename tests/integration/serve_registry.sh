#!/usr/bin/env bash
# serve_registry — the read-only OCI registry under /v2/ with real clients: curl for headers and
# OCI error JSON, skopeo inspect/copy (digests compared), and containerd's ctr (the client Talos
# uses; it HEADs manifests first and trusts Docker-Content-Digest) against a private containerd
# on a unix socket in the scratch directory (validators.md §3).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/serve-lib.bash"
serve_setup
cd "$SCR" || exit 1
start_serve registry "$BUNDLE" --key "$PUB" || { fail "server starts" "see above"; exit 1; }
R=$URL/v2/$REPO
sha() { sha256sum | cut -d' ' -f1; }
ACCEPT='Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json'

# ---- protocol details with curl ----
curl -s -D h -o body "$URL/v2/"
check_eq "ping: 200 {}" "$(head -1 h | cut -d' ' -f2):$(cat body)" "200:{}"
check_eq "ping: API version header" "$(header Docker-Distribution-API-Version h)" "registry/2.0"
curl -s -I -o /dev/null -D h -H "$ACCEPT" "$R/manifests/v1.11.3"
check_eq "HEAD manifest by tag: media type" "$(header Content-Type h)" "application/vnd.oci.image.index.v1+json"
check_eq "HEAD manifest by tag: digest" "$(header Docker-Content-Digest h)" "$INDEX_DIGEST"
check_eq "HEAD manifest: length" "$(header Content-Length h)" "$(curl -s "$R/manifests/v1.11.3" | wc -c)"
curl -s -D h -o body "$R/manifests/$AMD64_MANIFEST"
check_eq "manifest by digest: bytes hash to the digest" "sha256:$(sha <body)" "$AMD64_MANIFEST"
check_eq "manifest by digest: media type" "$(header Content-Type h)" "application/vnd.oci.image.manifest.v1+json"
check_eq "docker manifest keeps its media type" \
  "$(curl -s -I "$R/manifests/v1.11.3-docker" | header Content-Type /dev/stdin)" "application/vnd.docker.distribution.manifest.v2+json"
check_eq "cosign .sig tag" "$(curl -s -I "$R/manifests/sha256-${INDEX_DIGEST#sha256:}.sig" | header Docker-Content-Digest /dev/stdin)" "$SIG_MANIFEST"
curl -s -D h -o body "$R/blobs/$AMD64_LAYER"
check_eq "blob bytes hash to the digest" "sha256:$(sha <body)" "$AMD64_LAYER"
check_eq "blob content type" "$(header Content-Type h)" "application/octet-stream"
check_eq "blob Docker-Content-Digest" "$(header Docker-Content-Digest h)" "$AMD64_LAYER"
check_eq "blob ETag" "$(header ETag h)" "\"$AMD64_LAYER\""
curl -s -D h -o part -r 0-9 "$R/blobs/$AMD64_LAYER"
check_eq "blob Range: 206 with 10 bytes" "$(head -1 h | cut -d' ' -f2):$(wc -c <part)" "206:10"
check_eq "blob Range: Content-Range" "$(header Content-Range h)" "bytes 0-9/$(wc -c <body)"
check_eq "tags/list" "$(curl -s "$R/tags/list")" \
  "{\"name\":\"$REPO\",\"tags\":[\"latest\",\"sha256-${INDEX_DIGEST#sha256:}.sig\",\"v1.11.3\",\"v1.11.3-docker\",\"v1.12.0-beta.1\",\"v1.9.5\"]}"
curl -s -D h -o body "$R/tags/list?n=2"
check_eq "tags/list?n=2 page 1" "$(cat body)" "{\"name\":\"$REPO\",\"tags\":[\"latest\",\"sha256-${INDEX_DIGEST#sha256:}.sig\"]}"
link=$(header Link h)
check_eq "tags/list Link header" "$link" "</v2/$REPO/tags/list?last=sha256-${INDEX_DIGEST#sha256:}.sig&n=2>; rel=\"next\""
next=$(echo "$link" | sed 's/^<\([^>]*\)>.*/\1/')
check_eq "tags/list page 2 via Link" "$(curl -s "$URL$next")" "{\"name\":\"$REPO\",\"tags\":[\"v1.11.3\",\"v1.11.3-docker\"]}"
check_eq "tags/list last page has no Link" "$(curl -s -D - -o /dev/null "$R/tags/list?n=5&last=v1.11.3" | grep -ci '^link:')" "0"
curl -s -D h -o body "$R/referrers/$INDEX_DIGEST"
check_eq "referrers: OCI index media type" "$(header Content-Type h)" "application/vnd.oci.image.index.v1+json"
check_eq "referrers: descriptor with artifactType and annotations" "$(python3 -c '
import json,sys; d=json.load(open("body")); m=d["manifests"]
print(d["mediaType"], len(m), m[0]["digest"], m[0]["artifactType"], m[0]["annotations"]["dev.sigstore.bundle.content"])')" \
  "application/vnd.oci.image.index.v1+json 1 $REFERRER application/vnd.dev.sigstore.bundle.v0.3+json dsse-envelope"
curl -s -D h -o body "$R/referrers/$INDEX_DIGEST?artifactType=application/vnd.dev.sigstore.bundle.v0.3%2Bjson"
check_eq "referrers filter header" "$(header OCI-Filters-Applied h)" "artifactType"
check_contains "referrers filter keeps the match" "$(cat body)" "$REFERRER"
check_eq "referrers filter without match: empty list" \
  "$(curl -s "$R/referrers/$INDEX_DIGEST?artifactType=text/plain")" \
  '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}'
check_eq "latest = newest stable version when not tagged" "$(curl -s -I "$URL/v2/metal-installer/$SCHEMATIC/manifests/latest" | header Docker-Content-Digest /dev/stdin)" "$INDEX_DIGEST"
check_eq "other repository of the same image" "$(curl -s -I "$URL/v2/metal-installer/$SCHEMATIC/manifests/v1.11.3" | header Docker-Content-Digest /dev/stdin)" "$INDEX_DIGEST"

# ---- OCI errors ----
oci_code() { python3 -c 'import json,sys; e=json.load(sys.stdin)["errors"][0]; print(e["code"])'; }
check_eq "unknown repository: 404 NAME_UNKNOWN" "$(curl -s -w '|%{http_code}' "$URL/v2/installer/nope/manifests/v1.11.3" | tr '\n' ' ')" \
  '{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry","detail":{"name":"installer/nope"}}]} |404'
check_eq "unknown tag: MANIFEST_UNKNOWN" "$(curl -s "$R/manifests/v9.9.9" | oci_code)" "MANIFEST_UNKNOWN"
check_eq "unknown tag: 404" "$(curl -s -o /dev/null -w '%{http_code}' "$R/manifests/v9.9.9")" "404"
check_eq "unknown blob: BLOB_UNKNOWN" "$(curl -s "$R/blobs/sha256:$(printf '0%.0s' {1..64})" | oci_code)" "BLOB_UNKNOWN"
check_eq "blob of another repository: BLOB_UNKNOWN" "$(curl -s "$URL/v2/metal-installer/$SCHEMATIC/blobs/$SIG_MANIFEST" | oci_code)" "BLOB_UNKNOWN"
check_eq "malformed digest: DIGEST_INVALID" "$(curl -s "$R/blobs/sha256:xyz" | oci_code)" "DIGEST_INVALID"
check_eq "malformed digest: 400" "$(curl -s -o /dev/null -w '%{http_code}' "$R/blobs/sha256:xyz")" "400"
check_eq "error content type" "$(curl -s -D - -o /dev/null "$R/manifests/v9.9.9" | header Content-Type /dev/stdin)" "application/json; charset=utf-8"
for m in PUT POST PATCH DELETE; do
  check_eq "$m: 405 UNSUPPORTED" "$(curl -s -X $m "$R/manifests/v1.11.3" | oci_code):$(curl -s -o /dev/null -w '%{http_code}' -X $m "$R/manifests/v1.11.3")" "UNSUPPORTED:405"
done
check_eq "blob upload refused" "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$R/blobs/uploads/")" "405"

# ---- skopeo ----
if command -v skopeo >/dev/null; then
  D=docker://127.0.0.1:$PORT/$REPO
  check_eq "skopeo inspect: index digest" "$(skopeo inspect --tls-verify=false "$D:v1.11.3" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Digest"])')" "$INDEX_DIGEST"
  check_eq "skopeo inspect by digest" "$(skopeo inspect --tls-verify=false "$D@$AMD64_MANIFEST" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["Architecture"], d["Layers"][0])')" "amd64 $AMD64_LAYER"
  check_eq "skopeo inspect --raw is the stored manifest" "sha256:$(skopeo inspect --raw --tls-verify=false "$D:v1.11.3" | sha)" "$INDEX_DIGEST"
  rm -rf oci1
  check "skopeo copy to an OCI layout" skopeo copy -q --src-tls-verify=false "$D:v1.11.3" oci:"$SCR/oci1:v1"
  check_eq "skopeo copy: manifest digest unchanged" "$(python3 -c 'import json; print(json.load(open("oci1/index.json"))["manifests"][0]["digest"])')" "$AMD64_MANIFEST"
  check_eq "skopeo copy: layer bytes verified" "$(sha <"oci1/blobs/sha256/${AMD64_LAYER#sha256:}")" "${AMD64_LAYER#sha256:}"
  rm -rf oci2
  check "skopeo copy --all (image index)" skopeo copy -q --all --src-tls-verify=false "$D:v1.11.3" oci:"$SCR/oci2:v1"
  check_eq "skopeo copy --all: index digest unchanged" "$(python3 -c 'import json; print(json.load(open("oci2/index.json"))["manifests"][0]["digest"])')" "$INDEX_DIGEST"
  check_contains "skopeo list-tags" "$(skopeo list-tags --tls-verify=false "$D")" '"v1.12.0-beta.1"'
  check_contains "skopeo's TLS probe got a 400 and the server lived on" "$(cat "$SERVE_LOG")" '"- - -" 400'
else
  skip "skopeo" "skopeo not installed (scripts/install-deps.sh)"
fi

# ---- containerd ----
if containerd_start; then
  C=$CTR
  check "ctr content fetch" timeout 60 $C content fetch --plain-http "127.0.0.1:$PORT/$REPO:v1.11.3"
  check "ctr images pull (fetch + unpack, diff_ids checked)" timeout 60 $C images pull --plain-http "127.0.0.1:$PORT/$REPO:v1.11.3"
  check_contains "ctr image digest is the bundle's index" "$($C images ls)" "$INDEX_DIGEST"
  check_contains "ctr asked HEAD first" "$(cat "$SERVE_LOG")" "\"HEAD /v2/$REPO/manifests/v1.11.3 HTTP/1.1\" 200"
else
  skip "containerd" "containerd not installed (scripts/install-deps.sh)"
fi

stop_serve
check_eq "SIGTERM: clean exit" "$STOP_RC" "0"
