// serve_browser.cjs — drives Debian's headless Chromium (puppeteer-core) through airfactory-serve's
// web wizard: for each width (390 px phone, 1280 px desktop) it walks Hardware Type -> version ->
// architecture -> every schematic offered -> Customization -> the final page, follows every /image
// link there and checks its bytes' digest against the one shown beside it, runs axe-core on every
// page (no serious or critical violation), checks nothing overflows the width, drives one step with
// the keyboard alone, and writes screenshots (checked non-blank) to OUT.
// usage: node serve_browser.cjs URL CHROMIUM OUTDIR   (NODE_PATH: puppeteer-core, axe-core)
'use strict';
const fs = require('fs');
const zlib = require('zlib');
const crypto = require('crypto');
const puppeteer = require('puppeteer-core');
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const [url, chromium, outDir] = process.argv.slice(2);

let failures = 0;
function check(name, ok, detail) {
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${ok ? '' : ': ' + (detail || '')}`);
  if (!ok) failures++;
}

// A PNG is "non-blank" when its pixels are not (nearly) all one value.
function pngNonBlank(buf) {
  let off = 8;
  const idat = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('ascii', off + 4, off + 8);
    if (type === 'IDAT') idat.push(buf.subarray(off + 8, off + 8 + len));
    off += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const counts = new Map();
  for (let i = 0; i < raw.length; i += 7) counts.set(raw[i], (counts.get(raw[i]) || 0) + 1);
  const top = Math.max(...counts.values());
  return top / (raw.length / 7) < 0.995;
}

async function axe(page, label) {
  await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document);
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, n: v.nodes.length }));
  });
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  check(`axe-core: no serious violation on ${label}`, bad.length === 0, JSON.stringify(bad));
}

async function fits(page, width, label) {
  const sw = await page.evaluate(() => document.documentElement.scrollWidth);
  check(`${label} fits ${width} px (no horizontal scrolling)`, sw <= width + 1, `scrollWidth ${sw}`);
}

async function shot(page, name) {
  const file = `${outDir}/${name}.png`;
  await page.screenshot({ path: file, fullPage: true });
  check(`screenshot ${name}.png is not blank`, pngNonBlank(fs.readFileSync(file)));
}

async function next(page) {
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
}

(async () => {
  const browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const finals = new Set();
  for (const width of [390, 1280]) {
    const page = await browser.newPage();
    await page.setJavaScriptEnabled(false); // the wizard must work without JavaScript...
    await page.setViewport({ width, height: 800 });
    await page.goto(url + '/');
    const schematics = await page.$$eval('input[name=target]', (e) => e.length);
    check(`${width}: home offers a hardware type`, schematics > 0);
    await page.setJavaScriptEnabled(true); // ...axe needs it to run
    await page.goto(url + '/');
    await axe(page, `${width} home`);
    await fits(page, width, `${width} home`);
    await shot(page, `home-${width}`);

    // keyboard only: Tab to the Next button, Enter submits
    let tries = 0;
    while (tries++ < 20 && !(await page.evaluate(() => document.activeElement && document.activeElement.type === 'submit'))) {
      await page.keyboard.press('Tab');
    }
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    check(`${width}: keyboard alone reaches the version step`, page.url().includes('/ui/wizard?target='), page.url());

    // the walk, once per schematic the extensions step offers
    const start = page.url();
    await page.goto(start);
    await page.click('input[value="v1.11.3"]');
    await next(page);
    await axe(page, `${width} version step`);
    await page.click('input[name=arch][value=amd64]');
    await next(page);
    await axe(page, `${width} architecture step`);
    const ext = page.url();
    const ids = await page.$$eval('input[name=schematic]', (e) => e.map((x) => x.value));
    check(`${width}: the extensions step offers the bundle's schematics`, ids.length >= 2, String(ids));
    for (const id of ids) {
      await page.goto(ext);
      await page.click(`input[value="${id}"]`);
      await next(page);
      await fits(page, width, `${width} customization ${id.slice(0, 8)}`);
      await Promise.all([page.waitForNavigation(), page.click('main p a[href^="/ui/schematic/"]')]);
      check(`${width}: final page of ${id.slice(0, 8)}`, (await page.$eval('h1', (h) => h.textContent)) === 'Schematic Ready');
      finals.add(page.url());
      await axe(page, `${width} final ${id.slice(0, 8)}`);
      await fits(page, width, `${width} final ${id.slice(0, 8)}`);
      await shot(page, `final-${id.slice(0, 8)}-${width}`);
      // every link: answers 200; every asset: the digest shown beside it
      const rows = await page.$$eval('tbody tr', (trs) => trs.map((tr) => ({
        href: tr.querySelector('a').href, digest: tr.querySelector('code').textContent })));
      const links = await page.$$eval('a[href]', (as) => as.map((a) => a.href));
      for (const l of links) {
        const r = await fetch(l);
        check(`${width}: link ${l.replace(url, '')} answers 200`, r.status === 200, String(r.status));
      }
      for (const row of rows) {
        const body = Buffer.from(await (await fetch(row.href)).arrayBuffer());
        const got = 'sha256:' + crypto.createHash('sha256').update(body).digest('hex');
        check(`${width}: ${row.href.replace(url, '')} has the digest shown`, got === row.digest, got);
      }
    }
    await page.close();
  }
  check('both widths reach the same final pages', finals.size >= 2, [...finals].join(' '));
  await browser.close();
  process.exit(failures ? 1 : 0);
})().catch((e) => { console.log('FAIL browser run: ' + e.stack); process.exit(1); });
