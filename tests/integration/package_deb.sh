#!/usr/bin/env bash
# tests/integration/package_deb.sh — the Debian packages of `make deb` (build/deb/, made by
# `make check` before the suites run) installed with `dpkg --root` into a throwaway root with its
# own dpkg database. The programs run from that root with the host's shared libraries (the
# packages' Depends are the host's libraries; --force-depends, no debootstrap: nothing is
# downloaded; busybox is the root's /bin/sh for the maintainer scripts): --version, `plan` of docs/examples/demo.yaml, airfactory-serve answering /healthz;
# the man pages render, the completion completes, a program builds against airfactory-dev through
# its pkg-config file; debug symbols are in -dbgsym; then the packages are removed.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/serve-lib.bash"
T=$(scratch)
PKG_VERSION=$(cat "$ROOT/VERSION")   # not VERSION: serve-lib's facts.env sets that
ARCH=$(dpkg --print-architecture)
MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
DEB=$ROOT/build/deb
for p in airfactory airfactory-dev airfactory-dbgsym; do
  if [ ! -f "$DEB/${p}_${PKG_VERSION}_$ARCH.deb" ]; then
    fail "package $p built" "$DEB/${p}_${PKG_VERSION}_$ARCH.deb missing: run make deb"
    exit 1
  fi
done
check_eq "package version is VERSION" "$(dpkg-deb -f "$DEB/airfactory_${PKG_VERSION}_$ARCH.deb" Version)" "$PKG_VERSION"
check_eq "package names the programs' commit (-dirty for a changed tree)" \
  "$(dpkg-deb -f "$DEB/airfactory_${PKG_VERSION}_$ARCH.deb" Airfactory-Commit)" \
  "$("$ROOT/build/release/airfactory" --version | sed -n 's/.*(commit \([^,]*\),.*/\1/p')"

R=$T/root
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/var/log" "$R/bin"
: >"$R/var/lib/dpkg/status"
# dpkg runs maintainer scripts (the systemd units' postinst) chrooted into the root: give it a
# static /bin/sh, so nothing of them touches the host
cp "$(command -v busybox)" "$R/bin/sh"
dpkg_root() {
  dpkg --root="$R" --log="$R/var/log/dpkg.log" --force-depends "$@"
}
if [ "$(id -u)" -ne 0 ]; then
  skip "dpkg --root" "needs root (it chroots for the maintainer scripts); run as root"
  exit 0
fi
check "dpkg --root installs airfactory and airfactory-dev" \
  dpkg_root -i "$DEB/airfactory_${PKG_VERSION}_$ARCH.deb" "$DEB/airfactory-dev_${PKG_VERSION}_$ARCH.deb"
units=$(find "$ROOT/contrib/systemd" -maxdepth 1 \( -name '*.service' -o -name '*.socket' -o -name '*.timer' \) 2>/dev/null | wc -l)
check_eq "the operations kit's systemd units (contrib/systemd) are installed" \
  "$(find "$R/lib/systemd/system" -type f 2>/dev/null | wc -l)" "$units"
check_eq "both installed" "$(dpkg-query --admindir="$R/var/lib/dpkg" -W -f='${db:Status-Status} ' airfactory airfactory-dev)" "installed installed "

AF=$R/usr/bin/airfactory
AS=$R/usr/bin/airfactory-serve
for b in "$AF" "$AS"; do
  name=$(basename "$b")
  out=$("$b" --version 2>&1)
  check_contains "$name --version from the package" "$out" "$name $PKG_VERSION (commit "
  check_contains "$name is stripped" "$(file -b "$b")" ", stripped"
  # its debug symbols are in -dbgsym, under its build ID
  id=$(readelf -n "$b" | sed -n 's/.*Build ID: *//p')
  check_contains "$name debug symbols in -dbgsym" \
    "$(dpkg-deb -c "$DEB/airfactory-dbgsym_${PKG_VERSION}_$ARCH.deb")" "/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug"
