#!/usr/bin/env bash
# serve_api — airfactory-serve's Image Factory routes with curl: /image (HEAD, Range, 304,
# aliases, errors), /pxe scripts, /schematics, /versions, catalogs, keys, page, health, metrics,
# CORS, keep-alive pipelining and the access log. Bodies and headers are compared byte for byte
# with what Image Factory sends (shared/reference/image-factory-spec.md §1–§3).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/serve-lib.bash"
serve_setup
cd "$SCR" || exit 1

start_serve api "$BUNDLE" --key "$PUB" || { fail "server starts" "see above"; exit 1; }
pass "server starts with a valid signature"
S=$SCHEMATIC V=v1.11.3
sha() { sha256sum | cut -d' ' -f1; }

# ---- health ----
check_eq "healthz 200 empty" "$(curl -s -w '%{http_code}:%{size_download}' -o /dev/null "$URL/healthz")" "200:0"

# ---- versions and catalogs ----
curl -s -D h -o body "$URL/versions"
check_eq "versions body (semver order, Go JSON)" "$(cat body; echo .)" '["v1.9.5","v1.11.3","v1.12.0-beta.1"]
.'
check_eq "versions content type" "$(header Content-Type h)" "text/plain; charset=utf-8"
check_eq "versions?broken=true" "$(curl -s "$URL/versions?broken=true")" "null"
check_eq "extensions catalog (field order, HTML escaping)" "$(curl -s "$URL/version/v1.11.3/extensions/official")" \
  '[{"name":"siderolabs/amd-ucode","ref":"ghcr.io/siderolabs/amd-ucode:20240115","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","author":"Sidero Labs","description":"This system extension provides AMD microcode binaries."},{"name":"siderolabs/gvisor","ref":"ghcr.io/siderolabs/gvisor:20231214.0-v1.11.3","digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","author":"Sidero Labs","description":"\u003cgVisor\u003e \u0026 runsc"}]'
check_eq "overlays catalog, version without v" "$(curl -s "$URL/version/1.11.3/overlays/official")" \
  '[{"name":"rpi_generic","image":"siderolabs/sbc-raspberrypi","ref":"ghcr.io/siderolabs/sbc-raspberrypi:v0.1.0","digest":"sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"}]'
check_eq "/v1/extensions?talos_version= (runbooks' listing): the catalog" "$(curl -s "$URL/v1/extensions?talos_version=v1.11.3" | jq -r '.[].name' | tr '\n' ' ')" \
  "siderolabs/amd-ucode siderolabs/gvisor "
check_eq "/v1/overlays?talos_version=1.11.3" "$(curl -s "$URL/v1/overlays?talos_version=1.11.3" | jq -r '.[].name')" rpi_generic
check_eq "/v1/extensions of a version with none: [] (not null: jq .[] must not fail)" \
  "$(curl -s "$URL/v1/extensions?talos_version=v1.9.5")" "[]"
check_eq "/v1/extensions of an unknown version: 404" "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/extensions?talos_version=v1.10.0")" 404
check_contains "/v1/extensions without talos_version: 400 saying so" "$(curl -s -w '|%{http_code}' "$URL/v1/extensions")" "missing talos_version"
check_eq "overlays before 1.7 are []" "$(curl -s "$URL/version/v1.6.0/overlays/official")" "[]"
check_eq "catalog of a version with no entries is null" "$(curl -s "$URL/version/v1.9.5/extensions/official")" "null"
check_eq "catalog of unknown version: 404 text" \
  "$(curl -s -w '|%{http_code}' "$URL/version/v1.10.0/extensions/official")" $'version 1.10.0 is not available\n|404'
check_eq "catalog of malformed version: 500" "$(curl -s -w '|%{http_code}' "$URL/version/v1.5/extensions/official")" \
  $'internal server error\n|500'

