#!/usr/bin/env bash
# tests/integration/asset_names.sh — the differential test of Image Factory asset names: every
# name of tests/data/asset-names.tsv goes to every entry point that reads one, and they must agree
# with the table (the one grammar, src/talos/asset_path.c) and with each other:
#   `airfactory disk plan -- NAME V`   a grammar error is the grammar's message; a disk image plans the
#                                   same as its canonical name (metal-x86_64.raw.zst = metal-amd64…);
#                                   another kind is "not a disk image name"
#   a build manifest's outputs      a grammar error is refused with the grammar's message (unless it
#                                   is an arch-less form, which names the arch it inserts); a name
#                                   the manifest accepts plans as its canonical name
#   airfactory-serve /image/…/NAME  400 with the grammar's message; else 200 exactly when the bundle
#                                   holds the canonical name, 404 otherwise, advising the manifest
#                                   only for a name the manifest accepts
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/serve-lib.bash"
serve_setup
V=v1.11.3
TSV=$ROOT/tests/data/asset-names.tsv

# a manifest with every source and key an output may need (plan checks the files exist)
: >"$SCR/imager.oci.tar"; : >"$SCR/installer-base.oci.tar"; : >"$SCR/installer.oci.tar"; : >"$SCR/k"
cp "$ROOT/tests/keys/cosign.pub" "$SCR/cosign.pub"
manifest() { # NAME -> $SCR/m.yaml
  cat >"$SCR/m.yaml" <<EOF
schematics:
  - {name: v, schematic: {}}
versions: [$V]
architectures: [amd64, arm64]
outputs: ["$1"]
sources:
  - {role: imager, path: imager.oci.tar, reference: ghcr.io/siderolabs/imager:$V}
  - {role: installer-base, path: installer-base.oci.tar, reference: ghcr.io/siderolabs/installer-base:$V}
  - {role: installer, path: installer.oci.tar, reference: ghcr.io/siderolabs/installer:$V}
trust:
  default: {keys: [cosign.pub]}
signing_key: k
secureboot: {signing_key: k, signing_cert: k}
output: o
EOF
}

start_serve names "$BUNDLE" --key "$PUB" || { fail "server starts"; exit 1; }
# what the bundle holds for the schematic and version, in the server's own words
held=$(curl -s "$URL/image/$SCHEMATIC/$V/metal-arm64-secureboot.iso" | sed -n 's/.*This bundle has: //p')
check_contains "the bundle lists what it holds" "$held" "kernel-amd64"
held=", $held,"

rows=0 bad=0
note() { bad=$((bad + 1)); fail "$1" "$(echo "$2" | tr '\n' ' ' | head -c 400)"; }
while IFS=$'\t' read -r name expected; do
  case $name in '#'* | '') continue ;; esac
  rows=$((rows + 1))
  plan_out=$("$AIRFACTORY" disk plan -- "$name" "$V" 2>&1); plan_rc=$?
  manifest "$name"
  m_out=$("$AIRFACTORY" plan "$SCR/m.yaml" 2>&1); m_rc=$?
  code=$(curl -s -o "$SCR/body" -w '%{http_code}' "$URL/image/$SCHEMATIC/$V/$name"); body=$(head -c 2000 "$SCR/body" | tr -d '\0')
  case $expected in
    ERROR\ *)
      msg=${expected#ERROR }
      [ "$plan_rc" -ne 0 ] && [[ $plan_out == *"$msg"* ]] || note "disk plan $name" "status $plan_rc: $plan_out"
      if [ "$m_rc" -eq 0 ]; then
        # only an arch-less form may plan: as the name with the arch inserted
        m_paths=$(echo "$m_out" | awk '{print $5}' | sort -u | tr '\n' ' ')
        case $m_paths in *-amd64*) ;; *) note "manifest $name" "accepted as $m_paths" ;; esac
      elif [[ $m_out != *"$msg"* ]]; then
        note "manifest $name" "$m_out"
      fi
      [ "$code" = 400 ] && [[ $body == *"error parsing profile from path: $msg"* ]] || note "serve $name" "$code $body"
      ;;
    *)
      read -r kind platform arch canonical _ <<<"$expected"
      if [ "$m_rc" -eq 0 ]; then
        m_paths=$(echo "$m_out" | awk '{print $5}' | sort -u)
        [ "$m_paths" = "$canonical" ] || note "manifest $name" "plans '$m_paths', expected $canonical"
      elif [[ $m_out == *"unknown output"* ]]; then
        note "manifest $name" "the grammar parses it, the manifest does not: $m_out"
      fi
      case $held in
        *", $canonical,"*) [ "$code" = 200 ] || note "serve $name" "$code, expected 200 ($canonical is in the bundle)" ;;
        *) if [ "$code" != 404 ]; then note "serve $name" "$code $body"
           elif [[ $m_out == *"unknown platform '$platform'"* ]]; then
             [[ $body == *"names platform '$platform', which Talos does not have"* ]] || note "serve $name" "$body"
           else
             [[ $body == *"$canonical"*"add it to the build manifest's outputs"* ]] || note "serve $name" "$body"
           fi ;;
      esac
      if [ "$kind" = image ]; then
        if [[ $m_out == *"unknown platform '$platform'"* ]]; then
          [ "$plan_rc" -ne 0 ] && [[ $plan_out == *"unknown platform '$platform'"* ]] ||
            note "disk plan $name" "plans a platform the manifest refuses: $plan_out"
        else
          canon_out=$("$AIRFACTORY" disk plan -- "$canonical" "$V" 2>&1)
          [ "$plan_rc" -eq 0 ] && [ "$plan_out" = "$canon_out" ] ||
            note "disk plan $name" "status $plan_rc, differs from $canonical: $plan_out / $canon_out"
        fi
      else
        [ "$plan_rc" -ne 0 ] && [[ $plan_out == *"not a disk image name"* ]] || note "disk plan $name" "$plan_out"
      fi
      ;;
  esac
done <"$TSV"
check_eq "every name of the table went through (rows)" "$([ "$rows" -ge 40 ] && echo yes)" yes
check_eq "disk plan, manifest and /image agree with the grammar on every name" "$bad" 0

# the cases the copies used to disagree on, spelled out
out=$("$AIRFACTORY" disk plan digital-ocean-amd64.raw.gz "$V" 2>&1)
check_contains "disk plan: digital-ocean is one platform" "$out" "format raw"
check_eq "disk plan: metal-x86_64.raw.zst is metal-amd64.raw.zst" \
  "$("$AIRFACTORY" disk plan metal-x86_64.raw.zst "$V" 2>&1 | head -2)" "$("$AIRFACTORY" disk plan metal-amd64.raw.zst "$V" 2>&1 | head -2)"
code=$(curl -s -o "$SCR/body" -w '%{http_code}' "$URL/image/$SCHEMATIC/$V/metal-x86_64.iso")
check_eq "/image: metal-x86_64.iso is the bundle's metal-amd64.iso" "$code" 200
code=$(curl -s -o "$SCR/body" -w '%{http_code}' "$URL/pxe/$SCHEMATIC/$V/metal-x86_64")
check_eq "/pxe: metal-x86_64 (iPXE \${buildarch}) boots amd64" "$code" 200
check_contains "/pxe: the script names the canonical kernel" "$(cat "$SCR/body")" "/kernel-amd64 "
code=$(curl -s -o "$SCR/body" -w '%{http_code}' "$URL/pxe/$SCHEMATIC/$V/-amd64")
check_eq "/pxe: no platform is a 400, as /image" "$code" 400
