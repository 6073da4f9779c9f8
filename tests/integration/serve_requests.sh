#!/usr/bin/env bash
# serve_requests — requests for what the bundle lacks: POST /schematics answers 201 with the ID and
# an X-Airfactory-Bundle: absent header; /image, /pxe and the wizard's final page record misses in
# --requests-dir DIR/requests.jsonl (once each, bounded under a flood, never inside the bundle);
# `airfactory requests merge` prints the manifest additions and `airfactory plan --with-requests`
# lists exactly the models they add.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/serve-lib.bash"
command -v jq >/dev/null || { skip "serve_requests" "jq not installed (scripts/install-deps.sh)"; exit 0; }
serve_setup
cd "$SCR" || exit 1
REQ=$SCR/req
F=$REQ/requests.jsonl

check_fails "a requests dir inside the bundle is refused" "$AIRFACTORY_SERVE" "$BUNDLE" --key "$PUB" \
  --listen 127.0.0.1:1 --requests-dir "$BUNDLE/requests"
check_eq "... and nothing was written into the bundle" "$(ls "$BUNDLE" | grep -c requests)" 0
start_serve req "$BUNDLE" --key "$PUB" --requests-dir "$REQ" || { fail "server starts"; exit 1; }
S=$SCHEMATIC

# ---- POST /schematics of a schematic the bundle lacks: 201, the ID, a header ----
body='{"customization":{"systemExtensions":{"officialExtensions":["siderolabs/qemu-guest-agent","siderolabs/iscsi-tools"]}}}'
curl -s -D h -o post.json -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d "$body" "$URL/schematics" >code
check_eq "POST of a schematic not in the bundle: 201" "$(cat code)" 201
NEW=$(jq -r .id post.json)
check_eq "... with Image Factory's ID" "$NEW" "$(printf '%s' "$body" | $AIRFACTORY schematic id -)"
check_contains "... and a header saying the bundle lacks it" "$(header X-Airfactory-Bundle h)" "absent"
check_eq "POST of a schematic in the bundle: no such header" \
  "$(curl -s -D - -o /dev/null -X POST --data-binary $'customization: {}\n' "$URL/schematics" | grep -ci '^x-airfactory-bundle')" 0
out=$(curl -s -w '|%{http_code}' "$URL/image/$NEW/v1.11.3/nocloud-amd64.raw.xz")
check_contains "its download: 404" "$out" "|404"
check_contains "... saying the request was recorded" "$out" "this request was recorded"
curl -s -o /dev/null "$URL/image/$NEW/v1.11.3/nocloud-amd64.raw.xz"
out=$(curl -s -w '|%{http_code}' "$URL/ui/schematic/$NEW/v1.11.3")
check_contains "the wizard's page for it: 404 saying how the request travels" "$out" "requests merge"
curl -s -o /dev/null "$URL/image/$S/v1.11.3/metal-arm64.iso"
curl -s -o /dev/null "$URL/pxe/$SCHEMATIC2/v1.11.3/metal-amd64-secureboot"
curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -d "$body" "$URL/schematics"
# the UI's request form records the same line as curl's miss: once in the file
check_contains "the 404 page offers the request form" "$out" 'action="/ui/request"'
check_eq "UI request: 202" "$(curl -s -o ui.html -w '%{http_code}' "$URL/ui/request?schematic=$NEW&version=1.11.3&asset=nocloud-x86_64.raw.xz")" 202
check_contains "UI request: says where it goes" "$(cat ui.html)" "airfactory requests merge"
check_eq "UI request of nocloud-amd64.raw.xz and curl's /image miss: one line" \
  "$(grep -c "\"schematic\":\"$NEW\",\"yaml\":.*\"asset\":\"nocloud-amd64.raw.xz\"\|\"schematic\":\"$NEW\",\"version\":\"v1.11.3\",\"asset\":\"nocloud-amd64.raw.xz\"" "$F")" 1
check_eq "UI request of something the bundle holds: 200, nothing recorded" \
  "$(curl -s -o /dev/null -w '%{http_code}' "$URL/ui/request?schematic=$S&version=v1.11.3&asset=kernel-amd64")" 200
out=$(curl -s -w '|%{http_code}' "$URL/ui/request?schematic=$NEW&version=v1.11.3&asset=%3Cb%3E.iso")
check_contains "UI request of a bad file name: 400, escaped" "$out" "|400"
if grep -q "<b>" <<<"$out"; then fail "UI request: no raw request text"; else pass "UI request: no raw request text"; fi
curl -s -o /dev/null "$URL/v2/installer/$NEW/manifests/v1.11.3"
curl -s -o /dev/null "$URL/v2/installer/$NEW/manifests/v1.11.3"
check_contains "a registry pull of its installer is recorded (as amd64: the URL has no arch)" \
  "$(jq -c "select(.schematic == \"$NEW\" and .asset == \"installer-amd64.tar\")" "$F")" '"version":"v1.11.3"'
