// End-to-end test of hub downloads in the page (run scripts/build-web.sh
// first; scripts/test.sh does), against a stand-in hub on loopback
// (hub-stub.mjs) that answers the hub's paths and redirects weight files to
// a second origin; `dnagpu serve --hub-origin --hub-file-host` puts the two
// in the page's policy in place of the real hub's. Checks: a model too
// large is refused before any download; a download shows bytes and percent
// and can be cancelled, leaving nothing in Cache Storage; a redirect to a
// host the policy does not admit is blocked (that host gets no request)
// with a message naming the admitted hosts; a download loads and embeds as
// the same files shipped with the page do; a second load comes from Cache
// Storage with only the API asked (the hub's revision is the one kept); a
// new revision on the hub is downloaded and replaces the old one in the
// cache; with the hub unreachable the revision kept loads; and no request
// leaves the page's origin except to the stand-in hub and its file host.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { root, dist, TIMEOUT, step, serve, stop, launch, run } from './harness.mjs';
import { startHub } from './hub-stub.mjs';

assert.ok(fs.existsSync(path.join(dist, 'index.html')), `${dist}: run scripts/build-web.sh first`);
const modelDir = path.join(root, 'models/dnabert2-small-gue');
const shipped = Object.fromEntries(
  ['config.json', 'tokenizer.json', 'model.safetensors'].map((name) => [name, fs.readFileSync(path.join(modelDir, name))]),
);
const weightsSize = shipped['model.safetensors'].length;
const hub = await startHub({
  'test/small': { files: shipped },
  'test/slow': { files: shipped, slow: 40 },
  'test/huge': { files: shipped, listed: { 'model.safetensors': 5e9 } },
  'test/elsewhere': { files: shipped, host: 'foreign' },
});
const hubRequests = (id) =>
  hub.log.filter((r) => [`/${id}/`, `/${id}?`, `/${id.replace('/', '--')}/`].some((part) => r.url.includes(part)));
const sampleFa = fs.readFileSync(path.join(root, 'examples/sample.fa'), 'utf8');

