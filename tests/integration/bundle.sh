#!/usr/bin/env bash
# Bundle commands end to end: keygen, verify, ls, with outside tools as witnesses (openssl, sqlite3,
# sha256sum, skopeo). Bundles come from the test-only generator in tests/unit/test_bundle.c, which
# uses the same writer API `airfactory build` will.
source "$(dirname "$0")/../lib.sh"
GEN=$BUILD/tests/test_bundle
S=$(scratch)
VANILLA=376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba

flip_byte() { # FILE OFFSET
  python3 -c 'import sys; p=sys.argv[1]; o=int(sys.argv[2]); b=bytearray(open(p,"rb").read()); b[o]^=1; open(p,"wb").write(b)' "$1" "$2"
}

# ---- keys ----
out=$($AIRFACTORY keygen -o "$S/k" 2>&1)
check_eq "keygen exits 0" "$?" 0
check_eq "private key is mode 0600" "$(stat -c %a "$S/k.key")" 600
check_eq "public key is mode 0644" "$(stat -c %a "$S/k.pub")" 644
check_eq "private key is unencrypted PKCS#8" "$(head -1 "$S/k.key")" "-----BEGIN PRIVATE KEY-----"
check_contains "openssl sees a P-256 key" "$(openssl pkey -in "$S/k.key" -text -noout 2>&1)" "prime256v1"
check_eq "openssl derives the same public key" "$(openssl pkey -in "$S/k.key" -pubout)" "$(cat "$S/k.pub")"
fp=sha256:$(openssl pkey -pubin -in "$S/k.pub" -outform DER | sha256sum | cut -d' ' -f1)
check_contains "fingerprint is sha256 of the DER public key" "$out" "$fp"
check_fails "keygen never overwrites a key" $AIRFACTORY keygen -o "$S/k"
$AIRFACTORY keygen -o "$S/other" >/dev/null
(cd "$S" && $AIRFACTORY keygen >/dev/null)
check_eq "keygen's default prefix is 'airfactory'" "$(cd "$S" && ls airfactory.key airfactory.pub | tr '\n' ' ')" "airfactory.key airfactory.pub "

# keys made by OpenSSL work too: PKCS#8 from genpkey, SEC1 from ecparam (Image Factory's form)
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$S/ossl.key" 2>/dev/null
openssl pkey -in "$S/ossl.key" -pubout -out "$S/ossl.pub"
check "an OpenSSL PKCS#8 key signs a bundle" "$GEN" make-bundle "$S/ossl" "$S/ossl.key"
check "... that verifies with its OpenSSL public key" $AIRFACTORY verify "$S/ossl" --key "$S/ossl.pub"
openssl ecparam -name prime256v1 -genkey -noout -out "$S/sec1.key" 2>/dev/null
openssl ec -in "$S/sec1.key" -pubout -out "$S/sec1.pub" 2>/dev/null
check "a SEC1 'EC PRIVATE KEY' signs a bundle" "$GEN" make-bundle "$S/sec1" "$S/sec1.key"
check "... that verifies" $AIRFACTORY verify "$S/sec1" --key "$S/sec1.pub"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$S/rsa.key" 2>/dev/null
out=$("$GEN" make-bundle "$S/rsa" "$S/rsa.key" 2>&1)
check_contains "an RSA key is refused with the reason" "$out" "not an ECDSA P-256 key"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$S/p384.key" 2>/dev/null
check_fails "a P-384 key is refused" "$GEN" make-bundle "$S/p384" "$S/p384.key"
openssl pkcs8 -topk8 -in "$S/ossl.key" -passout pass:secret -out "$S/enc.key" 2>/dev/null
out=$("$GEN" make-bundle "$S/enc" "$S/enc.key" 2>&1)
check_contains "an encrypted key is refused with a hint, never prompting" "$out" "encrypted"
check_eq "failed writers leave nothing" "$(ls -d "$S"/rsa* "$S"/p384* "$S"/enc* 2>/dev/null | tr '\n' ' ')" \
  "$S/enc.key $S/p384.key $S/rsa.key "

# ---- a bundle ----
check "generator writes a bundle" "$GEN" make-bundle "$S/b" "$S/k.key"
check "verify accepts it" $AIRFACTORY verify "$S/b" --key "$S/k.pub"
out=$($AIRFACTORY verify "$S/b" --key "$S/k.pub" --full 2>&1)
check_contains "verify --full re-hashes every blob" "$out" "every blob re-hashed"
check_contains "verify names the key" "$out" "$fp"
check_eq "openssl verifies index.db.sig.der" \
  "$(openssl dgst -sha256 -verify "$S/k.pub" -signature "$S/b/index.db.sig.der" "$S/b/index.db" 2>&1)" "Verified OK"
