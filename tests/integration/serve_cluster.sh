#!/usr/bin/env bash
# serve_cluster — airfactory-serve as the registry mirror of a cluster's images (docs/serving.md
# "Registry mirror"): the bundle of cluster_images.sh (images under their upstream names) answered
# as containerd asks a mirror (`?ns=<upstream host>`), with a bare name when it is unique, by the
# full name; manifests by tag and digest, blobs with Range, .sig tags; NAME_UNKNOWN for a registry
# the bundle does not hold. Real clients: curl, skopeo, and containerd's ctr with a hosts.toml
# directory making the server the mirror of docker.io, registry.k8s.io and ghcr.io.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/serve-lib.bash"
SCR=$(mktemp -d "${TMPDIR:-/tmp}/airfactory-serve-cluster.XXXXXX")
trap serve_cleanup EXIT
cd "$SCR" || exit 1
/usr/bin/python3 "$ROOT/scripts/fixtures/cluster.py" fx || { fail "cluster fixtures" "cluster.py failed"; exit 1; }
j() { python3 -c "import json,sys; d=json.load(open('$SCR/fx/cluster.json')); print($1)"; }
"$AIRFACTORY" keygen -o bundle >/dev/null 2>&1 || { fail "keygen" ""; exit 1; }
cat >m.yaml <<YAML
schematics: [{name: v, schematic: {}}]
versions: [v1.11.3]
architectures: [amd64]
outputs: [kernel]
sources:
  - {role: imager, path: $FIXTURES/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}
images:
  - {reference: registry.k8s.io/pause:3.10, path: fx/pause-3.10.oci.tar}
  - {reference: 'busybox:1.36', path: fx/busybox-1.36.oci.tar}
  - {reference: ghcr.io/siderolabs/flannel:v0.27.4, path: fx/flannel-v0.27.4.oci.tar}
  - {reference: registry.k8s.io/coredns/coredns:v1.12.4, path: fx/coredns-v1.12.4.oci.tar}
trust: {default: {keys: [$ROOT/tests/keys/cosign.pub]}}
signing_key: bundle.key
output: out
YAML
"$AIRFACTORY" build m.yaml -j 1 >build.log 2>&1 || { fail "build" "$(tail -3 build.log)"; exit 1; }
start_serve cluster "$SCR/out" --key bundle.pub || { fail "server starts" "see above"; exit 1; }
sha() { sha256sum | cut -d' ' -f1; }
ACCEPT='Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json'
PAUSE=$(j 'd["images"][0]["digest"]')
PAUSE_AMD64=$(j 'd["images"][0]["platforms"][0]["digest"]')
PAUSE_LAYER=$(j 'd["images"][0]["platforms"][0]["layers"][1]["digest"]')
BUSYBOX=$(j 'd["images"][1]["digest"]')
COREDNS=$(j 'd["images"][3]["digest"]')
oci_code() { python3 -c 'import json,sys; e=json.load(sys.stdin)["errors"][0]; print(e["code"])'; }

