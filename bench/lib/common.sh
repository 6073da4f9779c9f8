# shellcheck shell=bash
# bench/lib/common.sh — helpers shared by the benchmarks (source it; bench/run.sh runs only
# bench/*.sh, so nothing under bench/lib/ is taken for a benchmark).
#   BENCH_ROOT     the repository root
#   bench_workdir NAME          a temporary directory, removed (with any bench_spawn'ed process) at exit
#   bench_spawn CMD...          start CMD in the background; it is killed at exit (BENCH_LAST_PID)
#   bench_now / bench_since T   wall clock in seconds (fractional) / seconds since T
#   bench_median                median of the numbers on stdin, one a line
#   bench_ratio A B             A / B with two decimals ("n/a" when B is 0)
#   bench_row WORKLOAD OURS BASELINE-NAME BASELINE UNIT RATIO   one "BENCH|..." row for bench/run.sh
#   bench_free_port             a free TCP port on 127.0.0.1
#   bench_wait_http URL         wait (at most 10 s) until URL answers
#   bench_distribution LOG [LEVEL]  CNCF distribution (Debian docker-registry) on a free loopback
#                               port: ./registry.yml, storage in ./registry-data, deletes off, its
#                               default access log, stderr/stdout to LOG; sets BENCH_DIST_PORT
#   bench_cpu_ticks PID         user+system clock ticks of PID and its children so far
#   bench_manifest OUT VERSIONS ARCHS OUTPUTS [SCHEMATICS-YAML]
#                               a build manifest over the fixtures of build/fixtures
#   bench_demo_manifest OUT     docs/examples/demo.yaml with its relative paths made absolute
BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_PIDS=()
BENCH_DIRS=()

_bench_cleanup() {
  local p d
  for p in "${BENCH_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${BENCH_PIDS[@]}"; do wait "$p" 2>/dev/null; done
  for d in "${BENCH_DIRS[@]}"; do [ -n "$d" ] && rm -rf "$d"; done
  return 0
}
trap _bench_cleanup EXIT

bench_workdir() {
  local d
  d=$(mktemp -d "${TMPDIR:-/tmp}/airfactory-bench-$1.XXXXXX") || return 1
  BENCH_DIRS+=("$d")
  # shellcheck disable=SC2034 # read by the caller
  BENCH_WORKDIR=$d
}

bench_spawn() {
  "$@" &
  BENCH_LAST_PID=$!
  BENCH_PIDS+=("$BENCH_LAST_PID")
}

bench_now() { date +%s.%N; }
bench_since() { awk -v a="$1" -v b="$(bench_now)" 'BEGIN { printf "%.4f\n", b - a }'; }
bench_median() {
  LC_ALL=C sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2];
                                             else printf "%.6g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
bench_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
bench_row() { echo "BENCH|$1|$2|$3|$4|$5|$6"; }

bench_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
bench_distribution() {
  local log=$1 level=${2:-warn}
  BENCH_DIST_PORT=$(bench_free_port)
  mkdir -p registry-data
  cat >registry.yml <<YML
version: 0.1
log:
  level: $level
storage:
  filesystem:
    rootdirectory: $PWD/registry-data
  delete:
    enabled: false
http:
  addr: 127.0.0.1:$BENCH_DIST_PORT
YML
  bench_spawn docker-registry serve registry.yml >"$log" 2>&1
}
bench_wait_http() {
  local _
  for _ in $(seq 1 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done
  return 1
}
bench_cpu_ticks() {
  local total=0 p
  for p in "$1" $(pgrep -P "$1"); do
    total=$((total + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

# bench_manifest OUT VERSIONS ARCHS OUTPUTS [SCHEMATICS-YAML]: VERSIONS, ARCHS and OUTPUTS are YAML
# flow lists ("[v1.11.3]"). Without SCHEMATICS-YAML the manifest has the vanilla schematic only.
# Sources are the fixtures the demo manifest (docs/examples/demo.yaml) names for those versions,
# by absolute path, so the manifest can live in a temporary directory (`airfactory build` imports
# every source a manifest lists, so the other version's are left out). `signing_key: bundle.key`
# and `output: bundle` are relative to OUT's directory; callers usually pass -o and --key.
_bench_sources() { # VERSIONS -> the source lines of the fixtures of those versions
  local f=$BENCH_ROOT/build/fixtures
  case $1 in *v1.11.3*)
    echo "  - {role: imager, path: $f/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}"
    echo "  - {role: installer-base, path: $f/installer-base-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/installer-base:v1.11.3}"
    echo "  - {role: extensions, path: $f/extensions-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/extensions:v1.11.3}"
    echo "  - {role: extension, path: $f/hello-world-service-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/hello-world-service:v1.11.3}"
    echo "  - {role: extension, path: $f/test-firmware-20250101.oci.tar, reference: ghcr.io/siderolabs/test-firmware:20250101}"
    echo "  - {role: extension, path: $f/intel-ucode-20250812.oci.tar, reference: ghcr.io/siderolabs/intel-ucode:20250812}" ;;
  esac
  case $1 in *v1.9.5*)
    echo "  - {role: imager, path: $f/imager-v1.9.5.oci.tar, reference: ghcr.io/siderolabs/imager:v1.9.5}"
    echo "  - {role: installer, path: $f/installer-v1.9.5.oci.tar, reference: ghcr.io/siderolabs/installer:v1.9.5}"
    echo "  - {role: extensions, path: $f/extensions-v1.9.5.oci.tar, reference: ghcr.io/siderolabs/extensions:v1.9.5}"
    echo "  - {role: extension, path: $f/hello-world-service-v1.9.5.oci.tar, reference: ghcr.io/siderolabs/hello-world-service:v1.9.5}"
    echo "  - {role: extension, path: $f/test-firmware-20240101.oci.tar, reference: ghcr.io/siderolabs/test-firmware:20240101}"
    echo "  - {role: extension, path: $f/intel-ucode-20241112.oci.tar, reference: ghcr.io/siderolabs/intel-ucode:20241112}" ;;
  esac
}
bench_manifest() {
  local out=$1 versions=$2 archs=$3 outputs=$4 schematics=${5:-}
  [ -n "$schematics" ] || schematics='  - name: vanilla
    schematic:
      customization: {}'
  cat >"$out" <<EOF
schematics:
$schematics
versions: $versions
architectures: $archs
outputs: $outputs
sources:
$(_bench_sources "$versions")
trust:
  default:
    keys: [$BENCH_ROOT/tests/keys/cosign.pub]
signing_key: bundle.key
output: bundle
EOF
}

# bench_demo_manifest OUT: the demo manifest, movable (its ../../ paths made absolute).
bench_demo_manifest() {
  sed "s|\.\./\.\./|$BENCH_ROOT/|g" "$BENCH_ROOT/docs/examples/demo.yaml" >"$1"
}
