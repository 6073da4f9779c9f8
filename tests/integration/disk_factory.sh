#!/usr/bin/env bash
# disk_factory.sh — disk images through the factory: `airfactory build` of a manifest whose outputs
# are metal-amd64.raw.zst, nocloud-amd64.qcow2, vmware-amd64.ova, gcp-amd64.raw.tar.gz and
# azure-amd64.vhd.xz for the v1.11.3 fixture imager; each asset is taken from the bundle's blob
# (airfactory ls --json) and checked with outside tools (zstd, xz, sgdisk, mtools, qemu-img, tar,
# sha256sum); a rerun reuses all five.
source "$(dirname "$0")/../lib.sh"
S=$(scratch)
export SOURCE_DATE_EPOCH=1735689600
for tool in sgdisk mdir qemu-img zstd xz tar python3 sqlite3; do
  command -v $tool >/dev/null || { skip "disk_factory.sh" "$tool not installed (scripts/install-deps.sh)"; exit 0; }
done
if [ ! -f "$FIXTURES/imager-v1.11.3.oci.tar" ]; then
  fail disk-factory-fixtures "no $FIXTURES/imager-v1.11.3.oci.tar; run: bash scripts/make-fixtures"
  exit 0
fi
$AIRFACTORY keygen -o "$S/b" >/dev/null
cat >"$S/manifest.yaml" <<EOF
schematics:
  - name: disks
    schematic:
      customization:
        bootloader: sd-boot
        extraKernelArgs: [console=ttyS0]
        meta:
          - key: 0xa
            value: "addresses: []\n"
versions: [v1.11.3]
architectures: [amd64]
outputs: [metal-amd64.raw.zst, nocloud-amd64.qcow2, vmware-amd64.ova, gcp-amd64.raw.tar.gz, azure-amd64.vhd.xz]
sources:
  - {role: imager, path: $FIXTURES/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}
trust:
  default:
    keys: [$ROOT/tests/keys/cosign.pub]
signing_key: $S/b.key
output: $S/b
EOF
out=$($AIRFACTORY build "$S/manifest.yaml" 2>&1); rc=$?
check_eq "airfactory build of five disk images exits 0" "$rc" 0
check_contains "build summary: 5 built" "$out" "5 assets built, 0 reused"
B=$S/b
check "the bundle verifies" $AIRFACTORY verify "$B" --key "$B.pub"
ls_json=$($AIRFACTORY ls "$B" --json)
blob() {  # ASSET -> blob path
  local d
  d=$(python3 -c 'import json,sys; print([a["digest"] for a in json.load(sys.stdin)["assets"] if a["path"]==sys.argv[1]][0])' "$1" <<<"$ls_json") || return 1
  echo "$B/blobs/sha256/${d#sha256:}"
}
sizes_ok() {  # RAW NAME: GPT as Talos lays it out for sd-boot (EFI 2101 MiB, META 1 MiB)
  local p
  p=$(sgdisk -p "$1" 2>&1)
  check_contains "$2: sgdisk sees the Talos disk GUID" "$p" "Disk identifier (GUID): D92D45B3-CDE9-8760-BE9F-A2A71FAC8D11"
  check_contains "$2: EFI 2101 MiB at LBA 2048" "$p" "   1            2048         4304895   2.1 GiB     EF00  EFI"
  check_contains "$2: META after EFI" "$p" "   2         4304896         4306943   1024.0 KiB  8300  META"
  check_contains "$2: sgdisk -v" "$(sgdisk -v "$1" 2>&1)" "No problems found"
  check_eq "$2: META from the schematic" "$($AIRFACTORY disk meta "$1")" "0xa=addresses: []"
}
uki_cmdline() {  # RAW -> the UKI's main .cmdline on the ESP
  mcopy -n -i "$1@@1M" ::/EFI/Linux/Talos-v1.11.3.efi "$S/uki.efi" && strings -n 20 "$S/uki.efi" | grep -m1 '^talos.platform='
}

# metal-amd64.raw.zst
M=$(blob metal-amd64.raw.zst)
check "metal: zstd -t" zstd -q -t "$M"
zstd -q -dc "$M" | cp --sparse=always /dev/stdin "$S/metal.raw"
check_eq "metal: 2246 MiB" "$(stat -c %s "$S/metal.raw")" $((2246 * 1048576))
sizes_ok "$S/metal.raw" metal
check_contains "metal: UKI cmdline" "$(uki_cmdline "$S/metal.raw")" "talos.platform=metal console=ttyS0"

