# serve-lib.bash — shared by the serve_*.sh suites (not a suite itself: run.sh runs *.sh only).
# Source after tests/lib.sh. Builds the test bundle once per suite and starts/stops servers on
# random free loopback ports; everything started here is stopped by serve_cleanup (EXIT trap).

SERVE_PIDS=()
SERVE_EXTRA_PIDS=()

serve_cleanup() {
  local p
  for p in "${SERVE_EXTRA_PIDS[@]}" "${SERVE_PIDS[@]}"; do
    kill "$p" 2>/dev/null
  done
  for p in "${SERVE_EXTRA_PIDS[@]}" "${SERVE_PIDS[@]}"; do
    wait "$p" 2>/dev/null
  done
  [ -n "${SCR:-}" ] && rm -rf "$SCR"
}

# serve_setup: scratch dir $SCR, test bundle in $SCR/b (facts sourced), EXIT trap.
serve_setup() {
  SCR=$(mktemp -d "${TMPDIR:-/tmp}/airfactory-serve-test.XXXXXX")
  trap serve_cleanup EXIT
  if ! python3 "$ROOT/tests/integration/serve-make-bundle" "$SCR/b" "$@" >"$SCR/make-bundle.log" 2>&1; then
    fail "make test bundle" "$(tail -5 "$SCR/make-bundle.log")"
    exit 1
  fi
  # shellcheck disable=SC1091
  . "$SCR/b/facts.env"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_serve NAME ARGS... : starts airfactory-serve on a free port with ARGS; sets PORT, URL,
# SERVE_PID, SERVE_LOG. Returns non-zero (and prints the log) when it does not come up.
start_serve() {
  local name=$1; shift
  PORT=$(free_port)
  URL=http://127.0.0.1:$PORT
  SERVE_LOG=$SCR/serve-$name.log
  "$AIRFACTORY_SERVE" "$@" --listen "127.0.0.1:$PORT" >"$SERVE_LOG.out" 2>"$SERVE_LOG" &
  SERVE_PID=$!
  SERVE_PIDS+=("$SERVE_PID")
  local i
  for i in $(seq 1 100); do
    if curl -s -o /dev/null --max-time 1 ${SERVE_CURL_OPTS:-} "${SERVE_PROBE_URL:-$URL}/healthz"; then
      return 0
    fi
    kill -0 "$SERVE_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "server $name did not start:"; tail -20 "$SERVE_LOG"
  return 1
}

# stop_serve: SIGTERM and wait; the exit status goes to STOP_RC (not a subshell: wait needs
# the server to be our child).
stop_serve() {
  kill -TERM "$SERVE_PID" 2>/dev/null
  STOP_RC=0
  wait "$SERVE_PID" || STOP_RC=$?
}

# header NAME FILE: value of a response header in a `curl -D` dump (case-insensitive, CR removed)
header() {
  grep -i "^$1:" "$2" | head -1 | sed 's/^[^:]*: *//' | tr -d '\r'
}

# containerd_config DIR: the config.toml of a private containerd that keeps everything under DIR
# (root, state, its gRPC and ttrpc unix sockets) and runs no CRI, no snapshotter needing a kernel
# feature, no tracing and no debug or metrics listener. containerd_start and
# bench/registry_mirror.sh (which sources this file for it) run containerd with it.
containerd_config() {
  cat <<EOF
version = 2
root = "$1/root"
state = "$1/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$1/containerd.sock"
[ttrpc]
  address = "$1/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
EOF
}

# containerd_start: a private containerd (containerd_config, under $SCR/ctrd) for `ctr` pulls;
# sets CTR (the ctr command line, namespace airfactory). Returns non-zero when containerd/ctr are
# missing or the socket does not appear. Stopped with the other extra processes.
containerd_start() {
  command -v containerd >/dev/null && command -v ctr >/dev/null || return 1
  mkdir -p "$SCR/ctrd"
  containerd_config "$SCR/ctrd" >"$SCR/ctrd/config.toml"
  timeout 300 containerd --config "$SCR/ctrd/config.toml" >"$SCR/ctrd/log" 2>&1 &
  SERVE_EXTRA_PIDS+=($!)
  local i
  for i in $(seq 1 50); do [ -S "$SCR/ctrd/containerd.sock" ] && break; sleep 0.1; done
  [ -S "$SCR/ctrd/containerd.sock" ] || return 1
  CTR="ctr -a $SCR/ctrd/containerd.sock -n airfactory"
}

# distribution_start [NAME [HTTP_YAML [TOP_YAML]]]: CNCF distribution (Debian docker-registry) on a
# free loopback port with filesystem storage under $SCR/registry-data (deletes disabled; every
# instance shares it, so images pushed to one are served by all); sets DP (its port) and DIST (its
# base URL). HTTP_YAML adds lines under `http:` (a `tls:` block makes DIST https://), TOP_YAML
# top-level sections (`auth:`). NAME names its config and log ($SCR/NAME.yml, .log; default
# registry). Returns non-zero when docker-registry is missing or /v2/ does not answer within 10 s.
# Stopped with the other extra processes.
distribution_start() {
  command -v docker-registry >/dev/null || return 1
  local name=${1:-registry} http_extra=${2:-} top_extra=${3:-} scheme=http
  case $http_extra in *tls:*) scheme=https ;; esac
  DP=$(free_port)
  mkdir -p "$SCR/registry-data"
  cat >"$SCR/$name.yml" <<EOF2
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $SCR/registry-data
  delete:
    enabled: false
http:
  addr: 127.0.0.1:$DP
$http_extra
$top_extra
EOF2
  docker-registry serve "$SCR/$name.yml" >"$SCR/$name.log" 2>&1 &
  SERVE_EXTRA_PIDS+=($!)
  DIST=$scheme://127.0.0.1:$DP
  local i
  # any HTTP answer means it is up (an auth-protected one says 401)
  for i in $(seq 1 100); do
    [ "$(curl -sk -o /dev/null -w '%{http_code}' "$DIST/v2/")" != 000 ] && return 0
    sleep 0.1
  done
  return 1
}
