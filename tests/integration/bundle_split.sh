#!/usr/bin/env bash
# Split packs for media with a file-size limit: pack/delta --split SIZE, SHA256SUMS that
# `sha256sum -c` checks, README.txt; unpack from the parts directory; a missing, corrupt, reordered
# or foreign part named in one line with the target untouched; kill -9 of unpack at every part
# boundary (and inside a tar header, in padding, at a header), then a rerun resumes without opening
# the parts checked before (strace), a part replaced meanwhile is caught; a write that hits the
# file-size limit suggests --split.
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
  rm -rf "$S/bad" "$S"/u1.tmp-* && cp -a "$S/parts" "$S/bad" && (cd "$S/bad" && eval "$2")
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

# ---- kill -9 at each part boundary, then rerun: it resumes, the parts checked before are not read again ----
opened_parts() { # LOG: the parts an strace log shows opened, e.g. "000 003 004"
  grep -o 'bundle\.tar\.[0-9]*"' "$1" | tr -dc '0-9\n' | sort -u | tr '\n' ' ' | sed 's/ $//'
}
for i in $(seq 1 "$n"); do
  rm -rf "$S/k$i"
  AIRFACTORY_TEST_KILL_AT="unpack-part-done:$i" $AIRFACTORY unpack "$S/parts" "$S/k$i" --key "$S/k.pub" 2>/dev/null
  rc=$?
  check_eq "kill -9 after part $i: killed" "$rc" 137
  check_eq "kill -9 after part $i: no bundle published" "$([ -e "$S/k$i/index.db" ] && echo yes || echo no)" no
  out=$(ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -qq -e trace=openat -o "$S/trace" $AIRFACTORY unpack "$S/parts" "$S/k$i" --key "$S/k.pub" 2>&1); rc=$?
  check_eq "kill -9 after part $i: the rerun completes" "$rc" 0
  check_eq "kill -9 after part $i: the rerun says the $i parts checked before are skipped" \
    "$(grep -c ': verified earlier, skipped' <<<"$out")" "$i"
  check_contains "kill -9 after part $i: e.g. part $i" "$out" "part $i of $n (bundle.tar.$(printf %03d $((i - 1)))): verified earlier, skipped"
  check_eq "kill -9 after part $i: the rerun opens only the parts after it" "$(opened_parts "$S/trace")" \
    "$(seq -f %03g "$i" $((n - 1)) | tr '\n' ' ' | sed 's/ $//')"
  check "kill -9 after part $i: nothing lost" diff -r "$S/new" "$S/k$i"
  check_eq "kill -9 after part $i: no staging left" "$(ls -d "$S/k$i".* 2>/dev/null | wc -l)" 0
  rm -rf "$S/k$i"
done

# a part boundary inside a tar header, in the padding after a blob, and at a header: cut the pack
# there (offsets from Python's tarfile), kill after part 1, rerun
mapfile -t cuts < <(python3 - "$S/whole.tar" <<'PY'
import sys, tarfile
t = tarfile.open(sys.argv[1])
big = max((m for m in t.getmembers()), key=lambda m: m.size)
end = big.offset_data + big.size           # the big blob's data ends: padding up to the next header
nxt = next(m for m in t.getmembers() if m.offset > big.offset)
print(nxt.offset + 100)                    # inside the next header
print(end + 10 if end % 512 else end)      # in the padding
print(nxt.offset)                          # exactly at the next header
print(nxt.offset_data + 7)                 # 7 bytes into the next entry's data
PY
)
for cut in "${cuts[@]}"; do
  rm -rf "$S/c" "$S/cu"*
  $AIRFACTORY pack "$S/new" --split "$cut" -o "$S/c" 2>/dev/null
  AIRFACTORY_TEST_KILL_AT="unpack-part-done:1" $AIRFACTORY unpack "$S/c" "$S/cu" --key "$S/k.pub" 2>/dev/null
  check_eq "cut at $cut: killed after part 1" "$?" 137
  out=$($AIRFACTORY unpack "$S/c" "$S/cu" --key "$S/k.pub" 2>&1)
  check_contains "cut at $cut: the rerun skips part 1" "$out" "part 1 of 2 (bundle.tar.000): verified earlier, skipped"
  check "cut at $cut: nothing lost" diff -r "$S/new" "$S/cu"
done

# killed after a part was checked but before its resume point: that part is read again
rm -rf "$S/kc"
AIRFACTORY_TEST_KILL_AT="unpack-part-checked:3" $AIRFACTORY unpack "$S/parts" "$S/kc" --key "$S/k.pub" 2>/dev/null
out=$($AIRFACTORY unpack "$S/parts" "$S/kc" --key "$S/k.pub" 2>&1); rc=$?
check_eq "killed between a part's check and its resume point: the rerun completes" "$rc" 0
check_eq "... it skips only the parts with a resume point" "$(grep -c ': verified earlier, skipped' <<<"$out")" 2
check "... nothing lost" diff -r "$S/new" "$S/kc"