const { base, origin, server } = await serve({ args: ['--hub-origin', hub.origin, '--hub-file-host', hub.filesOrigin] });
step(`serving ${dist} at ${base}; stand-in hub ${hub.origin}, its file host ${hub.filesOrigin}`);
const browser = await launch(false);
const foreign = [];
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on('request', (r) => {
    const url = r.url();
    if (![origin, hub.origin, hub.filesOrigin].some((o) => url.startsWith(o + '/')) && !/^(data|blob):/.test(url)) foreign.push(url);
  });
  // Chromium reports a redirect the policy blocks as a request that failed; the host's own log shows it never came.
  const blocked = new Map();
  page.on('requestfailed', (r) => blocked.set(r.url(), r.failure()?.errorText));
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
  await page.goto(`${base}?backend=cpu`, { timeout: TIMEOUT });
  await page.evaluate(() => window.dnagpuPage.ready);
  await page.fill('#input', sampleFa);
  const reference = await run(page, '#embed-run', 'lastEmbeddings');

  const load = async (id) => {
    await page.fill('#hub-id', id);
    await page.evaluate(() => {
      window.dnagpuPage.lastDownload = null;
    });
    await page.click('#hub-load');
    await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state) && window.dnagpuPage.lastDownload !== null, null, { timeout: TIMEOUT });
    await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state), null, { timeout: TIMEOUT });
    return page.evaluate(() => ({ state: document.body.dataset.state, status: document.getElementById('model-status').textContent, download: window.dnagpuPage.lastDownload }));
  };
  const cachedUrls = () => page.evaluate(async () => (await (await caches.open('dnagpu-models-v1')).keys()).map((r) => r.url));

  // Too large: refused from the API's size, before any file is asked for.
  const huge = await load('test/huge');
  assert.equal(huge.state, 'error');
  assert.match(huge.status, /5\.00 GB of weights .* exceed this page's limit of 1\.50 GB: a WASM page has 4 GiB/, huge.status);
  const hugeAsked = hubRequests('test/huge').map((r) => r.url);
  assert.deepEqual(hugeAsked, ['/api/models/test/huge?blobs=true'], 'only the API was asked');
  step(`too large: "${huge.status}"`);

  // Cancel mid-download: progress with bytes and percent first, then nothing stored.
  await page.fill('#hub-id', 'test/slow');
  await page.click('#hub-load');
  await page.waitForFunction(
    (size) => window.dnagpuPage.lastDownload?.events.some((e) => e.file === 'model.safetensors' && e.done > size / 10),
    weightsSize,
    { timeout: TIMEOUT },
  );
  const midway = await page.textContent('#model-status');
  assert.match(midway, /^Downloading model\.safetensors: [\d.]+ (kB|MB) of 12\.8 MB \(\d+%\)$/, midway);
  assert.ok(await page.isVisible('#hub-cancel'), 'Cancel is shown during the download');
  await page.click('#hub-cancel');
  await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: TIMEOUT });
  const cancelled = await page.evaluate(() => window.dnagpuPage.lastDownload);
  assert.equal(cancelled.cancelled, true);
  const weightEvents = cancelled.events.filter((e) => e.file === 'model.safetensors');
  assert.ok(weightEvents.every((e) => e.total === weightsSize), 'every progress event has the total');
  assert.ok(weightEvents.every((e, i) => i === 0 || e.done >= weightEvents[i - 1].done), 'bytes only grow');
  assert.ok(weightEvents.at(-1).done < weightsSize, 'cancelled before the end');
  assert.match(await page.textContent('#model-status'), /cancelled: nothing was stored; the model loaded before stays/);
  assert.equal(await page.isVisible('#hub-cancel'), false, 'Cancel is hidden again');
  assert.deepEqual((await cachedUrls()).filter((u) => u.includes('test/slow')), [], 'nothing of the cancelled model is cached');
  assert.match(await page.evaluate(() => window.dnagpuPage.model.label), /shipped/, 'the model loaded before stays');
  step(`cancelled at ${midway.replace('Downloading ', '')}; ${weightEvents.length} progress events; nothing cached`);

  // A redirect to a host the policy does not admit: blocked before it is asked.
  const elsewhere = await load('test/elsewhere');
  assert.equal(elsewhere.state, 'error');
  assert.match(elsewhere.status, /policy does not admit \(it admits 127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+\)/, elsewhere.status);
  assert.deepEqual(hub.log.filter((r) => r.origin === 'foreign'), [], 'the host the policy does not admit got no request');
  assert.deepEqual((await cachedUrls()).filter((u) => u.includes('test/elsewhere')), [], 'nothing cached');
  step(`redirect outside the policy: "${elsewhere.status}"`);

  // A download: loads, embeds as the same files do when shipped, and is cached.
  const small = await load('test/small');
  assert.equal(small.state, 'ready', small.status);
  assert.equal(small.download.origin, 'download');
  const last = small.download.events.filter((e) => e.file === 'model.safetensors').at(-1);
  assert.deepEqual([last.done, last.total], [weightsSize, weightsSize], 'the last progress event is the whole file');
  assert.ok(hub.log.some((r) => r.origin === 'files' && r.url.includes('test--small')), 'the weights came from the file host');
  await page.fill('#input', sampleFa);
  const fromHub = await run(page, '#embed-run', 'lastEmbeddings');
  assert.deepEqual(fromHub.values, reference.values, 'the hub model embeds as the shipped files do');
  // Cached under the revision's addresses, with the revision kept.
  const storedSmall = async () =>
    (await cachedUrls())
      .filter((u) => u.includes('test/small'))
      .map((u) => u.slice(u.indexOf('test/small/') + 'test/small/'.length))
      .sort();
  const rev1 = Buffer.from('test/small').toString('hex').padEnd(40, '0');
  const files = (rev) => ['config.json', 'model.safetensors', 'tokenizer.json'].map((f) => `resolve/${rev}/${f}`);
  assert.deepEqual(await storedSmall(), ['dnagpu-cached-revision', ...files(rev1)]);
  step(`downloaded test/small (${small.status}); embeddings equal the shipped model's; cached at revision ${rev1.slice(0, 8)}`);

  // A later visit: from Cache Storage; the hub's API is asked for the revision, no file.
  let asked = hub.log.length;
  await page.reload({ timeout: TIMEOUT });
  await page.evaluate(() => window.dnagpuPage.ready);
  const again = await load('test/small');
  assert.equal(again.state, 'ready', again.status);
  assert.equal(again.download.origin, 'cache');
  assert.match(again.status, /loaded from cache/);
  assert.deepEqual(hub.log.slice(asked).map((r) => r.url), ['/api/models/test/small?blobs=true'], 'only the API');
  step('second visit: test/small from Cache Storage, only the API asked');

  // A new revision on the hub: downloaded, and the old one leaves the cache.
  const rev2 = 'b'.repeat(40);
  hub.models['test/small'].sha = rev2;
  asked = hub.log.length;
  const updated = await load('test/small');
  assert.equal(updated.state, 'ready', updated.status);
  assert.equal(updated.download.origin, 'download');
  assert.ok(hub.log.slice(asked).some((r) => r.url === `/test/small/resolve/${rev2}/config.json`), 'the new revision was asked for');
  assert.deepEqual(await storedSmall(), ['dnagpu-cached-revision', ...files(rev2)]);
  step(`a new revision (${rev2.slice(0, 8)}) on the hub: downloaded; the old one left the cache`);

  // The hub unreachable: the revision kept loads.
  hub.close();
  const offline = await load('test/small');
  assert.equal(offline.state, 'ready', offline.status);
  assert.equal(offline.download.origin, 'cache');
  step('the hub unreachable: test/small from the revision kept');

  await context.close();
  const sent = foreign.filter((url) => blocked.get(url) !== 'csp');
  assert.deepEqual(sent, [], 'requests outside the page, the stand-in hub and its file host');
  assert.ok(foreign.every((url) => url.startsWith(hub.foreignOrigin + '/')), `only the blocked redirect: ${foreign}`);
  assert.deepEqual(hub.log.filter((r) => r.origin === 'foreign'), [], 'which never reached its host');
  step(`no request left ${origin} but to the stand-in hub and its file host (blocked: ${[...blocked].map(([u, e]) => `${u} ${e}`).join(', ')})`);
  console.log('e2e: all passed');
} finally {
  await browser.close();
  await stop(server);
  hub.close();
}
