#!/usr/bin/env bash
# import.sh — `airfactory import` and `airfactory sources` against inputs made by real tools
# (umoci, skopeo: OCI dir, oci-archive, docker-archive, gzip/zstd tarballs), the store read back
# by skopeo and umoci, refusals that leave the store unchanged, a kill -9 in the middle of a blob,
# and cosign-style signatures made with openssl (verified once the verify module is linked).
source "$(dirname "$0")/../lib.sh"
T=$(scratch)
PY=/usr/bin/python3
cd "$T"

for tool in skopeo umoci openssl sqlite3 zstd; do
  command -v $tool >/dev/null || { skip "import.sh" "$tool not installed"; exit 0; }
done

# ---- inputs made by umoci + skopeo ----
mkdir -p payload/usr/install/amd64
printf 'kernel-bytes' >payload/usr/install/amd64/vmlinuz
printf 'NAME=Talos\n' >payload/os-release
{
  umoci init --layout L
  umoci new --image L:v1.10.3
  umoci insert --rootless --no-history --image L:v1.10.3 payload/usr /usr
  umoci insert --rootless --no-history --image L:v1.10.3 payload/os-release /etc/os-release
  skopeo copy -q oci:L:v1.10.3 oci-archive:img.tar:v1.10.3
  skopeo copy -q oci:L:v1.10.3 docker-archive:docker.tar:example.com/talos/imager:v1.10.3
} >setup.log 2>&1 || { fail "setup" "$(tail -5 setup.log)"; exit 1; }
gzip -k img.tar && zstd -q -k img.tar -o img.tar.zst
MANIFEST=$(skopeo inspect --raw oci:L:v1.10.3 | sha256sum | cut -d' ' -f1)

snapshot() { # what a refused import must not change
  (cd "$1" && ls blobs/sha256 tmp && sqlite3 store.db 'SELECT * FROM sources; SELECT * FROM source_blobs' &&
     cat index.json) 2>&1
}

# ---- plain imports ----
S=$T/store
out=$("$AIRFACTORY" import --store "$S" --insecure --role imager img.tar 2>&1)
check_contains "import oci-archive" "$out" "imported img:v1.10.3 linux/amd64 sha256:$MANIFEST (2 layers) verified: insecure"
check_contains "import reports blobs written" "$out" "4 new"
out=$("$AIRFACTORY" import --store "$S" --insecure --role imager img.tar 2>&1)
check_contains "re-import copies nothing" "$out" "0 new (0 bytes written)"
out=$("$AIRFACTORY" import --store "$S" --insecure --role extensions-catalog img.tar 2>&1); rc=$?
check_eq "--role outside the manifest's roles: refused (exit 2)" "$rc" 2
check_contains "... naming the role and the expected ones" "$out" \
  "--role extensions-catalog: not a source role; expected one of: imager, installer-base, installer, extensions,"
check_eq "blobs in store" "$(ls "$S/blobs/sha256" | wc -l)" 4

out=$("$AIRFACTORY" sources --store "$S")
check_contains "sources table" "$out" "img:v1.10.3"
check_contains "sources shows how verified" "$out" "insecure"
json=$("$AIRFACTORY" sources --store "$S" --json)
check_eq "sources --json fields" "$(echo "$json" | $PY -c '
import json, sys
s = json.loads(sys.stdin.readline())
print(s["reference"], s["platform"], s["manifest_digest"], s["role"], s["imported_at"], s["receipt"]["method"],
      sorted(b["kind"] for b in s["blobs"]))')" \
  "img:v1.10.3 linux/amd64 sha256:$MANIFEST imager 0 insecure ['config', 'layer', 'layer', 'manifest']"

# the store is an OCI layout: skopeo and umoci read it
check_eq "skopeo reads the store" "$(skopeo inspect --raw oci:"$S":img:v1.10.3 | sha256sum | cut -d' ' -f1)" "$MANIFEST"
if umoci unpack --rootless --image "$S:img:v1.10.3" bundle >umoci.log 2>&1; then
  check_eq "umoci unpacks the store" "$(cat bundle/rootfs/usr/install/amd64/vmlinuz)" "kernel-bytes"