# ---- schematics ----
curl -s -D h -o body -X POST -H 'Content-Type: application/yaml' --data-binary $'customization: {}\n' "$URL/schematics"
check_eq "POST /schematics 201 body" "$(cat body)" '{"id":"376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba","schematic":"customization: {}\n"}'
check_eq "POST /schematics status" "$(head -1 h | tr -d '\r')" "HTTP/1.1 201 Created"
check_eq "POST /schematics content type" "$(header Content-Type h)" "application/json"
check_eq "POST JSON: same ID (canonical re-marshal)" "$(curl -s -X POST --data-binary '{"customization":{}}' "$URL/schematics" | cut -c1-19)" '{"id":"376567988ad3'
check_eq "POST other spelling of schematic 2 maps to its ID" \
  "$(curl -s -X POST --data-binary $'customization:\n  extraKernelArgs: [ console=ttyS0 ]\n' "$URL/schematics" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')" "$SCHEMATIC2"
out=$(curl -s -w '|%{http_code}' -X POST --data-binary 'something: 1' "$URL/schematics")
check_contains "POST unknown field: 400" "$out" "|400"
check_contains "POST unknown field: says which" "$out" "something"
check_contains "POST owner (Enterprise only): 400" "$(curl -s -w '|%{http_code}' -X POST --data-binary 'owner: me' "$URL/schematics")" "|400"
check_eq "POST without final newline" "$(curl -s -X POST --data-binary 'customization: {}' "$URL/schematics" | cut -c1-19)" '{"id":"376567988ad3'
out=$(curl -s -w '|%{http_code}' -X POST --data-binary $'customization:\n    extraKernelArgs:\n        - quiet\n' "$URL/schematics")
check_contains "POST of a schematic not in the bundle: 201 as Image Factory (serve_requests.sh: the header)" "$out" "|201"
check_contains "POST of a schematic not in the bundle: its ID" "$out" "{\"id\":\"$(printf 'customization:\n    extraKernelArgs:\n        - quiet\n' | sha)\""
check_eq "POST empty body: 400" "$(curl -s -w '|%{http_code}' -X POST --data-binary '' "$URL/schematics")" $'EOF\n|400'
curl -s -D h -o body "$URL/schematics/$SCHEMATIC2"
check_eq "GET /schematics/ID yaml" "$(cat body)" $'customization:\n    extraKernelArgs:\n        - console=ttyS0'
check_eq "GET /schematics/ID content type" "$(header Content-Type h)" "application/yaml"
check_eq "GET unknown schematic" "$(curl -s -w '|%{http_code}' "$URL/schematics/abc")" $'schematic not found\n|404'

