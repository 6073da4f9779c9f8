#!/usr/bin/env bash
# if_fidelity.sh — UKI, ISO, SecureBoot disk and extension bytes as Image Factory makes them (#15
# items 4 and 5; ../shared/reference/real-talos-fidelity.md findings 5, 6, 7, 10, 15). Image
# Factory builds every Talos version with its v1.14 imager library plus the version's quirks, so:
#   - the standalone metal-amd64-uki.efi has the `main` profile only (imager.go buildUKI adds
#     reset/reset-maintenance for ISO/image/installer, nothing for OutKindUKI) — python3-pefile;
#   - for Talos >= 1.12 the schematic's bootloader picks the ISO (out.go outISO): grub = GRUB for
#     BIOS and UEFI, no systemd-boot; sd-boot = UEFI-only; none = the default (dual-boot: hybrid)
#     — xorriso's El Torito report and file list; before 1.12 the schematic does not choose;
#   - every ISO with an ESP has loader/random-seed (uefi.go, no quirk), read-only, also for 1.12;
#   - a SecureBoot disk image carries loader/keys/auto/{PK,KEK,db}.auth and `secure-boot-enroll
#     if-safe` (buildImage, SDBootEnrollKeys defaults to if-safe) — mtools on the ESP;
#   - extension squashfs images carry the security.selinux labels of the layers' PAX records and
#     no label of our own — unsquashfs/getfattr;
#   - the schematic extension's extraInfo is the schematic (Talos >= 1.7);
#   - UKIs carry Talos' boot splash (.splash after .uname, before .pcrpkey/.linux) when the
#     imager's binary holds the bitmap the version data names (the fixture's own, through a
#     test-only versions.yaml; a same-size decoy before it is not taken); with the real data the
#     fixture imager has none: a build warning naming the imager, UKIs without .splash;
#   - includeWellKnownCertificates: the certificate files the manifest names are enrolled after the
#     signing certificate (KEK and db, Microsoft's owner GUID), and without them the plan says
#     what is missing.
source "$(dirname "$0")/../lib.sh"
S=$(scratch)
export SOURCE_DATE_EPOCH=1735689600
for tool in xorriso osirrox mdir mtype mcopy mattrib sgdisk unsquashfs getfattr sqlite3 python3 zstd openssl jq; do
  command -v $tool >/dev/null || { skip "if_fidelity.sh" "$tool not installed (scripts/install-deps.sh)"; exit 0; }
done
/usr/bin/python3 -c 'import pefile' 2>/dev/null || { skip "if_fidelity.sh" "python3-pefile not installed"; exit 0; }
for f in imager-v1.12.0 extensions-v1.12.0 hello-world-service-v1.12.0 imager-v1.11.3; do
  [ -f "$FIXTURES/$f.oci.tar" ] || { fail if-fidelity-fixtures "no $FIXTURES/$f.oci.tar; run: bash scripts/make-fixtures"; exit 0; }
done
$AIRFACTORY keygen -o "$S/b" >/dev/null
$AIRFACTORY keygen --secureboot --bits 2048 -o "$S/sb" >/dev/null

manifest() {  # NAME CUSTOMIZATION VERSION OUTPUTS OUT
  cat <<EOF
schematics:
  - name: $1
    schematic:
      customization: $2
versions: [$3]
architectures: [amd64]
outputs: [$4]
sources:
  - {role: imager, path: $FIXTURES/imager-$3.oci.tar, reference: ghcr.io/siderolabs/imager:$3}
  - {role: extensions, path: $FIXTURES/extensions-$3.oci.tar, reference: ghcr.io/siderolabs/extensions:$3}
  - {role: extension, path: $FIXTURES/hello-world-service-$3.oci.tar, reference: ghcr.io/siderolabs/hello-world-service:$3}
trust:
  default:
    keys: [$ROOT/tests/keys/cosign.pub]
secureboot: {signing_key: $S/sb.key, signing_cert: $S/sb.crt${6:-}}
signing_key: $S/b.key
output: $5
EOF
}
build() {  # NAME CUSTOMIZATION VERSION OUTPUTS [SECUREBOOT-FIELDS] -> bundle $S/NAME
  manifest "$1" "$2" "$3" "$4" "$S/$1" "${5:-}" >"$S/$1.yaml"
  local out rc
  out=$($AIRFACTORY build "$S/$1.yaml" --store "$S/store" 2>&1); rc=$?
  check_eq "build $1 ($3: $4) exits 0" "$rc" 0
  [ "$rc" -eq 0 ] || echo "$out" | tail -5
}
blob() {  # BUNDLE PATH
  echo "$1/blobs/sha256/$(sqlite3 "$1/index.db" "SELECT substr(digest, 8) FROM assets WHERE path = '$2'")"
}
eltorito() { xorriso -indev "$1" -report_el_torito plain 2>/dev/null | grep '^El Torito boot img' | awk '{print $7}' | tr '\n' ' '; }
tree() { xorriso -indev "$1" -find / 2>/dev/null; }

