#!/usr/bin/env bash
# serve_ui — the web wizard with curl and a small crawler (no browser): from / every link and every
# wizard form (each choice submitted as the GET a browser would send) is followed on the server;
# every page answers 200 text/html, every /image link answers the bytes whose digest the final
# page shows, nothing refers outside the server (no external scripts, fonts, styles), schematic
# names (the test bundle has a hostile one) are HTML-escaped everywhere, and choices the bundle
# lacks answer a 404 page that says how to get them.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/serve-lib.bash"
serve_setup
cd "$SCR" || exit 1
start_serve ui "$BUNDLE" --key "$PUB" || { fail "server starts" "see above"; exit 1; }
S=$SCHEMATIC

curl -s -D h -o home.html "$URL/"
check_eq "home: text/html" "$(header Content-Type h)" "text/html; charset=utf-8"
check_contains "home: the hardware step" "$(cat home.html)" '<legend>Hardware Type</legend>'
check_contains "home: lists vanilla x v1.11.3 with its final page" "$(cat home.html)" \
  "<strong>vanilla</strong> <code>$S</code></td><td><a href=\"/ui/schematic/$S/v1.11.3\">v1.11.3</a>"
check_contains "home: lists vanilla x v1.12.0-beta.1" "$(cat home.html)" "/ui/schematic/$S/v1.12.0-beta.1\""
check_contains "home: lists the second schematic, its name escaped" "$(cat home.html)" \
  "<strong>args&lt;b&gt;&amp;amp;&#39;&#34;x</strong> <code>$SCHEMATIC2</code>"

# ---- crawl: every link and form choice from / ----
python3 - "$URL" "$SCR/crawl.json" <<'EOF' >crawl.log 2>&1
import hashlib, html.parser, json, sys, urllib.error, urllib.parse, urllib.request
base, out = sys.argv[1], sys.argv[2]
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(); self.links, self.forms, self.form, self.ext, self.code = [], [], None, [], []
        self.in_code = False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "link", "img", "iframe") and (a.get("src") or a.get("href")):
            self.ext.append(a.get("src") or a.get("href"))
        if tag == "a" and a.get("href"): self.links.append(a["href"])
        if tag == "form": self.form = {"action": a.get("action"), "hidden": [], "radios": {}, "checks": []}
        if tag == "input" and self.form is not None:
            t = a.get("type")
            if t == "hidden": self.form["hidden"].append((a["name"], a["value"]))
            elif t == "radio": self.form["radios"].setdefault(a["name"], []).append(a["value"])
            elif t == "checkbox": self.form["checks"].append((a["name"], a["value"]))
        if tag == "code": self.in_code = True
    def handle_endtag(self, tag):
        if tag == "form": self.forms.append(self.form); self.form = None
        if tag == "code": self.in_code = False
    def handle_data(self, d):
        if self.in_code: self.code.append(d)
def get(url):
    try:
        r = urllib.request.urlopen(url); return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()
seen, queue, pages, images, problems = set(), ["/"], 0, {}, []
while queue and len(seen) < 2000:
    path = queue.pop(0)
    if path in seen: continue
    seen.add(path)
    status, ctype, body = get(base + path)
    if path.startswith("/image/"):
        images[path] = (status, "sha256:" + hashlib.sha256(body).hexdigest()); continue
    if status != 200: problems.append("%s -> %d" % (path, status)); continue
    if not (ctype or "").startswith("text/html"): continue
    pages += 1
    text = body.decode()
    if "<b>" in text: problems.append("%s: unescaped name" % path)
    p = P(); p.feed(text)
    problems += ["%s: external resource %s" % (path, e) for e in p.ext]
    # the final page's table: file link -> digest shown next to it
    if path.startswith("/ui/schematic/"):
        rows = text.split("<tr><td><a href=\"")[1:]
        for r in rows:
            href = r.split('"')[0]
            digest = r.split("<code>")[1].split("</code>")[0]
            images.setdefault("want:" + href, digest)
    for href in p.links:
        u = urllib.parse.urlsplit(href)
        if u.scheme and u.netloc != urllib.parse.urlsplit(base).netloc:
            problems.append("%s: link leaves the server: %s" % (path, href)); continue
        queue.append(urllib.parse.urlunsplit(("", "", u.path, u.query, "")))
    for f in p.forms:
        for name, values in f["radios"].items():
            for v in values:
                for extra in [[]] + [[c] for c in f["checks"]]:
                    q = urllib.parse.urlencode(f["hidden"] + [(name, v)] + extra)
                    queue.append(f["action"] + "?" + q)