base64 -d "$S/b/index.db.sig" >"$S/sig.bin"
check "index.db.sig is base64 of index.db.sig.der" cmp "$S/sig.bin" "$S/b/index.db.sig.der"
check_eq "openssl verifies the base64 signature (cosign verify-blob's form)" \
  "$(openssl dgst -sha256 -verify "$S/k.pub" -signature "$S/sig.bin" "$S/b/index.db" 2>&1)" "Verified OK"
check_fails "openssl rejects the signature with another key" \
  openssl dgst -sha256 -verify "$S/other.pub" -signature "$S/b/index.db.sig.der" "$S/b/index.db"
if command -v go >/dev/null; then
  # What cosign verify-blob --key does, with Go's standard library (sigstore's ECDSAVerifier):
  # base64-decode the .sig file, SHA-256 the blob, ecdsa.VerifyASN1 with the PKIX public key.
  cat >"$S/cosignlike.go" <<'GO'
package main

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
)

func main() {
	pub, _ := os.ReadFile(os.Args[1])
	sig64, _ := os.ReadFile(os.Args[2])
	blob, _ := os.ReadFile(os.Args[3])
	block, _ := pem.Decode(pub)
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		fmt.Println("bad key:", err)
		os.Exit(1)
	}
	sig, err := base64.StdEncoding.DecodeString(string(sig64))
	if err != nil {
		fmt.Println("bad base64:", err)
		os.Exit(1)
	}
	sum := sha256.Sum256(blob)
	if !ecdsa.VerifyASN1(key.(*ecdsa.PublicKey), sum[:], sig) {
		fmt.Println("signature does not verify")
		os.Exit(1)
	}
	fmt.Println("Verified OK")
}
GO
  check_eq "Go crypto/ecdsa verifies index.db.sig as cosign verify-blob would" \
    "$(cd "$S" && GOCACHE="$S/gocache" GO111MODULE=off go run cosignlike.go "$S/k.pub" "$S/b/index.db.sig" "$S/b/index.db" 2>&1)" "Verified OK"
  check_fails "Go crypto/ecdsa rejects it with another key" \
    env GOCACHE="$S/gocache" GO111MODULE=off go run "$S/cosignlike.go" "$S/other.pub" "$S/b/index.db.sig" "$S/b/index.db"
else
  skip "Go crypto/ecdsa verifies index.db.sig" "go not installed"
fi
check_eq "sqlite3: application_id AFTB" "$(sqlite3 "$S/b/index.db" 'PRAGMA application_id')" 1095128130
check_eq "sqlite3: format version 1" "$(sqlite3 "$S/b/index.db" 'PRAGMA user_version')" 1
check_eq "sqlite3: integrity ok" "$(sqlite3 "$S/b/index.db" 'PRAGMA integrity_check')" ok
check_eq "sqlite3: 20 assets" "$(sqlite3 "$S/b/index.db" 'SELECT count(*) FROM assets')" 20
check_eq "sqlite3: meta signing_key is the key" \
  "$(sqlite3 "$S/b/index.db" "SELECT value FROM meta WHERE key='signing_key'")" "$fp"
check_eq "sqlite3: oci_index_digest is index.json's sha256" \
  "$(sqlite3 "$S/b/index.db" "SELECT value FROM meta WHERE key='oci_index_digest'")" \
  "sha256:$(sha256sum <"$S/b/index.json" | cut -d' ' -f1)"
check_eq "sqlite3: ISO media type" \
  "$(sqlite3 "$S/b/index.db" "SELECT media_type FROM assets WHERE path='metal-amd64.iso' LIMIT 1")" \
  application/x-iso9660-image
