#!/usr/bin/env bash
# serve_runbook — an operator's factory.talos.dev runbook (tests/data/runbook-factory-download.md,
# a verbatim copy of shared/reference/runbook-factory-download.md) runs unchanged against
# airfactory-serve with only the host name changed: its bash blocks are extracted from the file,
# the factory URL replaced by the server's and the <parameters> filled in, then run in order.
# The bundle is built by `airfactory build` from the demo manifest's pve-nocloud schematic with
# only the outputs the runbook fetches (nocloud-amd64.raw.xz, the installer), to stay fast.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/serve-lib.bash"
for tool in jq curl sha256sum; do
  command -v $tool >/dev/null || { skip "serve_runbook" "$tool not installed (scripts/install-deps.sh)"; exit 0; }
done
for f in qemu-guest-agent-9.2.0 iscsi-tools-v0.1.6 imager-v1.11.3 installer-base-v1.11.3 extensions-v1.11.3; do
  [ -s "$FIXTURES/$f.oci.tar" ] || { fail "fixtures" "no $f fixture: run make fixtures"; exit 1; }
done
RUNBOOK=$ROOT/tests/data/runbook-factory-download.md
SCR=$(mktemp -d "${TMPDIR:-/tmp}/airfactory-serve-runbook.XXXXXX")
trap serve_cleanup EXIT
cd "$SCR" || exit 1
export SOURCE_DATE_EPOCH=1735689600
sha() { sha256sum | cut -d' ' -f1; }

# ---- the bundle: demo.yaml's pve-nocloud schematic, the runbook's outputs only ----
$AIRFACTORY keygen -o "$SCR/b" >/dev/null
schematic=$(python3 - "$ROOT/docs/examples/demo.yaml" <<'EOF'
import json, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
s = [x for x in doc["schematics"] if x["name"] == "pve-nocloud"][0]
print(json.dumps(s["schematic"]))
EOF
)
check "demo.yaml has the runbook's schematic" test -n "$schematic"
cat >manifest.yaml <<EOF
schematics:
  - name: pve-nocloud
    schematic: $schematic
versions: [v1.11.3]
architectures: [amd64]
outputs: [nocloud-amd64.raw.xz, installer-amd64.tar]
sources:
  - {role: imager, path: $FIXTURES/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}
  - {role: installer-base, path: $FIXTURES/installer-base-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/installer-base:v1.11.3}
  - {role: extensions, path: $FIXTURES/extensions-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/extensions:v1.11.3}
  - {role: extension, path: $FIXTURES/qemu-guest-agent-9.2.0.oci.tar, reference: ghcr.io/siderolabs/qemu-guest-agent:9.2.0}
  - {role: extension, path: $FIXTURES/iscsi-tools-v0.1.6.oci.tar, reference: ghcr.io/siderolabs/iscsi-tools:v0.1.6}
trust:
  default:
    keys: [$ROOT/tests/keys/cosign.pub]
signing_key: $SCR/b.key
output: $SCR/b
EOF
out=$($AIRFACTORY build manifest.yaml 2>&1)
check_eq "airfactory build exits 0" "$?" 0 || { echo "$out" | tail -5; exit 1; }
LS=$($AIRFACTORY ls "$SCR/b" --key "$SCR/b.pub" --json)
ID=$(jq -r '.schematics[] | select(.name == "pve-nocloud") | .id' <<<"$LS")
RAW_DIGEST=$(jq -r --arg id "$ID" '.assets[] | select(.schematic == $id and .path == "nocloud-amd64.raw.xz") | .digest' <<<"$LS")
check_eq "the bundle holds nocloud-amd64.raw.xz of pve-nocloud" "${RAW_DIGEST:0:7}" "sha256:"

start_serve runbook "$SCR/b" --key "$SCR/b.pub" || { fail "server starts"; exit 1; }

# ---- the runbook's commands, extracted from the file ----
python3 - "$RUNBOOK" "$URL" "$SCR/out" >runbook.sh <<'EOF'
import re, sys
text, url, out = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
script = "\n".join(re.sub(r"^   ", "", b, flags=re.M) for b in blocks)
script = script.replace("https://factory.talos.dev", url)  # the host: the only change
for k, v in {"talos_version": "1.11.3", "output_dir": out, "arch": "amd64"}.items():
    script = script.replace("<%s>" % k, v)
print("set -e -o pipefail\n" + script)
EOF
check_eq "the runbook has its four bash blocks" "$(grep -c 'curl -s' runbook.sh)" 5
check_contains "the extracted commands point at the server" "$(cat runbook.sh)" "$URL/schematics"
mkdir -p "$SCR/out"
out=$(bash runbook.sh 2>&1)
check_eq "the runbook's commands exit 0" "$?" 0 || echo "$out" | tail -5
check_contains "step 1 lists the Talos version" "$out" "v1.11.3"
check_contains "step 2 lists siderolabs/qemu-guest-agent" "$out" "siderolabs/qemu-guest-agent"
check_contains "step 2 lists siderolabs/iscsi-tools" "$out" "siderolabs/iscsi-tools"
check_contains "step 3 prints the bundle's schematic ID" "$out" "Schematic ID: $ID"
F=$SCR/out/talos-1.11.3-nocloud-amd64.raw.xz
check_eq "step 4 downloads the bundle's nocloud-amd64.raw.xz" "sha256:$(sha <"$F")" "$RAW_DIGEST"
check_eq "the download is an xz stream" "$(head -c 6 "$F" | od -An -tx1 | tr -d ' \n')" "fd377a585a00"

# step 5: the installer reference, as talosctl upgrade --image would resolve it
ref=$(sed -n '/^5\./,/^6\./p' "$RUNBOOK" | grep -o 'factory.talos.dev/installer/[^ `]*' | head -1)
check_eq "step 5 names the installer reference" "$ref" 'factory.talos.dev/installer/$SCHEMATIC:v<talos_version>'
ref=${ref/factory.talos.dev/127.0.0.1:$PORT}
ref=${ref/\$SCHEMATIC/$ID}
ref=${ref/<talos_version>/1.11.3}
repo=${ref#*/}; repo=${repo%:*}; tag=${ref##*:}
check_eq "the installer reference resolves in the registry" \
  "$(curl -s -o /dev/null -w '%{http_code}' -H 'Accept: application/vnd.oci.image.index.v1+json' "$URL/v2/$repo/manifests/$tag")" 200