check_eq "the requests file: one line per distinct request" "$(wc -l <"$F")" 6
check_eq "the POST is recorded once, with its canonical YAML" "$(jq -r "select(.schematic == \"$NEW\" and .yaml) | .yaml" "$F" | grep -c qemu-guest-agent)" 1
check_eq "the UI's miss and curl's are distinct requests, each once" \
  "$(jq -c "select(.schematic == \"$NEW\" and .version == \"v1.11.3\")" "$F" | sort | uniq -d | wc -l)" 0
check_contains "the PXE miss names its cmdline" "$(cat "$F")" "\"asset\":\"cmdline-metal-amd64-secureboot\""
check_eq "the bundle is untouched" "$(cd "$BUNDLE" && find . -newer "$SCR/b/facts.env" | grep -v '^\.$' | wc -l)" 0
cp "$F" requests.jsonl
# (after the copy: merge and plan below read the six lines above)
curl -s -o /dev/null "$URL/v2/metal-installer-secureboot/$NEW/manifests/v1.11.3"
check_contains "a registry pull of its SecureBoot installer is recorded under the asset grammar's name" \
  "$(jq -c "select(.schematic == \"$NEW\" and .asset == \"installer-amd64-secureboot.tar\")" "$F")" '"version":"v1.11.3"'

# ---- requests merge ----
check "requests merge -o" $AIRFACTORY requests merge requests.jsonl -o add.yaml
check_contains "merge: the new schematic as an entry" "$(cat add.yaml)" "- name: requested-${NEW:0:12}"
check_contains "merge: its versions" "$(cat add.yaml)" "versions: [v1.11.3]"
check_contains "merge: its outputs" "$(cat add.yaml)" "outputs: [nocloud-amd64.raw.xz, installer-amd64.tar]"
check_contains "merge: PXE brings the UKI (the bundle's schematic: its YAML is recorded too)" "$(cat add.yaml)" "metal-amd64-secureboot-uki.efi"
check "merge: the additions are YAML" python3 -c 'import sys, yaml; d = yaml.safe_load(open("add.yaml")); assert len(d["schematics"]) == 3'
check_eq "merge: two files, deduplicated" "$($AIRFACTORY requests merge requests.jsonl requests.jsonl | head -1)" \
  "$($AIRFACTORY requests merge requests.jsonl | head -1)"
echo 'not json' >bad.jsonl
check_contains "merge: a bad line names file:line" "$($AIRFACTORY requests merge bad.jsonl 2>&1)" "bad.jsonl:1"

# ---- plan --with-requests: exactly the missing models ----
$AIRFACTORY keygen -o "$SCR/k" >/dev/null
cat >manifest.yaml <<EOF
schematics:
  - name: vanilla
    schematic: {customization: {}}
versions: [v1.11.3]
architectures: [amd64]
outputs: [kernel-amd64]
sources:
  - {role: imager, path: $FIXTURES/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}
  - {role: installer-base, path: $FIXTURES/installer-base-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/installer-base:v1.11.3}
  - {role: extensions, path: $FIXTURES/extensions-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/extensions:v1.11.3}
  - {role: extension, path: $FIXTURES/qemu-guest-agent-9.2.0.oci.tar, reference: ghcr.io/siderolabs/qemu-guest-agent:9.2.0}
  - {role: extension, path: $FIXTURES/iscsi-tools-v0.1.6.oci.tar, reference: ghcr.io/siderolabs/iscsi-tools:v0.1.6}
trust:
  default:
    keys: [$ROOT/tests/keys/cosign.pub]
signing_key: $SCR/k.key
output: $SCR/out
EOF
jq -c "select(.schematic == \"$NEW\" or (.schematic == \"$S\" and .asset == \"metal-arm64.iso\"))" requests.jsonl >plan-req.jsonl
out=$($AIRFACTORY plan manifest.yaml --with-requests plan-req.jsonl 2>&1)
check_eq "plan --with-requests exits 0" "$?" 0 || echo "$out"
check_eq "plan --with-requests: exactly the missing models" "$out" \
"$S vanilla v1.11.3 arm64 metal-arm64.iso
$NEW requested-${NEW:0:12} v1.11.3 amd64 nocloud-amd64.raw.xz
$NEW requested-${NEW:0:12} v1.11.3 amd64 installer-amd64.tar"
check_eq "plan without requests is unchanged" "$($AIRFACTORY plan manifest.yaml)" "$S vanilla v1.11.3 amd64 kernel-amd64"

# ---- a flood of distinct misses: the file stays bounded, the server answers ----
pad=flood$(printf 'a%.0s' {1..40})
for i in $(seq 1 6500); do echo "url = \"$URL/image/$S/v1.11.3-$pad.$i/metal-amd64-secureboot-uki.efi\""; echo "output = /dev/null"; done >flood.cfg
curl -s -K flood.cfg
size=$(stat -c %s "$F")
check "flood: the requests file stays within 1 MiB" test "$size" -le 1048576
check "flood: ... and was filled up to it" test "$size" -ge 1000000
check_eq "flood: the server still answers" "$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")" 200
check_contains "flood: the log says recording stopped" "$(cat "$SERVE_LOG")" "further requests are not recorded"
