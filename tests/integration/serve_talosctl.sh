#!/usr/bin/env bash
# serve_talosctl — /talosctl/{version}[/{name}] and /llms.txt on the generated test bundle, with
# curl: Image Factory's status codes and bodies (version checks, the 1.11.0-alpha.3 cut-off),
# URLs from Host / X-Forwarded-Proto, exact headers, Range/ETag on files, methods, and a bundle
# written before the talosctl table existed (served, with no talosctl files).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/serve-lib.bash"
serve_setup
cd "$SCR" || exit 1
sha() { sha256sum | cut -d' ' -f1; }
status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
start_serve main "$BUNDLE" --key "$PUB" || { fail "server starts"; exit 1; }
T=$URL/talosctl

# ---- the list ----
check_eq "list: URLs from the request's address, sorted" "$(curl -s "$T/v1.11.3")" \
  "[\"$T/v1.11.3/talosctl-linux-amd64\",\"$T/v1.11.3/talosctl-windows-amd64.exe\"]"
check_eq "list: version without v" "$(curl -s "$T/1.11.3")" \
  "[\"$T/v1.11.3/talosctl-linux-amd64\",\"$T/v1.11.3/talosctl-windows-amd64.exe\"]"
check_eq "list: behind a proxy (Host, X-Forwarded-Proto)" \
  "$(curl -s -H 'Host: factory.example.org:8443' -H 'X-Forwarded-Proto: https' "$T/v1.11.3" | jq -r '.[0]')" \
  "https://factory.example.org:8443/talosctl/v1.11.3/talosctl-linux-amd64"
curl -s -D list.h -o list.body "$T/v1.11.3"
check_eq "list: Content-Type application/json" "$(header Content-Type list.h)" "application/json"
check_eq "list: json.Encoder's trailing newline" "$(tail -c 1 list.body | od -An -c | tr -d ' ')" '\n'
check_eq "list: Talos before 1.11.0-alpha.3 has none (rows or not)" "$(curl -s "$T/v1.9.5")" "[]"
check_eq "list: a version without talosctl files" "$(curl -s "$T/v1.12.0-beta.1")" "[]"
check_eq "list: unknown version 404" "$(status "$T/v1.2.3")" 404
check_eq "list: unknown version body" "$(curl -s "$T/v1.2.3")" "version 1.2.3 is not available"
check_eq "list: malformed version 500 (as Image Factory)" "$(status "$T/v1.x")" 500
check_eq "list: POST 405" "$(status -X POST "$T/v1.11.3")" 405
check_eq "list: HEAD 200 (HEAD wherever GET, RFC 9110)" "$(status -I "$T/v1.11.3")" 200

# ---- files ----
curl -s -D f.h -o f.bin "$T/v1.11.3/talosctl-linux-amd64"
check_eq "file: 200" "$(head -1 f.h | cut -d' ' -f2)" 200
check_eq "file: the blob's bytes" "sha256:$(sha <f.bin)" "$TALOSCTL_LINUX"
check_eq "file: Content-Length" "$(header Content-Length f.h)" "$(stat -c %s f.bin)"
check_eq "file: Content-Type without an extension" "$(header Content-Type f.h)" "application/octet-stream"
check_eq "file: Content-Disposition" "$(header Content-Disposition f.h)" 'attachment; filename="talosctl-linux-amd64"'
check_eq "file: ETag is the digest" "$(header ETag f.h)" "\"$TALOSCTL_LINUX\""
curl -s -I "$T/v1.11.3/talosctl-windows-amd64.exe" >exe.h
check_eq "HEAD .exe: 200" "$(head -1 exe.h | cut -d' ' -f2)" 200
check_eq "HEAD .exe: Content-Type from Go's system table" "$(header Content-Type exe.h)" "application/x-msdos-program"
check_eq "HEAD .exe: Content-Disposition" "$(header Content-Disposition exe.h)" \
  'attachment; filename="talosctl-windows-amd64.exe"'
