#!/usr/bin/env bash
# bench/registry_mirror.sh — airfactory-serve as the registry mirror a Talos node's containerd pulls
# its cluster images from, against the CNCF distribution registry (Debian `docker-registry`,
# filesystem storage) holding the SAME image. Issues #19 and #21: the server is the thing measured,
# with clients that fetch layers in parallel and are not themselves the bottleneck.
#
# The image: 8 layers of 25 MiB (SMOKE: 2 of 1 MiB) of random bytes, uncompressed tar layers, one
# platform, made here; it enters the bundle through the manifest's `images:` (trust `insecure`:
# a benchmark image has no signature) under docker.io/library/bench:1, and is pushed unchanged
# (`skopeo copy --all` from the same OCI layout) into distribution, so both serve the same digests.
# Then, interleaved A B A B:
#   1. `ctr content fetch` (containerd 1.6, private daemon, a hosts.toml that makes the server the
#      docker.io mirror, as on a Talos node: containerd sends ?ns=docker.io) — containerd fetches
#      the layers in parallel; the content store is emptied between runs. Median seconds.
#   2. a purpose-built concurrent fetcher: `curl --parallel` (libcurl, one process) fetching the
#      config and every layer of the image 4 times (GET /v2/library/bench/blobs/<digest>) with 1, 8 and 32 transfers at once, bodies to /dev/null. MiB/s.
#   3. the ceiling of 2: the same curl against nginx (sendfile, one worker per CPU, access log on)
#      serving the bundle's blob files at the same URLs, interleaved with the other two: what any
#      server reaches with this client on this machine (when airfactory-serve is at nginx's
#      figure, the client and the loopback are the limit, not the server).
# Rows: BENCH|workload|airfactory|baseline-name|baseline|unit|ratio (ratio > 1: airfactory better).
#   bash bench/registry_mirror.sh          5 fetches per server; curl rounds of 3
#   SMOKE=1 bash bench/registry_mirror.sh  1 fetch, 1 round (so it cannot rot)
set -uo pipefail
source "$(dirname "$0")/lib/common.sh"
ROOT=$BENCH_ROOT
BIN=${AIRFACTORY_BIN:-$ROOT/build/release}
AF=$BIN/airfactory SERVE=$BIN/airfactory-serve
if [ "${SMOKE:-0}" = 1 ]; then RUNS=1 ROUNDS=1 LAYERS=2 LAYER_MIB=1; else RUNS=${RUNS:-5} ROUNDS=${ROUNDS:-3} LAYERS=8 LAYER_MIB=25; fi
for tool in skopeo docker-registry curl python3 containerd ctr nginx; do
  command -v "$tool" >/dev/null || { echo "bench/registry_mirror.sh: $tool missing (scripts/install-deps.sh)" >&2; exit 1; }
done
[ -x "$AF" ] && [ -x "$SERVE" ] || { echo "bench/registry_mirror.sh: build first (make)" >&2; exit 1; }
bench_workdir registry_mirror || exit 1
W=$BENCH_WORKDIR
cd "$W" || exit 1

# ---- the image: an OCI layout, then an oci-archive (a tar of the layout) for the manifest ----
python3 - "$LAYERS" "$LAYER_MIB" <<'PY' || exit 1
import hashlib, io, json, os, sys, tarfile
layers, mib = int(sys.argv[1]), int(sys.argv[2])
os.makedirs("image/blobs/sha256", exist_ok=True)
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    with open("image/blobs/sha256/" + d, "wb") as f:
        f.write(data)
    return "sha256:" + d, len(data)
descs = []
for i in range(layers):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        payload = os.urandom(mib << 20)
        info = tarfile.TarInfo(f"data/layer{i}.bin"); info.size = len(payload); info.mtime = 1700000000
        t.addfile(info, io.BytesIO(payload))
    d, n = blob(buf.getvalue())
    descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": n})
config = {"architecture": "amd64", "os": "linux", "config": {},
          "rootfs": {"type": "layers", "diff_ids": [l["digest"] for l in descs]}}
cd, cn = blob(json.dumps(config, separators=(",", ":")).encode())
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
            "layers": descs}
md, mn = blob(json.dumps(manifest, separators=(",", ":")).encode())
index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
         "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn,
                        "platform": {"architecture": "amd64", "os": "linux"}}]}
xd, xn = blob(json.dumps(index, separators=(",", ":")).encode())
with open("image/index.json", "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
               "digest": xd, "size": xn, "annotations": {"org.opencontainers.image.ref.name": "1"}}]}, f)
