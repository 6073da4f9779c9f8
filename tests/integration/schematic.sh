#!/usr/bin/env bash
# tests/integration/schematic.sh — `airfactory schematic id|fmt` end to end: the reference IDs,
# stdin/file/JSON input, exit statuses and file:line:column errors, and a cross-check of many
# schematics against the independent Python oracle (reference/image-factory-schematic-id.py).
source "$(dirname "$0")/../lib.sh"
T=$(scratch)
ORACLE=${SCHEMATIC_ORACLE:-$ROOT/tests/data/schematic/image-factory-schematic-id.py}  # copy of reference/image-factory-schematic-id.py
PY=/usr/bin/python3
VANILLA=376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba

# ---- reference vectors through the CLI ----
check_eq "vanilla from stdin {}" "$(printf '{}' | "$AIRFACTORY" schematic id)" "$VANILLA"
check_eq "vanilla from stdin '-'" "$(printf 'customization:\n' | "$AIRFACTORY" schematic id -)" "$VANILLA"
printf 'customization: {}\n' >"$T/vanilla.yaml"
check_eq "vanilla from a file" "$("$AIRFACTORY" schematic id "$T/vanilla.yaml")" "$VANILLA"
check_eq "vanilla canonical" "$("$AIRFACTORY" schematic fmt "$T/vanilla.yaml" | od -An -c | tr -s ' ')" \
  "$(printf 'customization: {}\n' | od -An -c | tr -s ' ')"
printf '{"customization": {"extraKernelArgs": ["noapic", "nolapic"]}}' >"$T/args.json"
check_eq "JSON input" "$("$AIRFACTORY" schematic id "$T/args.json")" \
  9cba8e32753f91a16c1837ab8abf356af021706ef284aef07380780177d9a06c
check_eq "canonical bytes hash to the ID" "$("$AIRFACTORY" schematic fmt "$T/args.json" | sha256sum | cut -d' ' -f1)" \
  9cba8e32753f91a16c1837ab8abf356af021706ef284aef07380780177d9a06c
printf 'customization:\n  embeddedMachineConfiguration: "apiVersion: v1alpha1\\nkind: HostnameConfig\\nhostname: worker-33"\n' >"$T/emc.yaml"
check_eq "literal block vector (#24)" "$("$AIRFACTORY" schematic id "$T/emc.yaml")" \
  02f29f9a702fceec4fc2e2e51314d63710fc1b192ebb1629ac12301949d49c8c
check_contains "literal block uses |-" "$("$AIRFACTORY" schematic fmt "$T/emc.yaml")" "embeddedMachineConfiguration: |-"
printf 'overlay: {name: rpi_generic, image: siderolabs/sbc-raspberrypi}\n' >"$T/overlay.yaml"
check_eq "overlay vector (#7)" "$("$AIRFACTORY" schematic id "$T/overlay.yaml")" \
  ee21ef4a5ef808a9b7484cc0dda0f25075021691c8c09a276591eedb638ea1f9
# fmt output is itself canonical: a fixed point
"$AIRFACTORY" schematic fmt "$T/overlay.yaml" >"$T/overlay.canonical"
check_eq "fmt is idempotent" "$("$AIRFACTORY" schematic fmt "$T/overlay.canonical" | sha256sum)" "$(sha256sum <"$T/overlay.canonical")"

# ---- errors: status 2, file:line:column, what was expected ----
expect_input_error() { # NAME FILE-CONTENT EXPECTED-FRAGMENT
  printf '%b' "$2" >"$T/bad.yaml"
  local out rc
  out=$("$AIRFACTORY" schematic id "$T/bad.yaml" 2>&1); rc=$?
  if [ "$rc" -ne 2 ]; then fail "$1" "exit status $rc, expected 2: $out"; return; fi
  check_contains "$1" "$out" "$3"
}
expect_input_error "unknown field" 'customization:\n  extraKernelArg: [a]\n' \
  "$T/bad.yaml:2:3: customization: unknown field 'extraKernelArg'; expected one of: embeddedMachineConfiguration"
expect_input_error "wrong type" 'customization:\n  extraKernelArgs: noapic\n' \
  "$T/bad.yaml:2:20: customization.extraKernelArgs: expected a sequence of strings, found a string"
