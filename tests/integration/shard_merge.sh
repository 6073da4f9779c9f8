#!/usr/bin/env bash
# Sharded builds (docs/scale.md): `airfactory build MANIFEST --shard I/N` for every I, then
# `airfactory merge`, gives a bundle byte-identical to one `airfactory build` of the manifest
# (cmp index.db, diff -r) for N = 1, 2 and 4 — N = 4 by running exactly the commands of
# contrib/kubernetes' Indexed Job and merge Job (taken from the YAML) as 4 local processes. The
# shards of `plan --shard` (I from 0 to N-1) partition the plan and keep what shares work together. Merge refuses, naming
# the part: a missing shard, a duplicated one, one of another manifest, one with another
# SOURCE_DATE_EPOCH, a tampered one (index.db and a blob), one signed with another key, a whole
# bundle; a refused merge leaves the target as it was. Small manifest: three schematics, one
# version, two arches; kernel, cmdline, initramfs and (one schematic) the multi-arch installer.
source "$(dirname "$0")/../lib.sh"
need_fixtures imager-v1.11.3.oci.tar || exit 1
S=$(scratch)
FX=$FIXTURES
export SOURCE_DATE_EPOCH=1700000000

manifest() { # FILE [EXTRA-LINE]: the test manifest
  cat >"$1" <<YAML
schematics:
  - name: plain
    schematic:
      customization:
        extraKernelArgs: [console=ttyS0]
  - name: serial
    schematic:
      customization:
        extraKernelArgs: [console=ttyS1]
  - name: installer
    schematic:
      customization:
        extraKernelArgs: [console=tty0]
    outputs: [cmdline-metal, installer.tar]
versions: [v1.11.3]
architectures: [amd64, arm64]
outputs: [kernel, cmdline-metal, initramfs.xz]
sources:
  - {role: imager, path: $FX/imager-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/imager:v1.11.3}
  - {role: installer-base, path: $FX/installer-base-v1.11.3.oci.tar, reference: ghcr.io/siderolabs/installer-base:v1.11.3}
trust:
  default: {keys: [$ROOT/tests/keys/cosign.pub]}
signing_key: $S/bundle.key
output: $S/unused
${2:-}
YAML
}
manifest "$S/manifest.yaml"
check "keygen" "$AIRFACTORY" keygen -o "$S/bundle"
check "keygen (another key)" "$AIRFACTORY" keygen -o "$S/other"

