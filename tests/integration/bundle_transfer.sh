#!/usr/bin/env bash
# pack / unpack / delta end to end, with GNU tar and diff as witnesses.
source "$(dirname "$0")/../lib.sh"
GEN=$BUILD/tests/test_bundle
S=$(scratch)

flip_byte() { # FILE OFFSET
  python3 -c 'import sys; p=sys.argv[1]; o=int(sys.argv[2]); b=bytearray(open(p,"rb").read()); b[o]^=1; open(p,"wb").write(b)' "$1" "$2"
}
nothing_left() { # NAME DIR
  if [ -e "$2" ] || [ -e "$2.lock" ] || ls -d "$2".tmp-* >/dev/null 2>&1; then fail "$1" "$(ls -d "$2"* 2>&1 | tr '\n' ' ')"; else pass "$1"; fi
}

$AIRFACTORY keygen -o "$S/k" >/dev/null
$AIRFACTORY keygen -o "$S/other" >/dev/null
"$GEN" make-bundle "$S/old" "$S/k.key" >/dev/null
"$GEN" make-bundle "$S/new" "$S/k.key" --variant 1 >/dev/null

# ---- pack ----
check "pack -o FILE" $AIRFACTORY pack "$S/new" -o "$S/p1.tar"
$AIRFACTORY pack "$S/new" >"$S/p2.tar" 2>/dev/null
check "pack to stdout gives the same bytes (deterministic)" cmp "$S/p1.tar" "$S/p2.tar"
check_eq "tar lists the signed index first" "$(tar -tf "$S/p1.tar" | head -3 | tr '\n' ' ')" "index.db index.db.sig index.db.sig.der "
check_eq "tar: fixed owner and mtime" "$(TZ=UTC tar -tvf "$S/p1.tar" --numeric-owner | awk '{print $2, $4, $5}' | sort -u)" \
  "$(printf '0/0 2023-11-14 22:13')"
mkdir "$S/gnutar"
tar -xf "$S/p1.tar" -C "$S/gnutar"
check "GNU tar extracts the same tree" diff -r "$S/new" "$S/gnutar"
check "the GNU-tar-extracted tree verifies" $AIRFACTORY verify "$S/gnutar" --key "$S/k.pub" --full

# ---- unpack ----
check "unpack FILE DIR" $AIRFACTORY unpack "$S/p1.tar" "$S/u1" --key "$S/k.pub"
check "unpacked tree equals the original" diff -r "$S/new" "$S/u1"
check "unpacked bundle verifies --full" $AIRFACTORY verify "$S/u1" --key "$S/k.pub" --full
check "unpack from stdin" sh -c "cat '$S/p1.tar' | $AIRFACTORY unpack - '$S/u2' --key '$S/k.pub'"
check "stdin unpack equals the original" diff -r "$S/new" "$S/u2"
gzip -c "$S/p1.tar" >"$S/p1.tar.gz"
check "unpack a gzip-compressed pack" $AIRFACTORY unpack "$S/p1.tar.gz" "$S/u3" --key "$S/k.pub"
check "gzip unpack equals the original" diff -r "$S/new" "$S/u3"
check_fails "unpack without --key is refused" $AIRFACTORY unpack "$S/p1.tar" "$S/u4"
nothing_left "no --key: nothing created" "$S/u4"

out=$($AIRFACTORY unpack "$S/p1.tar" "$S/wrongkey" --key "$S/other.pub" 2>&1); rc=$?
check_eq "wrong key: exit 2" "$rc" 2
check_contains "wrong key: says why" "$out" "signature does not verify"
nothing_left "wrong key: nothing left" "$S/wrongkey"

size=$(stat -c %s "$S/p1.tar")
for cut in 300 20000 $((size / 2)) $((size - 2048)); do
  head -c "$cut" "$S/p1.tar" >"$S/cut.tar"
  out=$($AIRFACTORY unpack "$S/cut.tar" "$S/cut" --key "$S/k.pub" 2>&1); rc=$?
  check_eq "truncated at $cut: exit 2" "$rc" 2
  check_contains "truncated at $cut: says why" "$out" "cut.tar"
  nothing_left "truncated at $cut: nothing left" "$S/cut"
done

cp "$S/p1.tar" "$S/altered.tar"
# the middle of the stream is blob data (headers are 512 bytes of 10+ KiB per entry)
flip_byte "$S/altered.tar" $((size / 2 + 700))
out=$($AIRFACTORY unpack "$S/altered.tar" "$S/altered" --key "$S/k.pub" 2>&1); rc=$?
check_eq "altered byte: exit 2" "$rc" 2
check_contains "altered byte: names the stream" "$out" "altered.tar"
nothing_left "altered byte: nothing left" "$S/altered"

