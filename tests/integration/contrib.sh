#!/usr/bin/env bash
# contrib/: the systemd units pass `systemd-analyze verify` (with ExecStart pointing at this
# build's binaries), the server unit is hardened and reloads with SIGHUP, and the Kubernetes
# example parses as YAML with the fields operations.md relies on.
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

out=$(python3 - "$C/kubernetes/airfactory.yaml" <<'PY'
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
check("unpack /srv/airfactory/incoming/nightly.tar --onto /srv/airfactory/bundle --key /etc/airfactory/bundle.pub" in script, "cronjob: unpack --onto")
claims = {v["persistentVolumeClaim"]["claimName"] for v in dep["volumes"] + job["volumes"] if "persistentVolumeClaim" in v}
check(claims == {kinds["PersistentVolumeClaim"]["metadata"]["name"]}, "both use the one volume claim")
PY
)
while read -r verdict what; do
  if [ "$verdict" = ok ]; then pass "kubernetes: $what"; else fail "kubernetes: $what"; fi
done <<<"$out"
