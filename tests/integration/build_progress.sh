#!/usr/bin/env bash
# What `airfactory build` shows on standard error: on a terminal (a pseudo-terminal made by
# `script`) the live display — redrawn in place with ANSI sequences, an overall bar with asset
# counts, bytes and an ETA, the finished assets scrolling above it, and a summary line at the
# end; when standard error is a file, plain lines with no escape sequence; with --json on a
# terminal, NDJSON only. (The rendering itself is unit-tested with a fake clock: test_progress.)
source "$(dirname "$0")/../lib.sh"
S=$(scratch)
FX=$FIXTURES
if [ ! -f "$FX/imager-v1.11.3.oci.tar" ]; then
  fail "fixtures present" "run scripts/make-fixtures first ($FX)"; exit 1
fi
if ! command -v script >/dev/null; then
  fail "script (bsdutils) present" "apt-get install bsdutils"; exit 1
fi
export SOURCE_DATE_EPOCH=1700000000
cat >"$S/manifest.yaml" <<YAML
schematics:
  - name: demo
    schematic: {customization: {extraKernelArgs: [console=ttyS0]}}
versions: [v1.11.3]
architectures: [amd64]
outputs: [kernel, initramfs.xz, cmdline-metal]
sources:
  - {role: imager, path: $FX/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}
trust:
  default: {keys: [$ROOT/tests/keys/cosign.pub]}
signing_key: $S/bundle.key
output: $S/unused
YAML
check "keygen" "$AIRFACTORY" keygen -o "$S/bundle"

# ---- on a terminal ----
COLUMNS=100 script -qec "'$AIRFACTORY' build '$S/manifest.yaml' -o '$S/tty' --store '$S/store' -j 2" \
  "$S/tty.typescript" >/dev/null 2>&1
check_eq "build on a terminal exits 0" "$?" 0
tty_out=$(tr -d '\r' <"$S/tty.typescript")
check_contains "terminal: the display is erased and redrawn in place" "$tty_out" $'\033[J'
check_contains "terminal: the overall line counts assets" "$tty_out" "/3 assets, 0 reused"
check_contains "terminal: the overall line has an ETA" "$tty_out" "ETA "
check_contains "terminal: finished assets scroll above the display" "$tty_out" "built  demo/v1.11.3/kernel-amd64"
check_contains "terminal: the bundle line is shown" "$tty_out" "written and signed: 3 assets built, 0 reused"
# the screen's last line, once the escape sequences are gone
last=$(echo "$tty_out" | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' | grep -a -v '^Script \|^$' | tail -1)
check_contains "terminal: the summary line ends the output" "$last" "done: 3 assets, 3 built, 0 reused"
summary=$last
check_contains "terminal: the summary names the bytes built and -j" "$summary" "MiB built in"
check_contains "terminal: the summary names -j" "$summary" "(-j 2)"
check "the bundle built on a terminal verifies" "$AIRFACTORY" verify "$S/tty" --key "$S/bundle.pub" --full

# a rerun on a terminal: everything reused, said so in the summary
COLUMNS=100 script -qec "'$AIRFACTORY' build '$S/manifest.yaml' -o '$S/tty' --store '$S/store' -j 2" \
  "$S/tty2.typescript" >/dev/null 2>&1
check_contains "terminal: a no-op rerun's summary" "$(tr -d '\r' <"$S/tty2.typescript")" \
  "done: 3 assets, 0 built, 3 reused"

# ---- not a terminal: one plain line per event, no escape sequences ----
"$AIRFACTORY" build "$S/manifest.yaml" -o "$S/plain" --store "$S/store" -j 2 2>"$S/plain.log"
check_eq "build with stderr in a file exits 0" "$?" 0
check_eq "file: no escape sequences" "$(grep -c $'\033' "$S/plain.log")" 0
check_eq "file: one line per asset, in plan order" "$(grep -E '^(built |reused)' "$S/plain.log" | awk '{print $2}')" \
  "$(printf 'demo/v1.11.3/kernel-amd64\ndemo/v1.11.3/initramfs-amd64.xz\ndemo/v1.11.3/cmdline-metal-amd64')"
check_eq "file: no summary display line" "$(grep -c '^done: ' "$S/plain.log")" 0

# --key replaces the manifest's signing_key: a manifest naming a key this host lacks still builds
sed "s|signing_key: .*|signing_key: $S/absent.key|" "$S/manifest.yaml" >"$S/manifest-nokey.yaml"
out=$("$AIRFACTORY" build "$S/manifest-nokey.yaml" -o "$S/keyflag" --store "$S/store" --key "$S/bundle.key" 2>&1)
check_eq "build --key with the manifest's signing_key absent exits 0" "$?" 0
check "the --key bundle verifies with that key" "$AIRFACTORY" verify "$S/keyflag" --key "$S/bundle.pub"
check_contains "without --key the absent signing_key is named" \
  "$("$AIRFACTORY" build "$S/manifest-nokey.yaml" -o "$S/keyflag2" --store "$S/store" 2>&1)" "signing_key $S/absent.key: cannot open"

# ---- --json on a terminal: NDJSON only ----
COLUMNS=100 script -qec "'$AIRFACTORY' build '$S/manifest.yaml' -o '$S/json' --store '$S/store' -j 2 --json" \
  "$S/json.typescript" >/dev/null 2>&1
json_out=$(tr -d '\r' <"$S/json.typescript" | grep -a -v '^Script ')
check_eq "--json on a terminal: no escape sequences" "$(echo "$json_out" | grep -c $'\033')" 0
check "--json on a terminal: every line is a JSON object" \
  python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin.read().splitlines() if l.strip()]' <<<"$json_out"
check_contains "--json on a terminal: the bundle_signed event" "$json_out" '"event":"bundle_signed"'
