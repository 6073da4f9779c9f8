#!/usr/bin/env bash
# tests/integration/verify.sh — the cosign/Sigstore verifier against vectors it did not make.
#
# 1. verify_vectors.py makes every key, certificate and signature with the openssl CLI (cosign
#    simple-signing payloads signed with `openssl dgst -sha256 -sign`, a private Fulcio CA chain and
#    Rekor log, SETs, RFC 6962 proofs, checkpoints, DSSE bundles) and lays them out as OCI layouts.
# 2. The C verifier (build/asan/tests/test_verify, a driver over an OCI-layout
#    verify_source) must accept exactly the good ones, with the receipt and error texts expected;
#    fingerprints are recomputed with openssl.
# 3. @sigstore/verify (pinned, installed into build/node) checks the same vectors and must agree.
# 4. Real keyless bundles from Image Factory's testdata, with Sigstore's public-good trusted root,
#    when ../shared/testdata has them.
source "$(dirname "$0")/../lib.sh"
cd "$ROOT"

DRIVER=$BUILD/tests/test_verify
if [ ! -x "$DRIVER" ]; then
  fail verify-driver "missing $DRIVER; build it with make unit-tests"
  exit 1
fi
S=$(mktemp -d "${TMPDIR:-/tmp}/airfactory-verify.XXXXXX")
trap 'rm -rf "$S"' EXIT
V=$S/vectors
if ! python3 tests/integration/verify_vectors.py "$V" >"$S/vectors.log" 2>&1; then
  fail verify-vectors "$(tail -5 "$S/vectors.log")"
  exit 1
fi
pass verify-vectors-made-with-openssl

# --- 2. the C verifier over each case
declare -A C_RESULT
# one shell-quoted line per case: name layout digest expect method message args...
while IFS= read -r line; do
  eval "set -- $line"
  name=$1 layout=$2 digest=$3 expect=$4 method=$5 message=$6
  shift 6
  out=$("$DRIVER" verify --layout "$layout" --digest "$digest" "$@" 2>&1)
  rc=$?
  C_RESULT[$name]=$expect
  if [ "$expect" = ok ]; then
    if [ $rc -ne 0 ]; then
      fail "verify-c-$name" "exit $rc: $out"
    else
      check_eq "verify-c-$name" "$(jq -r .method <<<"$out")" "$method"
    fi
  elif [ $rc -ne 2 ]; then
    fail "verify-c-$name" "expected exit 2 (input error), got $rc: $out"
  else
    check_contains "verify-c-$name" "$out" "$message"
  fi
done < <(jq -r '.[] | [.name, .layout, .digest, .expect, .method, .message] + .args | @sh' "$V/cases.json")

# receipts name keys and certificates the way openssl does
digest=$(jq -r '.[] | select(.name == "key-p256") | .digest' "$V/cases.json")
receipt=$("$DRIVER" verify --layout "$V/layouts/key-p256" --digest "$digest" --key "$V/keys/cosign-p256.pub")
want="sha256:$(openssl pkey -pubin -in "$V/keys/cosign-p256.pub" -outform DER | sha256sum | cut -d' ' -f1)"
check_eq verify-receipt-key-fingerprint-is-sha256-of-spki "$(jq -r .key_fingerprint <<<"$receipt")" "$want"
digest=$(jq -r '.[] | select(.name == "keyless-bundle") | .digest' "$V/cases.json")
receipt=$("$DRIVER" verify --layout "$V/layouts/keyless-bundle" --digest "$digest" --issuer https://accounts.example.com \
  --identity '^alice@example\.com$' --trusted-root "$V/trusted_root.json")
want="sha256:$(openssl x509 -in "$V/keys/fulcio-leaf.pem" -outform DER | sha256sum | cut -d' ' -f1)"
check_eq verify-receipt-cert-fingerprint "$(jq -r .cert_fingerprint <<<"$receipt")" "$want"
check_eq verify-receipt-identity "$(jq -r .identity <<<"$receipt")" alice@example.com
check_eq verify-receipt-log-index "$(jq -r .log_index <<<"$receipt")" \
  "$(jq -r '.verificationMaterial.tlogEntries[0].logIndex' "$V/bundles/keyless-bundle.sigstore.json")"