else
  fail "umoci unpacks the store" "$(tail -3 umoci.log)"
fi

for f in img.tar.gz img.tar.zst; do
  out=$("$AIRFACTORY" import --store "$T/s-$f" --insecure "$f" 2>&1)
  check_contains "import $f" "$out" "sha256:$MANIFEST"
done
out=$("$AIRFACTORY" import --store "$T/s-dir" --insecure L 2>&1)
check_contains "import OCI directory" "$out" "sha256:$MANIFEST"
out=$(SOURCE_DATE_EPOCH=1700000000 "$AIRFACTORY" import --store "$T/s-docker" --insecure --json docker.tar 2>&1)
check_contains "import docker-archive (skopeo)" "$out" '"reference":"example.com/talos/imager:v1.10.3"'
check_contains "docker-archive platform" "$out" '"platform":"linux/amd64"'
check_contains "docker-archive layers" "$out" '"layers":2'
check_eq "SOURCE_DATE_EPOCH recorded" \
  "$(sqlite3 "$T/s-docker/store.db" 'SELECT imported_at FROM sources')" 1700000000
check_eq "AIRFACTORY_STORE default" \
  "$(AIRFACTORY_STORE="$T/s-env" "$AIRFACTORY" import --insecure img.tar >/dev/null 2>&1; ls "$T/s-env/blobs/sha256" | wc -l)" 4

# ---- refusals: exit status 2, a message naming the file, the store unchanged ----
before=$(snapshot "$S")
refuse() { # NAME WANT INPUT [ARGS...]
  local name=$1 want=$2 input=$3; shift 3
  local out rc
  out=$("$AIRFACTORY" import --store "$S" "$@" "$input" 2>&1); rc=$?
  if [ $rc -ne 2 ]; then fail "$name" "exit $rc (want 2): $out"; return; fi
  case "$out" in *"$want"*) ;; *) fail "$name" "'$want' not in: $out"; return ;; esac
  if [ "$(snapshot "$S")" != "$before" ]; then fail "$name" "store changed"; return; fi
  pass "$name"
}
# tampered layer: flip bytes inside the last layer blob of a copy
cp -r L Lbad
layer=$($PY -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["layers"][-1]["digest"][7:])' \
  "L/blobs/sha256/$MANIFEST")
printf 'XXXX' | dd of="Lbad/blobs/sha256/$layer" bs=1 seek=20 conv=notrunc 2>/dev/null
tar -C Lbad -cf bad-layer.tar .
refuse "refuse tampered layer" "content hashes to" bad-layer.tar --insecure
refuse "refuse tampered layer names it" "$layer" bad-layer.tar --insecure
head -c 3000 img.tar >truncated.tar
refuse "refuse truncated tar" "truncated" truncated.tar --insecure
refuse "refuse missing platform" "not linux/s390x" img.tar --insecure --platform linux/s390x
refuse "refuse unknown tag" "no image tagged 'v9'" img.tar --insecure --tag v9
printf 'not a tarball' >junk.tar
refuse "refuse junk" "junk.tar" junk.tar --insecure
# a gzip bomb: a layout tar of 128 MiB of zeros compresses ~1000:1
mkdir -p bomb/blobs/sha256 && head -c $((128 << 20)) /dev/zero >bomb/blobs/sha256/zero
zh=$(sha256sum bomb/blobs/sha256/zero | cut -d' ' -f1) && mv bomb/blobs/sha256/zero "bomb/blobs/sha256/$zh"
echo '{"imageLayoutVersion":"1.0.0"}' >bomb/oci-layout
echo '{"schemaVersion":2,"manifests":[]}' >bomb/index.json
tar -C bomb -cf - . | gzip >bomb.tar.gz
rm -rf bomb
refuse "refuse gzip bomb" "decompression bomb" bomb.tar.gz --insecure
rm -f bomb.tar.gz

