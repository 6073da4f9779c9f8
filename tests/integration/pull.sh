#!/usr/bin/env bash
# pull — `airfactory pull` against real registries started here: CNCF distribution (Debian's
# docker-registry) over TLS with a test CA, once with htpasswd basic auth and once with token auth
# (pull-token-server.py implements the bearer challenge), holding the fixtures pushed with skopeo
# with their `.sig` and `sha256-<hex>` tags; airfactory-serve as a source registry (referrers API);
# and a misbehaving proxy (pull-proxy.py: 429 storms, 503s, a cut mid-blob, an altered manifest).
# Pulled archives must import and build byte-identically to the committed fixtures; every failure
# must be one line naming the reference and what to do, and leave no half-written file.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/serve-lib.bash"
for tool in docker-registry skopeo openssl; do
  if ! command -v $tool >/dev/null; then
    skip "pull" "$tool not installed (scripts/install-deps.sh)"
    exit 0
  fi
done
FX=$FIXTURES
# digests of the fixtures this suite names, from the fixtures' own catalogue (they change when the
# fixture generator does)
fixture_hex() {
  python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
print([f["digest"] for f in d["fixtures"] if f["file"] == sys.argv[2]][0].split(":")[1])' "$FX/fixtures.json" "$1"
}
HWS_HEX=$(fixture_hex hello-world-service-v1.11.3.oci.tar)
IMAGER_HEX=$(fixture_hex imager-v1.11.3.oci.tar)
KEYS=$ROOT/tests/keys
SMALL_SET="imager-v1.11.3:imager extensions-v1.11.3:extensions hello-world-service-v1.11.3:hello-world-service
  test-firmware-20250101:test-firmware intel-ucode-20250812:intel-ucode"
oci_sources=()
for f in $SMALL_SET; do oci_sources+=(--oci-source "siderolabs/${f#*:}=$FX/${f%:*}.oci.tar"); done
serve_setup "${oci_sources[@]}"
cd "$SCR" || exit 1
export SOURCE_DATE_EPOCH=1735689600
unset REGISTRY_AUTH_FILE XDG_RUNTIME_DIR DOCKER_CONFIG
export HOME=$SCR/home
mkdir -p "$HOME"

check_eq "airfactory-serve does not link libcurl (ldd)" "$(ldd "$AIRFACTORY_SERVE" | grep -c libcurl)" 0
check "airfactory links libcurl (ldd)" sh -c "ldd '$AIRFACTORY' | grep -q libcurl"

# ---- test CA, registry certificate, token signing certificate ----
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 \
  -subj /CN=airfactory-test-ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 \
  2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >srv.ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile srv.ext \
  2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tok.key -out tok.pem -days 2 \
  -subj /CN=airfactory-test-token-issuer 2>/dev/null
check "test certificates made" openssl verify -CAfile ca.pem srv.pem

# ---- a plain registry, filled with skopeo: images with their .sig and sha256-<hex> tags ----
distribution_start plain || { fail "distribution starts" "$(tail -5 plain.log)"; exit 1; }
PLAIN=127.0.0.1:$DP
# push_fixture ARCHIVE REPO [TAG=AS]: every tag of the archive (skopeo rewrites the referrers index
# without artifactType: the one tag whose digest changes; the images and .sig keep theirs)
push_fixture() {
  local archive=$1 repo=$2 rename=${3:-} layout tag as pd
  layout=$SCR/layouts/$(basename "$archive" .oci.tar)
  [ -d "$layout" ] || { mkdir -p "$layout" && tar xf "$archive" -C "$layout"; }
  for tag in $(python3 -c 'import json,sys
for m in json.load(open(sys.argv[1]))["manifests"]: print(m["annotations"]["org.opencontainers.image.ref.name"])' \
    "$layout/index.json"); do
    as=$tag
    [ -n "$rename" ] && [ "$tag" = "${rename%%=*}" ] && as=${rename#*=}
    pd=--preserve-digests
    case $tag in sha256-*.sig) ;; sha256-*) pd= ;; esac
    skopeo copy -q --all $pd --dest-tls-verify=false "oci:$layout:$tag" "docker://$PLAIN/$repo:$as" || return 1
  done
}
pushed=0
for f in $SMALL_SET; do push_fixture "$FX/${f%:*}.oci.tar" "siderolabs/${f#*:}" && pushed=$((pushed + 1)); done
# the failure cases: an amd64-only index, an unsigned image, an image whose blob gets damaged
push_fixture "$FX/broken/index-without-arm64.oci.tar" siderolabs/noarm && pushed=$((pushed + 1))
push_fixture "$FX/broken/missing-signature.oci.tar" siderolabs/unsigned 20250812=v1.11.3 && pushed=$((pushed + 1))
push_fixture "$FX/talosctl-all-v1.11.3.oci.tar" siderolabs/tampered && pushed=$((pushed + 1))
# "bad/": the catalog pins hello-world-service's digest, but the registry's v1.11.3 tag is another image
for f in imager-v1.11.3:imager extensions-v1.11.3:extensions test-firmware-20250101:test-firmware \
  intel-ucode-20250812:intel-ucode; do
  push_fixture "$FX/${f%:*}.oci.tar" "bad/siderolabs/${f#*:}" && pushed=$((pushed + 1))