# ---- plan --shard: a partition of the plan, balanced, groups kept whole ----
full=$("$AIRFACTORY" plan "$S/manifest.yaml" | sort)
check_eq "the plan has 16 models" "$(echo "$full" | wc -l)" 16
for n in 1 2 4 5; do
  all=""
  for i in $(seq 0 $((n - 1))); do
    all+=$("$AIRFACTORY" plan "$S/manifest.yaml" --shard "$i/$n" | sed "s|^|$i |")$'\n'
  done
  check_eq "plan --shard I/$n: the shards together are the plan, each model once" \
    "$(echo "$all" | grep . | cut -d' ' -f2- | sort)" "$full"
  # a schematic x version x arch in one shard; the installer schematic's whole version in one
  split=$(echo "$all" | grep . | awk '{g = $3 " " $5 " " ($3 == "installer" ? "*" : $6); s[g] = s[g] " " $1}
    END {for (g in s) {n = split(s[g], a, " "); for (k = 2; k <= n; k++) if (a[k] != a[1]) print g}}' | sort -u)
  check_eq "plan --shard I/$n: no schematic x version x arch (installer: x version) is split" "$split" ""
done
loads=$(for i in 0 1 2 3; do "$AIRFACTORY" plan "$S/manifest.yaml" --shard "$i/4" --json |
        python3 -c 'import json,sys; print(sum(json.loads(l)["cost"] for l in sys.stdin))'; done | sort -n | tr '\n' ' ')
# 5 groups: the installer schematic (both arches, 26 + 8 for its initramfs) and four of 5 (+ 8):
# the costliest alone, then the smaller ones on the least loaded shards
check_eq "plan --shard I/4 --json: every shard has models, costs balanced (5 groups on 4 shards)" "$loads" "5 5 10 26 "
check_eq "plan --shard is deterministic" "$("$AIRFACTORY" plan "$S/manifest.yaml" --shard 1/4)" \
  "$("$AIRFACTORY" plan "$S/manifest.yaml" --shard 1/4)"
for bad in 4/4 5/4 4 0/0 a/b 01/4 1/04 1/4x 2/1025 -1/4; do
  out=$("$AIRFACTORY" plan "$S/manifest.yaml" --shard "$bad" 2>&1); rc=$?
  check_eq "plan --shard $bad: usage error (exit 2)" "$rc" 2
  check_contains "plan --shard $bad: the message names it" "$out" "shard '$bad': expected I/N"
done
out=$("$AIRFACTORY" build "$S/manifest.yaml" --shard 2/2 -o "$S/never" 2>&1); rc=$?
check_eq "build --shard 2/2: refused (exit 2) before anything is built" "$rc:$(ls -d "$S"/never* 2>/dev/null)" "2:"

# ---- the one-machine build ----
check "single build" "$AIRFACTORY" build "$S/manifest.yaml" -o "$S/single" --store "$S/store" -j 2
check "single build verifies" "$AIRFACTORY" verify "$S/single" --key "$S/bundle.pub"

# ---- N = 1 and 2: plain CLI ----
for n in 1 2; do
  parts=()
  for i in $(seq 0 $((n - 1))); do
    check "build --shard $i/$n" "$AIRFACTORY" build "$S/manifest.yaml" --shard "$i/$n" -o "$S/p$n/part$i" \
      --store "$S/store" -j 2
    parts+=("$S/p$n/part$i")
  done
  check_eq "part $((n - 1))/$n records meta shard" "$(sqlite3 "$S/p$n/part$((n - 1))/index.db" "SELECT value FROM meta WHERE key = 'shard'")" "$((n - 1))/$n"
  check "merge of $n shards" "$AIRFACTORY" merge "${parts[@]}" -o "$S/merged$n" --key "$S/bundle.key"
  check "N=$n: index.db byte-identical to the single build's (cmp)" cmp "$S/single/index.db" "$S/merged$n/index.db"
  check "N=$n: the bundles are identical (diff -r)" diff -r "$S/single" "$S/merged$n"
done
check "the merged bundle verifies (--full)" "$AIRFACTORY" verify "$S/merged2" --key "$S/bundle.pub" --full
ino() { stat -c %i "$1"; }
blob=$(sqlite3 "$S/p2/part0/index.db" "SELECT substr(digest, 8) FROM assets ORDER BY path LIMIT 1")
check_eq "merge hard-links the parts' blobs (same file system)" "$(ino "$S/merged2/blobs/sha256/$blob")" \
  "$(ino "$S/p2/part0/blobs/sha256/$blob")"
# default -o of a shard: beside the manifest's output
check "build --shard 0/1 without -o" "$AIRFACTORY" build "$S/manifest.yaml" --shard 0/1 --store "$S/store" -j 2
check "... writes OUTPUT.shard-0-of-1" test -f "$S/unused.shard-0-of-1/index.db"

# merging again into the same target: nothing changed, so nothing changes (build's freshness rules)
check "merge again onto the merged bundle" "$AIRFACTORY" merge "$S/p2/part1" "$S/p2/part0" -o "$S/merged2" --key "$S/bundle.key"
check "... index.db unchanged (same generation)" cmp "$S/single/index.db" "$S/merged2/index.db"

# ---- N = 4: exactly the Kubernetes Jobs' commands, as 4 local processes ----
K=$S/k8s
mkdir -p "$K/srv" "$K/etc-build" "$K/etc-key"
cp "$S/manifest.yaml" "$K/etc-build/manifest.yaml"
cp "$S/bundle.key" "$K/etc-key/bundle.key"
pod_argv() { # FILE JOB-NAME SHARD CACHE: the Job's container command + args as Kubernetes runs them in
  # the pod with completion index SHARD ($(VAR) expanded from its env), one per line, with the
  # pods' paths made this test's (CACHE: the pod's own emptyDir); first line: SHARDS completions
  python3 - "$@" "$AIRFACTORY" "$K" <<'PY'
import re, sys, yaml
path, name, shard, cache, airfactory, k = sys.argv[1:]
docs = [d for d in yaml.safe_load_all(open(path)) if d]
job = next(d for d in docs if d["kind"] == "Job" and d["metadata"]["name"] == name)
c = job["spec"]["template"]["spec"]["containers"][0]
env = {}
for e in c.get("env", []):
    if "value" in e:
        env[e["name"]] = e["value"]
    elif e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.annotations['batch.kubernetes.io/job-completion-index']":
        env[e["name"]] = shard
print(env.get("SHARDS", "-"), job["spec"].get("completions", 1))
for a in c["command"] + c.get("args", []):
    a = re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), a)
    for pod, here in (("/usr/local/bin/airfactory", airfactory), ("/srv/airfactory", k + "/srv"),
                      ("/etc/airfactory-build", k + "/etc-build"), ("/etc/airfactory-key", k + "/etc-key"),
                      ("/var/cache/airfactory", cache)):
        if a == pod or a.startswith(pod + "/"):
            a = here + a[len(pod):]
    print(a)