# ---- trust policies ----
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out cosign.key 2>/dev/null
openssl pkey -in cosign.key -pubout -out cosign.pub 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out other.key 2>/dev/null
openssl pkey -in other.key -pubout -out other.pub 2>/dev/null
printf 'name: mirror\nkeys: [cosign.pub]\n' >policy.yaml
printf '{"keys": ["other.pub"]}' >other.json
printf 'keys: [cosign.pub]\ninsecur: true\n' >typo.yaml
out=$("$AIRFACTORY" import --store "$S" img.tar 2>&1); rc=$?
check_eq "no policy is a usage error" "$rc" 2
check_contains "no policy message" "$out" "--policy FILE"
refuse "policy typo refused" "typo.yaml:2:1: policy: unknown field 'insecur'" img.tar --policy typo.yaml
# one decoder (src/verify/verify_policy.c) for this file and a manifest's trust: entry; what the
# import used to accept and the manifest refused (plan.sh refuses the same text) is refused here too
printf 'keys: [cosign.pub]\ninsecure: true\n' >both.yaml
refuse "insecure beside keys refused, as in a manifest" \
  "both.yaml:1:1: policy: insecure: true cannot be combined with keys or keyless" img.tar --policy both.yaml
printf 'keys: cosign.pub\n' >one-key.yaml
refuse "keys as one string refused, as in a manifest" "one-key.yaml:1:7: policy.keys: expected a list" \
  img.tar --policy one-key.yaml
printf 'keys: [nope.pub]\n' >nokey.yaml
refuse "a missing key file named with its position" "nokey.yaml:1:8: policy.keys[0]: /" \
  img.tar --policy nokey.yaml
refuse "unsigned image refused by key policy" "sha256:$MANIFEST" img.tar --policy policy.yaml

# cosign's legacy signature, made with openssl (validators.md §4): tag sha256-<hex>.sig
sign_layout() { # DIR KEY → adds the .sig manifest for the v1.10.3 manifest
  local dir=$1 key=$2
  printf '{"critical":{"identity":{"docker-reference":"ghcr.io/siderolabs/imager"},"image":{"docker-manifest-digest":"sha256:%s"},"type":"cosign container image signature"},"optional":null}' \
    "$MANIFEST" >payload.json
  openssl dgst -sha256 -sign "$key" -out payload.sig payload.json
  $PY - "$dir" "$MANIFEST" "$(base64 -w0 payload.sig)" <<'EOF'
import hashlib, json, os, sys
d, manifest, sig = sys.argv[1:]
def blob(b):
    h = hashlib.sha256(b).hexdigest()
    open(os.path.join(d, "blobs/sha256", h), "wb").write(b)
    return "sha256:" + h, len(b)
payload = open("payload.json", "rb").read()
pd, ps = blob(payload)
cd, cs = blob(json.dumps({"architecture": "", "os": "", "config": {}, "rootfs": {"type": "layers", "diff_ids": [pd]}},
                         separators=(",", ":")).encode())
m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
     "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
     "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "digest": pd, "size": ps,
                 "annotations": {"dev.cosignproject.cosign/signature": sig}}]}
md, ms = blob(json.dumps(m, separators=(",", ":")).encode())
index = json.load(open(os.path.join(d, "index.json")))
index["manifests"].append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
                           "annotations": {"org.opencontainers.image.ref.name": "sha256-%s.sig" % manifest}})
json.dump(index, open(os.path.join(d, "index.json"), "w"))
EOF
}
cp -r L Lsigned && sign_layout Lsigned cosign.key && tar -C Lsigned -cf signed.tar .
check "openssl verifies the test signature" openssl dgst -sha256 -verify cosign.pub -signature payload.sig payload.json
cp -r L Lwrong && sign_layout Lwrong other.key && tar -C Lwrong -cf wrong.tar .
out=$("$AIRFACTORY" import --store "$T/s-signed" --policy policy.yaml signed.tar 2>&1); rc=$?
check_eq "signed image accepted" "$rc" 0
check_contains "signed image receipt" "$out" "verified: cosign-key sha256:"
check_contains "signature blobs kept" \
  "$(sqlite3 "$T/s-signed/store.db" "SELECT tag FROM source_blobs WHERE kind='signature'")" "sha256-$MANIFEST.sig"
