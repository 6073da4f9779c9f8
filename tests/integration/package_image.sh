#!/usr/bin/env bash
# tests/integration/package_image.sh — the container images of `make image` (build/image/, made by
# `make check` before the suites run). podman cannot run containers on these machines, so each
# image is unpacked with umoci and its entrypoint run the way its config says (user, args) under
# `unshare -m` + chroot, with a test bundle bind-mounted at /bundle: /healthz answers and the
# bundle is served. Also: every library an ELF file of the image needs is in the image (an image
# made without libyaml is caught, statically and by running it), no shell, non-root user, and two
# runs of scripts/make-image give the same bytes.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/serve-lib.bash"
T=$(scratch)
PKG_VERSION=$(cat "$ROOT/VERSION")   # not VERSION: serve-lib's facts.env sets that
IMG=$ROOT/build/image
for i in airfactory-serve airfactory; do
  if [ ! -f "$IMG/$i.oci.tar" ]; then
    fail "image $i built" "$IMG/$i.oci.tar missing: run make image"
    exit 1
  fi
done

# unpack NAME ARCHIVE DIR: umoci runtime bundle of the archive's image in DIR (rootfs, config.json)
unpack() {
  mkdir -p "$T/layout-$1" && tar -xf "$2" -C "$T/layout-$1" &&
    umoci unpack --image "$T/layout-$1:$PKG_VERSION" "$3" >/dev/null 2>&1
}
# missing_libs ROOTFS: every DT_NEEDED of every ELF file in ROOTFS that ROOTFS does not hold
missing_libs() {
  local f lib
  find "$1" -type f | while read -r f; do
    readelf -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | while read -r lib; do
      compgen -G "$1/lib/*/$lib" >/dev/null || compgen -G "$1/usr/lib/*/$lib" >/dev/null ||
        [ -e "$1/lib64/$lib" ] || echo "$lib (needed by ${f#"$1"})"
    done
  done | sort -u
}
# in_image DIR ARGS...: run ARGS in DIR/rootfs as the image's user, with /bundle bind-mounted
# from $BUNDLE_DIR when set; IN_IMAGE_EXEC=1: exec it (in a background job: $! is then the program)
in_image() {
  local dir=$1; shift
  local user; user=$(jq -r '"\(.process.user.uid):\(.process.user.gid)"' "$dir/config.json")
  ${IN_IMAGE_EXEC:+exec} unshare -m sh -c '
    set -e
    if [ -n "${BUNDLE_DIR:-}" ]; then
      mkdir -p "$1/rootfs/bundle" && : >"$1/rootfs/bundle.pub"
      mount --bind "$BUNDLE_DIR/bundle" "$1/rootfs/bundle"
      mount --bind "$BUNDLE_DIR/bundle.pub" "$1/rootfs/bundle.pub"
    fi
    root=$1/rootfs user=$2; shift 2
    exec chroot --userspec="$user" "$root" "$@"' _ "$dir" "$user" "$@"
}

check "umoci unpacks airfactory-serve" unpack serve "$IMG/airfactory-serve.oci.tar" "$T/serve"
check "umoci unpacks airfactory" unpack cli "$IMG/airfactory.oci.tar" "$T/cli"
for d in serve cli; do
  check_eq "$d image: every needed library is in the image" "$(missing_libs "$T/$d/rootfs")" ""
  check_eq "$d image: no shell" "$(find "$T/$d/rootfs" -name sh -o -name bash -o -name dash -o -name busybox)" ""
  check_eq "$d image: runs as airfactory (65532)" \
    "$(jq -r '"\(.process.user.uid):\(.process.user.gid)"' "$T/$d/config.json")" 65532:65532
  check_contains "$d image: /etc/passwd names the user" "$(cat "$T/$d/rootfs/etc/passwd")" "airfactory:x:65532:65532:"
done
check_eq "serve image: entrypoint" "$(jq -c .process.args "$T/serve/config.json")" \
  '["/usr/bin/airfactory-serve","/bundle","--listen","0.0.0.0:8080","--key","/bundle.pub"]'