# ---- v1.12.0: the schematic's bootloader picks the ISO
build grub '{bootloader: grub}' v1.12.0 "metal.iso"
ISO=$(blob "$S/grub" metal-amd64.iso)
check_eq "bootloader grub: GRUB for BIOS and UEFI (El Torito)" "$(eltorito "$ISO")" "BIOS UEFI "
t=$(tree "$ISO")
check_contains "... the GRUB ISO boots /boot/vmlinuz" "$t" "'/boot/vmlinuz'"
check "... no systemd-boot, no UKI, no ESP of sd-boot" bash -c "! grep -qE \"'/(EFI/Linux|loader|efiboot.img)\" <<<\"\$1\"" _ "$t"

build sdboot '{bootloader: sd-boot}' v1.12.0 "metal.iso"
ISO=$(blob "$S/sdboot" metal-amd64.iso)
check_eq "bootloader sd-boot: UEFI only" "$(eltorito "$ISO")" "UEFI "
check "... no GRUB at all" bash -c "! grep -q \"'/boot/\" <<<\"\$1\"" _ "$(tree "$ISO")"

build plain '{systemExtensions: {officialExtensions: [siderolabs/hello-world-service]}}' v1.12.0 \
  "metal.iso, metal-uki.efi, initramfs.xz, metal-secureboot.raw"
B=$S/plain
ISO=$(blob "$B" metal-amd64.iso)
check_eq "no bootloader: the default (dual-boot) gives the hybrid ISO" "$(eltorito "$ISO")" "BIOS UEFI "
t=$(tree "$ISO")
check_contains "... with systemd-boot and the UKI" "$t" "'/EFI/Linux/Talos-v1.12.0.efi'"
# the random seed: every version (Image Factory's v1.14 library), here 1.12
check_contains "ISO tree has loader/random-seed (v1.12.0)" "$t" "'/loader/random-seed'"
osirrox -indev "$ISO" -extract /efiboot.img "$S/esp.img" >/dev/null 2>&1
chmod u+w "$S/esp.img"
check_eq "ESP: loader/random-seed is 32 zero bytes" "$(mcopy -n -i "$S/esp.img" ::/loader/random-seed - | od -An -v -tx1 | tr -d ' \n')" \
  "$(printf '%064d' 0)"
check_contains "ESP: loader/random-seed is read-only" "$(mattrib -i "$S/esp.img" ::/loader/random-seed)" "R"

# ---- the standalone UKI: main only
sections=$(/usr/bin/python3 - "$(blob "$B" metal-amd64-uki.efi)" <<'PY'
import sys, pefile
pe = pefile.PE(sys.argv[1])
for s in pe.sections:
    name = s.Name.rstrip(b"\0").decode()
    data = s.get_data()[: s.Misc_VirtualSize]
    print(name, data.decode(errors="replace").strip("\0").replace("\n", " ") if name == ".profile" else "")
PY
)
check_eq "metal-amd64-uki.efi: one .profile section" "$(grep -c '^\.profile' <<<"$sections")" 1
check_contains "... it is main" "$sections" ".profile ID=main"
check_eq "... one .cmdline (no reset command line)" "$(grep -c '^\.cmdline' <<<"$sections")" 1
# the ISO's own UKI keeps its reset profile (ISO -> reset)
mcopy -n -i "$S/esp.img" ::/EFI/Linux/Talos-v1.12.0.efi "$S/iso-uki.efi"
check_contains "the ISO's UKI still has the reset profile" \
  "$(/usr/bin/python3 -c 'import sys,pefile; print(" ".join(s.get_data()[:s.Misc_VirtualSize].decode(errors="replace") for s in pefile.PE(sys.argv[1]).sections if s.Name.startswith(b".profile")))' "$S/iso-uki.efi")" \
  "ID=reset"