# ---- /image ----
curl -s -D h -o kernel "$URL/image/$S/$V/kernel-amd64"
check_eq "kernel bytes match the blob digest" "sha256:$(sha <kernel)" "$KERNEL_DIGEST"
check_eq "kernel content type" "$(header Content-Type h)" "application/octet-stream"
check_eq "kernel content disposition" "$(header Content-Disposition h)" 'attachment; filename="kernel-amd64"'
check_eq "kernel etag = digest" "$(header ETag h)" "\"$KERNEL_DIGEST\""
check_eq "kernel content length" "$(header Content-Length h)" "$(stat -c %s kernel)"
curl -s -D h -o iso "$URL/image/$S/1.11.3/metal-x86_64.iso"
check_eq "iso via x86_64 alias and version without v" "sha256:$(sha <iso)" "$ISO_DIGEST"
check_eq "iso content type" "$(header Content-Type h)" "application/x-iso9660-image"
check_eq "alias keeps the requested file name" "$(header Content-Disposition h)" 'attachment; filename="metal-x86_64.iso"'
check_eq "?filename= override" "$(curl -s -D - -o /dev/null "$URL/image/$S/$V/metal-amd64.iso?filename=my%20talos.iso" | header Content-Disposition /dev/stdin)" 'attachment; filename="my talos.iso"'
check_eq "uki content type" "$(curl -s -D - -o /dev/null "$URL/image/$S/$V/metal-amd64-secureboot-uki.efi" | header Content-Type /dev/stdin)" "application/efi"
check_eq "initramfs content type" "$(curl -s -D - -o /dev/null "$URL/image/$S/$V/initramfs-amd64.xz" | header Content-Type /dev/stdin)" "application/x-xz"
curl -s -I -o /dev/null -D h "$URL/image/$S/$V/metal-amd64.iso"
check_eq "HEAD content length" "$(header Content-Length h)" "1000003"
check_eq "HEAD status" "$(head -1 h | tr -d '\r')" "HTTP/1.1 200 OK"
curl -s -D h -o part -r 100-199 "$URL/image/$S/$V/metal-amd64.iso"
check_eq "Range: 206" "$(head -1 h | tr -d '\r')" "HTTP/1.1 206 Partial Content"
check_eq "Range: Content-Range" "$(header Content-Range h)" "bytes 100-199/1000003"
check_eq "Range: the right bytes" "$(sha <part)" "$(dd if=iso bs=1 skip=100 count=100 2>/dev/null | sha)"
check_eq "suffix range" "$(curl -s -r -7 "$URL/image/$S/$V/metal-amd64.iso" | sha)" "$(tail -c 7 iso | sha)"
curl -s -D h -o /dev/null -r 2000000- "$URL/image/$S/$V/metal-amd64.iso"
check_eq "unsatisfiable range: 416" "$(head -1 h | cut -d' ' -f2)" "416"
check_eq "416 Content-Range" "$(header Content-Range h)" "bytes */1000003"
# RFC 9110 §14.1.2: a last position past the end is clamped, however large; an unparsable range
# is ignored; a first position past the end (even beyond 64 bits) is unsatisfiable
rng() { curl -s -D h -o part -H "Range: $1" "$URL/image/$S/$V/metal-amd64.iso"; echo "$(head -1 h | cut -d' ' -f2) $(header Content-Range h) $(wc -c <part)"; }
check_eq "Range 0-18446744073709551615: the whole file as 206" "$(rng bytes=0-18446744073709551615)" "206 bytes 0-1000002/1000003 1000003"
check_eq "Range last position beyond 64 bits: clamped" "$(rng bytes=999990-99999999999999999999999)" "206 bytes 999990-1000002/1000003 13"
check_eq "Range suffix beyond 64 bits: the whole file" "$(rng bytes=-99999999999999999999999)" "206 bytes 0-1000002/1000003 1000003"
check_eq "Range first position beyond 64 bits: 416" "$(rng bytes=99999999999999999999999-)" "416 bytes */1000003 0"
check_eq "Range unit in capitals" "$(rng BYTES=0-9)" "206 bytes 0-9/1000003 10"
check_eq "Range unparsable: ignored (200)" "$(rng bytes=5-2)" "200  1000003"
check_eq "Range on HEAD: ignored" "$(curl -s -I -H 'Range: bytes=0-9' "$URL/image/$S/$V/metal-amd64.iso" | head -1 | cut -d' ' -f2)" "200"
check_eq "If-None-Match: 304" "$(curl -s -o /dev/null -w '%{http_code}:%{size_download}' -H "If-None-Match: \"$ISO_DIGEST\"" "$URL/image/$S/$V/metal-amd64.iso")" "304:0"
check_eq "If-None-Match other etag: 200" "$(curl -s -o /dev/null -w '%{http_code}' -H 'If-None-Match: "sha256:00"' "$URL/image/$S/$V/metal-amd64.iso")" "200"
curl -s -D h -o body "$URL/image/aaaaaaaaaaaa/$V/metal-amd64.iso"
check_eq "unknown schematic: Image Factory's 404 body" "$(cat body; echo .)" 'schematic ID "aaaaaaaaaaaa" not found
.'
check_eq "error content type" "$(header Content-Type h)" "text/plain; charset=utf-8"
check_eq "error nosniff" "$(header X-Content-Type-Options h)" "nosniff"
check_eq "bad path: Image Factory's 400 body" "$(curl -s -w '|%{http_code}' "$URL/image/$S/$V/metal-amd64.ssd")" \
  $'error parsing profile from path: invalid profile path: "metal-amd64.ssd"\n|400'
check_eq "bad arch: 400" "$(curl -s -w '|%{http_code}' "$URL/image/$S/$V/kernel-foo")" \
  $'error parsing profile from path: invalid architecture: "foo"\n|400'