done
# the package's programs are the ones this tree builds (same version line as the release build)
check_eq "packaged --version is the release build's" "$("$AF" --version)" "$("$ROOT/build/release/airfactory" --version)"
check_eq "airfactory-serve links no HTTP client" "$(ldd "$AS" | grep -c libcurl)" 0

# plan of the demo manifest (as tests/integration/plan.sh: absolute paths, a key made here, empty
# stand-ins for the fixture tarballs when they are absent, since plan only checks they exist)
"$AF" keygen -o "$T/demo" >/dev/null 2>&1
sed -e "s|signing_key: .*|signing_key: $T/demo.key|" -e "s|\.\./\.\./|$T/tree/|g" \
  "$ROOT/docs/examples/demo.yaml" >"$T/demo.yaml"
mkdir -p "$T/tree"
ln -s "$ROOT/tests" "$T/tree/tests"
for f in $(grep -o '\.\./\.\./build/fixtures/[^,}]*\.oci\.tar' "$ROOT/docs/examples/demo.yaml"); do
  mkdir -p "$(dirname "$T/tree/${f#../../}")"
  if [ -f "$ROOT/${f#../../}" ]; then ln -s "$ROOT/${f#../../}" "$T/tree/${f#../../}"; else : >"$T/tree/${f#../../}"; fi
done
out=$("$AF" plan "$T/demo.yaml" 2>"$T/plan.err"); rc=$?
check_eq "plan of the demo manifest" "$rc" 0
[ "$rc" -eq 0 ] || head -3 "$T/plan.err"
check_contains "plan: the first model" "$(echo "$out" | head -1)" "vanilla v1.11.3 amd64 kernel-amd64"
check_eq "plan: the release build's models" "$out" "$("$ROOT/build/release/airfactory" plan "$T/demo.yaml" 2>&1)"

# airfactory-serve from the package serves a signed test bundle
serve_setup
AIRFACTORY_SERVE=$AS
if start_serve pkg "$SCR/b/bundle" --key "$SCR/b/bundle.pub"; then
  check_eq "packaged airfactory-serve answers /healthz" \
    "$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")" 200
  check_contains "Server header names the version" "$(curl -s -D - -o /dev/null "$URL/healthz")" "airfactory-serve/$PKG_VERSION"
  stop_serve
  check_eq "packaged airfactory-serve stops cleanly" "$STOP_RC" 0
else
  fail "packaged airfactory-serve starts" "see above"
fi