with open("image/oci-layout", "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
with open("blobs.txt", "w") as f:  # every blob a pull reads: index, manifest, config, layers
    for d in [xd, md, cd] + [l["digest"] for l in descs]:
        f.write(d + "\n")
PY
tar -C image -cf bench-image.oci.tar oci-layout index.json blobs || exit 1
IMAGE_BYTES=$(cd image/blobs/sha256 && cat -- * | wc -c)
BLOB_BYTES=$(tail -n +3 blobs.txt | sed 's/^sha256://' | (cd image/blobs/sha256 && xargs cat) | wc -c)
MIB=$(awk -v b="$IMAGE_BYTES" 'BEGIN { printf "%.0f", b / 1048576 }')

# ---- the bundle (the image plus the smallest Talos output) ----
"$AF" keygen -o bundle >/dev/null || exit 1
bench_manifest manifest.yaml '[v1.11.3]' '[amd64]' '[kernel]'
sed -i "s|^trust:|images:\n  - {reference: docker.io/library/bench:1, path: $W/bench-image.oci.tar, trust: lab}\ntrust:\n  lab: {insecure: true}|" manifest.yaml
"$AF" build manifest.yaml -o bundle --key bundle.key --store store >build.log 2>&1 ||
  { echo "bench/registry_mirror.sh: airfactory build failed: $(tail -3 build.log)" >&2; exit 1; }

bench_distribution distribution.log
DP=$BENCH_DIST_PORT AP=$(bench_free_port)
# like with like: distribution (Go) runs on every CPU, so airfactory-serve gets one worker per CPU,
# as contrib/ deploys it
bench_spawn "$SERVE" bundle --key bundle.pub --listen "127.0.0.1:$AP" --workers "$(nproc)" >airfactory.log 2>&1
bench_wait_http "http://127.0.0.1:$DP/v2/" || { echo "distribution did not start: $(tail -3 distribution.log)" >&2; exit 1; }
bench_wait_http "http://127.0.0.1:$AP/healthz" || { echo "airfactory-serve did not start: $(tail -3 airfactory.log)" >&2; exit 1; }
skopeo copy -q --all --preserve-digests --dest-tls-verify=false oci:image:1 "docker://127.0.0.1:$DP/library/bench:1" ||
  { echo "bench/registry_mirror.sh: push into distribution failed" >&2; exit 1; }
for port in "$AP" "$DP"; do   # both must answer the same index digest
  curl -sfI -H 'Accept: application/vnd.oci.image.index.v1+json' \
    "http://127.0.0.1:$port/v2/library/bench/manifests/1?ns=docker.io" | tr -d '\r' |
    sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p' >>index-digests
done
[ "$(sort -u index-digests | wc -l)" = 1 ] && [ "$(head -1 index-digests)" = "$(head -1 blobs.txt)" ] ||
  { echo "bench/registry_mirror.sh: the servers answer different index digests: $(tr '\n' ' ' <index-digests)" >&2; exit 1; }

# ---- the ceiling: nginx serving the bundle's blob files at the registry's blob URLs ----
NP=$(bench_free_port)
mkdir -p nginx
cat >nginx/nginx.conf <<EOF
daemon off;
master_process on;
worker_processes $(nproc);
user root;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log $W/nginx/access.log;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  client_body_temp_path $W/nginx/body;
  proxy_temp_path $W/nginx/proxy;
  fastcgi_temp_path $W/nginx/fastcgi;
  uwsgi_temp_path $W/nginx/uwsgi;
  scgi_temp_path $W/nginx/scgi;
  server {
    listen 127.0.0.1:$NP;
    location = /healthz { return 200; }
    location ~ "^/v2/library/bench/blobs/sha256:([0-9a-f]{64})\$" { alias $W/bundle/blobs/sha256/\$1; }
  }
}
EOF
bench_spawn nginx -p "$W/nginx" -c "$W/nginx/nginx.conf" >nginx/stderr.log 2>&1
bench_wait_http "http://127.0.0.1:$NP/healthz" || { echo "bench/registry_mirror.sh: nginx did not start: $(cat nginx/stderr.log)" >&2; exit 1; }
probe=$(tail -n 1 blobs.txt)
cmp -s <(curl -s "http://127.0.0.1:$NP/v2/library/bench/blobs/$probe") <(curl -s "http://127.0.0.1:$AP/v2/library/bench/blobs/$probe?ns=docker.io") ||
  { echo "bench/registry_mirror.sh: nginx and airfactory-serve do not send the same bytes for $probe" >&2; exit 1; }

# ---- containerd, with one hosts.toml per server making it the docker.io mirror ----
mkdir -p ctrd hosts-a/docker.io hosts-d/docker.io
for s in a:$AP d:$DP; do
  printf 'server = "https://registry-1.docker.io"\n\n[host."http://127.0.0.1:%s"]\n  capabilities = ["pull", "resolve"]\n' \
    "${s#*:}" >"hosts-${s%%:*}/docker.io/hosts.toml"
done
source "$ROOT/tests/integration/serve-lib.bash"   # containerd_config, the tests' private containerd
containerd_config "$W/ctrd" >ctrd/config.toml
bench_spawn containerd --config ctrd/config.toml >ctrd/log 2>&1
for _ in $(seq 1 100); do [ -S ctrd/containerd.sock ] && break; sleep 0.1; done
[ -S ctrd/containerd.sock ] || { echo "bench/registry_mirror.sh: containerd did not start: $(tail -3 ctrd/log)" >&2; exit 1; }
CTR=(ctr -a "$W/ctrd/containerd.sock" -n bench)