# ---- extension squashfs: no invented SELinux label; the schematic's extraInfo (>= 1.7)
python3 "$ROOT/tests/integration/initramfs-unpack.py" "$(blob "$B" initramfs-amd64.xz)" "$S/x" >/dev/null
unsquashfs -xattrs -no-progress -d "$S/sq0" "$S/x/0.sqsh" >/dev/null 2>&1
check_eq "unsquashfs of 0.sqsh (hello-world-service)" "$?" 0
# the labels the image's PAX records give (SCHILY.xattr.security.selinux; Talos: archiver.Untar
# collects them from the flattened export, compress.go xattrPseudoFlags gives them to mksquashfs),
# nothing else: the fixture labels the service binary; its directory's label is shadowed by the
# next layer's unlabelled entry of that directory, and a labelled file is whited out
check "0.sqsh: it has files" test -n "$(find "$S/sq0" -type f | head -1)"
check_eq "0.sqsh: security.selinux on exactly the inodes whose topmost entry is labelled" \
  "$(cd "$S/sq0" && getfattr -R -h -m security . 2>/dev/null | grep '^# file:' | sort | tr '\n' ' ')" \
  "# file: usr/local/lib/containers/hello-world-service/hello-world-service "
while IFS=$'\t' read -r path label; do
  check_eq "0.sqsh: /$path carries its PAX label" \
    "$(getfattr -h --absolute-names -n security.selinux --only-values "$S/sq0/$path" 2>&1)" "$label"
done < <(jq -r '.hello_world_service_labels | to_entries[] | "\(.key)\t\(.value)"' "$FIXTURES/fixtures.json")
check_eq "fixtures.json lists the labelled path" "$(jq '.hello_world_service_labels | length' "$FIXTURES/fixtures.json")" 1
unsquashfs -xattrs -no-progress -d "$S/sq1" "$S/x/1.sqsh" >/dev/null 2>&1
check_eq "1.sqsh (schematic): no security.selinux either" "$(cd "$S/sq1" && getfattr -R -h -d -m security . 2>/dev/null)" ""
check_contains "extensions.yaml: the schematic extension carries extraInfo (>= 1.7)" "$(cat "$S/x/extensions.yaml")" \
  "extraInfo: |"

# ---- SecureBoot disk image: keys for auto-enrollment, secure-boot-enroll if-safe (the default)
RAW=$(blob "$B" metal-amd64-secureboot.raw)
check_contains "SecureBoot disk: EFI + META" "$(sgdisk -p "$RAW" 2>&1 | awk '/^ +[0-9]/ {print $NF}' | tr '\n' ' ')" "EFI META "
check_eq "SecureBoot disk: loader.conf enrolls if-safe" "$(mtype -i "$RAW@@1M" ::/loader/loader.conf)" \
  "$(printf '# systemd-boot configuration\n\ntimeout 10\n\nsecure-boot-enroll if-safe')"
openssl x509 -in "$S/sb.crt" -outform DER -out "$S/sb.der"
for n in PK KEK db; do
  mcopy -n -i "$RAW@@1M" "::/loader/keys/auto/$n.auth" "$S/$n.auth" 2>/dev/null
  check "SecureBoot disk: loader/keys/auto/$n.auth holds the signing certificate" \
    python3 -c 'import sys; sys.exit(0 if open(sys.argv[2],"rb").read() in open(sys.argv[1],"rb").read() else 1)' "$S/$n.auth" "$S/sb.der"
done
check_eq "SecureBoot disk: nothing else under loader/keys/auto" \
  "$(mdir -b -i "$RAW@@1M" ::/loader/keys/auto 2>/dev/null | sed 's|.*/||' | LC_ALL=C sort | tr '\n' ' ')" "KEK.auth PK.auth db.auth "

# enrollKeys: off writes neither the keys nor the line
build sboff '{secureboot: {enrollKeys: "off"}}' v1.12.0 "metal-secureboot.raw"
RAW=$(blob "$S/sboff" metal-amd64-secureboot.raw)
check_eq "enrollKeys off: loader.conf without secure-boot-enroll" "$(mtype -i "$RAW@@1M" ::/loader/loader.conf)" \
  "$(printf '# systemd-boot configuration\n\ntimeout 10')"
check_fails "enrollKeys off: no loader/keys" mdir -i "$RAW@@1M" ::/loader/keys

# ---- before 1.12 the schematic does not pick the ISO (ISOSupportsSettingBootloader): hybrid
build grub111 '{bootloader: grub}' v1.11.3 "metal.iso"
ISO=$(blob "$S/grub111" metal-amd64.iso)
check_eq "v1.11.3 with bootloader grub: still hybrid" "$(eltorito "$ISO")" "BIOS UEFI "
check_contains "... and has loader/random-seed (every version)" "$(tree "$ISO")" "'/loader/random-seed'"