# nocloud-amd64.qcow2
Q=$(blob nocloud-amd64.qcow2)
check_contains "nocloud: qemu-img check" "$(qemu-img check "$Q" 2>&1)" "No errors were found on the image."
check_contains "nocloud: qcow2, 2246 MiB" "$(qemu-img info --output=json "$Q")" "\"virtual-size\": $((2246 * 1048576))"
check "nocloud: qemu-img convert to raw" qemu-img convert -f qcow2 -O raw "$Q" "$S/nocloud.raw"
sizes_ok "$S/nocloud.raw" nocloud
check_contains "nocloud: UKI cmdline" "$(uki_cmdline "$S/nocloud.raw")" "talos.platform=nocloud"
rm -f "$S/nocloud.raw"

# vmware-amd64.ova
O=$(blob vmware-amd64.ova)
check_eq "vmware: tar members" "$(tar tf "$O" | tr '\n' ' ')" "disk.ovf disk.mf disk.vmdk "
mkdir -p "$S/ova" && tar xf "$O" -C "$S/ova"
check "vmware: sha256sum -c of the manifest" sh -c "cd '$S/ova' && sed -E 's/^SHA256\(([^)]*)\)= (.*)$/\2  \1/' disk.mf | sha256sum -c --quiet"
check_contains "vmware: capacity 9192 MiB in the OVF" "$(cat "$S/ova/disk.ovf")" 'ovf:capacity="9192"'
check_contains "vmware: qemu-img check vmdk" "$(qemu-img check "$S/ova/disk.vmdk" 2>&1)" "No errors were found on the image."
check "vmware: qemu-img convert vmdk to raw" qemu-img convert -f vmdk -O raw "$S/ova/disk.vmdk" "$S/vmware.raw"
check_contains "vmware: UKI cmdline" "$(uki_cmdline "$S/vmware.raw")" "talos.platform=vmware"
check_contains "vmware: sgdisk -v" "$(sgdisk -v "$S/vmware.raw" 2>&1)" "No problems found"
rm -rf "$S/ova" "$S/vmware.raw"

# gcp-amd64.raw.tar.gz
G=$(blob gcp-amd64.raw.tar.gz)
check_contains "gcp: tar -tvzf lists disk.raw, 9192 MiB" "$(tar -tvzf "$G" --numeric-owner)" "0/0      $((9192 * 1048576)) 2025-01-01 00:00 disk.raw"
mkdir -p "$S/gcp" && tar -xzf "$G" -C "$S/gcp"
check_contains "gcp: UKI cmdline" "$(uki_cmdline "$S/gcp/disk.raw")" "talos.platform=gcp"
check_contains "gcp: sgdisk -v" "$(sgdisk -v "$S/gcp/disk.raw" 2>&1)" "No problems found"
rm -rf "$S/gcp"

# azure-amd64.vhd.xz (decoding all 9 GiB costs ~30 s of CPU: the whole stream is checked by xz -t;
# the GPT and ESP come from its first 64 MiB, the size from the index)
A=$(blob azure-amd64.vhd.xz)
check "azure: xz -t" xz -t "$A"
check_contains "azure: xz -l: raw 9192 MiB + the 512-byte VHD footer" "$(xz --robot -l "$A" | grep '^totals')" \
  "$((9192 * 1048576 + 512))"
xz -dc "$A" 2>/dev/null | head -c $((64 * 1048576)) >"$S/azure.head"
check_eq "azure: protective MBR + GPT header" "$(od -An -c -j 512 -N 8 "$S/azure.head" | tr -d ' ')" "EFIPART"
check_contains "azure: UKI cmdline" "$(uki_cmdline "$S/azure.head")" "talos.platform=azure"
rm -f "$S/azure.head" "$S/metal.raw"

# rerun: every asset reused, same bundle
before=$(sqlite3 "$B/index.db" "SELECT path || ' ' || digest FROM assets ORDER BY path" 2>/dev/null || echo "$ls_json")
out=$($AIRFACTORY build "$S/manifest.yaml" 2>&1); rc=$?
check_eq "rebuild exits 0" "$rc" 0
check_contains "rebuild reuses all five" "$out" "0 assets built, 5 reused"
after=$(sqlite3 "$B/index.db" "SELECT path || ' ' || digest FROM assets ORDER BY path" 2>/dev/null || $AIRFACTORY ls "$B" --json)
check_eq "rebuild: same asset digests" "$after" "$before"