# ---- names: ns, bare, full ----
curl -s -I -o /dev/null -D h -H "$ACCEPT" "$URL/v2/pause/manifests/3.10?ns=registry.k8s.io"
check_eq "HEAD ?ns=registry.k8s.io: 200" "$(head -1 h | cut -d' ' -f2)" "200"
check_eq "HEAD ?ns=: Docker-Content-Digest is the signed index" "$(header Docker-Content-Digest h)" "$PAUSE"
check_eq "HEAD ?ns=: Content-Type is the index media type" "$(header Content-Type h)" "application/vnd.oci.image.index.v1+json"
check_eq "HEAD ?ns=: Content-Length" "$(header Content-Length h)" "$(j 'd["images"][0]["size"]')"
check_eq "GET index bytes hash to the digest" "sha256:$(curl -s "$URL/v2/pause/manifests/3.10?ns=registry.k8s.io" | sha)" "$PAUSE"
curl -s -D h -o body "$URL/v2/pause/manifests/$PAUSE_AMD64?ns=registry.k8s.io"
check_eq "platform manifest by digest" "sha256:$(sha <body) $(header Content-Type h)" "$PAUSE_AMD64 application/vnd.oci.image.manifest.v1+json"
curl -s -D h -o part -r 0-9 "$URL/v2/pause/blobs/$PAUSE_LAYER?ns=registry.k8s.io"
check_eq "blob Range: 206, 10 bytes" "$(head -1 h | cut -d' ' -f2):$(wc -c <part)" "206:10"
check_eq "blob: Docker-Content-Digest" "$(header Docker-Content-Digest h)" "$PAUSE_LAYER"
check_eq "two-level repository with ns" "$(curl -s -I "$URL/v2/coredns/coredns/manifests/v1.12.4?ns=registry.k8s.io" | header Docker-Content-Digest /dev/stdin)" "$COREDNS"
check_eq "Docker Hub: library/busybox?ns=docker.io" "$(curl -s -I "$URL/v2/library/busybox/manifests/1.36?ns=docker.io" | header Docker-Content-Digest /dev/stdin)" "$BUSYBOX"
check_eq "without ns: a unique bare name resolves" "$(curl -s -I "$URL/v2/pause/manifests/3.10" | header Docker-Content-Digest /dev/stdin)" "$PAUSE"
check_eq "without ns: the full upstream name" "$(curl -s -I "$URL/v2/registry.k8s.io/pause/manifests/3.10" | header Docker-Content-Digest /dev/stdin)" "$PAUSE"
sig=$(j 'sorted(d["images"][0]["signatures"].items())[0][0]')
check_eq ".sig tag through ns" "$(curl -s -I "$URL/v2/pause/manifests/$sig?ns=registry.k8s.io" | header Docker-Content-Digest /dev/stdin)" "$(j "d['images'][0]['signatures']['$sig']")"
check_contains "tags/list through ns" "$(curl -s "$URL/v2/pause/tags/list?ns=registry.k8s.io")" '"name":"pause","tags":["3.10",'
check_eq "unknown ns: 404 NAME_UNKNOWN" "$(curl -s -w ' %{http_code}' "$URL/v2/pause/manifests/3.10?ns=quay.io" | tr -d '\n')" \
  '{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry","detail":{"name":"quay.io/pause"}}]} 404'
check_eq "name under another registry's ns: NAME_UNKNOWN" "$(curl -s "$URL/v2/flannel/manifests/v0.27.4?ns=registry.k8s.io" | oci_code)" "NAME_UNKNOWN"
check_eq "unknown tag through ns: MANIFEST_UNKNOWN" "$(curl -s "$URL/v2/pause/manifests/9.9?ns=registry.k8s.io" | oci_code)" "MANIFEST_UNKNOWN"
check_eq "blob of another image's repository: BLOB_UNKNOWN" "$(curl -s "$URL/v2/siderolabs/flannel/blobs/$PAUSE_LAYER?ns=ghcr.io" | oci_code)" "BLOB_UNKNOWN"

# ---- skopeo ----
if command -v skopeo >/dev/null; then
  D=docker://127.0.0.1:$PORT/registry.k8s.io/pause
  check_eq "skopeo inspect by digest (platform manifest)" "$(skopeo inspect --tls-verify=false "$D@$PAUSE_AMD64" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["Architecture"], d["Layers"][-1])')" "amd64 $PAUSE_LAYER"
  check "skopeo copy --all by digest" skopeo copy -q --all --src-tls-verify=false "$D@$PAUSE" oci:"$SCR/oci1:x"
  check_eq "skopeo copy: index digest unchanged" "$(python3 -c 'import json; print(json.load(open("oci1/index.json"))["manifests"][0]["digest"])')" "$PAUSE"
else
  skip "skopeo" "skopeo not installed (scripts/install-deps.sh)"
fi

# ---- containerd: the server as mirror for three registries ----
if containerd_start; then
  for host in docker.io registry.k8s.io ghcr.io; do
    mkdir -p "hosts/$host"
    printf 'server = "https://%s"\n\n[host."http://127.0.0.1:%s"]\n  capabilities = ["pull", "resolve"]\n' \
      "$host" "$PORT" >"hosts/$host/hosts.toml"
  done
  for ref in registry.k8s.io/pause:3.10 docker.io/library/busybox:1.36 ghcr.io/siderolabs/flannel:v0.27.4 \
             registry.k8s.io/coredns/coredns:v1.12.4; do
    check "ctr pull $ref through the mirror" timeout 60 $CTR images pull --hosts-dir "$SCR/hosts" --platform linux/amd64 "$ref"
  done
  check_contains "ctr: pause is the bundle's index" "$($CTR images ls)" "$PAUSE"
  check_contains "containerd sent ns=" "$(cat "$SERVE_LOG")" "/v2/pause/manifests/3.10?ns=registry.k8s.io"
  check_contains "containerd sent ns= for Docker Hub" "$(cat "$SERVE_LOG")" "/v2/library/busybox/manifests/1.36?ns=docker.io"