# ---- includeWellKnownCertificates: the manifest names the certificates (airfactory ships none)
for n in kek1 db1 db2; do
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$S/$n.key" -subj "/CN=stand-in $n" -days 1 -outform DER \
    -out "$S/$n.der" >/dev/null 2>&1
done
openssl x509 -inform DER -in "$S/db2.der" -out "$S/db2.pem"   # PEM is accepted too
manifest wk '{secureboot: {includeWellKnownCertificates: true}}' v1.12.0 "metal-secureboot.iso" "$S/wk0" >"$S/wk0.yaml"
out=$($AIRFACTORY plan "$S/wk0.yaml" 2>&1); rc=$?
check_eq "includeWellKnownCertificates without certificate files: plan exits 2" "$rc" 2
check_contains "... naming what is missing" "$out" "names no well_known_kek and well_known_db"
build wk '{secureboot: {includeWellKnownCertificates: true}}' v1.12.0 "metal-secureboot.iso, metal-secureboot.raw" \
  ", well_known_kek: [$S/kek1.der], well_known_db: [$S/db1.der, $S/db2.pem]"
ISO=$(blob "$S/wk" metal-amd64-secureboot.iso)
osirrox -indev "$ISO" -extract /loader/keys/auto "$S/wk-iso" >/dev/null 2>&1
RAW=$(blob "$S/wk" metal-amd64-secureboot.raw)
mkdir -p "$S/wk-raw"
for n in PK KEK db; do mcopy -n -i "$RAW@@1M" "::/loader/keys/auto/$n.auth" "$S/wk-raw/$n.auth" 2>/dev/null; done
# EFI_SIGNATURE_DATA owner of Microsoft's certificates: 77fa9abd-0359-4d32-bd60-28f4e78f784b
esl_order() {  # AUTH CERT...: the offsets of each certificate, and whether Microsoft's GUID owns it
  python3 - "$@" <<'PY'
import sys, uuid
auth = open(sys.argv[1], "rb").read()
ms = uuid.UUID("77fa9abd-0359-4d32-bd60-28f4e78f784b").bytes_le
out = []
for c in sys.argv[2:]:
    der = open(c, "rb").read()
    at = auth.find(der)
    out.append("missing" if at < 0 else ("ms" if auth[at - 16:at] == ms else "own") + "@" + str(at))
offs = [int(o.split("@")[1]) for o in out if "@" in o]
print(" ".join(o.split("@")[0] for o in out), "ordered" if offs == sorted(offs) else "unordered")
PY
}
for where in iso raw; do
  check_eq "$where: KEK.auth = signing certificate, then kek1 (Microsoft's owner)" \
    "$(esl_order "$S/wk-$where/KEK.auth" "$S/sb.der" "$S/kek1.der")" "own ms ordered"
  check_eq "$where: db.auth = signing certificate, then db1, db2" \
    "$(esl_order "$S/wk-$where/db.auth" "$S/sb.der" "$S/db1.der" "$S/db2.der")" "own ms ms ordered"
  check_eq "$where: PK.auth has the signing certificate only" \
    "$(esl_order "$S/wk-$where/PK.auth" "$S/sb.der" "$S/kek1.der" "$S/db1.der")" "own missing missing ordered"
done
check "ISO and disk enroll the same db" cmp "$S/wk-iso/db.auth" "$S/wk-raw/db.auth"
# a named file that is not a certificate fails the build, naming it
echo "not a certificate" >"$S/bogus.der"
manifest wk2 '{secureboot: {includeWellKnownCertificates: true}}' v1.12.0 "metal-secureboot.iso" "$S/wk2" \
  ", well_known_kek: [$S/bogus.der], well_known_db: [$S/db1.der]" >"$S/wk2.yaml"
out=$($AIRFACTORY build "$S/wk2.yaml" --store "$S/store" 2>&1); rc=$?
check_eq "a well_known_kek file that is no certificate: build exits 2" "$rc" 2
check_contains "... naming the file" "$out" "$S/bogus.der: not an X.509 certificate"