# man pages (generated by help2man from the programs' --help, scripts/gen-man): one per program,
# command and subcommand, each rendering without warnings and carrying that command's usage line
pages=(airfactory airfactory-serve)
for c in $("$AF" --help | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p'); do
  pages+=("airfactory-$c")
  for s in $("$AF" "$c" --help | sed -n '/^commands:$/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p'); do
    pages+=("airfactory-$c-$s")
  done
done
check "a man page per program, command and subcommand (${#pages[@]})" test "${#pages[@]}" -gt 25
bad=""
for m in "${pages[@]}"; do
  page=$R/usr/share/man/man1/$m.1.gz
  if [ ! -f "$page" ]; then bad="$bad $m(missing)"; continue; fi
  warn=$(zcat "$page" | groff -man -Tutf8 -ww -z 2>&1)
  [ -z "$warn" ] || bad="$bad $m($warn)"
  # NAME is the page's own name (what whatis/apropos index), not help2man's "airfactory CMD"
  want="${m//-/\\-} \\- "
  zcat "$page" | sed -n '/^\.SH NAME$/{n;p}' | grep -F -q -- "$want" || bad="$bad $m(NAME)"
done
check_eq "every man page exists, renders without warnings and is NAMEd after itself" "$bad" ""
text=$(zcat "$R/usr/share/man/man1/airfactory-disk-plan.1.gz" | groff -man -Tutf8 -rLL=1000n -rHY=0 2>/dev/null | col -b | tr -s ' \t\n' ' ')
want=$("$AF" disk plan --help | head -1 | tr -s ' \t\n' ' ')
check_contains "airfactory-disk-plan(1) carries the program's usage line" "$text" "${want% }"
text=$(zcat "$R/usr/share/man/man1/airfactory.1.gz" | groff -man -Tutf8 2>/dev/null | col -b)
missing=""
for c in $("$AF" --help | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p'); do
  grep -q "^ *$c\b" <<<"$text" || missing="$missing $c"
done
check_eq "airfactory(1) names every command of --help" "$missing" ""
text=$(zcat "$R/usr/share/man/man1/airfactory-serve.1.gz" | groff -man -Tutf8 2>/dev/null | col -b)
missing=""
for o in $("$AS" --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u); do
  grep -q -- "$o" <<<"$text" || missing="$missing $o"
done
check_eq "airfactory-serve(1) names every option of --help" "$missing" ""

# bash completion, from the package's file and programs
comp=$R/usr/share/bash-completion/completions/airfactory
check_eq "completion for airfactory-serve is the same file" "$(readlink "$R/usr/share/bash-completion/completions/airfactory-serve")" airfactory
got=$(PATH=$R/usr/bin:$PATH bash -c 'source "$1"; COMP_WORDS=(airfactory pl); COMP_CWORD=1; _airfactory; echo "${COMPREPLY[*]}"' _ "$comp")
check_eq "completion: a command" "$got" plan
got=$(PATH=$R/usr/bin:$PATH bash -c 'source "$1"; COMP_WORDS=(airfactory build --secureboot-c); COMP_CWORD=2; _airfactory; echo "${COMPREPLY[*]}"' _ "$comp")
check_eq "completion: an option of the command" "$got" --secureboot-cert
got=$(PATH=$R/usr/bin:$PATH bash -c 'source "$1"; COMP_WORDS=(airfactory asset ini); COMP_CWORD=2; _airfactory; echo "${COMPREPLY[*]}"' _ "$comp")
check_eq "completion: a subcommand" "$got" initramfs
got=$(PATH=$R/usr/bin:$PATH bash -c 'source "$1"; COMP_WORDS=(airfactory disk meta --sec); COMP_CWORD=3; _airfactory; echo "${COMPREPLY[*]}"' _ "$comp")
check_eq "completion: an option of a subcommand" "$got" --sector-size
got=$(PATH=$R/usr/bin:$PATH bash -c 'source "$1"; COMP_WORDS=(airfactory he); COMP_CWORD=1; _airfactory; echo "${COMPREPLY[*]}"' _ "$comp")
check_eq "completion: help" "$got" help
got=$(PATH=$R/usr/bin:$PATH bash -c 'source "$1"; COMP_WORDS=(airfactory-serve --max-conns); COMP_CWORD=1; _airfactory_serve; echo "${COMPREPLY[*]}"' _ "$comp")
check_eq "completion: an airfactory-serve option" "$got" --max-conns-per-client

# airfactory-dev: a program built with the package's pkg-config file, headers and static library
cat >"$T/id.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <airfactory/schematic.h>
int main(void)
{
    static const char text[] = "customization: {}\n";
    struct schematic *s = NULL;
    struct error err = {0};
    char id[SCHEMATIC_ID_HEX_LEN + 1];
    if (schematic_parse(text, strlen(text), "inline", &s, &err) || schematic_id(s, id, &err)) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    schematic_free(s);
    puts(id);
    return 0;
}
C
pc="env PKG_CONFIG_SYSROOT_DIR=$R PKG_CONFIG_PATH=$R/usr/lib/$MULTIARCH/pkgconfig pkg-config"
check_eq "airfactory.pc version" "$($pc --modversion airfactory)" "$PKG_VERSION"
if cc -std=c17 -o "$T/id" "$T/id.c" $($pc --cflags --libs airfactory) 2>"$T/cc.err"; then
  check_eq "a program built against airfactory-dev computes a schematic ID" "$("$T/id")" \
    376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba
else
  fail "a program builds against airfactory-dev" "$(head -5 "$T/cc.err")"
fi

check "dpkg --root removes both" dpkg_root --purge airfactory airfactory-dev
check_eq "nothing of the packages is left" "$(find "$R/usr" -type f 2>/dev/null | wc -l)" 0