PY
}
local_paths() { # the pods' paths in a text -> this test's
  sed -e "s#/srv/airfactory#$K/srv#g" -e "s#/etc/airfactory-build#$K/etc-build#g" \
      -e "s#/etc/airfactory-key#$K/etc-key#g"
}
pod0=$(pod_argv "$ROOT/contrib/kubernetes/airfactory-build.yaml" airfactory-build 0 "$K/cache-0")
read -r shards completions <<<"$(echo "$pod0" | head -1)"
check_eq "the build Job has SHARDS = completions = 4" "$shards $completions" "4 4"
pids=()
for k in $(seq 0 $((completions - 1))); do
  mapfile -t argv < <(pod_argv "$ROOT/contrib/kubernetes/airfactory-build.yaml" airfactory-build "$k" "$K/cache-$k" | tail -n +2)
  [ "$k" = 1 ] && check_eq "pod 1 runs: airfactory build MANIFEST --shard 1/4 -o parts/shard-1-of-4 ..." \
    "${argv[*]}" "$AIRFACTORY build $K/etc-build/manifest.yaml --shard 1/4 -o $K/srv/parts/shard-1-of-4 --key $K/etc-key/bundle.key --store $K/cache-1/store"
  "${argv[@]}" >"$K/pod-$k.log" 2>&1 &
  pids+=($!)
done
for k in "${!pids[@]}"; do
  wait "${pids[$k]}"; rc=$?
  check_eq "pod $k (JOB_COMPLETION_INDEX=$k) builds shard $k/4" "$rc$(test $rc = 0 || tail -3 "$K/pod-$k.log")" 0
done
check_eq "the pods wrote parts shard-0-of-4 .. shard-3-of-4" "$(cd "$K/srv/parts" && ls | tr '\n' ' ')" \
  "shard-0-of-4 shard-1-of-4 shard-2-of-4 shard-3-of-4 "
mapfile -t argv < <(pod_argv "$ROOT/contrib/kubernetes/airfactory-merge.yaml" airfactory-merge 0 "$K/cache-merge" | tail -n +2)
out=$("${argv[@]}" 2>&1); rc=$?
check_eq "the merge Job's command succeeds" "$rc" "0"
check_contains "... and reports the 4 shards" "$out" "4 shards merged"
check "N=4 (Kubernetes commands): index.db byte-identical (cmp)" cmp "$S/single/index.db" "$K/srv/bundle/index.db"
check "N=4 (Kubernetes commands): the bundles are identical (diff -r)" diff -r "$S/single" "$K/srv/bundle"
P=$K/srv/parts

# the example manifest of the ConfigMap is a valid manifest (its paths made local)
mkdir -p "$K/srv/sources"
for f in imager-v1.11.3 installer-base-v1.11.3 extensions-v1.11.3 intel-ucode-20250812; do
  ln -sf "$FX/$f.oci.tar" "$K/srv/sources/$f.oci.tar"
done
cp "$ROOT/tests/keys/cosign.pub" "$K/etc-build/cosign.pub"
python3 -c 'import sys, yaml
d = next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "ConfigMap")
print(d["data"]["manifest.yaml"])' "$ROOT/contrib/kubernetes/airfactory-build.yaml" | local_paths >"$K/example.yaml"
check "the ConfigMap's example manifest plans (airfactory plan --shard 0/4)" "$AIRFACTORY" plan "$K/example.yaml" --shard 0/4