# ---- the UKI splash: Talos' pkg/splash/sidero.bmp, which the imager's Go binary carries raw
# (go:embed); airfactory finds it in /usr/bin/imager (/bin/imager before 1.10) by the size and
# SHA-256 the version data gives (ukiSplashSHA256/ukiSplashSize). The fixture binary is a shell
# stand-in carrying a decoy bitmap of the same size and then its test bitmap (fixtures.json
# "uki_splash"), not sidero.bmp.
splash_of() {  # UKI -> "<sha256 of .splash>|<sections after .sdmagic/.sbat...>"
  /usr/bin/python3 - "$1" <<'PY'
import hashlib, sys, pefile
pe = pefile.PE(sys.argv[1])
names = [s.Name.rstrip(b"\0").decode() for s in pe.sections]
sp = [s for s in pe.sections if s.Name.rstrip(b"\0") == b".splash"]
digest = hashlib.sha256(sp[0].get_data()[: sp[0].Misc_VirtualSize]).hexdigest() if sp else "none"
print(digest + "|" + " ".join(names[names.index(".osrel"):]))
PY
}
SPLASH_SHA=$(jq -r .uki_splash.sha256 "$FIXTURES/fixtures.json")
SPLASH_SIZE=$(jq -r .uki_splash.size "$FIXTURES/fixtures.json")
DECOY_SHA=$(jq -r .uki_splash.decoy_sha256 "$FIXTURES/fixtures.json")
check "fixtures.json names the fixture splash and its decoy" test "${#SPLASH_SHA}" = 64 -a "${#DECOY_SHA}" = 64
# the real data: the fixture imager has no sidero.bmp -> a warning naming the imager, no .splash
manifest nosplash '{}' v1.11.3 "metal-uki.efi" "$S/nosplash" >"$S/nosplash.yaml"
out=$($AIRFACTORY build "$S/nosplash.yaml" --store "$S/store" 2>&1); rc=$?
check_eq "real splash data, fixture imager: the build still succeeds" "$rc" 0
check_contains "... with a warning naming the imager and the missing splash" "$out" \
  "warning: imager ghcr.io/siderolabs/imager:v1.11.3 (sha256:"
check_contains "... and what was looked for" "$out" "no BMP of 590538 bytes with SHA-256 c2615c96cd796af2"
check_eq "... its UKI has no .splash" "$(splash_of "$(blob "$S/nosplash" metal-amd64-uki.efi)" | cut -d'|' -f1)" none
manifest nosplash2 '{}' v1.11.3 "metal-uki.efi" "$S/nosplash2" >"$S/nosplash2.yaml"
out=$($AIRFACTORY build "$S/nosplash2.yaml" --store "$S/store-json" --json 2>&1)
check_contains "... the warning is a JSON event too" "$out" '"event":"warning","imager":"sha256:'
out=$($AIRFACTORY build "$S/nosplash2.yaml" --store "$S/store-json" --json 2>&1)
check "... not repeated by a rerun that reuses the UKI (the build that made it said so)" \
  bash -c '! grep -q "\"event\":\"warning\"" <<<"$1"' _ "$out"
# the fixture's data (a test-only versions.yaml): found, the exact bytes, in Talos' section order
/usr/bin/python3 - "$ROOT/profiles/versions.yaml" "$SPLASH_SHA" "$SPLASH_SIZE" >"$S/versions-splash.yaml" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
text = re.sub(r"(  ukiSplashSHA256:\n)(    - .*\n)+", r"\g<1>    - {value: %s}\n" % sys.argv[2], text)
text = re.sub(r"(  ukiSplashSize:\n)(    - .*\n)+", r"\g<1>    - {value: %s}\n" % sys.argv[3], text)
sys.stdout.write(text)
PY
check_contains "the test versions.yaml has the fixture digest" "$(cat "$S/versions-splash.yaml")" "{value: $SPLASH_SHA}"
for v in v1.11.3 v1.9.5; do  # v1.9.5: not usr-merged, the bitmap is in /bin/imager (a hard link)
  manifest "splash-$v" '{}' $v "metal-uki.efi, metal-secureboot-uki.efi" "$S/splash-$v" \
    | sed "/hello-world-service/d" >"$S/splash-$v.yaml"
  out=$(AIRFACTORY_TEST_VERSIONS_YAML="$S/versions-splash.yaml" $AIRFACTORY build "$S/splash-$v.yaml" --store "$S/store" 2>&1)
  check_eq "$v, fixture splash data: build exits 0" "$?" 0
  check "... no warning" bash -c '! grep -q "warning:" <<<"$1"' _ "$out"
  for a in metal-amd64-uki.efi metal-amd64-secureboot-uki.efi; do
    r=$(splash_of "$(blob "$S/splash-$v" $a)")
    check_eq "$v $a: .splash is the fixture bitmap (not the decoy before it)" "${r%%|*}" "$SPLASH_SHA"
    case $a in
      *secureboot*) want=".osrel .cmdline .uname .splash .pcrpkey .linux .initrd" ;;
      *) want=".osrel .cmdline .uname .splash .linux .initrd" ;;
    esac
    check_contains "... in Talos' order ($want)" "${r#*|}" "$want"
  done
done
