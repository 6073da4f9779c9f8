# tests/lib.sh — helpers for shell test suites. Each check prints "PASS name" or "FAIL name: why";
# tests/run.sh counts those lines. Source it; AIRFACTORY and AIRFACTORY_SERVE point at the
# binaries under test (the ASan build during `make check`).
set -u
ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BUILD=${AIRFACTORY_BUILD:-$ROOT/build/asan}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
AIRFACTORY=${AIRFACTORY:-$BUILD/airfactory}
AIRFACTORY_SERVE=${AIRFACTORY_SERVE:-$BUILD/airfactory-serve}
FIXTURES=${FIXTURES:-$ROOT/build/fixtures}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: ${2:-}"; }
skip() { echo "SKIP $1: ${2:-}"; }

# check NAME CMD... : passes when CMD exits 0
check() {
  local name=$1; shift
  local out
  if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$(echo "$out" | tail -5 | tr '\n' ' ')"; fi
}
# check_fails NAME CMD... : passes when CMD exits non-zero
check_fails() {
  local name=$1; shift
  if "$@" >/dev/null 2>&1; then fail "$name" "expected failure, got success"; else pass "$name"; fi
}
# check_eq NAME GOT EXPECTED
check_eq() {
  if [ "$2" == "$3" ]; then pass "$1"; else fail "$1" "got '$2', expected '$3'"; fi
}
# check_contains NAME HAYSTACK NEEDLE
check_contains() {
  case "$2" in *"$3"*) pass "$1" ;; *) fail "$1" "'$3' not found in: $(echo "$2" | head -c 400)" ;; esac
}

# need_fixtures FILE...: each FILE (a name under $FIXTURES) is there; else one FAIL line saying how
# to make them and status 1 (a suite then stops: `need_fixtures imager-v1.11.3.oci.tar || exit 1`).
need_fixtures() {
  local f
  for f in "$@"; do
    [ -f "$FIXTURES/$f" ] || { fail "fixtures present" "run scripts/make-fixtures first ($FIXTURES)"; return 1; }
  done
}

# oci_python ARGS... <SCRIPT: run the Python SCRIPT read from stdin (sys.argv[1:] = ARGS) with the
# fixtures' OCI writer imported (scripts/fixtures/ocilib.py: Layout, TarWriter, descriptor, go_json,
# sha256_hex) and write_image, the one owner of an unsigned one-layer test image:
#   write_image(path, tag, layer, arches=("amd64",)) writes the OCI archive path whose tag names the
#   image manifest (one arch) or an index of one manifest per arch, all with that layer; it returns
#   the tagged descriptor.
oci_python() {
  python3 -c "import sys
sys.path.insert(0, sys.argv.pop(1))
from ocilib import Layout, TarWriter, descriptor, go_json, sha256_hex
def write_image(path, tag, layer, arches=('amd64',)):
    lay = Layout()
    lay.add_blob(layer)
    mans = []
    for arch in arches:
        config = go_json({'architecture': arch, 'os': 'linux', 'config': {},
                          'rootfs': {'type': 'layers', 'diff_ids': ['sha256:' + sha256_hex(layer)]}})
        lay.add_blob(config)
        m = go_json({'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.manifest.v1+json',
                     'config': descriptor('application/vnd.oci.image.config.v1+json', config),
                     'layers': [descriptor('application/vnd.oci.image.layer.v1.tar', layer)]})
        lay.add_blob(m)
        mans.append((arch, m))
    ref = {'org.opencontainers.image.ref.name': tag}
    if len(mans) == 1:
        top = descriptor('application/vnd.oci.image.manifest.v1+json', mans[0][1], annotations=ref)
    else:
        index = go_json({'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.index.v1+json',
                         'manifests': [descriptor('application/vnd.oci.image.manifest.v1+json', m,
                                                  platform={'architecture': a, 'os': 'linux'}) for a, m in mans]})
        lay.add_blob(index)
        top = descriptor('application/vnd.oci.image.index.v1+json', index, annotations=ref)
    lay.add_entry(top)
    open(path, 'wb').write(lay.to_archive(1735689600))
    return top
$(cat)" "$ROOT/scripts/fixtures" "$@"
}