commit=$("$ROOT/build/release/airfactory-serve" --version | sed -n 's/.*(commit \([^,]*\),.*/\1/p')
check_eq "serve image: revision label is the programs' commit" \
  "$(skopeo inspect --config "oci-archive:$IMG/airfactory-serve.oci.tar" | jq -r '.config.Labels["org.opencontainers.image.revision"]')" "$commit"
check_eq "serve image: no HTTP client library" "$(find "$T/serve/rootfs" -name 'libcurl*')" ""

if ! in_image "$T/cli" /usr/bin/airfactory --version >"$T/probe" 2>&1; then
  skip "running the images" "unshare -m + chroot does not work here (root needed): $(head -c 200 "$T/probe")"
  exit 0
fi
check_contains "airfactory image: --version" "$(cat "$T/probe")" "airfactory $PKG_VERSION (commit "
check_eq "airfactory image: schematic id" \
  "$(echo 'customization: {}' | in_image "$T/cli" /usr/bin/airfactory schematic id - 2>&1)" \
  376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba

# airfactory-serve from its image, the entrypoint and arguments of its config (on a free loopback
# port instead of 0.0.0.0:8080), serving a bundle mounted at /bundle
serve_setup
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
mapfile -t args < <(jq -r '.process.args[]' "$T/serve/config.json" | sed "s/^0\.0\.0\.0:8080$/127.0.0.1:$PORT/")
IN_IMAGE_EXEC=1 BUNDLE_DIR=$SCR/b in_image "$T/serve" "${args[@]}" >"$T/serve.out" 2>"$T/serve.log" &
SERVE_PID=$!
SERVE_PIDS+=("$SERVE_PID")
up=0
for _ in $(seq 1 100); do
  curl -s -o /dev/null --max-time 1 "$URL/healthz" && { up=1; break; }
  kill -0 "$SERVE_PID" 2>/dev/null || break
  sleep 0.1
done
if [ "$up" -eq 1 ]; then
  check_eq "serve image answers /healthz" "$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")" 200
  check_contains "serve image serves the mounted bundle's versions" "$(curl -s "$URL/versions")" "\"$VERSION\""
  check_eq "serve image serves the bundle's kernel" \
    "sha256:$(curl -s "$URL/image/$SCHEMATIC/$VERSION/kernel-amd64" | sha256sum | cut -d' ' -f1)" "$KERNEL_DIGEST"
  stop_serve
  check_eq "serve image stops cleanly on SIGTERM" "$STOP_RC" 0
else
  fail "serve image starts" "$(tail -5 "$T/serve.log")"
fi

# deterministic: a second run writes the same bytes
if OUT_DIR=$T/again IMAGES=airfactory-serve bash "$ROOT/scripts/make-image" >"$T/again.log" 2>&1; then
  check_eq "make image twice: one digest" "$(cat "$T/again/airfactory-serve.digest")" "$(cat "$IMG/airfactory-serve.digest")"
  check "make image twice: the same archive" cmp "$T/again/airfactory-serve.oci.tar" "$IMG/airfactory-serve.oci.tar"
else
  fail "make image again" "$(tail -3 "$T/again.log")"
fi

# a missing shared library is caught: an image made without libyaml fails both checks
if OUT_DIR=$T/drop IMAGES=airfactory-serve IMAGE_DROP_LIB=libyaml-0.so.2 bash "$ROOT/scripts/make-image" \
    >"$T/drop.log" 2>&1 && unpack drop "$T/drop/airfactory-serve.oci.tar" "$T/drop"; then
  check_contains "a dropped library is reported missing" "$(missing_libs "$T/drop/rootfs")" "libyaml-0.so.2"
  out=$(in_image "$T/drop" /usr/bin/airfactory-serve --version 2>&1)
  check_contains "an image without a needed library does not run" "$out" "error while loading shared libraries: libyaml-0.so.2"
else
  fail "image without libyaml" "$(tail -3 "$T/drop.log")"
fi