else
  skip "containerd" "containerd not installed (scripts/install-deps.sh)"
fi

# ---- the machine-config patch (Talos RegistryMirrorConfig: endpoints[, overridePath, skipFallback]) ----
curl -s -D h -o patch.yaml "$URL/registry-mirrors.yaml"
check_eq "patch: 200 application/yaml" "$(head -1 h | cut -d' ' -f2) $(header Content-Type h)" "200 application/yaml"
check_eq "patch: Talos' shape, one mirror per upstream registry, endpoint = this server" "$(python3 - "$URL" <<'PY'
import sys, yaml
doc = yaml.safe_load(open("patch.yaml"))
assert list(doc) == ["machine"] and list(doc["machine"]) == ["registries"], doc
mirrors = doc["machine"]["registries"]["mirrors"]
for host, cfg in mirrors.items():
    assert set(cfg) <= {"endpoints", "overridePath", "skipFallback"}, cfg   # RegistryMirrorConfig fields
    assert isinstance(cfg["endpoints"], list) and all(isinstance(e, str) for e in cfg["endpoints"]), cfg
    assert cfg["endpoints"] == [sys.argv[1]], cfg
print(" ".join(sorted(mirrors)))
PY
)" "docker.io ghcr.io registry.k8s.io"
check_eq "airfactory ls --mirrors prints the same patch" "$("$AIRFACTORY" ls "$SCR/out" --key bundle.pub --mirrors "$URL/")" "$(cat patch.yaml)"
stop_serve
check_eq "SIGTERM: clean exit" "$STOP_RC" "0"
start_serve external "$SCR/out" --key bundle.pub --external-url http://mirror.site.example:5000 || { fail "server starts" "see above"; exit 1; }
check_contains "patch: --external-url is the endpoint" "$(curl -s "$URL/registry-mirrors.yaml")" '- "http://mirror.site.example:5000"'
stop_serve

# ---- Image Factory's metal-installer/<id> name: the installer/<id> image when the bundle has no
# repository of that name (a bundle built from installer-<arch>.tar outputs) ----
if python3 "$ROOT/tests/integration/serve-make-bundle" "$SCR/b" --no-metal-installer >"$SCR/make-bundle.log" 2>&1; then
  # shellcheck disable=SC1091
  . "$SCR/b/facts.env"
  start_serve alias "$BUNDLE" --key "$PUB" || { fail "server starts" "see above"; exit 1; }
  check_eq "metal-installer/<id> answers as installer/<id>" "$(curl -s -I "$URL/v2/metal-installer/$SCHEMATIC/manifests/v1.11.3" | header Docker-Content-Digest /dev/stdin)" "$INDEX_DIGEST"
  check_eq "metal-installer/<id> blobs" "$(curl -s "$URL/v2/metal-installer/$SCHEMATIC/blobs/$AMD64_LAYER" | sha)" "${AMD64_LAYER#sha256:}"
  check_eq "metal-installer/<id> with any ns (the factory's own name)" "$(curl -s -I "$URL/v2/metal-installer/$SCHEMATIC/manifests/v1.11.3?ns=factory.talos.dev" | header Docker-Content-Digest /dev/stdin)" "$INDEX_DIGEST"
  check_eq "installer/<id> still answers" "$(curl -s -I "$URL/v2/installer/$SCHEMATIC/manifests/v1.11.3" | header Docker-Content-Digest /dev/stdin)" "$INDEX_DIGEST"
  check_eq "an unknown schematic stays NAME_UNKNOWN" "$(curl -s "$URL/v2/metal-installer/$(printf '0%.0s' {1..64})/manifests/v1.11.3" | oci_code)" "NAME_UNKNOWN"
  stop_serve
else
  fail "make test bundle" "$(tail -3 "$SCR/make-bundle.log")"
fi