expect_input_error "duplicate key" 'customization: {}\ncustomization: {}\n' \
  "$T/bad.yaml:2:1: duplicate key 'customization' (first defined at line 1)"
expect_input_error "trailing document" 'customization: {}\n---\n{}\n' "$T/bad.yaml:2:1: a second YAML document"
expect_input_error "meta key range" 'customization:\n  meta: [{key: 256, value: x}]\n' \
  "customization.meta[0].key: 256 is out of range; expected an integer 0-255"
expect_input_error "bootloader auto" 'customization:\n  bootloader: auto\n' "'auto' is not a bootloader value"
expect_input_error "owner refused" 'owner: alice\n' "owner field is only supported in Image Factory's Enterprise edition"
expect_input_error "syntax" 'customization: [\n' "$T/bad.yaml:2:1:"
expect_input_error "empty file" '' "$T/bad.yaml:1:1: the document is empty"
out=$("$AIRFACTORY" schematic id "$T/missing.yaml" 2>&1); rc=$?
check "missing file fails" test "$rc" -ne 0
check_contains "missing file named" "$out" "$T/missing.yaml"
out=$("$AIRFACTORY" schematic frobnicate 2>&1); rc=$?
check_eq "usage error exits 2" "$rc" 2
check_contains "usage names the subcommands" "$out" "id|fmt"

# ---- cross-check with the Python oracle ----
if ! [ -f "$ORACLE" ] || ! "$PY" -c 'import yaml' 2>/dev/null; then
  skip "python oracle cross-check" "needs $ORACLE and python3-yaml"
  exit 0
fi
# The oracle implements the subset of go-yaml that Image Factory's own vectors exercise. It is
# known to differ from go-yaml (and from us, and from Image Factory) on: multi-line strings inside
# sequences (literal indentation +2 there, not +4), a leading newline (no indentation indicator),
# typed overlay option values, non-BMP/BOM/NEL characters (escaped by go-yaml), invalid dates and
# out-of-range floats (strings for go-yaml). The cases below stay out of those; the differences
# themselves are pinned by tests/data/schematic/go-yaml-vectors.jsonl from go-yaml itself.
"$PY" - "$ORACLE" "$AIRFACTORY" "$T" <<'PYEOF'
import importlib.util, json, subprocess, sys, os
oracle_path, airfactory, tmp = sys.argv[1:4]
spec = importlib.util.spec_from_file_location("oracle", oracle_path)
oracle = importlib.util.module_from_spec(spec)
spec.loader.exec_module(oracle)

def q(s):  # YAML double-quoted, everything outside printable ASCII escaped
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in '"\\': out.append('\\' + ch)
        elif 0x20 <= o < 0x7f: out.append(ch)
        elif o < 0x100: out.append('\\x%02X' % o)
        else: out.append('\\u%04X' % o)
    return ''.join(out) + '"'

atoms = ["", " ", "a", "a b", " a", "a ", "-", "- a", "-a", "--- a", "...", "a: b", "a:b", "a #b", "a#b", "#a",
         "? a", "?a", ": a", ":a", "@a", "`a", "%a", "&a", "*a", "!a", "|a", ">a", "'a", '"a', "a'b", "a\\b",
         "[a", "a]", "{a", ",a", "a,b", "true", "True", "false", "yes", "Yes", "no", "on", "off", "OFF", "y", "n",
         "null", "Null", "~", "<<", "1", "-1", "+1", "0", "-0", "0.0", "1.5", "1e3", ".5", "0x1F", "0o17", "0b101",
         "017", "08", "1_000", "_1", "0x", "+", "1:20", "-1:20", "1:60", ".inf", "-.inf", ".NaN", "inf",
         "2001-12-14", "2001-12-14 21:59:43.10", "2001-12-14T21:59:43Z", "99999999999999999999",
         "18446744073709551615", "a\tb", "\u00e9t\u00e9", "\u65e5\u672c", "a\u00a0b", "vga=791", "console=ttyS0,115200n8",
         "talos.platform=metal", "-selinux", "siderolabs/amd-ucode", "x" * 200]