check_contains "store index.json names the signature tag" "$(cat "$T/s-signed/index.json")" "sha256-$MANIFEST.sig"
fp=$(openssl pkey -pubin -in cosign.pub -outform DER | sha256sum | cut -d' ' -f1)
check_contains "receipt names the key" "$("$AIRFACTORY" sources --store "$T/s-signed" --json)" \
  "\"key_fingerprint\":\"sha256:$fp\""
refuse "wrong signer refused" "sha256:$MANIFEST" wrong.tar --policy policy.yaml
refuse "other key's policy refuses our signature" "sha256:$MANIFEST" signed.tar --policy other.json
out=$("$AIRFACTORY" import --store "$T/s-ins" --policy policy.yaml --insecure wrong.tar 2>&1)
check_contains "insecure policy accepts a bad signature, and says so" "$out" "verified: insecure"

# ---- kill -9 in the middle of a blob ----
# The input comes through a FIFO that stops half-way into a 64 MiB layer, so the import is
# certainly inside that blob when it is killed: no timing guesswork.
mkdir -p big/blobs/sha256 && head -c $((64 << 20)) /dev/urandom >big/blobs/sha256/layer
bh=$(sha256sum big/blobs/sha256/layer | cut -d' ' -f1) && mv big/blobs/sha256/layer "big/blobs/sha256/$bh"
echo '{"imageLayoutVersion":"1.0.0"}' >big/oci-layout
echo '{"schemaVersion":2,"manifests":[]}' >big/index.json
tar -C big -cf big.tar "./blobs/sha256/$bh" ./oci-layout ./index.json
rm -rf big
K=$T/store-kill
"$AIRFACTORY" import --store "$K" --insecure img.tar >/dev/null 2>&1
before_kill=$(snapshot "$K")
mkfifo feed.tar
( head -c $((40 << 20)) big.tar; sleep 60 ) >feed.tar &
writer=$!
"$AIRFACTORY" import --store "$K" --insecure feed.tar >kill.log 2>&1 &
importer=$!
for _ in $(seq 1 600); do   # until the temp blob holds 32 MiB (bounded: 60 s)
  size=$(find "$K/tmp" -type f -printf '%s\n' 2>/dev/null | sort -n | tail -1)
  [ "${size:-0}" -ge $((32 << 20)) ] && break
  sleep 0.1
done
check "import was mid-blob when killed" test "${size:-0}" -ge $((32 << 20))
kill -9 $importer 2>/dev/null; wait $importer 2>/dev/null
kill $writer 2>/dev/null; wait $writer 2>/dev/null
check "killed import left only a temp file" test ! -e "$K/blobs/sha256/$bh"
check "temp file present before reopen" test -n "$(ls "$K/tmp")"
"$AIRFACTORY" sources --store "$K" >/dev/null
check_eq "temp files removed on next open" "$(ls "$K/tmp" | wc -l)" 0
check_eq "store unchanged after kill -9" "$(snapshot "$K")" "$before_kill"
check "import after the kill works" "$AIRFACTORY" import --store "$K" --insecure img.tar

# ---- the signed Talos-shaped fixtures (scripts/make-fixtures; `make check` builds them) ----
if [ ! -f "$FIXTURES/fixtures.json" ]; then
  skip "fixtures" "no $FIXTURES/fixtures.json (run scripts/make-fixtures)"
  exit 0
fi
KEYS=$ROOT/tests/keys
printf 'name: fixtures\nkeys: [%s/cosign.pub]\n' "$KEYS" >fx-key.yaml
printf 'keys: [%s/wrong.pub]\n' "$KEYS" >fx-wrong.yaml
printf 'keyless:\n  issuer: https://accounts.google.com\n  identity: "@siderolabs\\\\.com$"\n  trusted_root: %s/trusted_root.json\n' \
  "$KEYS" >fx-keyless.yaml
