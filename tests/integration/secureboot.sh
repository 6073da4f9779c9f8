#!/usr/bin/env bash
# SecureBoot assets end to end, witnessed by outside tools: `airfactory keygen --secureboot`, a
# build of metal-amd64-secureboot-uki.efi, metal-amd64-secureboot.iso, installer-amd64-secureboot.tar
# and cmdline-metal-amd64-secureboot from the v1.11.3 fixtures, then
#   - sbverify --cert accepts the UKI and systemd-boot, and rejects them with another certificate;
#   - osslsigncode recomputes the Authenticode digest, and sbsign signing the same unsigned bytes
#     embeds the same digest;
#   - the UKI has Talos' signed section layout, and every .pcrsig matches PCR 11 recomputed from the
#     UKI's own sections by secureboot-check.py (+ openssl dgst -verify of each bank's signature);
#   - the ISO's ESP (mtools) holds the signed files, loader.conf with secure-boot-enroll, the
#     certificate as DER and PK/KEK/db.auth whose PKCS#7 openssl cms verifies over the variable;
#   - the metal-amd64-secureboot.raw disk image has the sd-boot layout with both files signed,
#     loader/keys/auto/{PK,KEK,db}.auth (the ISO's bytes) and secure-boot-enroll as the schematic says;
#   - the installer layer carries the signed systemd-boot.efi and vmlinuz.efi, tagged
#     installer-secureboot/<id>:v1.11.3;
#   - airfactory-serve answers /secureboot/signing-cert.pem with the certificate;
#   - a second build (fresh output) is byte-identical; bad keys are input errors naming the file.
source "$(dirname "$0")/../lib.sh"
S=$(scratch)
cd "$ROOT" || exit 1
export SOURCE_DATE_EPOCH=1735689600
CHECK=(/usr/bin/python3 "$ROOT/tests/integration/secureboot-check.py")

for tool in sbverify sbsign sbattach osslsigncode mcopy mdir xorriso openssl sqlite3 curl objdump sgdisk; do
  command -v $tool >/dev/null || { skip "secureboot.sh" "$tool not installed (scripts/install-deps.sh)"; exit 0; }
done
/usr/bin/python3 -c 'import pefile' 2>/dev/null || { skip "secureboot.sh" "python3-pefile not installed"; exit 0; }

$AIRFACTORY keygen -o "$S/b" >/dev/null
check "keygen --secureboot" "$AIRFACTORY" keygen --secureboot --bits 2048 -o "$S/sb"
check_eq "keygen --secureboot writes a PKCS#1 RSA key" "$(head -1 "$S/sb.key")" "-----BEGIN RSA PRIVATE KEY-----"
check_contains "keygen --secureboot certificate is for code signing" \
  "$(openssl x509 -in "$S/sb.crt" -noout -ext extendedKeyUsage)" "Code Signing"
check_fails "keygen --secureboot keeps an existing key" "$AIRFACTORY" keygen --secureboot --bits 2048 -o "$S/sb"
"$AIRFACTORY" keygen --secureboot --bits 2048 -o "$S/other" >/dev/null

manifest() { # OUT KEY CERT
  cat <<EOF
schematics:
  - name: sb
    schematic:
      customization:
        extraKernelArgs: [console=ttyS0]
        secureboot: {enrollKeys: Force}
versions: [v1.11.3]
architectures: [amd64]
outputs: [metal-secureboot-uki.efi, metal-secureboot.iso, installer-secureboot.tar, cmdline-metal-secureboot${4:-}]
sources:
  - {role: imager, path: $FIXTURES/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}
  - {role: installer-base, path: $FIXTURES/installer-base-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/installer-base:v1.11.3}
trust:
  default:
    keys: [$ROOT/tests/keys/cosign.pub]
$([ -n "$2" ] && echo "secureboot: {signing_key: $2, signing_cert: $3}")
signing_key: $S/b.key
output: $1
EOF
}
manifest "$S/out" "$S/sb.key" "$S/sb.crt" ", metal-secureboot.raw" >"$S/m.yaml"
out=$("$AIRFACTORY" build "$S/m.yaml" --store "$S/store" 2>&1)
check_eq "build of the SecureBoot assets exits 0" "$?" 0
check_contains "it built the SecureBoot installer" "$out" "installer-amd64-secureboot.tar"
B=$S/out
blob() { echo "$B/blobs/sha256/$(sqlite3 "$B/index.db" "SELECT substr(digest, 8) FROM assets WHERE path = '$1'")"; }
UKI=$(blob metal-amd64-secureboot-uki.efi)
ISO=$(blob metal-amd64-secureboot.iso)
INST=$(blob installer-amd64-secureboot.tar)
CMDLINE=$(cat "$(blob cmdline-metal-amd64-secureboot)")