ctr_fetch() { # NAME(a|d) OUT: one timed fetch of every blob into an empty content store
  local t0 leftover
  t0=$(bench_now)
  "${CTR[@]}" content fetch --hosts-dir "hosts-$1" --platform linux/amd64 docker.io/library/bench:1 >/dev/null 2>ctr.err ||
    { echo "bench/registry_mirror.sh: ctr fetch from $1 failed: $(tail -2 ctr.err)" >&2; return 1; }
  bench_since "$t0" >>"$2"
  # every blob arrived, then the store is emptied for the next run
  for d in $(cat blobs.txt); do "${CTR[@]}" content get "$d" >/dev/null 2>&1 ||
    { echo "bench/registry_mirror.sh: ctr fetch from $1 lacks $d" >&2; return 1; }; done
  "${CTR[@]}" images rm --sync docker.io/library/bench:1 >/dev/null 2>&1
  "${CTR[@]}" content ls -q | xargs -r "${CTR[@]}" content rm >/dev/null 2>&1
  leftover=$("${CTR[@]}" content ls -q | wc -l)
  [ "$leftover" = 0 ] || { echo "bench/registry_mirror.sh: $leftover blobs left in containerd" >&2; return 1; }
}

curl_fetch() { # PORT STREAMS OUT: every blob 4 times, STREAMS transfers at once; MiB/s >> OUT
  local t0 cfg=curl-$1-$2.cfg
  : >"$cfg"
  for _ in 1 2 3 4; do
    while read -r d; do
      printf 'url = "http://127.0.0.1:%s/v2/library/bench/blobs/%s?ns=docker.io"\noutput = "/dev/null"\n' "$1" "$d" >>"$cfg"
    done < <(tail -n +3 blobs.txt)   # config and layers: what clients fetch from /blobs/
  done
  t0=$(bench_now)
  local par=()
  [ "$2" = 1 ] || par=(--parallel --parallel-immediate --parallel-max "$2")
  curl -sSf --no-progress-meter "${par[@]}" -K "$cfg" 2>curl.err ||
    { echo "bench/registry_mirror.sh: curl, $2 at once, from :$1: $(sort -u curl.err | head -3)" >&2; return 1; }
  awk -v b="$BLOB_BYTES" -v t="$(bench_since "$t0")" 'BEGIN { printf "%.1f\n", 4 * b / 1048576 / t }' >>"$3"
}

ctr_fetch a /dev/null && ctr_fetch d /dev/null || exit 1   # warm-up: page cache, connections
for _ in $(seq 1 "$RUNS"); do
  ctr_fetch a ctr-airfactory.s || exit 1
  ctr_fetch d ctr-distribution.s || exit 1
done
for streams in 1 8 32; do
  for _ in $(seq 1 "$ROUNDS"); do
    curl_fetch "$AP" "$streams" "curl-$streams-airfactory.rate" || { echo "bench/registry_mirror.sh: curl from airfactory-serve failed" >&2; exit 1; }
    curl_fetch "$DP" "$streams" "curl-$streams-distribution.rate" || { echo "bench/registry_mirror.sh: curl from distribution failed" >&2; exit 1; }
    curl_fetch "$NP" "$streams" "curl-$streams-nginx.rate" || { echo "bench/registry_mirror.sh: curl from nginx failed" >&2; exit 1; }
  done
done

sa=$(bench_median <ctr-airfactory.s) sd=$(bench_median <ctr-distribution.s)
bench_row "containerd (ctr content fetch) of a $MIB MiB $LAYERS-layer image through the docker.io mirror (s)" "$sa" "distribution (docker-registry)" "$sd" s "$(bench_ratio "$sd" "$sa")"
for streams in 1 8 32; do
  ra=$(bench_median <"curl-$streams-airfactory.rate") rd=$(bench_median <"curl-$streams-distribution.rate")
  bench_row "blob fetches, $streams at once (curl --parallel, MiB/s)" "$ra" "distribution (docker-registry)" "$rd" MiB/s "$(bench_ratio "$ra" "$rd")"
done
for streams in 1 8 32; do
  ra=$(bench_median <"curl-$streams-airfactory.rate") rn=$(bench_median <"curl-$streams-nginx.rate")
  bench_row "blob fetches, $streams at once: the ceiling, same client against nginx sending the same blob files (MiB/s)" "$ra" "nginx (sendfile, same files)" "$rn" MiB/s "$(bench_ratio "$ra" "$rn")"
done
echo "bench/registry_mirror: ctr airfactory $(tr '\n' ' ' <ctr-airfactory.s)| distribution $(tr '\n' ' ' <ctr-distribution.s)" >&2
