#!/usr/bin/env bash
# tests/integration/plan.sh — `airfactory plan` on docs/examples/demo.yaml: the expected model
# list (text and NDJSON), and the file:line:column errors a broken manifest gets (exit 2).
# The demo's sources live in build/fixtures (scripts/make-fixtures); when they are absent the
# demo runs from a scratch copy of the tree with empty stand-ins, since plan only checks that the
# files exist.
source "$(dirname "$0")/../lib.sh"
T=$(scratch)
VANILLA=376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba
# the demo schematic's ID, computed with go-yaml (tests/data/schematic/tools/oracle.go)
DEMO=d816e0843170f9070674c8f1d526b33ccad0aab8e1ec6c06d65a55dbd69fd547
# the pve-nocloud schematic (qemu-guest-agent + iscsi-tools, the factory runbook's), computed by `airfactory schematic id`
PVE=6ebbfe35c8225645c05d4d19eaad385bd1ec795954932d0ada671388272fec19

demo_sources() { grep -o '\.\./\.\./build/fixtures/[^,}]*\.oci\.tar' "$ROOT/docs/examples/demo.yaml"; }
MANIFEST=$ROOT/docs/examples/demo.yaml
missing=0
for f in $(demo_sources); do [ -f "$ROOT/docs/examples/$f" ] || missing=1; done
if [ "$missing" -eq 1 ]; then
  mkdir -p "$T/tree/docs/examples" "$T/tree/tests/keys"
  cp "$MANIFEST" "$T/tree/docs/examples/"
  cp "$ROOT/tests/keys/cosign.pub" "$T/tree/tests/keys/"
  for f in $(demo_sources); do mkdir -p "$(dirname "$T/tree/docs/examples/$f")"; : >"$T/tree/docs/examples/$f"; done
  MANIFEST=$T/tree/docs/examples/demo.yaml
fi
# plan checks that the bundle's signing key is there: the demo's (build/demo/bundle.key) is made by
# `make run`, so plan a copy whose relative paths are absolute and whose key is made here (the
# line numbers stay those of docs/examples/demo.yaml)
BASE=$(cd "$(dirname "$MANIFEST")/../.." && pwd)
"$AIRFACTORY" keygen -o "$T/demo" >/dev/null 2>&1
sed -e "s|signing_key: .*|signing_key: $T/demo.key|" -e "s|\.\./\.\./|$BASE/|g" "$MANIFEST" >"$T/demo.yaml"
MANIFEST=$T/demo.yaml

out=$("$AIRFACTORY" plan "$MANIFEST" 2>"$T/err"); rc=$?
check_eq "demo plans" "$rc" 0
[ "$rc" -eq 0 ] || cat "$T/err"
# vanilla: 2 versions x 2 arches x 6 outputs; demo is amd64 only (intel-ucode is an amd64 extension);
# pve-nocloud (the factory runbook's schematic): v1.11.3 amd64, nocloud disk + installer
check_eq "38 models" "$(echo "$out" | wc -l)" 38
check_eq "first model" "$(echo "$out" | head -1)" "$VANILLA vanilla v1.11.3 amd64 kernel-amd64"
check_eq "last model" "$(echo "$out" | tail -1)" "$PVE pve-nocloud v1.11.3 amd64 installer-amd64.tar"
check_eq "demo only on amd64" "$(echo "$out" | grep " demo " | awk '{print $4}' | sort -u)" amd64
check_eq "two schematic IDs" "$(echo "$out" | cut -d' ' -f1,2 | sort -u | tr '\n' ' ')" "$VANILLA vanilla $PVE pve-nocloud $DEMO demo "
check_eq "models per version (v1.11.3, v1.9.5)" "$(echo "$out" | awk '{print $3}' | sort | uniq -c | awk '{print $1}' | tr '\n' ' ')" "20 18 "
expected_paths="cmdline-metal-amd64 cmdline-metal-arm64 initramfs-amd64.xz initramfs-arm64.xz installer-amd64.tar \
installer-arm64.tar kernel-amd64 kernel-arm64 metal-amd64-uki.efi metal-amd64.iso metal-arm64-uki.efi metal-arm64.iso \
nocloud-amd64.raw.xz "
check_eq "asset paths" "$(echo "$out" | awk '{print $5}' | sort -u | tr '\n' ' ')" "$expected_paths"
check_eq "no duplicates" "$(echo "$out" | sort | uniq -d | wc -l)" 0
# the IDs are the schematic module's: fmt of the inline schematic gives the same ID
printf 'customization: {}\n' | check_eq "vanilla ID agrees with 'schematic id'" "$("$AIRFACTORY" schematic id -)" "$VANILLA"