done
push_fixture "$FX/hello-world-service-v1.9.5.oci.tar" bad/siderolabs/hello-world-service v1.9.5=v1.11.3 &&
  pushed=$((pushed + 1))
check_eq "fixtures pushed with skopeo (with .sig and sha256-<hex> tags)" "$pushed" 13
check_contains "the registry has the referrers tag schema" \
  "$(curl -s "http://$PLAIN/v2/siderolabs/hello-world-service/tags/list")" \
  "\"sha256-$HWS_HEX\""

# ---- TLS + htpasswd, TLS + token: the same storage served two more ways ----
# bcrypt at cost 4: distribution checks it on every request, and cost 12 makes a pull take minutes
python3 -W ignore -c 'import crypt
print("puller:" + crypt.crypt("pull-secret", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))' >htpasswd
TLS="  tls:
    certificate: $SCR/srv.pem
    key: $SCR/srv.key"
distribution_start basic "$TLS" "auth:
  htpasswd:
    realm: airfactory-test
    path: $SCR/htpasswd" || { fail "TLS+htpasswd distribution starts" "$(tail -5 basic.log)"; exit 1; }
BASIC=127.0.0.1:$DP
TP=$(free_port)
python3 "$ROOT/tests/integration/pull-token-server.py" "$TP" srv.pem srv.key tok.key tok.pem airfactory-test-issuer \
  airfactory-test-registry puller:token-secret refresh-secret "$SCR/token-anonymous" "$SCR/token-requests.log" \
  >token-server.log 2>&1 &
SERVE_EXTRA_PIDS+=($!)
distribution_start token "$TLS" "auth:
  token:
    realm: https://127.0.0.1:$TP/token
    service: airfactory-test-registry
    issuer: airfactory-test-issuer
    rootcertbundle: $SCR/tok.pem" || { fail "TLS+token distribution starts" "$(tail -5 token.log)"; exit 1; }
TOKEN=127.0.0.1:$DP
for i in $(seq 1 50); do curl -s -o /dev/null --cacert ca.pem "https://127.0.0.1:$TP/token" && break; sleep 0.1; done

auth_file() { # FILE HOST USER:PASSWORD [IDENTITY_TOKEN]
  python3 -c 'import base64,json,sys
e={"auth": base64.b64encode(sys.argv[3].encode()).decode()}
if len(sys.argv) > 4: e["identitytoken"]=sys.argv[4]
json.dump({"auths": {sys.argv[2]: e}}, open(sys.argv[1], "w"))' "$@"
}
auth_file basic-auth.json "$BASIC" puller:pull-secret
auth_file wrong-auth.json "$BASIC" puller:not-the-password
auth_file token-auth.json "$TOKEN" puller:token-secret
auth_file refresh-auth.json "$TOKEN" "<token>:" refresh-secret

