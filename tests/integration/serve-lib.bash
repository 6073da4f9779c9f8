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