json=$("$AIRFACTORY" plan "$MANIFEST" --json)
check_eq "NDJSON: 38 objects" "$(echo "$json" | jq -c . | wc -l)" 38
check_eq "NDJSON fields" "$(echo "$json" | sed -n 7p | jq -r '[.schematic,.name,.version,.arch,.path,.kind,.platform,.secureboot] | join(" ")')" \
  "$VANILLA vanilla v1.11.3 amd64 metal-amd64-uki.efi uki metal false"
check_eq "NDJSON agrees with text" "$(echo "$json" | jq -r '[.schematic,.name,.version,.arch,.path] | join(" ")')" "$out"

# ---- broken manifests: status 2 and file:line:column ----
expect_plan_error() { # NAME MANIFEST-TEXT FRAGMENT
  printf '%b' "$2" >"$T/m.yaml"
  local msg rc
  msg=$("$AIRFACTORY" plan "$T/m.yaml" 2>&1); rc=$?
  if [ "$rc" -ne 2 ]; then fail "$1" "exit status $rc, expected 2: $msg"; return; fi
  check_contains "$1" "$msg" "$3"
}
: >"$T/imager.oci.tar"
: >"$T/k"  # the signing key TAIL names: plan checks it is a readable file, build that it is a key
cp "$ROOT/tests/keys/cosign.pub" "$T/cosign.pub"
HEAD='schematics:\n  - {name: v, schematic: {}}\nversions: [v1.11.3]\narchitectures: [amd64]\n'
TAIL='sources:\n  - {role: imager, path: imager.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}\ntrust:\n  default: {keys: [cosign.pub]}\nsigning_key: k\noutput: o\n'
expect_plan_error "unknown output" "${HEAD}outputs: [kernel, banana]\n$TAIL" "$T/m.yaml:5:19: unknown output 'banana'"
expect_plan_error "unknown platform" "${HEAD}outputs: [metl.iso]\n$TAIL" \
  "$T/m.yaml:5:11: output 'metl.iso': unknown platform 'metl'; expected one of metal,"
expect_plan_error "unknown arch" 'schematics: [{name: v, schematic: {}}]\nversions: [v1.11.3]\narchitectures: [x86]\noutputs: [kernel]\n'"$TAIL" \
  "$T/m.yaml:3:17: unknown architecture 'x86'; expected amd64 or arm64"
expect_plan_error "version format" 'schematics: [{name: v, schematic: {}}]\nversions: [1.11]\narchitectures: [amd64]\noutputs: [kernel]\n'"$TAIL" \
  "$T/m.yaml:2:12: '1.11' is not a Talos version; expected vX.Y.Z"
expect_plan_error "missing imager for a version" 'schematics: [{name: v, schematic: {}}]\nversions: [v1.11.3, v1.10.7]\narchitectures: [amd64]\noutputs: [kernel]\n'"$TAIL" \
  "$T/m.yaml:2:21: missing imager source for v1.10.7"