# ---- the UKI
check "sbverify accepts the UKI with the signing certificate" sbverify --cert "$S/sb.crt" "$UKI"
check_fails "sbverify rejects the UKI with another certificate" sbverify --cert "$S/other.crt" "$UKI"
ossl=$(osslsigncode verify -in "$UKI" 2>&1)
cur=$(grep 'Current message digest' <<<"$ossl" | awk '{print $NF}')
calc=$(grep 'Calculated message digest' <<<"$ossl" | awk '{print $NF}')
check_eq "osslsigncode: the embedded Authenticode digest is the image's" "${cur:-none}" "${calc:-other}"
cp "$UKI" "$S/uki.efi" && chmod u+w "$S/uki.efi" && sbattach --remove "$S/uki.efi" 2>/dev/null
sbsign --key "$S/sb.key" --cert "$S/sb.crt" --output "$S/uki.sbsign.efi" "$S/uki.efi" >/dev/null 2>&1
theirs=$(osslsigncode verify -in "$S/uki.sbsign.efi" 2>&1 | grep 'Current message digest' | awk '{print $NF}')
check_eq "sbsign embeds the same Authenticode digest" "${theirs:-none}" "${cur:-ours}"
layout=$(objdump -h "$UKI" | awk '$2 ~ /^\./ {print $2}' | tr '\n' ' ')
# the stub's own sections stay first, in its order (systemd 257: .text .rodata .data .sbat .sdmagic
# .reloc), then Talos' sections (talos internal/pkg/uki/internal/pe/native.go appends after the
# stub's last section)
stub=$(objdump -h "$FIXTURES/rootfs/imager-v1.11.3-amd64/usr/install/amd64/systemd-stub.efi" | awk '$2 ~ /^\./ {print $2}' | tr '\n' ' ')
check_contains "the fixture stub has .sbat and .sdmagic" "$stub" ".sbat .sdmagic "
# the standalone UKI: the main profile only (imager.go buildUKI adds none for OutKindUKI)
check_eq "UKI sections: the stub's, then Talos' signed order" "$layout" \
  "$stub.osrel .cmdline .uname .pcrpkey .linux .initrd .profile .pcrsig "