# ---- manifests: the same text in every directory, sources relative, so bundles can be compared ----
bundle_key=$SCR/bundle-signing.key
"$AIRFACTORY" keygen -o "$SCR/bundle-signing" >/dev/null 2>&1
# manifest DIR [without-intel-ucode] [REFERENCE-PREFIX]
manifest() {
  local dir=$1 unlisted=${2:-} prefix=${3:-ghcr.io/siderolabs}
  mkdir -p "$dir/sources"
  {
    echo "schematics:"
    echo "  - name: demo"
    echo "    schematic:"
    echo "      customization:"
    echo "        extraKernelArgs: [console=ttyS0]"
    echo "        systemExtensions:"
    echo "          officialExtensions: [siderolabs/hello-world-service, siderolabs/test-firmware, siderolabs/intel-ucode]"
    echo "versions: [v1.11.3]"
    echo "architectures: [amd64]"
    echo "outputs: [initramfs.xz, cmdline-metal]"
    echo "sources:"
    echo "  - {role: imager, path: sources/imager-v1.11.3.oci.tar, reference: $prefix/imager:v1.11.3}"
    echo "  - {role: extensions, path: sources/extensions-v1.11.3.oci.tar, reference: $prefix/extensions:v1.11.3}"
    echo "  - {role: extension, path: sources/hello-world-service-v1.11.3.oci.tar, reference: $prefix/hello-world-service:v1.11.3, trust: sidero}"
    echo "  - {role: extension, path: sources/test-firmware-20250101.oci.tar, reference: $prefix/test-firmware:20250101}"
    [ -z "$unlisted" ] &&
      echo "  - {role: extension, path: sources/intel-ucode-20250812.oci.tar, reference: $prefix/intel-ucode:20250812}"
    echo "trust:"
    echo "  default: {keys: [$KEYS/cosign.pub]}"
    echo "  sidero:"
    echo "    keyless: {issuer: 'https://accounts.google.com', identity: '^airfactory-fixtures@siderolabs\\.com\$', trusted_root: $KEYS/trusted_root.json}"
    echo "signing_key: $bundle_key"
    echo "output: out"
  } >"$dir/m.yaml"
}
ARCHIVES="imager-v1.11.3 extensions-v1.11.3 hello-world-service-v1.11.3 test-firmware-20250101 intel-ucode-20250812"
# the check policy as a file: trust files are regular files, a pipe (<(...)) is refused (docs/security.md)
POLICY=$SCR/check-policy.yaml
echo "keys: [$KEYS/cosign.pub]" >"$POLICY"
# imports DIR: every pulled archive imports with the manifest's policy (the build's own check)
imports() {
  local a
  for a in $ARCHIVES; do
    "$AIRFACTORY" import --store "$1/check.store" --policy "$POLICY" \
      "$1/sources/$a.oci.tar" >/dev/null 2>&1 || { echo "$a does not import"; return 1; }
  done
}
# no_half_files DIR: no temp file of an archive, none of the store
no_half_files() {
  [ -z "$(find "$1" -name '*.tmp-*' 2>/dev/null)" ] && [ -z "$(find "$1"/*.store/tmp -type f 2>/dev/null)" ]
}
# run_in DIR CMD...: CMD in DIR, standard error kept in DIR/pull.err (its tail printed on failure)
run_in() {
  local dir=$1; shift
  (cd "$dir" && "$@" 2>pull.err) || { tail -3 "$dir/pull.err"; return 1; }
}
# expect_error NAME DIR MISSING PATTERN... -- CMD...: CMD (run in DIR) fails; the last line of its
# standard error is one "airfactory: …" message holding every PATTERN; DIR/sources/MISSING was not
# written; DIR has no half-written file
expect_error() {
  local name=$1 dir=$2 missing=$3; shift 3
  local patterns=()
  while [ "$1" != -- ]; do patterns+=("$1"); shift; done
  shift
  local out rc=0 last p why=""
  out=$(cd "$dir" && "$@" 2>&1 >/dev/null) || rc=$?
  last=$(printf '%s\n' "$out" | tail -1)
  [ "$rc" -ne 0 ] || why="succeeded"
  case $last in "airfactory: "*) ;; *) why="${why:+$why; }last line is not an airfactory error: $last" ;; esac
  for p in "${patterns[@]}"; do
    case $last in *"$p"*) ;; *) why="${why:+$why; }'$p' not in: $last" ;; esac
  done
  [ -e "$dir/sources/$missing" ] && why="${why:+$why; }$missing was written"
  no_half_files "$dir" || why="${why:+$why; }a half-written file was left"
  if [ -z "$why" ]; then pass "$name"; else fail "$name" "$why"; fi
}
AF=("$AIRFACTORY" pull m.yaml)
TLS_ARGS=(--ca-file "$SCR/ca.pem" --mirror "ghcr.io=$BASIC")

