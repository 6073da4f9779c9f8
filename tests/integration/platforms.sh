#!/usr/bin/env bash
# platforms.sh — every Image Factory platform x arch for the fixture versions v1.11.3 and v1.9.5
# (tests/integration/platforms.tsv, written from image-factory-spec.md §2.2 and talos-imager.md
# §2.3/§2.4/§3.2/§7.3). For each version ONE manifest lists every platform's default disk image
# (the UI suffix: raw.zst, raw.xz, raw.gz, raw.tar.gz, vhd.xz, qcow2, ova) and every platform's
# cmdline-<platform>-<arch>; `airfactory plan` must list exactly those, `airfactory build -j 2` must
# build them, and each blob is checked with outside tools: the archive/format headers (xz -l,
# gzip -l, tar -tv, qemu-img info) for the virtual size, sgdisk for the GPT written for that size,
# mtools for the ESP, objcopy for the UKI's .cmdline (sd-boot/dual-boot) or the BOOT partition's
# grub.cfg (grub), against talos.platform=<p> + the reference's console args + the version's
# defaults; the cmdline asset carries the same bytes. Names the reference does not offer (a
# platform on an arch it lacks, a platform before its first version) are refused by `airfactory plan` with exit 2 and a clear message.
# Disk space: images are decoded one at a time into sparse files removed right after. Multi-GiB
# xz/gz streams are not fully decoded (their index/trailer give the size; the GPT, ESP and BOOT
# come from the head of the stream); metal, qcow2, OVA and GCP images are checked whole (sgdisk -v).
source "$(dirname "$0")/../lib.sh"
S=$(scratch)
# This suite checks data — sizes, layouts, boot loaders and command lines of 118 assets — not new
# code paths: the same builders run under ASan+UBSan in disk_factory.sh, disk_grub.sh and
# disk_formats.sh. Under ASan its xz/zstd/gzip of ~200 GiB of sparse images took 13 minutes, so it
# uses the release binary that `make check` also builds (PLATFORMS_ASAN=1 keeps the ASan one).
if [ "${PLATFORMS_ASAN:-0}" != 1 ] && [ -x "$ROOT/build/release/airfactory" ]; then
  AIRFACTORY=$ROOT/build/release/airfactory
fi
export SOURCE_DATE_EPOCH=1735689600
for tool in sgdisk mcopy mdir qemu-img zstd xz gzip tar objcopy python3; do
  command -v $tool >/dev/null || { skip "platforms.sh" "$tool not installed (scripts/install-deps.sh)"; exit 0; }
done
TSV=$ROOT/tests/integration/platforms.tsv
MIB=1048576
declare -A DEFAULTS=(
  # talos-imager.md §3.3 for each fixture version
  [v1.11.3]="init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on selinux=1"
  [v1.9.5]="init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on ima_template=ima-ng ima_appraise=fix ima_hash=sha512"
)
$AIRFACTORY keygen -o "$S/b" >/dev/null
: >"$S/sb.key"; : >"$S/sb.crt"

manifest() {  # VERSION OUTPUTS(comma list) FILE [secureboot]
  cat >"$3" <<EOF
schematics:
  - name: vanilla
    schematic:
      customization: {}
versions: [$1]
architectures: [amd64, arm64]
outputs: [$2]
sources:
  - {role: imager, path: $FIXTURES/imager-$1.oci.tar, reference: ghcr.io/siderolabs/imager:$1}
trust:
  default:
    keys: [$ROOT/tests/keys/cosign.pub]
$([ -n "${4:-}" ] && echo "secureboot: {signing_key: $S/sb.key, signing_cert: $S/sb.crt}")
signing_key: $S/b.key
output: $S/bundle-$1
EOF
}

