#!/usr/bin/env bash
# Issue #6 for a manifest with an installer output: two builds of the same manifest and sources,
# into different targets with fresh stores, give the same bundle byte for byte — `diff -r` of the
# whole bundle directory, so index.db, index.db.sig(.der) and every blob, including the cosign
# signature of the installer image (a blob the index references). That holds because signatures
# are deterministic ECDSA (RFC 6979): same key, same bytes, same signature. The signatures are then
# checked by outside tools (openssl over index.db and over the cosign payload) and by
# `airfactory verify --full`.
source "$(dirname "$0")/../lib.sh"
S=$(scratch)
FX=$FIXTURES
for tool in openssl jq sqlite3 diff; do
  command -v $tool >/dev/null || { skip "build_determinism_installer.sh" "$tool not installed"; exit 0; }
done
need_fixtures installer-base-v1.11.3.oci.tar || exit 1
export SOURCE_DATE_EPOCH=1735689600

cat >"$S/manifest.yaml" <<YAML
schematics:
  - name: demo
    schematic:
      customization:
        extraKernelArgs: [console=ttyS0]
versions: [v1.11.3]
architectures: [amd64]
outputs: [installer.tar]
sources:
  - {role: imager, path: $FX/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}
  - {role: installer-base, path: $FX/installer-base-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/installer-base:v1.11.3}
trust:
  default: {keys: [$ROOT/tests/keys/cosign.pub]}
signing_key: $S/bundle.key
output: $S/unused
YAML

check "keygen" "$AIRFACTORY" keygen -o "$S/bundle"
check "build 1: fresh store" "$AIRFACTORY" build "$S/manifest.yaml" -o "$S/one" --store "$S/store1" -j 2
check "build 2: another fresh store, another target" \
  "$AIRFACTORY" build "$S/manifest.yaml" -o "$S/two" --store "$S/store2" -j 2

check_eq "the bundle holds installer-amd64.tar" \
  "$(sqlite3 "$S/one/index.db" "SELECT path FROM assets ORDER BY path" | tr '\n' ' ')" "installer-amd64.tar "
ID=$(sqlite3 "$S/one/index.db" "SELECT id FROM schematics")
REPO=installer/$ID
INDEX=$(sqlite3 "$S/one/index.db" "SELECT digest FROM images WHERE repository='$REPO' AND tag='v1.11.3'")
SIGTAG=sha256-${INDEX#sha256:}.sig
SIGMAN=$(sqlite3 "$S/one/index.db" "SELECT digest FROM images WHERE repository='$REPO' AND tag='$SIGTAG'")
check "the installer image has its cosign signature tag ($SIGTAG)" test -n "$SIGMAN"

# ---- byte-identical ----
check "index.db is byte-identical" cmp "$S/one/index.db" "$S/two/index.db"
check "index.db.sig is byte-identical" cmp "$S/one/index.db.sig" "$S/two/index.db.sig"
check "index.db.sig.der is byte-identical" cmp "$S/one/index.db.sig.der" "$S/two/index.db.sig.der"
blobs1=$(cd "$S/one/blobs/sha256" && ls | sort)
check_eq "the blob sets are identical" "$(cd "$S/two/blobs/sha256" && ls | sort)" "$blobs1"
check "the cosign signature manifest is in both blob sets" test -f "$S/two/blobs/sha256/${SIGMAN#sha256:}"
check "diff -r: the whole bundle directories are identical" diff -r "$S/one" "$S/two"

# ---- the signatures verify, with our verifier and outside ones ----
check "build 1 verifies (--full)" "$AIRFACTORY" verify "$S/one" --key "$S/bundle.pub" --full
check_contains "openssl verifies index.db.sig.der over index.db" \
  "$(openssl dgst -sha256 -verify "$S/bundle.pub" -signature "$S/one/index.db.sig.der" "$S/one/index.db" 2>&1)" \
  "Verified OK"
check_eq "index.db.sig is the base64 of index.db.sig.der" \
  "$(base64 -d <"$S/one/index.db.sig" | sha256sum)" "$(sha256sum <"$S/one/index.db.sig.der")"
sig=$(cat "$S/one/blobs/sha256/${SIGMAN#sha256:}")
PAYLOAD=$(jq -r '.layers[0].digest' <<<"$sig")
jq -r '.layers[0].annotations["dev.cosignproject.cosign/signature"]' <<<"$sig" | base64 -d >"$S/cosign.der"
check_eq "the cosign payload names the installer index" \
  "$(jq -r '.critical.image["docker-manifest-digest"]' "$S/one/blobs/sha256/${PAYLOAD#sha256:}")" "$INDEX"
check_contains "openssl verifies the cosign signature over the stored payload" \
  "$(openssl dgst -sha256 -verify "$S/bundle.pub" -signature "$S/cosign.der" "$S/one/blobs/sha256/${PAYLOAD#sha256:}" 2>&1)" \
  "Verified OK"

# ---- and the sameness is the key's doing: another key gives other signatures, same content ----
check "keygen (second key)" "$AIRFACTORY" keygen -o "$S/other"
sed "s|signing_key: .*|signing_key: $S/other.key|" "$S/manifest.yaml" >"$S/manifest-other.yaml"
check "build 3: the first store, another signing key" \
  "$AIRFACTORY" build "$S/manifest-other.yaml" -o "$S/three" --store "$S/store1" -j 2
check_fails "another key: index.db.sig differs" cmp "$S/one/index.db.sig" "$S/three/index.db.sig"
check_eq "another key: the installer-amd64.tar blob is the same" \
  "$(sqlite3 "$S/three/index.db" "SELECT digest FROM assets WHERE path='installer-amd64.tar'")" \
  "$(sqlite3 "$S/one/index.db" "SELECT digest FROM assets WHERE path='installer-amd64.tar'")"
check_eq "another key: the installer index is the same image" \
  "$(sqlite3 "$S/three/index.db" "SELECT digest FROM images WHERE repository='$REPO' AND tag='v1.11.3'")" "$INDEX"
check_fails "another key: the cosign signature manifest differs" \
  test "$(sqlite3 "$S/three/index.db" "SELECT digest FROM images WHERE repository='$REPO' AND tag='$SIGTAG'")" = "$SIGMAN"
check "build 3 verifies with its own key (--full)" "$AIRFACTORY" verify "$S/three" --key "$S/other.pub" --full
