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