# --- plan: names the reference does not offer are refused -------------------------------------
while IFS=$'\t' read -r _ v arch p asset; do
  manifest "$v" "$asset" "$S/absent.yaml"
  out=$($AIRFACTORY plan "$S/absent.yaml" 2>&1); rc=$?
  check_eq "plan refuses $asset for $v (exit 2)" "$rc" 2
  case $p in
    alibabacloud) check_contains "... says which version $p needs" "$out" "needs Talos v1.14.0 or later" ;;
    *) check_contains "... says $p is not offered on $arch" "$out" "platform $p is not offered for $arch" ;;
  esac
done < <(grep '^#absent' "$TSV")
# SecureBoot: every platform's disk image plans, with or without a secureboot-<platform> profile
# (Image Factory's ParseFromPath takes the platform's own profile; built in disk_pre18.sh)
for v in v1.11.3 v1.9.5; do
  manifest $v aws-amd64-secureboot.raw.xz "$S/sb.yaml" secureboot
  out=$($AIRFACTORY plan "$S/sb.yaml" 2>&1); rc=$?
  check_eq "plan accepts aws-amd64-secureboot.raw.xz ($v)" "$rc:$(echo "$out" | awk '{print $5}')" "0:aws-amd64-secureboot.raw.xz"
done
manifest v1.11.3 "azure-amd64-secureboot.vhd.xz, nocloud-arm64-secureboot.raw.xz, metal-amd64-secureboot.raw.zst" \
  "$S/sb.yaml" secureboot
check_eq "plan accepts SecureBoot azure/nocloud/metal images" \
  "$($AIRFACTORY plan "$S/sb.yaml" 2>&1 | awk '{print $5}' | sort | tr '\n' ' ')" \
  "azure-amd64-secureboot.vhd.xz metal-amd64-secureboot.raw.zst nocloud-arm64-secureboot.raw.xz "

# --- one manifest per version: every platform's default image and cmdline ------------------------
blob() {  # LS_JSON ASSET -> blob path
  local d
  d=$(python3 -c 'import json,sys; print([a["digest"] for a in json.load(sys.stdin)["assets"] if a["path"]==sys.argv[1]][0])' "$2" <<<"$1") || return 1
  echo "$B/blobs/sha256/${d#sha256:}"
}
# GPT partition lines from sgdisk -p: "NAME:MiB,..."
layout_of() {
  sgdisk -p "$1" 2>/dev/null | awk '/^ +[0-9]+ +[0-9]+ +[0-9]+/ {n=$NF; printf "%s%s:%d", sep, n, ($3-$2+1)*512/1048576; sep=","}'
}
# the GPT primary header's backup LBA: what size the table was written for (bytes)
gpt_size() { python3 -c 'import struct,sys; f=open(sys.argv[1],"rb"); f.seek(512+32); print((struct.unpack("<Q",f.read(8))[0]+1)*512)' "$1"; }
uki_cmdline() {  # RAW VERSION -> the UKI's .cmdline on the ESP
  rm -f "$S/uki.efi" "$S/uki.cmdline"
  # python3-pefile: objcopy does not read arm64 PE, and UKIs >= 1.10 carry one .cmdline per profile
  # (the first is the default boot's; the "reset" profile adds talos.experimental.wipe)
  mcopy -n -i "$1@@1M" "::/EFI/Linux/Talos-$2.efi" "$S/uki.efi" 2>/dev/null &&
    /usr/bin/python3 -c 'import pefile,sys
pe = pefile.PE(sys.argv[1], fast_load=True)
s = [x for x in pe.sections if x.Name.rstrip(b"\0") == b".cmdline"][0]
sys.stdout.write(s.get_data()[:s.Misc_VirtualSize].rstrip(b"\0").decode())' "$S/uki.efi"
}
grub_cmdline() {  # RAW -> the kernel line of grub.cfg's first menu entry, inside the BOOT partition (XFS)
  local start
  start=$(sgdisk -i 3 "$1" 2>/dev/null | awk '/First sector/ {print $3}')
  dd if="$1" bs=1M skip=$((start / 2048)) count=1000 status=none | grep -a -m1 -o 'linux /A/vmlinuz [^}]*' | head -1 | sed 's/[[:space:]]*initrd.*//'
}

