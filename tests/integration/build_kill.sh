#!/usr/bin/env bash
# kill -9 of `airfactory build` at several points, into a target that already holds a good bundle:
# the previous bundle must still pass `verify --full` (and be exactly the previous one: nothing
# half-written replaces it), and a rerun must complete, verify, and give the same index.db as a
# build that was never interrupted. The kill points come from the AIRFACTORY_TEST_KILL_AT hook
# (cmd_build.c), so each kill happens at an exact place, not after a guessed delay:
#   factory-asset-committed  the first asset's blob and rows are in the staging directory
#   factory-asset-built      a worker finished an asset while (-j 4, fresh store) the other workers
#                            are still extracting, flattening, building the initramfs
#   writer-blob-added        in the middle of adding blobs
#   writer-signed            index.db is signed, not yet swapped in
#   staging-before-swap      everything fsynced, the rename not done
#   staging-after-swap       swapped in: the target already holds the new bundle
source "$(dirname "$0")/../lib.sh"
S=$(scratch)
FX=$FIXTURES
need_fixtures imager-v1.11.3.oci.tar || exit 1
export SOURCE_DATE_EPOCH=1700000000

manifest() { # FILE CONSOLE: the same model; only the command line differs (the kernel is reused)
  cat >"$1" <<YAML
schematics:
  - name: demo
    schematic:
      customization:
        extraKernelArgs: [console=$2]
        systemExtensions:
          officialExtensions: [siderolabs/hello-world-service, siderolabs/test-firmware]
versions: [v1.11.3]
architectures: [amd64]
outputs: [kernel, initramfs.xz, cmdline-metal, metal-uki.efi, metal.iso]
sources:
  - {role: imager, path: $FX/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}
  - {role: extensions, path: $FX/extensions-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/extensions:v1.11.3}
  - {role: extension, path: $FX/hello-world-service-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/hello-world-service:v1.11.3}
  - {role: extension, path: $FX/test-firmware-20250101.oci.tar, reference: ghcr.io/siderolabs/test-firmware:20250101}
trust:
  default: {keys: [$ROOT/tests/keys/cosign.pub]}
signing_key: $S/bundle.key
output: $S/unused
YAML
}
manifest "$S/old.yaml" ttyS0
manifest "$S/new.yaml" ttyS1
check "keygen" "$AIRFACTORY" keygen -o "$S/bundle"
check "the previous bundle builds" "$AIRFACTORY" build "$S/old.yaml" -o "$S/old" --store "$S/store" -j 2
# from the previous bundle, as every build below (the bundle's generation is the base's + 1)
check "an uninterrupted build of the new manifest (the reference)" \
  "$AIRFACTORY" build "$S/new.yaml" -o "$S/reference" --base "$S/old" --store "$S/store" -j 2
check "the two bundles differ (the kill tests can tell them apart)" \
  bash -c "! cmp -s '$S/old/index.db' '$S/reference/index.db'"

kill_case() { # NAME POINT JOBS STORE EXPECT(old|new)
  local name=$1 point=$2 jobs=$3 store=$4 expect=$5 T=$S/$1 rc
  cp -a "$S/old" "$T"
  AIRFACTORY_TEST_KILL_AT=$point "$AIRFACTORY" build "$S/new.yaml" -o "$T" --store "$S/$store" -j "$jobs" \
    --json >"$S/$name.log" 2>&1
  rc=$?
  check_eq "$name: build killed at $point (-j $jobs)" "$rc" 137
  check "$name: the target passes verify --full after the kill" \
    "$AIRFACTORY" verify "$T" --key "$S/bundle.pub" --full
  if [ "$expect" = old ]; then
    check "$name: the target is still exactly the previous bundle" cmp "$T/index.db" "$S/old/index.db"
    check "$name: the interrupted run left its staging directory beside the target" \
      bash -c "ls -d '$T'.tmp-* >/dev/null 2>&1"
  else
    check "$name: the target is already the new bundle" cmp "$T/index.db" "$S/reference/index.db"
  fi
  check "$name: the rerun completes" "$AIRFACTORY" build "$S/new.yaml" -o "$T" --store "$S/$store" -j "$jobs"
  check "$name: the rerun's bundle passes verify --full" "$AIRFACTORY" verify "$T" --key "$S/bundle.pub" --full
  check "$name: the rerun's index.db is the uninterrupted build's" cmp "$T/index.db" "$S/reference/index.db"
  check "$name: nothing is left beside the target" bash -c "! ls -d '$T'.tmp-* >/dev/null 2>&1"
}

kill_case first-commit factory-asset-committed:1 1 store old
check_contains "first-commit: the kill came right after the first asset event" \
  "$(tail -1 "$S/first-commit.log")" '"event":"asset_'
kill_case parallel factory-asset-built:1 4 fresh-store old
kill_case mid-blobs writer-blob-added:3 2 store old
kill_case signed writer-signed:1 2 store old
kill_case before-swap staging-before-swap:1 2 store old
kill_case after-swap staging-after-swap:1 2 store new

# ---- an asset that fails while others are being built (-j 4) ----
# The imager tree the ISO's GRUB pair comes from (modules and grub-mkimage of the host-arch platform)
# is cached in the store; a file where that directory belongs makes the ISO (and only the ISO)
# fail, in a worker, while the kernel, initramfs and UKI are in flight.
grub=$(ls -d "$S"/store/work/imager/*/tree 2>/dev/null | head -1)
check "the store caches the imager's tree with its GRUB pair" test -x "$grub/usr/bin/grub-mkimage"
rm -rf "$grub" && echo "not a directory" >"$grub"
T=$S/failing
cp -a "$S/old" "$T"
"$AIRFACTORY" build "$S/new.yaml" -o "$T" --store "$S/store" -j 4 --json >"$S/failing.log" 2>&1
rc=$?
check "failing asset: the build fails with an error status, not a crash (got $rc)" test "$rc" -ge 1 -a "$rc" -le 2
err=$(grep -v '^{' "$S/failing.log")
check_contains "failing asset: the error names the asset" "$err" "/v1.11.3/metal-amd64.iso: "
check_eq "failing asset: exactly one error is reported" "$(echo "$err" | grep -c '^airfactory: ')" 1
check_eq "failing asset: no event after the failure reports the ISO built" \
  "$(grep -c '"path":"metal-amd64.iso"' "$S/failing.log")" 0
check "failing asset: the target is still the previous bundle" cmp "$T/index.db" "$S/old/index.db"
check "failing asset: the target passes verify --full" "$AIRFACTORY" verify "$T" --key "$S/bundle.pub" --full
check "failing asset: nothing half-written is left beside the target" bash -c "! ls -d '$T'.tmp-* >/dev/null 2>&1"
rm -f "$grub"
check "failing asset: with the cache repaired the same build completes" \
  "$AIRFACTORY" build "$S/new.yaml" -o "$T" --store "$S/store" -j 4
check "failing asset: ... and gives the uninterrupted build's index.db" cmp "$T/index.db" "$S/reference/index.db"