expect_plan_error "duplicate schematic" 'schematics:\n  - {name: a, schematic: {}}\n  - {name: b, schematic: {customization: ~}}\nversions: [v1.11.3]\narchitectures: [amd64]\noutputs: [kernel]\n'"$TAIL" \
  "$T/m.yaml:3:5: schematics[1]: duplicate schematic: 'b' has the same ID"
expect_plan_error "schematic error inside the manifest" 'schematics:\n  - name: a\n    schematic:\n      customization: {meta: [{key: 300}]}\nversions: [v1.11.3]\narchitectures: [amd64]\noutputs: [kernel]\n'"$TAIL" \
  "$T/m.yaml:4:36: customization.meta[0].key: 300 is out of range"
expect_plan_error "missing source file" "${HEAD}outputs: [kernel]\n"'sources:\n  - {role: imager, path: nope.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}\ntrust:\n  default: {insecure: true}\nsigning_key: k\noutput: o\n' \
  "$T/m.yaml:7:5: missing source file $T/nope.oci.tar"
expect_plan_error "unknown trust policy" "${HEAD}outputs: [kernel]\n"'sources:\n  - {role: imager, path: imager.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3, trust: strict}\ntrust:\n  default: {insecure: true}\nsigning_key: k\noutput: o\n' \
  "$T/m.yaml:7:5: sources[0]: unknown trust policy 'strict'"
# one trust-policy decoder (src/verify/verify_policy.c) for a manifest and `import --policy`: the
# texts the import used to accept are refused by both (import.sh refuses the same as policy files)
expect_plan_error "insecure beside keys refused" \
  "${HEAD}outputs: [kernel]\n${TAIL/keys: \[cosign.pub\]/insecure: true, keys: [cosign.pub]}" \
  "$T/m.yaml:9:12: trust.default: insecure: true cannot be combined with keys or keyless"
expect_plan_error "keys as one string refused" "${HEAD}outputs: [kernel]\n${TAIL/keys: \[cosign.pub\]/keys: cosign.pub}" \
  "$T/m.yaml:9:19: trust.default.keys: expected a list of PEM public key files, found a string"
expect_plan_error "a policy file's name: is not a manifest field" \
  "${HEAD}outputs: [kernel]\n${TAIL/keys: \[cosign.pub\]/name: x, keys: [cosign.pub]}" \
  "$T/m.yaml:9:13: trust.default: unknown field 'name'; expected one of: keys, keyless, insecure"
expect_plan_error "installer needs installer-base" "${HEAD}outputs: [installer.tar]\n$TAIL" \
  "$T/m.yaml:5:11: output 'installer.tar' needs an 'installer-base' source for v1.11.3"
expect_plan_error "unknown manifest field" "${HEAD}outputs: [kernel]\n${TAIL}colour: blue\n" \
  "$T/m.yaml:12:1: manifest: unknown field 'colour'"
expect_plan_error "YAML syntax" 'schematics: [\n' "$T/m.yaml:2:1:"

# ---- files that are not what they should be (docs/security.md) ----
expect_plan_error "a missing signing_key is found by plan" "${HEAD}outputs: [kernel]\n${TAIL/signing_key: k/signing_key: nokey}" \
  "signing_key $T/nokey: cannot open: No such file or directory; make a key pair with \`airfactory keygen"
mkdir -p "$T/keydir"
expect_plan_error "a signing_key that is a directory is refused" \
  "${HEAD}outputs: [kernel]\n${TAIL/signing_key: k/signing_key: keydir}" "signing_key $T/keydir: is a directory, not a regular file"
mkfifo "$T/fifo"
expect_plan_error "a signing_key that is a FIFO is refused at once" \
  "${HEAD}outputs: [kernel]\n${TAIL/signing_key: k/signing_key: fifo}" "signing_key $T/fifo: is a FIFO (named pipe), not a regular file"
