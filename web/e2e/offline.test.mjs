// End-to-end test of the page offline (run scripts/build-web.sh first;
// scripts/test.sh does): the page is loaded once, its service worker takes
// control and keeps the build; then Chromium goes offline and `dnagpu
// serve` stops, the page reloads from the worker's cache and embeds with
// the shipped model the same numbers as online. The web app manifest is
// one Chromium finds installable. A changed build (one file edited, the
// copy stamped again by scripts/stamp-web.sh) served at the same address
// installs under a new cache name, the old build's cache is deleted, and
// the page's own model cache stays.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { root, dist, out, TIMEOUT, step, serve, stop, launch, run } from './harness.mjs';

fs.mkdirSync(out, { recursive: true });
assert.ok(fs.existsSync(path.join(dist, 'index.html')), `${dist}: run scripts/build-web.sh first`);
const versionOf = (dir) => /^const VERSION = '([0-9a-f]{16})';$/m.exec(fs.readFileSync(path.join(dir, 'sw.js'), 'utf8'))?.[1];
const v1 = versionOf(dist);
assert.ok(v1, `${dist}/sw.js is not stamped (scripts/stamp-web.sh)`);
const sampleFa = fs.readFileSync(path.join(root, 'examples/sample.fa'), 'utf8');

const pageCaches = (page) => page.evaluate(() => caches.keys());

let { base, server } = await serve();
const port = new URL(base).port;
step(`serving ${dist} (version ${v1}) at ${base}`);
// The CPU backend (WebGPU disabled): offline-ness does not depend on the device.
const browser = await launch(false);
const changed = path.join(out, 'dist-changed');
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
  await page.goto(`${base}?backend=cpu`, { timeout: TIMEOUT });
  await page.evaluate(() => window.dnagpuPage.ready);
  await page.waitForFunction(() => window.dnagpuPage.offline?.version, null, { timeout: TIMEOUT });
  assert.ok(await page.evaluate(() => navigator.serviceWorker.controller !== null), 'the worker controls the page');
  assert.equal(await page.evaluate(() => window.dnagpuPage.offline.version), v1, 'the worker is this build');
  const kept = await pageCaches(page);
  assert.ok(kept.includes(`dnagpu-page-${v1}`), `the build's cache: ${kept}`);
  step(`the service worker controls the page; caches: ${kept.join(', ')}`);
  assert.match(await page.textContent('#offline-note'), /works offline/, 'the page says it is kept');

  // Installable: the manifest as Chromium reads it, and no installability errors.
  const cdp = await context.newCDPSession(page);
  const manifest = await cdp.send('Page.getAppManifest');
  assert.deepEqual(manifest.errors, [], 'manifest errors');
  const parsed = JSON.parse(manifest.data);
  assert.equal(parsed.display, 'standalone');
  assert.equal(new URL(parsed.start_url, manifest.url).href, base, 'start_url is the page');
  assert.ok(parsed.name && parsed.icons?.length, 'a name and an icon');
  const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
  // A test browser context is incognito-like, which Chromium names as an error of the window, not of the page.
  const pageErrors = installabilityErrors.filter((e) => e.errorId !== 'in-incognito');
  assert.deepEqual(pageErrors, [], 'installability errors');
  step(`manifest: "${parsed.name}", display ${parsed.display}; installable (${installabilityErrors.map((e) => e.errorId).join(', ') || 'no errors'})`);

  await page.fill('#input', sampleFa);
  const online = await run(page, '#embed-run', 'lastEmbeddings');

  // Offline: the network emulated off and the server gone.
  await context.setOffline(true);
  await stop(server);
  await page.reload({ timeout: TIMEOUT });
  await page.evaluate(() => window.dnagpuPage.ready);
  // A file outside the build goes past the worker to the network, which is gone.
  const probe = await page.evaluate(() => fetch('./not-in-the-build').then((r) => `HTTP ${r.status}`, () => 'no network'));
  assert.equal(probe, 'no network', 'the network is off');
  await page.fill('#input', sampleFa);
  const offline = await run(page, '#embed-run', 'lastEmbeddings');
  assert.equal(offline.rows, online.rows, 'rows');
  assert.deepEqual(offline.values, online.values, 'offline embeddings equal the online ones');
  step(`offline: the page reloaded and embedded ${offline.rows} sequences as online`);

  // A new build at the same address: one file changed, stamped again.
  fs.rmSync(changed, { recursive: true, force: true });
  fs.cpSync(dist, changed, { recursive: true });
  fs.appendFileSync(path.join(changed, 'style.css'), '\n/* offline test: a changed build */\n');
  const v2 = execFileSync(path.join(root, 'scripts/stamp-web.sh'), [changed], { encoding: 'utf8' }).trim();
  assert.equal(versionOf(changed), v2);
  assert.notEqual(v2, v1, 'a changed file changes the version');
  ({ server } = await serve({ dir: changed, port }));
  await context.setOffline(false);
  await page.reload({ timeout: TIMEOUT });
  await page.waitForFunction(() => window.dnagpuPage.offline?.updated, null, { timeout: TIMEOUT });
  assert.equal(await page.evaluate(() => window.dnagpuPage.offline.version), v2, 'the new build took over');
  const after = await pageCaches(page);
  assert.ok(after.includes(`dnagpu-page-${v2}`), `the new build's cache: ${after}`);
  assert.ok(!after.includes(`dnagpu-page-${v1}`), `the old build's cache is deleted: ${after}`);
  assert.ok(after.includes('dnagpu-models-v1'), `the page's model cache stays: ${after}`);
  assert.match(await page.textContent('#offline-note'), /reload/, 'the page says a newer version is ready');
  await page.reload({ timeout: TIMEOUT });
  await page.evaluate(() => window.dnagpuPage.ready);
  const css = await page.evaluate(() => fetch('style.css').then((r) => r.text()));
  assert.match(css, /a changed build/, 'the reloaded page runs the new build');
  step(`new build ${v2}: cache ${v1} deleted, ${after.join(', ')} kept`);
  await context.close();
  console.log('e2e: all passed');
} finally {
  await browser.close();
  await stop(server);
  fs.rmSync(changed, { recursive: true, force: true });
}