out=$(curl -s -w '|%{http_code}' "$URL/image/$S/$V/metal-arm64.iso")
check_contains "missing asset: 404" "$out" "|404"
check_contains "missing asset names the schematic by its manifest name" "$out" "of schematic vanilla ($S) for Talos"
check_contains "missing asset lists what the bundle has" "$out" "This bundle has: cmdline-metal-amd64, cmdline-metal-amd64-secureboot, initramfs-amd64.xz, kernel-amd64"
out=$(curl -s -w '|%{http_code}' "$URL/image/$S/v1.10.0/kernel-amd64")
check_contains "missing version: 404 naming the versions it has" "$out" "it has versions: v1.11.3, v1.12.0-beta.1"
check_eq "malformed version: 500 as Image Factory" "$(curl -s -w '|%{http_code}' "$URL/image/$S/v1.5/kernel-amd64")" $'internal server error\n|500'
check_eq "checksum endpoint: 402" "$(curl -s -o /dev/null -w '%{http_code}' "$URL/image/$S/$V/kernel-amd64.sha256")" "402"
check_eq "POST /image: 405" "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/image/$S/$V/kernel-amd64")" "405"

# ---- /pxe ----
expected=$(printf '#!ipxe\n\nimgfree\nkernel %s/image/%s/v1.11.3/kernel-amd64 %s\ninitrd %s/image/%s/v1.11.3/initramfs-amd64.xz\nboot\n.' \
  "$URL" "$S" "$CMDLINE_TEXT" "$URL" "$S")
curl -s -D h -o body "$URL/pxe/$S/$V/metal-amd64"
check_eq "pxe script, exact bytes" "$(cat body; echo .)" "$expected"
check_eq "pxe content type" "$(header Content-Type h)" "text/plain; charset=utf-8"
check_eq "pxe via \${buildarch}=x86_64 and version without v" "$(curl -s "$URL/pxe/$S/1.11.3/metal-x86_64"; echo .)" "$expected"
check_eq "pxe secureboot (UKI) script" "$(curl -s "$URL/pxe/$S/$V/metal-amd64-secureboot"; echo .)" \
  "$(printf '#!ipxe\n\nimgfree\nkernel %s/image/%s/v1.11.3/metal-amd64-secureboot-uki.efi %s lockdown=confidentiality\nboot\n.' "$URL" "$S" "$CMDLINE_TEXT")"
check_contains "pxe URLs follow Host and X-Forwarded-Proto" \
  "$(curl -s -H 'Host: factory.example' -H 'X-Forwarded-Proto: https' "$URL/pxe/$S/$V/metal-amd64")" \
  "kernel https://factory.example/image/$S/v1.11.3/kernel-amd64 "
check_contains "pxe of another schematic uses its own cmdline" "$(curl -s "$URL/pxe/$SCHEMATIC2/$V/metal-amd64")" "pti=on console=ttyS0"
out=$(curl -s -w '|%{http_code}' "$URL/pxe/$SCHEMATIC2/$V/metal-amd64-secureboot")
check_contains "pxe without the assets: 404" "$out" "is not in this bundle"
check_contains "pxe 404 names the schematic (its name verbatim: text/plain)" "$out" "of schematic $NAME2 ($SCHEMATIC2) for Talos"
check_eq "pxe bad platform-arch: 400" "$(curl -s -o /dev/null -w '%{http_code}' "$URL/pxe/$S/$V/metal")" "400"
check_eq "pxe unknown schematic: 404" "$(curl -s -w '|%{http_code}' "$URL/pxe/bbbb/$V/metal-amd64")" $'schematic ID "bbbb" not found\n|404'