# ---- delta ----
check "delta OLD NEW" $AIRFACTORY delta "$S/old" "$S/new" -o "$S/d.tar"
dsize=$(stat -c %s "$S/d.tar")
check_eq "delta is smaller than a full pack" "$([ "$dsize" -lt "$size" ] && echo yes || echo "no: $dsize vs $size")" yes
# the blobs NEW's index lists and OLD's does not, according to sqlite3 itself
expected=$(sqlite3 "$S/new/index.db" "ATTACH '$S/old/index.db' AS old;
  SELECT substr(digest, 8) FROM blobs WHERE digest NOT IN (SELECT digest FROM old.blobs) ORDER BY 1")
check_eq "delta carries exactly the blobs OLD's index lacks" \
  "$(tar -tf "$S/d.tar" | grep '^blobs/' | sed 's|blobs/sha256/||')" "$expected"
check_eq "delta carries some blobs" "$([ -n "$expected" ] && echo yes)" yes
check_eq "delta starts with NEW's signed index" "$(tar -tf "$S/d.tar" | head -5 | tr '\n' ' ')" \
  "index.db index.db.sig index.db.sig.der oci-layout index.json "
check "unpack --onto OLD -o NEWDIR" $AIRFACTORY unpack "$S/d.tar" --onto "$S/old" -o "$S/applied" --key "$S/k.pub" --full
check "delta applied equals NEW" diff -r "$S/new" "$S/applied"
check "old bundle is untouched" $AIRFACTORY verify "$S/old" --key "$S/k.pub" --full
out=$($AIRFACTORY unpack "$S/d.tar" "$S/alone" --key "$S/k.pub" 2>&1)
check_contains "a delta alone is refused, pointing at --onto" "$out" "--onto"
nothing_left "delta alone: nothing left" "$S/alone"
cp -a "$S/old" "$S/inplace"
check "unpack --onto OLD in place" $AIRFACTORY unpack "$S/d.tar" --onto "$S/inplace" --key "$S/k.pub"
check "in-place result equals NEW" diff -r "$S/new" "$S/inplace"
check_eq "in place: no temporary directory left" "$(ls -d "$S"/inplace.tmp-* 2>/dev/null | wc -l)" 0
cat "$S/d.tar" | $AIRFACTORY unpack - --onto "$S/old" -o "$S/applied2" --key "$S/k.pub" 2>/dev/null
check "delta from stdin equals NEW" diff -r "$S/new" "$S/applied2"

# ---- freshness: an older bundle never replaces a newer one by accident ----
"$GEN" make-bundle "$S/gen2" "$S/k.key" --variant 1 --base "$S/old" --created 1700000500 >/dev/null
check_contains "ls shows generation and built_at" "$($AIRFACTORY ls "$S/gen2" --key "$S/k.pub")" \
  "generation 2, built 2023-11-14T22:21:40Z"
check_eq "ls --json: generation" "$($AIRFACTORY ls "$S/gen2" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["generation"], d["built_at"])')" \
  "2 1700000500"
$AIRFACTORY pack "$S/old" -o "$S/old.tar" 2>/dev/null
cp -a "$S/gen2" "$S/live"
out=$($AIRFACTORY unpack "$S/old.tar" "$S/live" --key "$S/k.pub" 2>&1); rc=$?
check_eq "unpack of an older pack over a newer bundle: exit 2" "$rc" 2
check_contains "downgrade: says which is older and how to force it" "$out" \
  "generation 1, built 2023-11-14T22:13:20Z is older than $S/live (generation 2, built 2023-11-14T22:21:40Z); refusing to replace it (pass --allow-downgrade"
check "downgrade refused: the newer bundle is untouched" diff -r "$S/gen2" "$S/live"
check_eq "downgrade refused: no temporary directory left" "$(ls -d "$S"/live.tmp-* 2>/dev/null | wc -l)" 0
$AIRFACTORY delta "$S/gen2" "$S/old" -o "$S/back.tar" 2>/dev/null
out=$($AIRFACTORY unpack "$S/back.tar" --onto "$S/live" --key "$S/k.pub" 2>&1); rc=$?
check_eq "unpack --onto of an older delta: exit 2" "$rc" 2
check_contains "unpack --onto downgrade: says so" "$out" "refusing to replace it"
check "--allow-downgrade rolls back on purpose" $AIRFACTORY unpack "$S/old.tar" "$S/live" --key "$S/k.pub" --allow-downgrade
check "rolled back: equals the old bundle" diff -r "$S/old" "$S/live"
