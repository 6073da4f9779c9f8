#!/usr/bin/env bash
# Split packs for media with a file-size limit: pack/delta --split SIZE, SHA256SUMS that
# `sha256sum -c` checks, README.txt; unpack from the parts directory; a missing, corrupt, reordered
# or foreign part named in one line with the target untouched; kill -9 of unpack at every part
# boundary, then a rerun completes; a write that hits the file-size limit suggests --split.
source "$(dirname "$0")/../lib.sh"
GEN=$BUILD/tests/test_bundle
S=$(scratch)

$AIRFACTORY keygen -o "$S/k" >/dev/null
$AIRFACTORY keygen -o "$S/other" >/dev/null
"$GEN" make-bundle "$S/old" "$S/k.key" --big 5000000 >/dev/null
"$GEN" make-bundle "$S/new" "$S/k.key" --variant 1 --big 5000000 --base "$S/old" >/dev/null
"$GEN" make-bundle "$S/foreign" "$S/other.key" --big 5000000 >/dev/null

check "pack --split 1M" $AIRFACTORY pack "$S/new" --split 1M -o "$S/parts"
n=$(ls "$S/parts" | grep -c '^bundle\.tar\.[0-9][0-9][0-9]$')
check_eq "several numbered parts" "$([ "$n" -ge 5 ] && echo yes)" yes
check_eq "every part but the last is exactly 1 MiB" \
  "$(ls "$S"/parts/bundle.tar.* | head -n -1 | xargs stat -c %s | sort -u)" 1048576
check "sha256sum -c SHA256SUMS" sh -c "cd '$S/parts' && sha256sum --quiet -c SHA256SUMS"
check_contains "README says how to reassemble" "$(cat "$S/parts/README.txt")" "cat bundle.tar.[0-9][0-9][0-9] > bundle.tar"
$AIRFACTORY pack "$S/new" -o "$S/whole.tar" 2>/dev/null
check "the parts are the pack, cut" sh -c "cat '$S'/parts/bundle.tar.[0-9][0-9][0-9] | cmp - '$S/whole.tar'"
check "unpack PARTS-DIR DIR" $AIRFACTORY unpack "$S/parts" "$S/u1" --key "$S/k.pub"
check "unpacked from parts equals the original" diff -r "$S/new" "$S/u1"
check_fails "--split into an existing directory is refused" $AIRFACTORY pack "$S/new" --split 1M -o "$S/parts"
check_fails "--split 1000 (below 1 MiB) is refused" $AIRFACTORY pack "$S/new" --split 1000 -o "$S/tiny"

check "delta --split" $AIRFACTORY delta "$S/old" "$S/new" --split 1M -o "$S/dparts"
cp -a "$S/old" "$S/live"
check "unpack DELTA-PARTS --onto" $AIRFACTORY unpack "$S/dparts" --onto "$S/live" --key "$S/k.pub"
check "delta parts applied equal NEW" diff -r "$S/new" "$S/live"

check_contains "verify a parts directory: checks without unpacking" \
  "$($AIRFACTORY verify "$S/parts" --key "$S/k.pub")" "OK: a pack of bundle index"
check_contains "verify a pack file" "$($AIRFACTORY verify "$S/whole.tar" --key "$S/k.pub")" "signature verified"
check_contains "verify delta parts: says it is a delta" "$($AIRFACTORY verify "$S/dparts" --key "$S/k.pub")" "a delta"
rm -rf "$S/vbad" && cp -a "$S/parts" "$S/vbad" && truncate -s 1000 "$S/vbad/bundle.tar.001"
out=$($AIRFACTORY verify "$S/vbad" --key "$S/k.pub" 2>&1); rc=$?
check_eq "verify a corrupt part: exit 2" "$rc" 2
check_contains "verify a corrupt part: names it" "$out" "$S/vbad/bundle.tar.001: corrupt or from another pack"

# ---- bad parts: named, the target untouched ----
bad() { # NAME SETUP EXPECTED
  rm -rf "$S/bad" && cp -a "$S/parts" "$S/bad" && (cd "$S/bad" && eval "$2")
  out=$($AIRFACTORY unpack "$S/bad" "$S/u1" --key "$S/k.pub" 2>&1); rc=$?
  check_eq "$1: exit 2" "$rc" 2
  check_contains "$1: named" "$out" "$3"
  check_eq "$1: one line" "$(printf '%s\n' "$out" | wc -l)" 1
  check "$1: the target is untouched" diff -r "$S/new" "$S/u1"
}
bad "missing part" "rm bundle.tar.002" "$S/bad/bundle.tar.002: missing (part 3 of the pack"
bad "truncated part" "truncate -s 1000 bundle.tar.003" "$S/bad/bundle.tar.003: corrupt or from another pack"
bad "reordered parts" "mv bundle.tar.001 x && mv bundle.tar.002 bundle.tar.001 && mv x bundle.tar.002" \
  "$S/bad/bundle.tar.001: corrupt or from another pack"
$AIRFACTORY pack "$S/old" --split 1M -o "$S/oldparts" 2>/dev/null
bad "a part from another pack" "cp '$S/oldparts/bundle.tar.003' bundle.tar.003" "$S/bad/bundle.tar.003: corrupt or from another pack"
$AIRFACTORY pack "$S/foreign" --split 1M -o "$S/fparts" 2>/dev/null
out=$($AIRFACTORY unpack "$S/fparts" "$S/u1" --key "$S/k.pub" 2>&1); rc=$?
check_eq "a pack for another key: exit 2" "$rc" 2
check_contains "a pack for another key: says so" "$out" "signature does not verify"
check "a pack for another key: the target is untouched" diff -r "$S/new" "$S/u1"

# ---- kill -9 at each part boundary, then rerun ----
for i in $(seq 1 "$n"); do
  rm -rf "$S/k$i"
  AIRFACTORY_TEST_KILL_AT="unpack-part-done:$i" $AIRFACTORY unpack "$S/parts" "$S/k$i" --key "$S/k.pub" 2>/dev/null
  rc=$?
  check_eq "kill -9 after part $i: killed" "$rc" 137
  check_eq "kill -9 after part $i: no bundle published" "$([ -e "$S/k$i/index.db" ] && echo yes || echo no)" no
  check "kill -9 after part $i: the rerun completes" $AIRFACTORY unpack "$S/parts" "$S/k$i" --key "$S/k.pub"
  check "kill -9 after part $i: nothing lost" diff -r "$S/new" "$S/k$i"
  rm -rf "$S/k$i"
done

# ---- the file-size limit says so and suggests --split ----
out=$( (trap '' XFSZ; ulimit -f 2048; $AIRFACTORY pack "$S/new" -o "$S/big.tar") 2>&1); rc=$?
check_eq "pack over the file-size limit: fails" "$([ "$rc" -ne 0 ] && echo yes)" yes
check_contains "pack over the file-size limit: says so" "$out" "File too large"
check_contains "pack over the file-size limit: suggests --split" "$out" "--split SIZE"
check_eq "pack over the file-size limit: no partial file" "$(ls "$S"/big.tar* 2>/dev/null | wc -l)" 0
