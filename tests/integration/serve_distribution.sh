#!/usr/bin/env bash
# serve_distribution — side by side with the reference registry (CNCF distribution, Debian's
# docker-registry): skopeo copies the installer index from airfactory-serve into a loopback
# distribution (our server as a source for a real registry), then the same requests go to both
# and status codes, media types, digests, lengths and error codes must agree (validators.md §3).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/serve-lib.bash"
if ! command -v docker-registry >/dev/null || ! command -v skopeo >/dev/null; then
  skip "distribution comparison" "docker-registry or skopeo not installed (scripts/install-deps.sh)"
  exit 0
fi
serve_setup
cd "$SCR" || exit 1
start_serve ours "$BUNDLE" --key "$PUB" || { fail "server starts"; exit 1; }
OURS=$URL

distribution_start
check "distribution started" curl -sf -o /dev/null "$DIST/v2/"

check "skopeo copy --all: airfactory-serve -> distribution" \
  skopeo copy -q --all --src-tls-verify=false --dest-tls-verify=false \
  "docker://127.0.0.1:$PORT/$REPO:v1.11.3" "docker://127.0.0.1:$DP/$REPO:v1.11.3"

ACCEPT='Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json'
# facts URL-PATH [curl args]: status, Content-Type, Docker-Content-Digest, Content-Length, body sha
facts() {
  local base=$1 path=$2; shift 2
  curl -s -D h.tmp -o b.tmp -H "$ACCEPT" "$@" "$base$path"
  local body
  body=$(sha256sum <b.tmp | cut -c1-16)
  [ "${1:-}" = -I ] && body=- # curl -I writes the headers to -o too
  printf '%s|%s|%s|%s|%s' "$(head -1 h.tmp | cut -d' ' -f2)" "$(header Content-Type h.tmp)" \
    "$(header Docker-Content-Digest h.tmp)" "$(header Content-Length h.tmp)" "$body"
}
same() { # NAME PATH [curl args]
  local name=$1 path=$2; shift 2
  check_eq "same as distribution: $name" "$(facts "$OURS" "$path" "$@")" "$(facts "$DIST" "$path" "$@")"
}
same "GET index by tag" "/v2/$REPO/manifests/v1.11.3"
same "HEAD index by tag" "/v2/$REPO/manifests/v1.11.3" -I
same "GET index by digest" "/v2/$REPO/manifests/$INDEX_DIGEST"
same "GET amd64 manifest" "/v2/$REPO/manifests/$AMD64_MANIFEST"
same "GET arm64 manifest" "/v2/$REPO/manifests/$ARM64_MANIFEST"
same "GET layer blob" "/v2/$REPO/blobs/$AMD64_LAYER"
same "HEAD layer blob" "/v2/$REPO/blobs/$AMD64_LAYER" -I
same "GET config blob" "/v2/$REPO/blobs/$AMD64_CONFIG"
same "Range on a blob" "/v2/$REPO/blobs/$AMD64_LAYER" -r 0-9
code() { curl -s "$@" | python3 -c 'import json,sys; print(json.load(sys.stdin)["errors"][0]["code"])' 2>/dev/null; }
status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
for p in "/v2/$REPO/manifests/v9.9.9" "/v2/$REPO/blobs/sha256:$(printf '0%.0s' {1..64})"; do
  check_eq "same error as distribution: $p" "$(status "$OURS$p") $(code "$OURS$p")" "$(status "$DIST$p") $(code "$DIST$p")"
done
check_eq "same ping status" "$(status "$OURS/v2/")" "$(status "$DIST/v2/")"
check_eq "same API version header" "$(curl -s -D - -o /dev/null "$OURS/v2/" | header Docker-Distribution-API-Version /dev/stdin)" \
  "$(curl -s -D - -o /dev/null "$DIST/v2/" | header Docker-Distribution-API-Version /dev/stdin)"
check_eq "DELETE refused by both (405)" "$(status -X DELETE "$OURS/v2/$REPO/manifests/$INDEX_DIGEST")" \
  "$(status -X DELETE "$DIST/v2/$REPO/manifests/$INDEX_DIGEST")"
check_eq "tags/list has the same shape" \
  "$(curl -s "$OURS/v2/$REPO/tags/list?n=1" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(sorted(d), d["name"])')" \
  "$(curl -s "$DIST/v2/$REPO/tags/list?n=1" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(sorted(d), d["name"])')"
stop_serve