# ---- refusals: one line naming the part; the target stays as it was ----
refused() { # NAME NEEDLE MERGE-ARGS...: merge exits 2 naming NEEDLE, writes nothing
  local name=$1 needle=$2; shift 2
  local out rc
  out=$("$AIRFACTORY" merge "$@" -o "$S/refused" --key "$S/bundle.key" 2>&1); rc=$?
  check_eq "$name: refused (exit 2)" "$rc" 2
  check_contains "$name: the message names it" "$out" "$needle"
  check_eq "$name: one line" "$(echo "$out" | wc -l)" 1
  check_eq "$name: no bundle, no temporary directory left" "$(ls -d "$S"/refused* 2>/dev/null)" ""
}
refused "missing shard 2/4" "shard 2/4 missing" "$P/shard-0-of-4" "$P/shard-1-of-4" "$P/shard-3-of-4"
refused "duplicated shard 1/4" "part $P/shard-1-of-4: shard 1/4 again" "$P/shard-0-of-4" "$P/shard-1-of-4" \
  "$P/shard-2-of-4" "$P/shard-1-of-4" "$P/shard-3-of-4"
refused "shards of different counts" "part $S/p2/part1: shard 1/2, but part $P/shard-0-of-4 is of 4 shards" \
  "$P/shard-0-of-4" "$S/p2/part1" "$P/shard-2-of-4" "$P/shard-3-of-4"
refused "a whole bundle" "part $S/single: no meta shard" "$S/single"

# a shard of another manifest (one more line: another digest; everything reused from the part)
manifest "$S/other.yaml" "# another manifest"
check "build shard 2/4 of another manifest" "$AIRFACTORY" build "$S/other.yaml" --shard 2/4 -o "$S/other2" \
  --base "$P/shard-2-of-4" --store "$S/store" -j 2
refused "a shard of another manifest" "part $S/other2: built from manifest sha256:" \
  "$P/shard-0-of-4" "$P/shard-1-of-4" "$S/other2" "$P/shard-3-of-4"
check "build shard 2/4 with another SOURCE_DATE_EPOCH" env SOURCE_DATE_EPOCH=1700000001 \
  "$AIRFACTORY" build "$S/manifest.yaml" --shard 2/4 -o "$S/later2" --base "$P/shard-2-of-4" --store "$S/store" -j 2
refused "a shard with another SOURCE_DATE_EPOCH" "part $S/later2: created 1700000001" \
  "$P/shard-0-of-4" "$P/shard-1-of-4" "$S/later2" "$P/shard-3-of-4"
check "build shard 3/4 signed with another key" "$AIRFACTORY" build "$S/manifest.yaml" --shard 3/4 \
  -o "$S/otherkey3" --key "$S/other.key" --store "$S/store" -j 2
refused "a shard signed with another key" "part $S/otherkey3: signed with key sha256:" \
  "$P/shard-0-of-4" "$P/shard-1-of-4" "$P/shard-2-of-4" "$S/otherkey3"

# tampered: index.db (the signature no longer holds) and a blob (its hash no longer matches)
cp -a "$P/shard-1-of-4" "$S/tampered-index"
chmod u+w "$S/tampered-index/index.db"
sqlite3 "$S/tampered-index/index.db" "UPDATE meta SET value = 'evil' WHERE key = 'builder'"
refused "a shard whose index.db was changed" "part $S/tampered-index:" \
  "$P/shard-0-of-4" "$S/tampered-index" "$P/shard-2-of-4" "$P/shard-3-of-4"
cp -a "$P/shard-1-of-4" "$S/tampered-blob"
for digest in $(sqlite3 "$S/tampered-blob/index.db" "SELECT substr(digest, 8) FROM assets"); do
  f=$S/tampered-blob/blobs/sha256/$digest
  chmod u+w "$f"; printf 'X' | dd of="$f" bs=1 seek=64 conv=notrunc 2>/dev/null
done
refused "a shard with a changed blob" "part $S/tampered-blob: $S/tampered-blob/blobs/sha256/" \
  "$P/shard-0-of-4" "$S/tampered-blob" "$P/shard-2-of-4" "$P/shard-3-of-4"

# a refused merge onto an existing bundle leaves it as it was
out=$("$AIRFACTORY" merge "$P/shard-0-of-4" "$P/shard-1-of-4" -o "$S/merged2" --key "$S/bundle.key" 2>&1)
check_contains "a refused merge onto an existing bundle says so" "$out" "shards 2/4, 3/4 missing"
check "... and leaves it as it was" diff -r "$S/single" "$S/merged2"

check_contains "merge --help names -o, --key and --allow-downgrade" "$("$AIRFACTORY" merge --help)" "--allow-downgrade"
out=$("$AIRFACTORY" merge "$P/shard-0-of-4" 2>&1); rc=$?
check_eq "merge without -o and --key: usage (exit 2)" "$rc" 2