F=$T/store-fixtures
# every good fixture, by its real reference and role, verified with the fixture key
# the fixture catalogue names catalogs by its own roles; import takes a manifest's (source_role.h)
export ROLE_OF_FIXTURE='{"extensions-catalog": "extensions", "extensions-catalog-docker": "extensions", "overlays-catalog": "overlays"}'
$PY - "$FIXTURES/fixtures.json" >fixtures.list <<'EOF2'
import json, os, sys
for f in json.load(open(sys.argv[1]))["fixtures"]:
    if f.get("expect") == "ok":
        print(f["path"], f["reference"], json.loads(os.environ["ROLE_OF_FIXTURE"]).get(f["role"], f["role"]))
EOF2
failed=0
while read -r path reference role; do
  if ! "$AIRFACTORY" import --store "$F" --policy fx-key.yaml --reference "$reference" --role "$role" \
       "$FIXTURES/$path" >>fixtures.log 2>&1; then
    failed=$((failed + 1)); echo "FAILED: $path" >>fixtures.log
  fi
done <fixtures.list
check_eq "every good fixture imports with the fixture key" "$failed" 0
check_eq "fixture digests recorded as fixtures.json says" "$("$AIRFACTORY" sources --store "$F" --json | $PY -c '
import json, os, sys
want = {}
role_of = json.loads(os.environ["ROLE_OF_FIXTURE"])
for f in json.load(open(sys.argv[1]))["fixtures"]:
    if f.get("expect") == "ok":
        for p in f["platforms"]:
            want[(f["reference"], p["platform"])] = (f["digest"], p["digest"], "cosign-key", role_of.get(f["role"], f["role"]))
got = {}
for line in sys.stdin:
    s = json.loads(line)
    got[(s["reference"], s["platform"])] = (s["digest"], s["manifest_digest"], s["receipt"]["method"], s["role"])
bad = [k for k in want if got.get(k) != want[k]] + [k for k in got if k not in want]
print("ok" if not bad else bad[:3])' "$FIXTURES/fixtures.json")" ok
hws=$FIXTURES/hello-world-service-v1.11.3.oci.tar
out=$("$AIRFACTORY" import --store "$T/store-keyless" --policy fx-keyless.yaml "$hws" 2>&1)
check_contains "keyless: Sigstore bundle verified offline" "$out" "verified: sigstore-bundle"
check_contains "keyless: identity recorded" "$("$AIRFACTORY" sources --store "$T/store-keyless" --json)" \
  '"identity":"airfactory-fixtures@siderolabs.com"'
# hello-world-service v1.9.5 is signed through a Rekor v2 log (no SET) with a test-TSA timestamp
out=$("$AIRFACTORY" import --store "$T/store-keyless" --json --policy fx-keyless.yaml \
  "$FIXTURES/hello-world-service-v1.9.5.oci.tar" 2>&1)
check_eq "keyless: Rekor v2 bundle verified by its inclusion proof and RFC 3161 timestamp" \
  "$(jq -r 'select(.event == "imported") | [.verified, .receipt.timestamp_authority, (.receipt.integrated_time // "none")] | join(" ")' <<<"$out" 2>&1 | sort -u)" \
  "sigstore-bundle https://timestamp.airfactory.test/api/v1/timestamp none"
S=$F before=$(snapshot "$F")
refuse "fixture with the wrong key refused" "no valid signature" "$hws" --policy fx-wrong.yaml
# broken copies (fixtures.json `broken`): refused at import with the policy each names, the store
# left as it was; "platform" ones when arm64 is asked for; "layer" ones (hostile layer contents,
# signed and valid as blobs) import, and test_layer_flatten checks that flattening refuses them.
$PY - "$FIXTURES/fixtures.json" "$ROOT" >broken.list <<'EOF2'
import json, sys
catalog, root = sys.argv[1], sys.argv[2]
words = {"digest-mismatch": "hashes to", "signature-invalid": "no valid signature",
         "signature-digest-mismatch": "no valid signature", "signature-missing": "no signature found",
         "archive-truncated": "truncated", "duplicate-entry": "appears twice", "malformed-json": "index.json",
         "unsupported-media-type": "unknown media type", "platform-missing": "no manifest for platform linux/arm64",
         "certificate-expired": "no valid signature", "identity-mismatch": "no valid signature",
         "untrusted-chain": "no valid signature", "set-invalid": "no valid signature",
         "inclusion-proof-invalid": "no valid signature", "timestamp-invalid": "no valid signature"}
