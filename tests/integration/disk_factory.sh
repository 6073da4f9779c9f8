#!/usr/bin/env bash
# disk_factory.sh — disk images through the factory: `airfactory build` of a manifest whose outputs
# are metal-amd64.raw.zst, nocloud-amd64.qcow2, vmware-amd64.ova, gcp-amd64.raw.tar.gz and
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
