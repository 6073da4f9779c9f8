#!/usr/bin/env bash
# serve_browser — the web wizard in Debian's headless Chromium, driven by serve_browser.cjs
# (puppeteer-core; axe-core for accessibility), both installed into build/node-ui by this script:
# walks to the final page of every schematic at 390 px and 1280 px, clicks every link, checks asset
# digests, axe-core (no serious violation), keyboard navigation, screenshots under build/screenshots.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/serve-lib.bash"
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || { skip "serve_browser" "chromium not installed (scripts/install-deps.sh)"; exit 0; }
command -v npm >/dev/null || { skip "serve_browser" "npm not installed (scripts/install-deps.sh)"; exit 0; }
NODE_DIR=$ROOT/build/node-ui
if [ ! -f "$NODE_DIR/node_modules/puppeteer-core/package.json" ] || [ ! -f "$NODE_DIR/node_modules/axe-core/axe.min.js" ]; then
  mkdir -p "$NODE_DIR"
  # pinned; puppeteer-core downloads no browser (Debian's chromium is used)
  timeout 300 npm install --prefix "$NODE_DIR" --no-audit --no-fund --save-exact --loglevel=error \
    puppeteer-core@23.11.1 axe-core@4.10.2 >"$NODE_DIR/npm.log" 2>&1
fi
[ -f "$NODE_DIR/node_modules/puppeteer-core/package.json" ] ||
  { skip "serve_browser" "npm install puppeteer-core axe-core failed: $(tail -2 "$NODE_DIR/npm.log" | tr '\n' ' ')"; exit 0; }
serve_setup
start_serve browser "$BUNDLE" --key "$PUB" || { fail "server starts"; exit 1; }
OUT=$ROOT/build/screenshots
rm -rf "$OUT"; mkdir -p "$OUT"
NODE_PATH=$NODE_DIR/node_modules timeout 300 node "$ROOT/tests/integration/serve_browser.cjs" "$URL" "$CHROMIUM" "$OUT" >"$SCR/browser.log" 2>&1
rc=$?
cat "$SCR/browser.log"
check_eq "the browser run exits 0" "$rc" 0
check "screenshots at both widths" test -s "$OUT/home-390.png" -a -s "$OUT/home-1280.png"