for i, f in enumerate(json.load(open(catalog))["fixtures"]):
    b = f.get("broken")
    if not b:
        continue
    p = b["policy"]
    name = "broken-policy-%d.yaml" % i
    with open(name, "w") as out:
        if p["kind"] == "key":
            out.write("keys: [%s]\n" % ", ".join("%s/%s" % (root, k) for k in p["public_keys"]))
        else:
            out.write("keyless:\n  issuer: %s\n  identity: '%s'\n  trusted_root: %s/%s\n"
                      % (p["issuer"], p["identity_regexp"], root, p["trusted_root"]))
    print(f["path"], b["stage"], name, words.get(b["expected_failure"], "-"))
EOF2
check "broken fixtures listed" test -s broken.list
while read -r path stage policy word; do
  name="broken fixture $path ($stage)"
  extra=()
  [ "$stage" = platform ] && extra=(--platform linux/arm64)
  before=$(snapshot "$F")
  out=$("$AIRFACTORY" import --store "$F" --policy "$policy" "${extra[@]}" "$FIXTURES/$path" 2>&1); rc=$?
  if [ "$stage" = layer ]; then
    if [ $rc -eq 0 ]; then pass "$name imports (flatten refuses it)"; else fail "$name imports" "$out"; fi
    continue
  fi
  if [ $rc -ne 2 ]; then fail "$name refused" "exit $rc: $out"
  elif [ "$word" != - ] && [[ "$out" != *"$word"* ]]; then fail "$name refused" "'$word' not in: $out"
  elif [ "$(snapshot "$F")" != "$before" ]; then fail "$name refused" "store changed"
  else pass "$name refused"; fi
done <broken.list

# ---- Image Factory's own layouts (real keyless signatures; ../shared/testdata beside the clone) ----
# Each image layout and its signature layout, exactly as Image Factory's tooling wrote them (index
# entries with artifactType), merged into one layout as a mirror holds them: the image imports with
# the keyless Talos policy and Sigstore's public-good trusted root, and any other issuer or identity
# is refused with the store unchanged. my-extension-image lacks one large layer upstream too, so its
# import is refused for that missing blob, naming it.
REAL=
for d in "$ROOT/../shared" "$ROOT/../../shared"; do  # ../shared beside a clone, ../../shared beside a worktree
  [ -z "$REAL" ] && [ -f "$d/testdata/image-factory/trusted_root.json" ] && REAL=$d/testdata/image-factory
done
if [ -z "$REAL" ]; then
  skip "import-real-world" "no Image Factory testdata at $ROOT/../shared/testdata/image-factory"
