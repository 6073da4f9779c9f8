#!/usr/bin/env bash
# embedded_config.sh — a schematic's embeddedMachineConfiguration (Talos >= 1.12) becomes the
# imager's `embedded-config` virtual extension (talos pkg/imager/embed.go) in every output that
# carries an initramfs: the initramfs itself and the UKI (its .initrd is the same bytes). Checked
# from the outside: initramfs-unpack.py (zstd + newc), unsquashfs, getfattr, sha256sum, objcopy:
#   extensions.yaml lists schematic then embedded-config (version = sha256 of the config);
#   the squashfs holds usr/local/etc/talos/config.yaml, the config byte for byte, mode 0400,
#   security.selinux = system_u:object_r:system_state_t:s0 on that file only;
#   its manifest.yaml (from the squashfs' sibling entries) says author Imager.
# Before 1.12 the plan refuses it, as Image Factory does (kernel and cmdline outputs excepted).
source "$(dirname "$0")/../lib.sh"
S=$(scratch)
export SOURCE_DATE_EPOCH=1735689600
for tool in python3 zstd unsquashfs getfattr sha256sum objcopy; do
  command -v $tool >/dev/null || { skip "embedded_config.sh" "$tool not installed (scripts/install-deps.sh)"; exit 0; }
done
if [ ! -f "$FIXTURES/imager-v1.12.0.oci.tar" ]; then
  fail embedded-config-fixtures "no $FIXTURES/imager-v1.12.0.oci.tar; run: bash scripts/make-fixtures"
  exit 0
fi
$AIRFACTORY keygen -o "$S/b" >/dev/null
manifest() {  # VERSION OUTPUTS OUTPUT-DIR
  cat <<EOF
schematics:
  - name: embedded
    schematic:
      customization:
        embeddedMachineConfiguration: |
          apiVersion: v1alpha1
          kind: HostnameConfig
          hostname: far-away-node
versions: [$1]
architectures: [amd64]
outputs: [$2]
sources:
  - {role: imager, path: $FIXTURES/imager-$1.oci.tar, reference: ghcr.io/siderolabs/imager:$1}
trust:
  default:
    keys: [$ROOT/tests/keys/cosign.pub]
signing_key: $S/b.key
output: $3
EOF
}
printf 'apiVersion: v1alpha1\nkind: HostnameConfig\nhostname: far-away-node\n' >"$S/config.yaml"
want_version=$(sha256sum "$S/config.yaml" | cut -d' ' -f1)
manifest v1.12.0 "initramfs.xz, metal-uki.efi" "$S/out" >"$S/m.yaml"
out=$($AIRFACTORY build "$S/m.yaml" 2>&1); rc=$?
check_eq "build of a v1.12.0 schematic with an embedded config exits 0" "$rc" 0
[ "$rc" -eq 0 ] || echo "$out" | tail -5
ls_json=$($AIRFACTORY ls "$S/out" --json 2>/dev/null)
blob() {
  local d
  d=$(python3 -c 'import json,sys; print([a["digest"] for a in json.load(sys.stdin)["assets"] if a["path"]==sys.argv[1]][0])' "$1" <<<"$ls_json" 2>/dev/null) || return 1
  echo "$S/out/blobs/sha256/${d#sha256:}"
}
if initramfs=$(blob initramfs-amd64.xz); then
  python3 tests/integration/initramfs-unpack.py "$initramfs" "$S/x" >"$S/x.list"
  y=$(cat "$S/x/extensions.yaml" 2>/dev/null)
  check_contains "extensions.yaml: schematic first" "$y" "- image: 0.sqsh
      metadata:
        name: schematic"
  check_contains "extensions.yaml: embedded-config second, version = sha256 of the config" "$y" "- image: 1.sqsh
      metadata:
        name: embedded-config
        version: $want_version
        author: Imager
        description: Virtual extension which embeds the machine configuration."
  check_contains "extensions.yaml: its compatibility" "$y" "        compatibility:
            talos:
                version: '>= 1.0.0'"
  unsquashfs -xattrs -no-progress -d "$S/sq" "$S/x/1.sqsh" >/dev/null 2>&1
  check_eq "unsquashfs of 1.sqsh" "$?" 0
  f=$S/sq/usr/local/etc/talos/config.yaml
  check_eq "config.yaml is the config byte for byte" "$(sha256sum <"$f" | cut -d' ' -f1)" "$want_version"
  check_eq "config.yaml mode 0400" "$(stat -c %a "$f")" 400
  check_eq "config.yaml security.selinux" "$(getfattr --absolute-names -n security.selinux --only-values "$f")" \
    "system_u:object_r:system_state_t:s0"
  check_eq "no label on its directory" "$(getfattr --absolute-names -d -m security "$S/sq/usr/local/etc/talos" 2>&1)" ""
  check_eq "the squashfs holds nothing else" "$(cd "$S/sq" && find . | sort | tr '\n' ' ')" \
    ". ./usr ./usr/local ./usr/local/etc ./usr/local/etc/talos ./usr/local/etc/talos/config.yaml "
else
  fail "initramfs-amd64.xz in the bundle" "not listed by airfactory ls"
fi
if uki=$(blob metal-amd64-uki.efi); then
  objcopy -O binary --only-section=.initrd "$uki" "$S/uki.initrd" 2>/dev/null
  check_eq "the UKI's .initrd is the initramfs with embedded-config" "$(sha256sum <"$S/uki.initrd" | cut -d' ' -f1)" \
    "$(sha256sum <"$initramfs" | cut -d' ' -f1)"
else
  fail "metal-amd64-uki.efi in the bundle" "not listed by airfactory ls"
fi
# Talos before 1.12 has no embedded config: the plan refuses it (Image Factory's profile.go does)
manifest v1.11.3 "initramfs.xz" "$S/out2" >"$S/m2.yaml"
out=$($AIRFACTORY build "$S/m2.yaml" 2>&1); rc=$?
check_eq "v1.11.3 with an embedded config is refused (exit 2)" "$rc" 2
check_contains "the error says why" "$out" "embeds a machine configuration, which Talos v1.11.3 cannot (needs v1.12.0 or later)"
# kernel and cmdline outputs carry no customization: accepted
manifest v1.11.3 "kernel" "$S/out3" >"$S/m3.yaml"
check "v1.11.3 kernel output of the same schematic builds" $AIRFACTORY build "$S/m3.yaml"