# ---- keys, page, fixed responses ----
curl -s -D h -o body "$URL/oci/cosign/signing-key.pub"
check_eq "cosign key is the bundle's" "$(cat body)" "$(cat "$PUB")"
check_eq "cosign key content type" "$(header Content-Type h)" "application/x-pem-file"
check_eq "no secureboot cert: 500 (as Image Factory with SecureBoot disabled)" "$(curl -s -o /dev/null -w '%{http_code}' "$URL/secureboot/signing-cert.pem")" "500"
curl -s -D h -o body "$URL/"
check_eq "page content type" "$(header Content-Type h)" "text/html; charset=utf-8"
check_contains "page links each schematic x version (serve_ui.sh tests the pages)" "$(cat body)" "/ui/schematic/$SCHEMATIC/v1.11.3"
check_eq "unknown path: 404 page not found" "$(curl -s -w '|%{http_code}' "$URL/nope")" $'404 page not found\n|404'
curl -s -D h -o /dev/null -X DELETE "$URL/versions"
check_eq "wrong method: 405" "$(head -1 h | cut -d' ' -f2)" "405"
check_eq "wrong method: Allow (HEAD wherever GET)" "$(header Allow h)" "GET, HEAD, OPTIONS"
# HEAD wherever GET is served (RFC 9110 §9.3.2): same status and headers, no body
for p in /versions "/version/v1.11.3/extensions/official" "/version/1.11.3/overlays/official" "/schematics/$S" \
         /oci/cosign/signing-key.pub /llms.txt / /healthz /metrics "/pxe/$S/$V/metal-amd64" \
         "/image/$S/$V/kernel-amd64" "/talosctl/v1.11.3"; do
  curl -s -D get.h -o get.body "$URL$p"
  curl -s -I -o head.h "$URL$p"
  g="$(head -1 get.h | cut -d' ' -f2) $(header Content-Type get.h) $(header Content-Length get.h)"
  h="$(head -1 head.h | cut -d' ' -f2) $(header Content-Type head.h) $(header Content-Length head.h)"
  [ "$p" = /metrics ] && g=${g% *} h=${h% *} # the counters move between the two requests
  check_eq "HEAD $p: as GET, no body" "$h" "$g"
done
check_eq "CORS: allow origin" "$(curl -s -D - -o /dev/null -H 'Origin: https://ui.example' "$URL/versions" | header Access-Control-Allow-Origin /dev/stdin)" "*"
check_eq "CORS preflight: 204" "$(curl -s -o /dev/null -w '%{http_code}' -X OPTIONS -H 'Origin: https://x' -H 'Access-Control-Request-Method: GET' "$URL/versions")" "204"
check_eq "X-Request-ID echoed" "$(curl -s -D - -o /dev/null -H 'X-Request-ID: abc-123' "$URL/healthz" | header X-Request-Id /dev/stdin)" "abc-123"

# ---- keep-alive and pipelining: three requests in one write, answers in order ----
out=$(python3 - "$PORT" "$S" <<'EOF'
import socket, sys
port, s = int(sys.argv[1]), sys.argv[2]
c = socket.create_connection(("127.0.0.1", port))
reqs = b"".join(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p.encode() for p in
                ["/versions", "/image/%s/v1.11.3/cmdline-metal-amd64" % s, "/healthz"])
c.sendall(reqs + b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
data = b""
while True:
    d = c.recv(65536)
    if not d:
        break
    data += d
print(data.count(b"HTTP/1.1 200 OK"), data.index(b"v1.9.5") < data.index(b"talos.platform"),
      data.rstrip().endswith(b"Connection: close"))
EOF
)
check_eq "pipelined requests answered in order" "$out" "4 True True"

# ---- metrics ----
m=$(curl -s "$URL/metrics")
check_contains "metrics: requests by route and status" "$m" 'airfactory_http_requests_total{route="image",status="200"}'
check_contains "metrics: 404s counted" "$m" 'airfactory_http_requests_total{route="image",status="404"}'
check_contains "metrics: bytes sent" "$m" 'airfactory_http_response_bytes_total{route="image"}'
check_contains "metrics: open connections" "$m" 'airfactory_http_open_connections 1'

stop_serve
check_eq "SIGTERM: clean exit" "$STOP_RC" "0"
check_contains "access log: one text line per request" "$(cat "$SERVE_LOG")" \
  "\"GET /image/$S/$V/kernel-amd64 HTTP/1.1\" 200 "

# ---- JSON access log ----
start_serve json "$BUNDLE" --insecure-no-verify --log-format json || fail "json server starts"
check_contains "insecure mode warns loudly" "$(cat "$SERVE_LOG")" "WARNING: --insecure-no-verify"
curl -s -o /dev/null -A 'probe/1' "$URL/image/$S/$V/kernel-amd64"
stop_serve
out=$(grep '^{' "$SERVE_LOG" | python3 -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    if e["path"].endswith("kernel-amd64"):
        print(e["method"], e["status"], e["bytes"] > 200000, e["user_agent"], e["route"], len(e["request_id"]))')
check_eq "access log: JSON lines" "$out" "GET 200 True probe/1 image 36"