# a policy file that is not there is an input error naming it
out=$("$DRIVER" verify --layout "$V/layouts/key-p256" --digest "$digest" --key "$S/missing.pub" 2>&1)
check_eq verify-missing-key-file-exit-status "$?" 2
check_contains verify-missing-key-file-named "$out" "$S/missing.pub"

# --- 3. @sigstore/verify, pinned; the one dependency fetched from npm
NODE_DIR=$ROOT/build/node
if [ ! -f "$NODE_DIR/node_modules/@sigstore/verify/package.json" ] ||
   [ "$(jq -r .version "$NODE_DIR/node_modules/@sigstore/verify/package.json")" != 3.1.1 ]; then
  mkdir -p "$NODE_DIR"
  # 3.1.1 is the last line that runs on Debian's Node 20 (4.x needs Node 22).
  timeout 180 npm install --prefix "$NODE_DIR" --no-audit --no-fund --save-exact --loglevel=error \
    @sigstore/verify@3.1.1 @sigstore/bundle@4.0.0 @sigstore/core@3.2.1 @sigstore/protobuf-specs@0.5.2 \
    >"$S/npm.log" 2>&1
fi
if [ ! -f "$NODE_DIR/node_modules/@sigstore/verify/package.json" ]; then
  skip verify-sigstore-js "npm registry unreachable: $(tail -2 "$S/npm.log" 2>/dev/null | tr '\n' ' ')"