bad=0
for f in "$S"/b/blobs/sha256/*; do
  [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || bad=$((bad + 1))
done
check_eq "sha256sum: every blob is named by its digest" "$bad" 0
check_eq "blobs table lists every blob file" \
  "$(sqlite3 "$S/b/index.db" 'SELECT count(*) FROM blobs')" "$(ls "$S/b/blobs/sha256" | wc -l)"
if command -v skopeo >/dev/null; then
  out=$(skopeo inspect "oci:$S/b:installer/$VANILLA:v1.10.3" 2>&1)
  check_contains "skopeo reads the installer image from the OCI layout" "$out" '"Architecture": "amd64"'
  check "skopeo copies the image out of the layout" skopeo copy -q "oci:$S/b:installer/$VANILLA:v1.10.3" "dir:$S/copied"
else
  skip "skopeo reads the layout" "skopeo not installed"
fi

# ---- determinism ----
"$GEN" make-bundle "$S/b1" "$S/k.key" >/dev/null
"$GEN" make-bundle "$S/b2" "$S/k.key" --reverse >/dev/null
check "two writes give byte-identical index.db" cmp "$S/b1/index.db" "$S/b2/index.db"
check "two writes give the same index.json" cmp "$S/b1/index.json" "$S/b2/index.json"
check_eq "two writes give the same blob set" "$(cd "$S/b1" && sha256sum blobs/sha256/*)" "$(cd "$S/b2" && sha256sum blobs/sha256/*)"

# ---- damage ----
out=$($AIRFACTORY verify "$S/b" --key "$S/other.pub" 2>&1); rc=$?
check_eq "wrong key: exit 2" "$rc" 2
check_contains "wrong key: says the signature does not verify" "$out" "signature does not verify"

cp -a "$S/b" "$S/flip"
blob=$(sqlite3 "$S/flip/index.db" "SELECT substr(digest, 8) FROM assets WHERE path='kernel-amd64' LIMIT 1")
flip_byte "$S/flip/blobs/sha256/$blob" 100
check "flipped bit: same size, the cheap check passes" $AIRFACTORY verify "$S/flip" --key "$S/k.pub"
out=$($AIRFACTORY verify "$S/flip" --key "$S/k.pub" --full 2>&1); rc=$?
check_eq "flipped bit: --full exits 2" "$rc" 2
check_contains "flipped bit: --full names the blob" "$out" "blobs/sha256/$blob: content hashes to"

cp -a "$S/b" "$S/missing"
rm -f "$S/missing/blobs/sha256/$blob"
echo extra >"$S/missing/extra.txt"
out=$($AIRFACTORY verify "$S/missing" --key "$S/k.pub" 2>&1); rc=$?
check_eq "missing blob + extra file: exit 2" "$rc" 2
check_contains "missing blob is reported" "$out" "blobs/sha256/$blob: missing"
check_contains "extra file is reported" "$out" "extra.txt: extra file"
check_contains "all problems are counted" "$out" "FAILED: 2 problems"

cp -a "$S/b" "$S/trunc"
truncate -s 4096 "$S/trunc/index.db"
out=$($AIRFACTORY verify "$S/trunc" --key "$S/k.pub" --json 2>&1); rc=$?
check_eq "truncated index.db: exit 2" "$rc" 2
check_eq "truncated index.db: --json ends with a failed event" \
  "$(echo "$out" | tail -1 | python3 -c 'import json,sys; e=json.loads(sys.stdin.read()); print(e["event"], e["signature"])')" "failed False"
check_contains "truncated index.db: the problem names index.db" "$out" '"path":"'"$S/trunc/index.db"'"'
check_fails "a server would refuse it: ls --key" $AIRFACTORY ls "$S/trunc" --key "$S/k.pub"

# ---- ls ----
out=$($AIRFACTORY ls "$S/b" --key "$S/k.pub" 2>&1)
check_contains "ls: signature verified" "$out" "signature verified"
check_contains "ls: versions in SemVer order" "$(echo "$out" | sed -n '/^versions/,/^schematics/p' | tr -d ' \n')" \
  "v1.9.5v1.10.3v1.11.0-alpha.1v1.11.0"
check_contains "ls: assets with sizes" "$out" "metal-amd64.iso"
check_contains "ls: images" "$out" "installer/$VANILLA:v1.10.3"
json=$($AIRFACTORY ls "$S/b" --json)
check_eq "ls --json: parsed by python, 20 assets, 4 versions, 2 images" \
  "$(echo "$json" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["assets"]), len(d["versions"]), len(d["images"]), d["meta"]["format_version"])')" "20 4 2 1"
check_fails "ls of a directory that is not a bundle" $AIRFACTORY ls "$S"
$AIRFACTORY verify >/dev/null 2>&1; check_eq "verify without arguments is a usage error (exit 2)" "$?" 2