for V in v1.11.3 v1.9.5; do
  if [ ! -f "$FIXTURES/imager-$V.oci.tar" ]; then
    fail "platforms-fixtures-$V" "no $FIXTURES/imager-$V.oci.tar; run: bash scripts/make-fixtures"
    continue
  fi
  rows=$(grep -P "^$V\t" "$TSV")
  outputs=$( (awk -F'\t' '$4 != "-" {print $4}' <<<"$rows"; awk -F'\t' '{print "cmdline-" $3 "-" $2}' <<<"$rows") | paste -sd, | sed 's/,/, /g')
  nassets=$(tr ',' '\n' <<<"$outputs" | wc -l)
  manifest $V "$outputs" "$S/m-$V.yaml"
  plan=$($AIRFACTORY plan "$S/m-$V.yaml" 2>&1); rc=$?
  check_eq "$V: plan of the $nassets default names exits 0" "$rc" 0
  check_eq "$V: plan lists exactly the reference's default names" "$(awk '{print $5}' <<<"$plan" | sort | tr '\n' ' ')" \
    "$(tr ',' '\n' <<<"$outputs" | tr -d ' ' | sort | tr '\n' ' ')"
  # the build: zstd -18 costs ~10-50 s per image, so raw.zst platforms are built as .raw (same
  # plan, size and layout) except metal-arm64, which keeps .raw.zst
  outputs=$(sed -E 's/(^|, )(opennebula|scaleway|metal)-amd64\.raw\.zst/\1\2-amd64.raw/g; s/(^|, )(opennebula|scaleway)-arm64\.raw\.zst/\1\2-arm64.raw/g' <<<"$outputs")
  manifest $V "$outputs" "$S/m-$V.yaml"
  out=$($AIRFACTORY build "$S/m-$V.yaml" -j 2 2>&1); rc=$?
  check_eq "$V: airfactory build -j 2 of every platform exits 0" "$rc" 0
  [ "$rc" -eq 0 ] || { echo "$out" | tail -5; continue; }
  check_contains "$V: $nassets assets built" "$out" "$nassets assets built"
  B=$S/bundle-$V
  ls_json=$($AIRFACTORY ls "$B" --json)
  while IFS=$'\t' read -r _ arch p asset format compression size_mib bootloader layout _ pargs; do
    want="talos.platform=$p${pargs:+ $pargs} ${DEFAULTS[$V]}"
    id="$V $p-$arch"
    c=$(blob "$ls_json" "cmdline-$p-$arch") || { fail "$id: cmdline asset in the bundle" "missing"; continue; }
    check_eq "$id: cmdline-$p-$arch" "$(cat "$c")" "$want"
    [ "$asset" = - ] && continue
    size=$((size_mib * MIB))
    [ "$compression" = zst ] && ! grep -q "$asset" <<<"$outputs" && { asset=${asset%.zst}; compression=none; }
    f=$(blob "$ls_json" "$asset") || { fail "$id: $asset in the bundle" "missing"; continue; }
    raw=$S/disk.raw; rm -f "$raw"; full=0
    head_bytes=$((128 * MIB)); [ "$bootloader" = grub ] && head_bytes=$((1102 * MIB))
    case "$format.$compression" in
      raw.none)  # the blob itself (sparse in the bundle); never removed below
        check_eq "$id: $asset is $size_mib MiB" "$(stat -c %s "$f")" "$size"
        raw=$f; full=1 ;;
      raw.zst)
        check "$id: zstd -t" zstd -q -t "$f"
        zstd -q -dc "$f" | cp --sparse=always /dev/stdin "$raw"; full=1
        check_eq "$id: decoded size $size_mib MiB" "$(stat -c %s "$raw")" "$size" ;;
      raw.xz | vhd.xz)
        extra=0; note=""; [ "$format" = vhd ] && { extra=512; note=" + the VHD footer"; }
        check_eq "$id: xz -l: $size_mib MiB$note" \
          "$(xz --robot -l "$f" | awk '/^totals/ {print $5}')" "$((size + extra))"
        xz -dc "$f" 2>/dev/null | head -c $head_bytes | cp --sparse=always /dev/stdin "$raw" ;;
      raw.gz)
        # zero runs are separate gzip members, so gzip -l (last member only) cannot give the size;
        # the GPT header below says what size the image was written for
        check_eq "$id: gzip magic" "$(od -An -tx1 -N2 "$f" | tr -d ' ')" 1f8b
        gzip -dc "$f" 2>/dev/null | head -c $head_bytes | cp --sparse=always /dev/stdin "$raw" ;;
      raw.tar.gz)
        check_contains "$id: tar -tvzf: disk.raw of $size_mib MiB" "$(tar -tvzf "$f" --numeric-owner)" " $size 2025-01-01 00:00 disk.raw"
        mkdir -p "$S/gcp" && tar -xzf "$f" -C "$S/gcp" && mv "$S/gcp/disk.raw" "$raw"; full=1 ;;
      qcow2.none)
        check_contains "$id: qemu-img info: qcow2" "$(qemu-img info "$f")" "file format: qcow2"
        check_contains "$id: qemu-img info: $size_mib MiB, 8 KiB clusters" "$(qemu-img info --output=json "$f" | tr -d '\n ')" \
          "\"virtual-size\":$size,"
        check_contains "$id: cluster_size=8k" "$(qemu-img info "$f")" "cluster_size: 8192"
        qemu-img convert -f qcow2 -O raw "$f" "$raw"; full=1 ;;
      ova.none)
        rm -rf "$S/ova"; mkdir -p "$S/ova"
        check_eq "$id: OVA members" "$(tar tf "$f" | tr '\n' ' ')" "disk.ovf disk.mf disk.vmdk "
        tar xf "$f" -C "$S/ova"
        check_contains "$id: OVF capacity $size_mib MiB" "$(cat "$S/ova/disk.ovf")" "ovf:capacity=\"$size_mib\""
        check_contains "$id: vmdk virtual size" "$(qemu-img info --output=json "$S/ova/disk.vmdk" | tr -d '\n ')" "\"virtual-size\":$size,"
        qemu-img convert -f vmdk -O raw "$S/ova/disk.vmdk" "$raw"; full=1; rm -rf "$S/ova" ;;
      *) fail "$id: unexpected format $format.$compression" ""; continue ;;
    esac
    [ "$full" -eq 1 ] || truncate -s "$size" "$raw"
    check_eq "$id: GPT written for $size_mib MiB" "$(gpt_size "$raw")" "$size"
    check_eq "$id: $bootloader layout $layout" "$(layout_of "$raw")" "$layout"
    [ "$full" -eq 1 ] && check_contains "$id: sgdisk -v" "$(sgdisk -v "$raw" 2>&1)" "No problems found"
    esp=$(mdir -/ -b -i "$raw@@1M" ::/EFI 2>/dev/null | tr '\n' ' ')
    boot_efi=BOOTX64.EFI; [ "$arch" = arm64 ] && boot_efi=BOOTAA64.EFI
    check_contains "$id: ESP has the $arch boot loader" "${esp^^}" "/EFI/BOOT/$boot_efi"
    if [ "$bootloader" = grub ]; then
      check_contains "$id: grub.cfg kernel line" "$(grub_cmdline "$raw")" "linux /A/vmlinuz $want"
    else
      check_contains "$id: ESP has the UKI" "$esp" "/EFI/Linux/Talos-$V.efi"
      check_eq "$id: UKI .cmdline (objcopy)" "$(uki_cmdline "$raw" "$V")" "$want"
    fi
    rm -f "$S/disk.raw" "$S/uki.efi" "$S/uki.cmdline"; rm -rf "$S/gcp"
  done <<<"$rows"
  rm -rf "$B"
done