else
  NODE_PATH=$NODE_DIR/node_modules node tests/integration/verify_sigstore.cjs "$V"/node/*.json >"$S/node.out" 2>&1
  for f in "$V"/node/*.json; do
    name=$(jq -r .name "$f")
    expect=$(jq -r .expect "$f")
    got=$(awk -v n="$name" '$1 == n {print $2}' "$S/node.out")
    check_eq "verify-sigstore-js-$name" "$got" "$expect"
    # agreement: both accept or both reject, except the documented RSA-PSS leniency and
    # @sigstore/verify 3.1.1's pre-PAE reading of a DSSE envelope logged as hashedrekord 0.0.2
    if [ -n "${C_RESULT[$name]:-}" ] && [ "$name" != key-rsa-pss ] && [ "$name" != keyless-v2-hashedrekord ]; then
      js=fail; [ "$got" = VALID ] && js=ok
      check_eq "verify-agree-$name" "${C_RESULT[$name]}" "$js"
    fi
  done
fi

# --- 4. real-world keyless bundles (cosign v3, public-good Fulcio/Rekor), when available
REAL=${VERIFY_REALWORLD_DIR:-}
for d in "$ROOT/../shared" "$ROOT/../../shared"; do  # ../shared beside a clone or a worktree
  [ -z "$REAL" ] && [ -f "$d/testdata/image-factory/trusted_root.json" ] && REAL=$d/testdata/image-factory
done
REAL=${REAL:-$ROOT/../shared/testdata/image-factory}
if [ ! -f "$REAL/trusted_root.json" ]; then
  skip verify-real-world "no Image Factory testdata at $REAL (../shared/testdata beside the clone)"
else
  TALOS_RE='(@siderolabs\.com$|^releasemgr-svc@talos-production\.iam\.gserviceaccount\.com$)'
  for pair in extensions-catalog-signature:sha256:35b6021450b858574e182bbee95d6b9c8ab95f3623fdcc38e62997f763af631e \
              my-extension-signature:sha256:dd89b46bbdbaf327dbce29901c7ec8e4927b9db04a9774ed5b7cb34931150274; do
    layout=${pair%%:*} digest=${pair#*:}
    out=$("$DRIVER" verify --layout "$REAL/$layout" --digest "$digest" --issuer https://accounts.google.com \
      --identity "$TALOS_RE" --trusted-root "$REAL/trusted_root.json" 2>&1)
    check_contains "verify-real-world-$layout" "$out" '"identity":"albert.kostusev@siderolabs.com"'
    out=$("$DRIVER" verify --layout "$REAL/$layout" --digest "$digest" --issuer https://token.actions.githubusercontent.com \
      --identity "$TALOS_RE" --trusted-root "$REAL/trusted_root.json" 2>&1)
    check_contains "verify-real-world-$layout-wrong-issuer" "$out" "does not match https://token.actions"
    out=$("$DRIVER" verify --layout "$REAL/$layout" --digest "$digest" --issuer https://accounts.google.com \
      --identity '^releasemgr-svc@talos-production\.iam\.gserviceaccount\.com$' --trusted-root "$REAL/trusted_root.json" 2>&1)
    check_contains "verify-real-world-$layout-wrong-identity" "$out" "does not match identity regexp"
    # the bundles carry RFC 3161 timestamps from timestamp.sigstore.dev: verified, not skipped
    out=$("$DRIVER" verify --layout "$REAL/$layout" --digest "$digest" --issuer https://accounts.google.com \
      --identity "$TALOS_RE" --trusted-root "$REAL/trusted_root.json" 2>&1)
    check_eq "verify-real-world-$layout-timestamp-authority" "$(jq -r .timestamp_authority <<<"$out")" \
      https://timestamp.sigstore.dev/api/v1/timestamp
    # a trusted root without that timestamp authority cannot vouch for the timestamp: refused
    jq '.timestampAuthorities = []' "$REAL/trusted_root.json" >"$S/root-without-tsa.json"
    out=$("$DRIVER" verify --layout "$REAL/$layout" --digest "$digest" --issuer https://accounts.google.com \
      --identity "$TALOS_RE" --trusted-root "$S/root-without-tsa.json" 2>&1)
    check_contains "verify-real-world-$layout-timestamp-needs-its-authority" "$out" "lists no timestampAuthorities"
  done
  # the same bundles through sigstore-js, this time with the CT log (SCT) check on as well
  if [ -f "$NODE_DIR/node_modules/@sigstore/verify/package.json" ]; then
    for pair in extensions-catalog-signature:1cb58d4133145491babe234449ab14b88f5ee750eaeec3b20ec0345f5352a4bf \
                my-extension-signature:aff60212e951bedb65eb26f3ade4cd0a70f03ce382df25bde7831672dd68aeb7; do
      layout=${pair%%:*} blob=$REAL/${pair%%:*}/blobs/sha256/${pair#*:}
      jq -n --arg name "real-$layout" --arg root "$REAL/trusted_root.json" --slurpfile b "$blob" \
        '{name: $name, mode: "keyless", bundle: $b[0], trusted_root: $root, ctlog: 1,
          san: "albert.kostusev@siderolabs.com", issuer: "https://accounts.google.com"}' >"$S/real-$layout.json"
      got=$(NODE_PATH=$NODE_DIR/node_modules node tests/integration/verify_sigstore.cjs "$S/real-$layout.json" 2>&1)
      check_eq "verify-real-world-sigstore-js-$layout" "$got" "real-$layout VALID"
    done
  fi
fi

# --- 5. the project's signed fixtures (scripts/make-fixtures, keys in tests/keys)
# Good fixtures: every signature verifies by its kind, naming the fixture key or identity.
# Broken fixtures detected by verify: refused with the matching reason, under their own policy;
# those detected later (flatten, select-platform) carry valid signatures and must pass.
FIX=$FIXTURES/fixtures.json
if [ ! -f "$FIX" ]; then
  skip verify-fixtures "no $FIX; run make fixtures"
else
  ROOT_JSON=$ROOT/$(jq -r .trusted_root "$FIX")
  COSIGN_FP=$(jq -r .keys.cosign.fingerprint "$FIX")
  declare -A EXTRACTED
  extract() { # archive -> layout directory of its small members (documents, signatures)
    local dir=$S/fixtures/$(basename "$1")
    if [ -z "${EXTRACTED[$dir]:-}" ]; then
      EXTRACTED[$dir]=1
      python3 - "$1" "$dir" <<'PY' 2>/dev/null
import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    t.extractall(sys.argv[2], members=[m for m in t.getmembers() if m.isfile() and m.size < (4 << 20)])
PY
    fi
    echo "$dir"
  }
  # one line per good signature: path, kind, signed digest, key, identity, issuer, log index
  jq -r '.fixtures[] | select(.expect == "ok") | . as $f | .signatures[]? |
         [$f.path, .kind, .signed_digest, (.key // "-"), (.identity // "-"), (.issuer // "-"),
          (.log_index // -1 | tostring)] | @tsv' "$FIX" >"$S/signatures.tsv"
  j=0
  while IFS=$'\t' read -r fpath kind digest key identity issuer log_index; do
    j=$((j + 1))
    archive=$FIXTURES/$fpath
    # the multi-megabyte imager/installer archives sign the same way as the small ones; skip them
    [ "$(stat -c %s "$archive")" -lt $((8 << 20)) ] || continue
    dir=$(extract "$archive")
    [ -f "$dir/index.json" ] || continue  # docker-save form: the oci module's business
    case $kind in
      cosign-key) args=(--key "$ROOT/$key") ;;
      cosign-keyless | sigstore-bundle)
        re="^$(sed 's/[][\.*^$()+?{}|]/\\&/g' <<<"$identity")\$"
        args=(--issuer "$issuer" --identity "$re" --trusted-root "$ROOT_JSON") ;;
      *) skip "verify-fixture-$j" "signature kind $kind"; continue ;;
    esac
    out=$("$DRIVER" verify --layout "$dir" --digest "$digest" "${args[@]}" 2>&1)
    rc=$?
    name="verify-fixture-$(basename "$fpath" .oci.tar)-$j-$kind"
    if [ $rc -ne 0 ]; then
      fail "$name" "$out"
    elif [ "$kind" = cosign-key ]; then
      check_eq "$name" "$(jq -r '[.method, .key_fingerprint] | join(" ")' <<<"$out")" "$kind $COSIGN_FP"
    else
      check_eq "$name" "$(jq -r '[.method, .identity, .log_index] | join(" ")' <<<"$out")" \
        "$kind $identity $log_index"
    fi
  done <"$S/signatures.tsv"
  declare -A REASON=(
    [signature-invalid]="does not verify over payload"
    [signature-digest-mismatch]="this is a signature for another image"
    [signature-missing]="no signature found"
    [certificate-expired]="certificate has expired"
    [identity-mismatch]="does not match identity regexp"
    [untrusted-chain]="does not chain to a Fulcio CA"
    [set-invalid]="signed entry timestamp of Rekor entry"
    [inclusion-proof-invalid]="does not lead to its root hash"
    [timestamp-invalid]="message imprint mismatch"
  )
  # broken.detected_by names the step that must refuse a broken fixture; the steps before it must
  # accept it, so fixtures broken later (flatten, select-platform) must verify here.
  jq -r '.fixtures[] | select(.broken) | (.broken.detected_by // (if .broken.stage == "signature" then "verify"
                                                                  else "import" end)) as $by |
         select($by == "verify" or $by == "flatten" or $by == "select-platform") |
         [.path, .digest, (if $by == "verify" then .broken.expected_failure else "accept" end), .broken.policy.kind,
          (.broken.policy.public_keys // ["-"] | join(" ")), (.broken.policy.issuer // "-"),
          (.broken.policy.identity_regexp // "-"), (.broken.policy.trusted_root // "-")] | @tsv' "$FIX" \
    >"$S/broken.tsv"
  while IFS=$'\t' read -r fpath digest reason kind keys issuer identity root; do
    name="verify-fixture-$(basename "$fpath" .oci.tar)"
    dir=$(extract "$FIXTURES/$fpath")
    if [ ! -f "$dir/index.json" ]; then
      fail "$name" "cannot read $fpath as an OCI layout"
      continue
    fi
    args=()
    if [ "$kind" = key ]; then
      for k in $keys; do [ "$k" = - ] || args+=(--key "$ROOT/$k"); done
    else
      args=(--issuer "$issuer" --identity "$identity" --trusted-root "$ROOT/$root")
    fi
    out=$("$DRIVER" verify --layout "$dir" --digest "$digest" "${args[@]}" 2>&1)
    rc=$?
    if [ "$reason" = accept ]; then
      check_eq "$name-signature-accepted" "$rc $(jq -r .method <<<"$out" 2>/dev/null)" "0 cosign-key"
    elif [ $rc -ne 2 ]; then
      fail "$name-refused" "expected exit 2, got $rc: $out"
    elif [ -z "${REASON[$reason]:-}" ]; then
      fail "$name-refused" "no expected message known for $reason: $out"
    else
      check_contains "$name-refused-$reason" "$out" "${REASON[$reason]}"
    fi
  done <"$S/broken.tsv"
fi