# hostile_overlay OUT PROFILE NAME=INSTALLER...: an unsigned overlay image in the layout of Talos'
# overlays (installers/NAME, the file INSTALLER, for each NAME; profiles/NAME.yaml holding PROFILE
# unless it is empty; for amd64 and arm64, tag v0.1.0) as OUT/bad-overlay.oci.tar, and an overlays
# catalog (tag v1.11.3) naming each NAME with that image's digest as OUT/bad-overlays.oci.tar
# (oci_python). A manifest trusts them as `insecure`. Exits non-zero when they could not be written.
hostile_overlay() {
  oci_python "$@" <<'PY'
out, profile = sys.argv[1], sys.argv[2]
installers = [a.split("=", 1) for a in sys.argv[3:]]
tw = TarWriter(1735689600, "root", "root")
tw.add_dir("installers")
for n, path in installers:
    tw.add_file(f"installers/{n}", open(path, "rb").read(), mode=0o755)
tw.add_dir("profiles")
if profile:
    for n, _ in installers:
        tw.add_file(f"profiles/{n}.yaml", profile.encode())
idx = write_image(f"{out}/bad-overlay.oci.tar", "v0.1.0", tw.finish(), ("amd64", "arm64"))
cat = "overlays:\n" + "".join(f"  - name: {n}\n    image: ghcr.io/siderolabs/sbc-test:v0.1.0\n    digest: {idx['digest']}\n"
                              for n, _ in installers)
tw = TarWriter(1735689600, "root", "root")
tw.add_file("overlays.yaml", cat.encode())
write_image(f"{out}/bad-overlays.oci.tar", "v1.11.3", tw.finish())
PY
}

# A scratch directory removed at exit. Used as S=$(scratch), it runs in a subshell, so the EXIT
# trap that removes it must be set here, in the sourcing shell, not inside scratch().
# ($$ is the sourcing shell's PID in subshells too; the list exists only once scratch() ran.)
_SCRATCH_LIST=${TMPDIR:-/tmp}/airfactory-scratch-list.$$
_scratch_cleanup() {
  local d
  [ -f "$_SCRATCH_LIST" ] || return 0
  while read -r d; do rm -rf "$d"; done <"$_SCRATCH_LIST"
  rm -f "$_SCRATCH_LIST"
}
trap _scratch_cleanup EXIT
scratch() {
  local d; d=$(mktemp -d "${TMPDIR:-/tmp}/airfactory-test.XXXXXX")
  echo "$d" >>"$_SCRATCH_LIST"
  echo "$d"
}

# image_tool ROOT PROGRAM ARGS... : run a dynamically linked program of an extracted image tree
# (e.g. the imager's usr/bin/grub-mkimage) through that tree's own ELF interpreter and library
# directories, the way airfactory runs the imager's grub-mkimage (src/imager/grub_tool.h) — an
# independent shell version for reference outputs.
image_tool() {
  local root=$1 prog=$2 interp ld t n=0 libs="" d triplet
  shift 2
  interp=$(readelf -l "$root/$prog" | sed -n 's/.*interpreter: \(.*\)]$/\1/p')
  if [ -z "$interp" ]; then "$root/$prog" "$@"; return; fi
  ld=$root$interp
  while [ -L "$ld" ] && [ $n -lt 16 ]; do   # symlinks resolved inside the tree
    t=$(readlink "$ld"); n=$((n + 1))
    case $t in /*) ld=$root$t ;; *) ld=$(dirname "$ld")/$t ;; esac
  done
  case $(uname -m) in x86_64) triplet=x86_64-linux-gnu ;; *) triplet=aarch64-linux-gnu ;; esac
  for d in lib/$triplet usr/lib/$triplet lib usr/lib lib64 usr/lib64; do
    [ -d "$root/$d" ] && libs=${libs:+$libs:}$root/$d
  done
  case ${ld##*/} in
    ld-linux*) "$ld" --inhibit-cache --library-path "$libs" "$root/$prog" "$@" ;;
    *) "$ld" --library-path "$libs" "$root/$prog" "$@" ;;
  esac
}

# have_landlock: the kernel offers Landlock (landlock_create_ruleset(NULL, 0, VERSION) answers an
# ABI version), which airfactory requires to run an overlay's installer (src/imager/overlay.c);
# suites that build overlay assets skip on a kernel without it, saying so.
have_landlock() {
  python3 - <<'PY' 2>/dev/null
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
sys.exit(0 if libc.syscall(444, None, 0, 1) > 0 else 1)
PY
}