inputs = [t for t, _ in oracle.VECTORS if not t.startswith("owner")]  # owner: refused, community edition
# each field gets every atom at once: one schematic per field keeps the test to a few processes
items = ", ".join(q(a) for a in atoms)
inputs.append('{"customization": {"extraKernelArgs": [%s]}}' % items)
inputs.append('{"customization": {"meta": [%s]}}' % ", ".join('{"key": %d, "value": %s}' % (i % 256, q(a)) for i, a in enumerate(atoms)))
inputs.append('{"customization": {"systemExtensions": {"officialExtensions": [%s]}}}' % items)
for a in atoms[::7]:
    inputs.append('{"customization": {"secureboot": {"enrollKeys": %s}}, "overlay": {"image": %s, "name": %s}}' % (q(a), q(a), q(a + "x")))
for emc in ["apiVersion: v1alpha1\nkind: HostnameConfig\nhostname: w\n", "a\nb", "a\n\n", " lead\nx", "machine:\n  network: {}\n"]:
    inputs.append('{"customization": {"embeddedMachineConfiguration": %s}}' % q(emc))
for bl in ["grub", "GRUB", "sd-boot", "dual-boot", "none"]:
    inputs.append("customization:\n  bootloader: %s\n" % bl)
for ss in ["512", "4096", "0x1000"]:
    inputs.append("customization:\n  diskImage:\n    sectorSize: %s\n" % ss)
inputs.append("overlay:\n  image: img\n  name: nm\n  options:\n    bb: x\n    b: y\n    a: z\n    nested: {k: v}\n")
inputs.append("customization:\n  extraKernelArgs: [a, b]\n  meta: [{key: 0xb, value: 'x: y'}]\n  secureboot: {includeWellKnownCertificates: yes}\n")

failures = 0
for i, text in enumerate(inputs):
    path = os.path.join(tmp, "x%d.yaml" % i)
    with open(path, "w") as f:
        f.write(text)
    want_canonical, want_id = oracle.schematic_id(text)
    got = subprocess.run([airfactory, "schematic", "fmt", path], capture_output=True)
    # `id` is sha256(fmt); run it for every other input only, to keep the test quick
    got_id = (subprocess.run([airfactory, "schematic", "id", path], capture_output=True).stdout.decode().strip()
              if i % 2 == 0 else oracle.hashlib.sha256(got.stdout).hexdigest())
    if got.returncode != 0 or got.stdout.decode() != want_canonical or got_id != want_id:
        failures += 1
        print("FAIL oracle[%d] %r\n  oracle: %r %s\n  ours:   %r %s %s" % (i, text, want_canonical, want_id,
              got.stdout.decode(), got_id, got.stderr.decode().strip()))
print(("PASS" if failures == 0 else "FAIL") + " python oracle agrees on %d schematics (%d differ)" % (len(inputs), failures))
PYEOF

# Where the oracle is simpler than go-yaml, we follow go-yaml (values from tests/data/schematic):
printf 'overlay:\n  image: i\n  name: n\n  options: {b10: x, b2: y}\n' >"$T/natural.yaml"
check_contains "option keys in go-yaml's natural order" "$("$AIRFACTORY" schematic fmt "$T/natural.yaml")" \
  "$(printf "        b2: 'y'\n        b10: x")"
printf 'customization:\n  extraKernelArgs: [a, ~, b]\n' >"$T/nulls.yaml"
check_eq "null list items dropped as go-yaml does" "$("$AIRFACTORY" schematic fmt "$T/nulls.yaml")" \
  "$(printf 'customization:\n    extraKernelArgs:\n        - a\n        - b')"

# The oracle's one known miss that matters in practice: a multi-line META value (a network
# config) sits in a sequence item, where go-yaml indents the literal by 2 more than the item, not
# 4. The ID below is go-yaml's (computed with the oracle program of tests/data/schematic/tools).
printf 'customization:\n  meta:\n    - key: 0xa\n      value: "addresses: []\\nroutes: []\\n"\n' >"$T/meta.yaml"
check_contains "multi-line META value indented like go-yaml" "$("$AIRFACTORY" schematic fmt "$T/meta.yaml")" \
  "$(printf '          value: |\n            addresses: []\n            routes: []')"