check_eq "HEAD .exe: Content-Length is the blob's size" "$(header Content-Length exe.h)" \
  "$(stat -c %s "$BUNDLE/blobs/sha256/${TALOSCTL_EXE#sha256:}")"
check_eq "file: Range 206" "$(status -r 10-19 "$T/v1.11.3/talosctl-linux-amd64")" 206
check_eq "file: Range bytes" "$(curl -s -r 10-19 "$T/v1.11.3/talosctl-linux-amd64")" "$(head -c 20 f.bin | tail -c 10)"
check_eq "file: If-None-Match 304" "$(status -H "If-None-Match: \"$TALOSCTL_LINUX\"" "$T/v1.11.3/talosctl-linux-amd64")" 304
check_eq "file: unknown name 404" "$(status "$T/v1.11.3/talosctl-plan9-amd64")" 404
check_contains "file: unknown name lists what the bundle has" "$(curl -s "$T/v1.11.3/talosctl-plan9-amd64")" \
  "this bundle has: talosctl-linux-amd64, talosctl-windows-amd64.exe"
check_eq "file: before 1.11.0-alpha.3, not served even with a row" "$(curl -s "$T/v1.9.5/talosctl-linux-amd64")" \
  "version 1.9.5 is not available"
check_eq "file: unknown version" "$(curl -s "$T/v1.2.3/talosctl-linux-amd64")" "version 1.2.3 is not available"
check_contains "file: a version without files says how to add them" \
  "$(curl -s "$T/v1.12.0-beta.1/talosctl-linux-amd64")" "add a talosctl-all source"
check_eq "file: path with a slash 404" "$(status "$T/v1.11.3/a/b")" 404
check_eq "file: DELETE 405" "$(status -X DELETE "$T/v1.11.3/talosctl-linux-amd64")" 405

# ---- /llms.txt ----
curl -s -D llms.h -o llms.txt -H 'Host: pxe.example:8080' "$URL/llms.txt"
check_eq "llms.txt: 200" "$(head -1 llms.h | cut -d' ' -f2)" 200
check_eq "llms.txt: Content-Type" "$(header Content-Type llms.h)" "text/plain; charset=utf-8"
check_contains "llms.txt: rendered with the request's base URL" "$(cat llms.txt)" \
  "chain --replace --autofree http://pxe.example:8080/pxe/<id>/<version>/metal-\${buildarch}"
check_contains "llms.txt: registry host" "$(cat llms.txt)" "docker://pxe.example:8080/installer/<id>:<version>"
check_contains "llms.txt: the bundle's versions" "$(cat llms.txt)" "Talos versions in this bundle: v1.9.5, v1.11.3, v1.12.0-beta.1"
check_contains "llms.txt: documents /talosctl/" "$(cat llms.txt)" "GET /talosctl/<version>"
check "llms.txt: no unrendered placeholder" bash -c "! grep -q '{BASE}\|{HOST}\|{VERSIONS}' llms.txt"
check_eq "llms.txt: POST 405" "$(status -X POST "$URL/llms.txt")" 405
m=$(curl -s "$URL/metrics")
check_contains "metrics: talosctl route counted" "$m" 'airfactory_http_requests_total{route="talosctl",status="200"}'
stop_serve

# ---- a bundle written before the talosctl table: still served, no talosctl files ----
cp -r "$BUNDLE" old
python3 -c "import sqlite3; d=sqlite3.connect('old/index.db'); d.execute('DROP TABLE talosctl'); d.commit(); d.execute('VACUUM')"
openssl dgst -sha256 -sign "$KEY" old/index.db | base64 -w0 >old/index.db.sig
rm -f old/index.db.sig.der
start_serve old "$SCR/old" --key "$PUB" || fail "a bundle without the talosctl table is served"
check_eq "old bundle: list is empty" "$(curl -s "$URL/talosctl/v1.11.3")" "[]"
check_eq "old bundle: file 404" "$(status "$URL/talosctl/v1.11.3/talosctl-linux-amd64")" 404
check_eq "old bundle: assets still served" "$(status "$URL/image/$SCHEMATIC/$VERSION/kernel-amd64")" 200
stop_serve
check_eq "SIGTERM: clean exit" "$STOP_RC" "0"