check_contains "the SecureBoot cmdline asset has lockdown (Talos < 1.14)" "$CMDLINE" "lockdown=confidentiality"
openssl pkey -in "$S/sb.key" -pubout -out "$S/pcr.pub"
mkdir -p "$S/pcr"
pcr=$("${CHECK[@]}" pcrsig "$UKI" "$S/pcr.pub" "$S/pcr" 2>&1)
check_eq "every .pcrsig predicts PCR 11 of its profile (3 bank signatures)" "$(grep -c '^ok profile' <<<"$pcr")" 3
check_contains "one profile signed" "$pcr" "units 1"
n=0
for f in "$S"/pcr/*.pol; do
  b=$(basename "$f" .pol)
  openssl dgst "-${b#*-}" -verify "$S/pcr.pub" -signature "$S/pcr/$b.sig" "$f" >/dev/null && n=$((n + 1))
done
check_eq "openssl verifies the 3 PCR policy signatures" "$n" 3

# ---- the ISO
eltorito=$(xorriso -indev "$ISO" -report_el_torito plain 2>/dev/null | grep '^El Torito boot img' | awk '{print $7}' | tr '\n' ' ')
check_eq "the ISO is UEFI-only: one El Torito image, UEFI" "$eltorito" "UEFI "
check "the ISO has no /boot/grub" bash -c "! xorriso -indev '$ISO' -find / 2>/dev/null | grep -q \"'/boot/\""
osirrox -indev "$ISO" -extract /efiboot.img "$S/esp.img" >/dev/null 2>&1
chmod u+w "$S/esp.img"
listing=$(mdir -/ -b -i "$S/esp.img" ::/ 2>&1 | tr 'A-Z' 'a-z')
for f in efi/boot/bootx64.efi efi/linux/talos-v1.11.3.efi efi/keys/uki-signing-cert.der loader/loader.conf \
  loader/keys/auto/pk.auth loader/keys/auto/kek.auth loader/keys/auto/db.auth; do
  check_contains "ESP holds $f" "$listing" "::/$f"
done
mcopy -n -i "$S/esp.img" ::/EFI/BOOT/BOOTX64.EFI "$S/sd-boot.efi"
mcopy -n -i "$S/esp.img" ::/EFI/Linux/Talos-v1.11.3.efi "$S/iso-uki.efi"
check "sbverify accepts the ISO's systemd-boot" sbverify --cert "$S/sb.crt" "$S/sd-boot.efi"
check_fails "sbverify rejects the ISO's systemd-boot with another certificate" sbverify --cert "$S/other.crt" "$S/sd-boot.efi"
check "sbverify accepts the ISO's UKI" sbverify --cert "$S/sb.crt" "$S/iso-uki.efi"
# the ISO's UKI has two profiles (main + reset), each with its own PCR 11 prediction
rm -rf "$S/pcr2" && mkdir -p "$S/pcr2"
pcr=$("${CHECK[@]}" pcrsig "$S/iso-uki.efi" "$S/pcr.pub" "$S/pcr2" 2>&1)
check_eq "ISO UKI: every .pcrsig predicts PCR 11 of its profile (6 bank signatures)" "$(grep -c '^ok profile' <<<"$pcr")" 6
check_contains "ISO UKI: two profiles signed" "$pcr" "units 2"
cp "$FIXTURES/rootfs/imager-v1.11.3-amd64/usr/install/amd64/systemd-boot.efi" "$S/sd-boot.plain.efi"
sbsign --key "$S/sb.key" --cert "$S/sb.crt" --output "$S/sd-boot.sbsign.efi" "$S/sd-boot.plain.efi" >/dev/null 2>&1
d1=$(osslsigncode verify -in "$S/sd-boot.efi" 2>&1 | grep 'Current message digest' | awk '{print $NF}')
d2=$(osslsigncode verify -in "$S/sd-boot.sbsign.efi" 2>&1 | grep 'Current message digest' | awk '{print $NF}')
check_eq "sbsign of the imager's systemd-boot embeds the same digest" "${d1:-ours}" "${d2:-none}"
check_eq "loader.conf enrolls as the schematic says (enrollKeys: Force)" "$(mtype -i "$S/esp.img" ::/loader/loader.conf)" \
  "$(printf '# systemd-boot configuration\n\ntimeout 10\n\nsecure-boot-enroll force')"
openssl x509 -in "$S/sb.crt" -outform DER -out "$S/sb.der"
mcopy -n -i "$S/esp.img" ::/EFI/keys/uki-signing-cert.der "$S/cert.der"
check "EFI/keys/uki-signing-cert.der is the certificate" cmp "$S/sb.der" "$S/cert.der"
mkdir -p "$S/auth"
for n in PK KEK db; do
  mcopy -n -i "$S/esp.img" "::/loader/keys/auto/$n.auth" "$S/auth/$n.auth"
  check "$n.auth: EFI_VARIABLE_AUTHENTICATION_2 + signature list with the certificate" \
    "${CHECK[@]}" auth "$S/auth/$n.auth" "$n" "$S/sb.der" "$S/auth"
  check "$n.auth: openssl cms verifies its PKCS#7 over name, GUID, attributes, time and list" \
    openssl cms -verify -inform DER -in "$S/auth/$n.p7" -content "$S/auth/$n.tbs" -binary -noverify -out /dev/null
done

# ---- the installer
mkdir -p "$S/inst"
tar -xf "$INST" -C "$S/inst"
layer=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["Layers"][-1])' "$S/inst/manifest.json")
tar -xzf "$S/inst/$layer" -C "$S/inst"
check "installer: sbverify accepts usr/install/amd64/systemd-boot.efi" \
  sbverify --cert "$S/sb.crt" "$S/inst/usr/install/amd64/systemd-boot.efi"
check "installer: sbverify accepts usr/install/amd64/vmlinuz.efi" \
  sbverify --cert "$S/sb.crt" "$S/inst/usr/install/amd64/vmlinuz.efi"
ID=$(sqlite3 "$B/index.db" "SELECT id FROM schematics LIMIT 1")
check_eq "installer tagged installer-secureboot/<id>:v1.11.3" \
  "$(sqlite3 "$B/index.db" "SELECT count(*) FROM images WHERE repository = 'installer-secureboot/$ID' AND tag = 'v1.11.3'")" 1

# ---- the disk image: sd-boot layout, signed systemd-boot and UKI on the ESP
RAW=$(blob metal-amd64-secureboot.raw)
check_contains "disk image: EFI + META only (sd-boot)" "$(sgdisk -p "$RAW" 2>&1 | awk '/^ +[0-9]/ {print $NF}' | tr '\n' ' ')" "EFI META "
mcopy -n -i "$RAW@@1M" ::/EFI/boot/BOOTX64.efi "$S/disk-sd-boot.efi"
mcopy -n -i "$RAW@@1M" ::/EFI/Linux/Talos-v1.11.3.efi "$S/disk-uki.efi"
check "disk image: sbverify accepts its systemd-boot" sbverify --cert "$S/sb.crt" "$S/disk-sd-boot.efi"
check "disk image: sbverify accepts its UKI" sbverify --cert "$S/sb.crt" "$S/disk-uki.efi"
check_fails "disk image: sbverify rejects its UKI with another certificate" sbverify --cert "$S/other.crt" "$S/disk-uki.efi"
# auto-enrollment as Image Factory's imager writes it on SecureBoot disks (buildImage/copyAssets):
# the schematic's enrollKeys (Force) in loader.conf, the same PK/KEK/db.auth as the ISO's
check_eq "disk image: loader.conf enrolls as the schematic says (enrollKeys: Force)" \
  "$(mtype -i "$RAW@@1M" ::/loader/loader.conf)" "$(printf '# systemd-boot configuration\n\ntimeout 10\n\nsecure-boot-enroll force')"
for n in PK KEK db; do
  mcopy -n -i "$RAW@@1M" "::/loader/keys/auto/$n.auth" "$S/disk-$n.auth" 2>/dev/null
  check "disk image: loader/keys/auto/$n.auth is the ISO's" cmp "$S/auth/$n.auth" "$S/disk-$n.auth"
done

# ---- the server
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$AIRFACTORY_SERVE" "$B" --listen "127.0.0.1:$PORT" --key "$S/b.pub" 2>"$S/serve.log" &
SERVE_PID=$!
trap 'kill $SERVE_PID 2>/dev/null; wait $SERVE_PID 2>/dev/null' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
ctype=$(curl -s -o "$S/served.pem" -w '%{http_code} %{content_type}' "http://127.0.0.1:$PORT/secureboot/signing-cert.pem")
check_eq "GET /secureboot/signing-cert.pem: 200 application/x-pem-file" "$ctype" "200 application/x-pem-file"
check_eq "it is the signing certificate" "$(openssl x509 -in "$S/served.pem" -outform DER | sha256sum)" \
  "$(sha256sum <"$S/sb.der")"
kill $SERVE_PID 2>/dev/null
wait $SERVE_PID 2>/dev/null

# ---- determinism: a fresh build with the same inputs and SOURCE_DATE_EPOCH
manifest "$S/again" "$S/sb.key" "$S/sb.crt" >"$S/m2.yaml"
"$AIRFACTORY" build "$S/m2.yaml" --store "$S/store" >/dev/null 2>&1
q="SELECT path || ' ' || digest FROM assets WHERE path NOT LIKE '%.raw' ORDER BY path"
check_eq "a second build is byte-identical" "$(sqlite3 "$S/again/index.db" "$q")" "$(sqlite3 "$B/index.db" "$q")"

# ---- bad keys: input errors naming the file
manifest "$S/bad" "$S/sb.key" "$S/other.crt" >"$S/m3.yaml"
out=$("$AIRFACTORY" build "$S/m3.yaml" --store "$S/store" 2>&1)
check_eq "a certificate of another key: exit 2" "$?" 2
check_contains "... naming the certificate" "$out" "$S/other.crt: secureboot signing certificate does not belong"
manifest "$S/bad" "$S/b.key" "$S/sb.crt" >"$S/m4.yaml"
out=$("$AIRFACTORY" build "$S/m4.yaml" --store "$S/store" 2>&1)
check_eq "an ECDSA signing key: exit 2" "$?" 2
check_contains "... naming the key" "$out" "$S/b.key: secureboot signing key is not an RSA key"
manifest "$S/bad" "" "" >"$S/m5.yaml"
out=$("$AIRFACTORY" build "$S/m5.yaml" --store "$S/store" 2>&1)
check_eq "SecureBoot outputs without a signer: exit 2" "$?" 2
check_contains "... saying what to add" "$out" "SecureBoot assets need a 'secureboot:' section"
echo garbage >"$S/garbage.pem"
out=$("$AIRFACTORY" build "$S/m5.yaml" --store "$S/store" --secureboot-key "$S/garbage.pem" \
  --secureboot-cert "$S/sb.crt" 2>&1)
check_eq "--secureboot-key with a non-PEM file: exit 2" "$?" 2
check_contains "... naming it and how to make one" "$out" "$S/garbage.pem: secureboot signing key is not a PEM private key"
check "no partial bundle was left" test ! -e "$S/bad"
