#!/usr/bin/env bash
# serve_tls — HTTPS in the same event loop: a throwaway CA and server certificate from openssl,
# curl with the CA (API, asset download + Range, PXE URLs become https), openssl s_client,
# skopeo and containerd over TLS, and plain HTTP sent to the TLS port (closed, server lives on).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/serve-lib.bash"
serve_setup
cd "$SCR" || exit 1
sha() { sha256sum | cut -d' ' -f1; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=airfactory-test-ca \
  -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 -keyout tls.key -out tls.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >ext.cnf
openssl x509 -req -in tls.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext.cnf -out tls.pem 2>/dev/null
check "test certificate created" test -s tls.pem

PORT=$(free_port); URL=https://127.0.0.1:$PORT; SERVE_LOG=$SCR/serve-tls.log
"$AIRFACTORY_SERVE" "$BUNDLE" --key "$PUB" --listen "127.0.0.1:$PORT" --tls-cert tls.pem --tls-key tls.key 2>"$SERVE_LOG" &
SERVE_PID=$!; SERVE_PIDS+=("$SERVE_PID")
for _ in $(seq 1 100); do curl -s -o /dev/null --cacert ca.pem "$URL/healthz" && break; sleep 0.1; done

check_eq "https: versions" "$(curl -s --cacert ca.pem "$URL/versions")" '["v1.9.5","v1.11.3","v1.12.0-beta.1"]'
curl -s --cacert ca.pem -o iso "$URL/image/$SCHEMATIC/$VERSION/metal-amd64.iso"
check_eq "https: 1 MB asset intact (TLS chunked file body)" "sha256:$(sha <iso)" "$ISO_DIGEST"
check_eq "https: Range" "$(curl -s --cacert ca.pem -r 999990- "$URL/image/$SCHEMATIC/$VERSION/metal-amd64.iso" | sha)" "$(tail -c 13 iso | sha)"
check_contains "https: PXE script links are https" "$(curl -s --cacert ca.pem "$URL/pxe/$SCHEMATIC/$VERSION/metal-amd64")" \
  "kernel https://127.0.0.1:$PORT/image/$SCHEMATIC/v1.11.3/kernel-amd64 "
check_eq "https: keep-alive reuses one TLS connection" \
  "$(curl -s --cacert ca.pem -o /dev/null -o /dev/null -w '%{num_connects}' "$URL/healthz" "$URL/healthz" | tr -d '\n')" "10"
check_contains "openssl s_client: TLS 1.3 handshake and a response" \
  "$(printf 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' | timeout 10 openssl s_client -quiet -CAfile ca.pem -connect "127.0.0.1:$PORT" 2>&1)" "HTTP/1.1 200 OK"
check_fails "TLS 1.1 refused" timeout 10 openssl s_client -tls1_1 -CAfile ca.pem -connect "127.0.0.1:$PORT" </dev/null
check_fails "plain HTTP to the TLS port gets no HTTP answer" sh -c "curl -s --max-time 5 http://127.0.0.1:$PORT/healthz | grep -q ."
check_eq "server alive after plain HTTP" "$(curl -s -o /dev/null -w '%{http_code}' --cacert ca.pem "$URL/healthz")" "200"

if command -v skopeo >/dev/null; then
  check_eq "skopeo over TLS: index digest" \
    "$(skopeo inspect --tls-verify=false "docker://127.0.0.1:$PORT/$REPO:v1.11.3" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Digest"])')" "$INDEX_DIGEST"
  check "skopeo copy over TLS" skopeo copy -q --src-tls-verify=false "docker://127.0.0.1:$PORT/$REPO:v1.11.3" oci:"$SCR/oci:v1"
else
  skip "skopeo over TLS" "skopeo not installed"
fi

stop_serve
check_eq "TLS server: clean exit" "$STOP_RC" "0"
check_fails "cert without key: usage error" "$AIRFACTORY_SERVE" "$BUNDLE" --key "$PUB" --listen 127.0.0.1:0 --tls-cert tls.pem
check_fails "key not matching cert: refused" "$AIRFACTORY_SERVE" "$BUNDLE" --key "$PUB" --listen 127.0.0.1:0 --tls-cert tls.pem --tls-key ca.key