expect_plan_error "a schematic file that is a FIFO is refused at once (no hang)" \
  'schematics:\n  - {name: f, file: fifo}\nversions: [v1.11.3]\narchitectures: [amd64]\noutputs: [kernel]\n'"$TAIL" \
  "$T/fifo: is a FIFO (named pipe), not a regular file"
expect_plan_error "a trust key that is a FIFO is refused at once" \
  "${HEAD}outputs: [kernel]\n${TAIL/keys: \[cosign.pub\]/keys: [fifo]}" "public key file $T/fifo: is a FIFO"
expect_plan_error "a source that is a FIFO is refused at once" \
  "${HEAD}outputs: [kernel]\n${TAIL/path: imager.oci.tar/path: fifo}" "source $T/fifo (imager ghcr.io/siderolabs/imager:v1.11.3) is neither a file nor"
out=$(timeout 20 "$AIRFACTORY" plan "$T/fifo" 2>&1); rc=$?
check_eq "a manifest that is a FIFO: status 2 at once" "$rc" 2
check_contains "a manifest that is a FIFO: says so" "$out" "$T/fifo: is a FIFO (named pipe), not a regular file"
out=$(timeout 20 "$AIRFACTORY" schematic id "$T/fifo" 2>&1); rc=$?
check_eq "schematic id of a FIFO: status 2 at once" "$rc" 2
# a wrong file: (here a stand-in for /etc/shadow) must not put its first line into the error
printf 'root:$6$AIRFACTORYSECRETHASH$x:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n' >"$T/shadow"
expect_plan_error "a wrong schematic file: the error says what is wrong" \
  'schematics:\n  - {name: w, file: shadow}\nversions: [v1.11.3]\narchitectures: [amd64]\noutputs: [kernel]\n'"$TAIL" \
  "$T/shadow:1:1: schematic: unknown field (not shown: it is not a field name; is this a schematic?)"
printf '%b' 'schematics:\n  - {name: w, file: shadow}\nversions: [v1.11.3]\narchitectures: [amd64]\noutputs: [kernel]\n'"$TAIL" >"$T/m.yaml"
case $("$AIRFACTORY" plan "$T/m.yaml" 2>&1) in *AIRFACTORYSECRET*) fail "a wrong schematic file: its content is never echoed" ;;
  *) pass "a wrong schematic file: its content is never echoed" ;; esac
case $("$AIRFACTORY" plan "$T/shadow" 2>&1; "$AIRFACTORY" schematic id "$T/shadow" 2>&1) in
  *AIRFACTORYSECRET*) fail "a wrong manifest or schematic: its content is never echoed" ;;
  *) pass "a wrong manifest or schematic: its content is never echoed" ;; esac
# a UTF-8 byte order mark is accepted, as go-yaml accepts it
printf '\xef\xbb\xbf%b' "${HEAD}outputs: [kernel]\n$TAIL" >"$T/bom.yaml"
check_eq "a manifest with a UTF-8 BOM plans" "$("$AIRFACTORY" plan "$T/bom.yaml" 2>&1)" "$VANILLA v v1.11.3 amd64 kernel-amd64"
printf '\xef\xbb\xbfcustomization:\n  extraKernelArgs: [a]\nowner:\n' >"$T/bom-schematic.yaml"
printf 'customization:\n  extraKernelArgs: [a]\nowner:\n' >"$T/plain-schematic.yaml"
check_eq "a schematic with a UTF-8 BOM has the ID it has without" \
  "$("$AIRFACTORY" schematic id "$T/bom-schematic.yaml" 2>&1)" "$("$AIRFACTORY" schematic id "$T/plain-schematic.yaml" 2>&1)"
out=$("$AIRFACTORY" plan 2>&1); rc=$?
check_eq "plan without a manifest is a usage error" "$rc" 2
out=$("$AIRFACTORY" plan "$T/nothing.yaml" 2>&1); rc=$?
check_eq "a missing manifest is an input error" "$rc" 2
check_contains "the missing manifest is named" "$out" "$T/nothing.yaml"