# a part replaced between the runs: caught; the right copy put back: hashed again, resumed
rm -rf "$S/kr" "$S/rparts" && cp -a "$S/parts" "$S/rparts"
AIRFACTORY_TEST_KILL_AT="unpack-part-done:3" $AIRFACTORY unpack "$S/rparts" "$S/kr" --key "$S/k.pub" 2>/dev/null
cp "$S/oldparts/bundle.tar.001" "$S/rparts/bundle.tar.001"
out=$($AIRFACTORY unpack "$S/rparts" "$S/kr" --key "$S/k.pub" 2>&1); rc=$?
check_eq "a checked part replaced before the rerun: exit 2" "$rc" 2
check_contains "a checked part replaced before the rerun: named" "$out" \
  "$S/rparts/bundle.tar.001: corrupt or from another pack, replaced since the interrupted run"
check_eq "a checked part replaced before the rerun: nothing published" "$([ -e "$S/kr/index.db" ] && echo yes || echo no)" no
cp "$S/parts/bundle.tar.001" "$S/rparts/bundle.tar.001"
out=$($AIRFACTORY unpack "$S/rparts" "$S/kr" --key "$S/k.pub" 2>&1); rc=$?
check_eq "the right part put back: the rerun completes" "$rc" 0
check_contains "the right part put back: hashed again" "$out" "part 2 of $n (bundle.tar.001): changed since the interrupted run, hashed again"
check_eq "the right part put back: the others still skipped" "$(grep -c ': verified earlier, skipped' <<<"$out")" 2
check "the right part put back: nothing lost" diff -r "$S/new" "$S/kr"

# a corrupt part stops the run; copied again, the rerun goes on from the last resume point
rm -rf "$S/kx" "$S/xparts" && cp -a "$S/parts" "$S/xparts" && truncate -s 1000 "$S/xparts/bundle.tar.003"
out=$($AIRFACTORY unpack "$S/xparts" "$S/kx" --key "$S/k.pub" 2>&1)
check_contains "a corrupt part: named" "$out" "$S/xparts/bundle.tar.003: corrupt or from another pack"
cp "$S/parts/bundle.tar.003" "$S/xparts/bundle.tar.003"
out=$($AIRFACTORY unpack "$S/xparts" "$S/kx" --key "$S/k.pub" 2>&1); rc=$?
check_eq "copied again: the rerun completes" "$rc" 0
check_eq "copied again: the 3 parts before it are skipped" "$(grep -c ': verified earlier, skipped' <<<"$out")" 3
check "copied again: nothing lost" diff -r "$S/new" "$S/kx"

# another pack's parts into the same target: the journal does not fit, the run starts over
rm -rf "$S/ko"
AIRFACTORY_TEST_KILL_AT="unpack-part-done:2" $AIRFACTORY unpack "$S/parts" "$S/ko" --key "$S/k.pub" 2>/dev/null
out=$($AIRFACTORY unpack "$S/oldparts" "$S/ko" --key "$S/k.pub" 2>&1); rc=$?
check_eq "another pack after an interruption: completes" "$rc" 0
check_contains "another pack after an interruption: starts over" "$out" "does not fit this pack; starting from the first part"
check "another pack after an interruption: it is that pack" diff -r "$S/old" "$S/ko"

# a delta's parts --onto the live bundle: killed, rerun
cp -a "$S/old" "$S/dlive"
dn=$(ls "$S/dparts" | grep -c '^bundle\.tar\.')
AIRFACTORY_TEST_KILL_AT="unpack-part-done:$dn" $AIRFACTORY unpack "$S/dparts" --onto "$S/dlive" --key "$S/k.pub" 2>/dev/null
check_eq "delta parts --onto, killed at the last part: the live bundle untouched" "$(diff -r "$S/old" "$S/dlive" >/dev/null && echo yes)" yes
check "delta parts --onto: the rerun completes" $AIRFACTORY unpack "$S/dparts" --onto "$S/dlive" --key "$S/k.pub"
check "delta parts --onto: nothing lost" diff -r "$S/new" "$S/dlive"

# ---- the file-size limit says so and suggests --split ----
out=$( (trap '' XFSZ; ulimit -f 2048; $AIRFACTORY pack "$S/new" -o "$S/big.tar") 2>&1); rc=$?
check_eq "pack over the file-size limit: fails" "$([ "$rc" -ne 0 ] && echo yes)" yes
check_contains "pack over the file-size limit: says so" "$out" "File too large"
check_contains "pack over the file-size limit: suggests --split" "$out" "--split SIZE"
check_eq "pack over the file-size limit: no partial file" "$(ls "$S"/big.tar* 2>/dev/null | wc -l)" 0