else
  TALOS_RE='(@siderolabs\.com$|^releasemgr-svc@talos-production\.iam\.gserviceaccount\.com$)'
  policy() { # ISSUER IDENTITY -> policy file
    printf 'name: talos-keyless\nkeyless:\n  issuer: %s\n  identity: '\''%s'\''\n  trusted_root: %s\n' \
      "$1" "$2" "$REAL/trusted_root.json" >"$T/real-policy.yaml"
    echo "$T/real-policy.yaml"
  }
  for name in extensions-catalog my-extension; do
    L=$T/real-$name
    mkdir -p "$L/blobs/sha256"
    cp "$REAL/$name-image/blobs/sha256/"* "$REAL/$name-signature/blobs/sha256/"* "$L/blobs/sha256/"
    cp "$REAL/$name-image/oci-layout" "$L/"
    jq -s '.[0] + {manifests: (.[0].manifests + .[1].manifests)}' "$REAL/$name-image/index.json" \
      "$REAL/$name-signature/index.json" >"$L/index.json"
  done
  RS=$T/real-store
  out=$("$AIRFACTORY" import --store "$RS" --json --policy "$(policy https://accounts.google.com "$TALOS_RE")" \
    "$T/real-extensions-catalog" 2>&1)
  check_eq "import-real-world-extensions-catalog-keyless-talos" \
    "$(jq -r 'select(.event == "imported") | [.manifest_digest, .verified, .receipt.identity, .receipt.issuer] | join(" ")' <<<"$out" 2>&1)" \
    "sha256:35b6021450b858574e182bbee95d6b9c8ab95f3623fdcc38e62997f763af631e sigstore-bundle albert.kostusev@siderolabs.com https://accounts.google.com"
  check_contains "import-real-world-extensions-catalog-timestamp-authority" "$out" \
    '"timestamp_authority":"https://timestamp.sigstore.dev/api/v1/timestamp"'
  # any other issuer or identity: refused, nothing from the image in a store that did not hold it
  # (my-extension is refused for its missing layer before its signature is looked at; verify.sh
  # checks its identity)
  RB=$T/real-refused
  "$AIRFACTORY" import --store "$RB" --policy "$(policy https://example.com x)" "$T/real-extensions-catalog" >/dev/null 2>&1
  while IFS=$'\t' read -r issuer identity want; do
    before=$(snapshot "$RB")
    out=$("$AIRFACTORY" import --store "$RB" --policy "$(policy "$issuer" "$identity")" "$T/real-extensions-catalog" 2>&1)
    rc=$?
    label="import-real-world-extensions-catalog-refused-${want// /-}"
    if [ $rc -ne 2 ]; then fail "$label" "exit $rc: $out"
    elif [[ "$out" != *"$want"* ]]; then fail "$label" "'$want' not in: $out"
    elif [ "$(snapshot "$RB")" != "$before" ]; then fail "$label" "store changed"
    elif [ -n "$(ls "$RB/blobs/sha256" 2>/dev/null)" ]; then fail "$label" "blobs in the store"
    else pass "$label"; fi
  done < <(printf '%s\t%s\t%s\n' \
    https://token.actions.githubusercontent.com "$TALOS_RE" "does not match https://token.actions.githubusercontent.com" \
    https://accounts.google.com '^releasemgr-svc@talos-production\.iam\.gserviceaccount\.com$' "does not match identity regexp")
  out=$("$AIRFACTORY" import --store "$RS" --policy "$(policy https://accounts.google.com "$TALOS_RE")" \
    "$T/real-my-extension" 2>&1)
  check_contains "import-real-world-my-extension-refused-for-its-missing-layer" "$out" \
    "blob sha256:086e43973d31229179b5ba1c11e4cfbb4cafec2c051ab62f2de9b745c1ec24e6"
fi

# ---- what is not a file is refused at once, never waited on (docs/security.md) ----
# (a FIFO as the input itself is a tarball streamed in, as the kill test above uses it)
out=$(timeout 20 "$AIRFACTORY" import --store "$T/s-fifo" --insecure /dev/null 2>&1); rc=$?
check_eq "a device as the input: status 2 at once" "$rc" 2
check_contains "a device as the input: says so" "$out" "/dev/null: is a device, not a tarball or an OCI layout directory"
mkdir -p "$T/fifo-layout/blobs/sha256" && mkfifo "$T/fifo-layout/index.json"
out=$(timeout 20 "$AIRFACTORY" import --store "$T/s-fifo" --insecure "$T/fifo-layout" 2>&1); rc=$?
check_eq "a FIFO as index.json: status 2 at once" "$rc" 2
check_contains "a FIFO as index.json: says so" "$out" "index.json: is a FIFO (named pipe), not a regular file"
cp -r "$T/L" "$T/fifo-blob" 2>/dev/null || cp -r L "$T/fifo-blob"
blob=$(jq -r '.manifests[0].digest' "$T/fifo-blob/index.json" | cut -d: -f2)  # the manifest: always read
rm "$T/fifo-blob/blobs/sha256/$blob" && mkfifo "$T/fifo-blob/blobs/sha256/$blob"
out=$(timeout 20 "$AIRFACTORY" import --store "$T/s-fifo" --insecure "$T/fifo-blob" 2>&1); rc=$?
check_eq "a FIFO as a blob: status 2 at once" "$rc" 2
check_contains "a FIFO as a blob: says so" "$out" "is a FIFO (named pipe), not a regular file"