want = {k[5:]: v for k, v in images.items() if k.startswith("want:")}
got = {k: v for k, v in images.items() if not k.startswith("want:")}
for href, digest in want.items():
    st = got.get(href)
    if not st or st[0] != 200 or st[1] != digest:
        problems.append("%s: %s, want 200 %s" % (href, st, digest))
json.dump({"pages": pages, "images": len(want), "problems": problems,
           "finals": sorted(s for s in seen if s.startswith("/ui/schematic/"))}, open(out, "w"), indent=1)
EOF
check_eq "crawler ran" "$?" 0 || cat crawl.log
q() { python3 -c 'import json,sys; print(eval(sys.argv[1], {"d": json.load(open(sys.argv[2]))}))' "$1" "$SCR/crawl.json"; }
check_eq "crawl: no broken link, external resource, unescaped name or wrong digest" "$(q 'd["problems"]')" "[]"
check "crawl: at least 10 pages" test "$(q 'd["pages"]')" -ge 10
check_eq "crawl: every /image link of every final page checked" "$(q 'd["images"]')" 11
check_contains "crawl: the wizard reaches the final page of each schematic" "$(q 'd["finals"]')" \
  "/ui/schematic/$SCHEMATIC2/v1.11.3?platform=metal&arch=amd64"
check_contains "crawl: ... and vanilla's SecureBoot flavour" "$(q 'd["finals"]')" \
  "/ui/schematic/$S/v1.11.3?platform=metal&arch=amd64&secureboot=true"

# ---- the final page ----
curl -s -o final.html "$URL/ui/schematic/$S/v1.11.3"
check_contains "final: the schematic ID" "$(cat final.html)" "Your image schematic ID is: <code>$S</code> (<strong>vanilla</strong>"
check_contains "final: PXE script URL" "$(cat final.html)" "$URL/pxe/$S/v1.11.3/metal-amd64</a>"
check_eq "final: the PXE URL answers a script" "$(curl -s "$URL/pxe/$S/v1.11.3/metal-amd64" | head -1)" '#!ipxe'
check_contains "final: installer/ reference" "$(cat final.html)" "127.0.0.1:$PORT/installer/$S:v1.11.3"
check_contains "final: metal-installer/ reference" "$(cat final.html)" "127.0.0.1:$PORT/metal-installer/$S:v1.11.3"
check_contains "final: talosctl upgrade" "$(cat final.html)" "talosctl upgrade --nodes &lt;node&gt; --image 127.0.0.1:$PORT/installer/$S:v1.11.3"
check_contains "final: talosctl install (gen config --install-image)" "$(cat final.html)" "--install-image 127.0.0.1:$PORT/installer/$S:v1.11.3"
check_contains "final: the YAML" "$(cat final.html)" "<pre>customization: {}"
check_contains "final: sizes and digests" "$(cat final.html)" "195.3 KiB <small>(200000 bytes)</small></td><td><code>$KERNEL_DIGEST</code>"
check_contains "final (SecureBoot): talosctl uses installer-secureboot" \
  "$(curl -s "$URL/ui/schematic/$S/v1.11.3?platform=metal&arch=amd64&secureboot=true")" "--image 127.0.0.1:$PORT/installer-secureboot/$S:v1.11.3"
check_contains "final: version without v" "$(curl -s "$URL/ui/schematic/$S/1.11.3")" "Schematic Ready"

# ---- what the bundle lacks: 404 pages that say how to get it ----
out=$(curl -s -w '|%{http_code}' "$URL/ui/schematic/$S/v1.10.0")
check_contains "final of a missing version: 404" "$out" "|404"
check_contains "... saying it is not in the bundle" "$out" "is not in this bundle"
check_eq "final of an unknown schematic: 404" "$(curl -s -o /dev/null -w '%{http_code}' "$URL/ui/schematic/$(printf 'f%.0s' {1..64})/v1.11.3")" 404
check_eq "wizard: a target the bundle lacks is 404" "$(curl -s -o /dev/null -w '%{http_code}' "$URL/ui/wizard?target=cloud")" 404
out=$(curl -s "$URL/ui/wizard?target=metal&version=%3Cscript%3E")
check_contains "wizard: request text is escaped" "$out" "version &lt;script&gt;"
if grep -q "<script>" <<<"$out"; then fail "wizard: no raw request text"; else pass "wizard: no raw request text"; fi
check_eq "POST on a page: 405" "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/ui/wizard")" 405