# ---- dry run: catalog first, then every image by digest; nothing written ----
manifest dry
out=$(cd dry && env REGISTRY_AUTH_FILE="$SCR/basic-auth.json" "${AF[@]}" --dry-run "${TLS_ARGS[@]}" 2>dry.err)
check_eq "dry run: one line per source" "$(echo "$out" | wc -l)" 5
pinned=$(python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
print(" ".join(f["reference"] + "@" + f["digest"] for f in d["fixtures"] if f["file"] in sys.argv[2:]))' \
  "$FX/fixtures.json" hello-world-service-v1.11.3.oci.tar test-firmware-20250101.oci.tar intel-ucode-20250812.oci.tar)
for ref in $pinned; do
  check_contains "dry run: ${ref%%@*} by the digest the catalog pins" "$out" "$ref $SCR/dry/sources/"
done
check_contains "dry run: the catalog is listed first" "$(echo "$out" | head -1)" \
  "ghcr.io/siderolabs/extensions:v1.11.3@sha256:"
check_eq "dry run writes nothing" "$(find dry -name '*.tar' -o -name '*.store' | wc -l)" 0
out=$(cd dry && env REGISTRY_AUTH_FILE="$SCR/basic-auth.json" "${AF[@]}" --dry-run --to "$SCR/elsewhere" \
  "${TLS_ARGS[@]}" 2>/dev/null)
check_contains "--to DIR: the same file names under DIR" "$out" "@sha256:$IMAGER_HEX $SCR/elsewhere/imager-v1.11.3.oci.tar"

# ---- TLS + basic auth: pull, import, build byte-identically to the fixtures ----
manifest tls
check "TLS + htpasswd: pull succeeds" run_in tls env REGISTRY_AUTH_FILE="$SCR/basic-auth.json" "${AF[@]}" -j 3 \
  "${TLS_ARGS[@]}"
check "TLS + htpasswd: every pulled archive imports with the policy" imports tls
check_contains "verified as it arrives: keyless Sigstore bundle (tag-schema referrers)" "$(cat tls/pull.err)" \
  "verified ghcr.io/siderolabs/hello-world-service:v1.11.3@sha256:$HWS_HEX: sigstore-bundle"
check_eq "every signature form is in the archive (3 .sig tags, 1 referrers index)" "$(python3 -c 'import json,sys,tarfile
names = [m["annotations"]["org.opencontainers.image.ref.name"]
         for m in json.load(tarfile.open(sys.argv[1]).extractfile("index.json"))["manifests"]]
print(sum(n.endswith(".sig") for n in names), sum(n.startswith("sha256-") and not n.endswith(".sig") for n in names))' \
  tls/sources/hello-world-service-v1.11.3.oci.tar)" "3 1"
check_eq "all platforms pulled (imager amd64 + arm64)" "$(tar xOf tls/sources/imager-v1.11.3.oci.tar \
  blobs/sha256/$IMAGER_HEX | python3 -c 'import json,sys
print(" ".join(sorted(m["platform"]["architecture"] for m in json.load(sys.stdin)["manifests"])))')" "amd64 arm64"

manifest fixture
for a in $ARCHIVES; do ln -s "$FX/$a.oci.tar" "fixture/sources/$a.oci.tar"; done
check "the test manifests are the same text" cmp fixture/m.yaml tls/m.yaml
check "build from the fixtures" run_in fixture "$AIRFACTORY" build m.yaml -j 2
check "build from the pulled sources (pull's store is the build's)" run_in tls "$AIRFACTORY" build m.yaml -j 2
check "the pulled sources build a byte-identical index.db" cmp fixture/out/index.db tls/out/index.db
check_eq "... and the same blobs" "$(cd tls/out && find blobs -type f | sort | xargs sha256sum | sha256sum)" \
  "$(cd fixture/out && find blobs -type f | sort | xargs sha256sum | sha256sum)"

# ---- incremental: an unchanged manifest transfers only manifests ----
before=$(stat -c %i:%Y tls/sources/*.tar | sha256sum)
run_in tls env REGISTRY_AUTH_FILE="$SCR/basic-auth.json" "${AF[@]}" --json "${TLS_ARGS[@]}" >/dev/null
done_event=$(grep '"event":"pull_done"' tls/pull.err)
check_contains "second pull: nothing written" "$done_event" '"written":0,"unchanged":5'
check_contains "second pull: no blob downloaded" "$done_event" '"blobs_fetched":0'
check_eq "second pull: under 256 KiB received (manifests only)" \
  "$(echo "$done_event" | python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes_received"] < 262144)')" True
check_eq "second pull: archives untouched" "$(stat -c %i:%Y tls/sources/*.tar | sha256sum)" "$before"
check "--json: every line is a JSON event" python3 -c 'import json,sys
for l in open(sys.argv[1]): assert "event" in json.loads(l)' tls/pull.err

# ---- an extension no source names; auth files; TLS and auth failures ----
manifest unlisted without-intel-ucode
run_in unlisted env REGISTRY_AUTH_FILE="$SCR/basic-auth.json" "${AF[@]}" --store "$SCR/shared.store" "${TLS_ARGS[@]}"
check_contains "an extension no source names is pulled and the fix is printed" "$(cat unlisted/pull.err)" \
  "note: ghcr.io/siderolabs/intel-ucode:20250812 is not among the manifest's sources, so build will not use it: add \`- {role: extension, path: $SCR/unlisted/sources/intel-ucode-20250812.oci.tar"
check "... and it is there" test -s unlisted/sources/intel-ucode-20250812.oci.tar

# a source given as an OCI layout directory (a path not ending like a tar) is written as one
manifest layoutdir
sed -i 's|path: sources/imager-v1.11.3.oci.tar|path: sources/imager-v1.11.3/|' layoutdir/m.yaml
check "a layout-directory source is pulled as a directory" run_in layoutdir env REGISTRY_AUTH_FILE="$SCR/basic-auth.json" \
  "${AF[@]}" --store "$SCR/shared.store" "${TLS_ARGS[@]}"
check "... an OCI layout skopeo reads" skopeo inspect --raw "oci:$SCR/layoutdir/sources/imager-v1.11.3:v1.11.3"
check "... that imports" "$AIRFACTORY" import --store "$SCR/layoutdir/check.store" --policy "$POLICY" \
  "$SCR/layoutdir/sources/imager-v1.11.3"
run_in layoutdir env REGISTRY_AUTH_FILE="$SCR/basic-auth.json" "${AF[@]}" --store "$SCR/shared.store" "${TLS_ARGS[@]}"
check_contains "... and is left alone when unchanged" "$(cat layoutdir/pull.err)" "unchanged $SCR/layoutdir/sources/imager-v1.11.3 "
check_eq "... no staging left beside it" "$(ls layoutdir/sources | grep -c 'tmp-\|lock\|old-')" 0

mkdir -p "$HOME/.docker"
cp basic-auth.json "$HOME/.docker/config.json"
manifest dockercfg
check "credentials from ~/.docker/config.json" run_in dockercfg "${AF[@]}" --store "$SCR/shared.store" "${TLS_ARGS[@]}"
rm "$HOME/.docker/config.json"

manifest e-tls
expect_error "TLS failure: one line naming the reference and --ca-file" e-tls extensions-v1.11.3.oci.tar \
  "ghcr.io/siderolabs/extensions:v1.11.3" "not trusted" "--ca-file" -- \
  env REGISTRY_AUTH_FILE="$SCR/basic-auth.json" "${AF[@]}" --mirror "ghcr.io=$BASIC"
expect_error "401, wrong password: one line naming the credentials and how to log in" e-tls \
  extensions-v1.11.3.oci.tar "ghcr.io/siderolabs/extensions:v1.11.3" \
  "refused the credentials from $SCR/wrong-auth.json" "skopeo login $BASIC" -- \
  env REGISTRY_AUTH_FILE="$SCR/wrong-auth.json" "${AF[@]}" "${TLS_ARGS[@]}"
expect_error "401, no credentials: one line naming where it looked" e-tls extensions-v1.11.3.oci.tar \
  "registry $BASIC requires a user name and password" "$HOME/.docker/config.json" "skopeo login" -- \
  "${AF[@]}" "${TLS_ARGS[@]}"

TOKEN_ARGS=(--ca-file "$SCR/ca.pem" --mirror "ghcr.io=$TOKEN" --store "$SCR/shared.store")
manifest tok
check "token auth: basic credentials at the token server" run_in tok env REGISTRY_AUTH_FILE="$SCR/token-auth.json" \
  "${AF[@]}" "${TOKEN_ARGS[@]}"
check "token auth: archives import" imports tok
check_contains "token server saw basic-authenticated token requests" "$(cat token-requests.log)" \
  "GET basic repository:siderolabs/imager:pull 200"
manifest tok-refresh
check "token auth: identity token (OAuth2 refresh_token POST)" run_in tok-refresh \
  env REGISTRY_AUTH_FILE="$SCR/refresh-auth.json" "${AF[@]}" "${TOKEN_ARGS[@]}"
check_contains "token server saw refresh-token requests" "$(cat token-requests.log)" \
  "POST refresh repository:siderolabs/imager:pull 200"
manifest tok-anon
expect_error "token auth: anonymous refused, one line saying how to log in" tok-anon extensions-v1.11.3.oci.tar \
  "does not allow anonymous pulls" "skopeo login $TOKEN" -- "${AF[@]}" "${TOKEN_ARGS[@]}"
touch token-anonymous
check "token auth: anonymous bearer token when the server allows it" run_in tok-anon "${AF[@]}" "${TOKEN_ARGS[@]}"
check_contains "token server saw anonymous token requests" "$(cat token-requests.log)" \
  "GET anonymous repository:siderolabs/imager:pull 200"

# ---- airfactory-serve as the source registry: the referrers API ----
start_serve src "$BUNDLE" --key "$PUB" || fail "airfactory-serve starts"
manifest fromserve
check "pull from airfactory-serve" run_in fromserve "${AF[@]}" --plain-http --mirror "ghcr.io=127.0.0.1:$PORT"
check "... the archives import" imports fromserve
check_contains "... the Sigstore bundle came through the referrers API" "$(cat "$SERVE_LOG")" \
  "GET /v2/siderolabs/hello-world-service/referrers/sha256:$HWS_HEX HTTP/1.1\" 200"
check_contains "... and verified" "$(cat fromserve/pull.err)" \
  "hello-world-service:v1.11.3@sha256:$HWS_HEX: sigstore-bundle"
check "... and build" run_in fromserve "$AIRFACTORY" build m.yaml -j 2
check "... the same index.db" cmp fixture/out/index.db fromserve/out/index.db
stop_serve

# ---- a misbehaving network between us and the registry ----
PROXY_PID=
proxy() { # MODE: (re)start pull-proxy.py in front of the plain registry; sets PROXY_ARGS
  if [ -n "$PROXY_PID" ]; then kill "$PROXY_PID" 2>/dev/null; wait "$PROXY_PID" 2>/dev/null; fi
  local port i
  port=$(free_port)
  : >"$SCR/proxy.log"
  python3 "$ROOT/tests/integration/pull-proxy.py" "$port" "http://$PLAIN" "$1" "$SCR/proxy.log" &
  PROXY_PID=$!
  SERVE_EXTRA_PIDS+=("$PROXY_PID")
  PROXY_ARGS=(--plain-http --mirror "ghcr.io=127.0.0.1:$port")
  for i in $(seq 1 50); do curl -sf -o /dev/null "http://127.0.0.1:$port/-/ready" && break; sleep 0.1; done
}

proxy cut
manifest cut
check "connection cut mid-blob: resumed" run_in cut "${AF[@]}" "${PROXY_ARGS[@]}"
check_contains "... the proxy cut a blob" "$(cat proxy.log)" " cut"
check_contains "... and the rest came with a Range request" "$(cat proxy.log)" "bytes="
check "... the archives are identical to the uncut pull" sh -c \
  "for a in $ARCHIVES; do cmp cut/sources/\$a.oci.tar tls/sources/\$a.oci.tar || exit 1; done"

proxy 429:4
manifest storm
check "429 storm: retried (Retry-After honoured) and pulled" run_in storm "${AF[@]}" --json "${PROXY_ARGS[@]}"
check_contains "... four retries counted" "$(grep pull_done storm/pull.err)" '"retries":4'
proxy 429
manifest storm2
expect_error "429 forever: one line after the retries, saying to wait" storm2 extensions-v1.11.3.oci.tar \
  "ghcr.io/siderolabs/extensions:v1.11.3" "429 Too Many Requests" "3 times" "wait and re-run" -- \
  "${AF[@]}" "${PROXY_ARGS[@]}" --retries 2
proxy 503:1
manifest unavailable
check "503 once: retried after backoff and pulled" run_in unavailable "${AF[@]}" "${PROXY_ARGS[@]}" \
  --store "$SCR/shared.store"
proxy flip
manifest flip
expect_error "digest mismatch (manifest altered on the way): one line" flip extensions-v1.11.3.oci.tar \
  "ghcr.io/siderolabs/extensions:v1.11.3" "digest mismatch" "Docker-Content-Digest" -- "${AF[@]}" "${PROXY_ARGS[@]}"
kill "$PROXY_PID" 2>/dev/null

# ---- bad content in the registry, bad input ----
PLAIN_ARGS=(--plain-http --mirror "ghcr.io=$PLAIN" --store "$SCR/shared.store")
one_source() { # DIR REFERENCE [ARCHES] [EXTRA-SOURCE-LINE]: a manifest whose imager is REFERENCE
  mkdir -p "$1/sources"
  cat >"$1/m.yaml" <<EOF
schematics: [{name: vanilla, schematic: {customization: {}}}]
versions: [v1.11.3]
architectures: [${3:-amd64}]
outputs: [kernel]
sources:
  - {role: imager, path: sources/imager.oci.tar, reference: $2}
${4:-}
trust: {default: {keys: [$KEYS/cosign.pub]}}
signing_key: $bundle_key
output: out
EOF
}
one_source missing ghcr.io/siderolabs/unsigned:v1.11.3
expect_error "missing signature: one line naming the reference and the policy" missing imager.oci.tar \
  "ghcr.io/siderolabs/unsigned:v1.11.3" "no signature found" "set insecure: true in policy default" -- \
  "${AF[@]}" "${PLAIN_ARGS[@]}"
one_source noarm ghcr.io/siderolabs/noarm:v1.11.3 "amd64, arm64"
expect_error "platform missing: one line naming the reference and the platform" noarm imager.oci.tar \
  "ghcr.io/siderolabs/noarm:v1.11.3" "platform missing: no linux/arm64" "skopeo copy --all" -- \
  "${AF[@]}" "${PLAIN_ARGS[@]}"
one_source notfound ghcr.io/siderolabs/no-such-imager:v1.11.3
expect_error "manifest not found: one line naming the reference" notfound imager.oci.tar \
  "ghcr.io/siderolabs/no-such-imager:v1.11.3: manifest not found" "skopeo inspect" -- "${AF[@]}" "${PLAIN_ARGS[@]}"
expect_error "unknown registry host: one line naming the host and --mirror" notfound imager.oci.tar \
  "ghcr.io/siderolabs/no-such-imager:v1.11.3" "cannot resolve registry host registry.invalid" "--mirror" -- \
  "${AF[@]}" --mirror ghcr.io=registry.invalid
manifest wrongpin
expect_error "wrong-digest catalog entry: one line naming the pinned digest and the catalog" wrongpin \
  hello-world-service-v1.11.3.oci.tar "ghcr.io/siderolabs/hello-world-service:v1.11.3@sha256:${HWS_HEX:0:8}" \
  "the digest the extensions catalog ghcr.io/siderolabs/extensions:v1.11.3 pins" -- \
  "${AF[@]}" --plain-http --mirror "ghcr.io=$PLAIN/bad" --store "$SCR/shared.store"
# damage the registry's copy of one layer (the talosctl-all layer, pushed as siderolabs/tampered)
layer=$(python3 -c 'import json,sys,tarfile
t=tarfile.open(sys.argv[1]); top=json.load(t.extractfile("index.json"))["manifests"][0]["digest"]
child=json.load(t.extractfile("blobs/sha256/" + top[7:]))["manifests"][0]["digest"]
print(json.load(t.extractfile("blobs/sha256/" + child[7:]))["layers"][0]["digest"][7:])' \
  "$FX/talosctl-all-v1.11.3.oci.tar")
data=$SCR/registry-data/docker/registry/v2/blobs/sha256/${layer:0:2}/$layer/data
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[100]^=1; open(p,"wb").write(b)' "$data"
one_source tampered ghcr.io/siderolabs/imager:v1.11.3 amd64 \
  "  - {role: talosctl-all, path: sources/talosctl.oci.tar, reference: ghcr.io/siderolabs/tampered:v1.11.3}"
expect_error "tampered blob in the registry: digest mismatch, one line, nothing written" tampered talosctl.oci.tar \
  "ghcr.io/siderolabs/tampered:v1.11.3" "digest mismatch: blob sha256:$layer" "push the image again" -- \
  "${AF[@]}" "${PLAIN_ARGS[@]}"
check "... the damaged blob did not reach the store" test ! -e "$SCR/shared.store/blobs/sha256/$layer"
