#!/usr/bin/env bash
# contrib/: the systemd units pass `systemd-analyze verify` (with ExecStart pointing at this
# build's binaries), the server unit is hardened and reloads with SIGHUP, and the Kubernetes
# examples parse as YAML with the fields operations.md and scale.md rely on (the sharded build's
# Indexed Job and merge Job; tests/integration/shard_merge.sh runs their commands).
source "$(dirname "$0")/../lib.sh"
S=$(scratch)
C=$ROOT/contrib

if command -v systemd-analyze >/dev/null; then
  mkdir -p "$S/units"
  for u in airfactory-serve.service airfactory-update.service airfactory-update.timer; do
    sed -e "s#/usr/local/bin/airfactory-serve#$(realpath "$AIRFACTORY_SERVE")#" \
        -e "s#/usr/local/bin/airfactory #$(realpath "$AIRFACTORY") #" "$C/systemd/$u" >"$S/units/$u"
  done
  for u in airfactory-serve.service airfactory-update.service airfactory-update.timer; do
    out=$(cd "$S/units" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$S/units/$u" 2>&1); rc=$?
    check_eq "systemd-analyze verify $u" "$rc${out:+: $out}" 0
  done
else
  skip "systemd-analyze verify" "systemd-analyze not installed (scripts/install-deps.sh)"
fi
unit=$(cat "$C/systemd/airfactory-serve.service")
for line in 'ExecReload=/bin/kill -HUP $MAINPID' DynamicUser=yes NoNewPrivileges=yes ProtectSystem=strict \
            'ReadOnlyPaths=/srv/airfactory' 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE' 'SystemCallFilter=@system-service'; do
  check_contains "serve unit: $line" "$unit" "$line"
done
check_contains "the serve unit's flags are airfactory-serve's" "$("$AIRFACTORY_SERVE" --help)" "--log-format"
check_contains "update unit: unpack --onto the served bundle" "$(cat "$C/systemd/airfactory-update.service")" \
  "unpack /srv/airfactory/incoming/nightly.tar --onto /srv/airfactory/bundle --key /etc/airfactory/bundle.pub"
check_contains "timer: nightly" "$(cat "$C/systemd/airfactory-update.timer")" "OnCalendar=*-*-* 03:00:00"

out=$(python3 - "$C/kubernetes/airfactory.yaml" "$C/kubernetes/airfactory-build.yaml" "$C/kubernetes/airfactory-merge.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kinds = {d["kind"]: d for d in docs}
def check(cond, what):
    print(("ok " if cond else "BAD ") + what)
check(sorted(kinds) == ["CronJob", "Deployment", "PersistentVolumeClaim", "Service"], "kinds: " + " ".join(sorted(kinds)))
dep = kinds["Deployment"]["spec"]["template"]["spec"]
c = dep["containers"][0]
check(c["args"][0] == "/usr/local/bin/airfactory-serve" and "--key=/etc/airfactory/bundle.pub" in c["args"], "serve args")
check(c["readinessProbe"]["httpGet"]["path"] == "/readyz" and c["livenessProbe"]["httpGet"]["path"] == "/healthz", "probes")
check(any(m["mountPath"] == "/srv/airfactory" and m.get("readOnly") for m in c["volumeMounts"]), "bundle mounted read-only")
check(c["securityContext"]["readOnlyRootFilesystem"] and not c["securityContext"]["allowPrivilegeEscalation"], "container hardened")
check(dep["securityContext"]["runAsNonRoot"], "runs as non-root")
port = c["ports"][0]
svc = kinds["Service"]["spec"]
check(svc["selector"] == kinds["Deployment"]["spec"]["selector"]["matchLabels"], "service selects the deployment")
check(svc["ports"][0]["targetPort"] == port["name"], "service targets the container port")
cron = kinds["CronJob"]["spec"]
job = cron["jobTemplate"]["spec"]["template"]["spec"]
check(cron["concurrencyPolicy"] == "Forbid" and cron["schedule"] == "0 3 * * *", "cronjob: nightly, one at a time")
script = " ".join(job["containers"][0]["args"])
uc = job["containers"][0]
check(uc.get("command", [""])[0] != "/bin/sh" or uc["image"] != c["image"],
      "cronjob: its shell runs in an image that has one (the serve image of `make image` has none)")
check("unpack /srv/airfactory/incoming/nightly.tar --onto /srv/airfactory/bundle --key /etc/airfactory/bundle.pub" in script, "cronjob: unpack --onto")
claims = {v["persistentVolumeClaim"]["claimName"] for v in dep["volumes"] + job["volumes"] if "persistentVolumeClaim" in v}
check(claims == {kinds["PersistentVolumeClaim"]["metadata"]["name"]}, "both use the one volume claim")
check(kinds["Deployment"]["spec"]["replicas"] > 1, "serve: several replicas behind the Service")
pvc = kinds["PersistentVolumeClaim"]
check(pvc["spec"]["accessModes"] == ["ReadWriteMany"], "the volume is ReadWriteMany (shard pods write at once)")

# the sharded build: an Indexed Job (one shard per pod) and the merge Job, on the same volume
build_docs = [d for d in yaml.safe_load_all(open(sys.argv[2])) if d]
merge_docs = [d for d in yaml.safe_load_all(open(sys.argv[3])) if d]
bk = {d["kind"]: d for d in build_docs}
check(sorted(bk) == ["ConfigMap", "Job"] and [d["kind"] for d in merge_docs] == ["Job"], "sharded build: kinds")
bj, mj = bk["Job"]["spec"], merge_docs[0]["spec"]
check(bj["completionMode"] == "Indexed", "build Job: Indexed")
bc, mc = bj["template"]["spec"]["containers"][0], mj["template"]["spec"]["containers"][0]
benv = {e["name"]: e for e in bc["env"]}
n = int(benv["SHARDS"]["value"])
check(bj["completions"] == bj["parallelism"] == n > 1, "build Job: completions = parallelism = SHARDS")
check(benv["SHARD"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.annotations['batch.kubernetes.io/job-completion-index']",
      "build Job: SHARD is the completion index (from 0)")
for what, spec in (("build", bj), ("merge", mj)):
    check(spec["template"]["spec"]["restartPolicy"] == "Never", what + " Job: restartPolicy Never")
    check(spec["template"]["spec"]["securityContext"]["runAsNonRoot"], what + " Job: runs as non-root")
bs, ms = bc["command"] + bc["args"], mc["command"] + mc["args"]
check(bs[:3] == ["/usr/local/bin/airfactory", "build", "/etc/airfactory-build/manifest.yaml"], "build Job: airfactory build of the ConfigMap's manifest, no shell")
check(bs[bs.index("--shard") + 1] == "$(SHARD)/$(SHARDS)", "build Job: --shard $(SHARD)/$(SHARDS)")
check(bs[bs.index("-o") + 1] == "/srv/airfactory/parts/shard-$(SHARD)-of-$(SHARDS)", "build Job: one part per shard on the volume")
check(ms[:2] == ["/usr/local/bin/airfactory", "merge"], "merge Job: airfactory merge, no shell")
check(ms[2:ms.index("-o")] == ["/srv/airfactory/parts/shard-%d-of-%d" % (k, n) for k in range(n)], "merge Job: merges parts 0..SHARDS-1")
check(ms[ms.index("-o") + 1] == "/srv/airfactory/bundle", "merge Job: into the bundle the Deployment serves")
check(any(m["mountPath"] == "/srv/airfactory" for m in dep["containers"][0]["volumeMounts"]), "serve reads /srv/airfactory")
for what, c in (("build", bs), ("merge", ms)):
    check(c[c.index("--key") + 1] == "/etc/airfactory-key/bundle.key", what + " Job: the signing key from the Secret")
for what, c in (("build", bc), ("merge", mc)):
    check(c["securityContext"]["readOnlyRootFilesystem"] and not c["securityContext"]["allowPrivilegeEscalation"], what + " container hardened")
vol = lambda spec: {v["name"]: v for v in spec["template"]["spec"]["volumes"]}
for what, spec in (("build", bj), ("merge", mj)):
    v = vol(spec)
    check(v["bundle"]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"], what + " Job: the serve volume claim")
    check(v["signing-key"]["secret"]["secretName"] == "airfactory-signing-key", what + " Job: key Secret")
check(vol(bj)["manifest"]["configMap"]["name"] == bk["ConfigMap"]["metadata"]["name"], "build Job: manifest ConfigMap")
check("emptyDir" in vol(bj)["store"], "build Job: a store per pod (emptyDir)")
m = yaml.safe_load(bk["ConfigMap"]["data"]["manifest.yaml"])
check(m["output"] == "/srv/airfactory/bundle" and m["signing_key"] == "/etc/airfactory-key/bundle.key", "ConfigMap manifest: output and key")
print("end")
PY
)
while read -r verdict what; do
  [ "$verdict" = end ] && continue
  if [ "$verdict" = ok ]; then pass "kubernetes: $what"; else fail "kubernetes: $what"; fi
done <<<"$out"
check_eq "kubernetes: every YAML check ran (the checker did not stop on an exception)" "$(echo "$out" | tail -1)" end
