// End-to-end test of the page's threaded CPU backend (run
// scripts/build-web.sh first, with its threaded build; scripts/test.sh
// does): `dnagpu serve` makes the page cross-origin isolated, so with
// `?threads=2` the worker loads pkg-threads-relaxed/ (Chromium has relaxed
// SIMD) and starts a pool of two Web Workers sharing the wasm memory, and
// with `?threads=1` the single-threaded pkg-relaxed/. Both embed the same
// sequences with the shipped model; the results agree within f32 tolerance
// (the threaded matmul splits its blocks differently, so sums may round
// differently). The wall times
// are printed, not asserted (performance belongs in benchmarks). On two
// threads a held file (gzip) is embedded too: its results, views into the
// shared wasm memory, go to the origin-private file system. A thread
// count that is not a whole number is refused with a message. On a static
// host that sends no COOP/COEP headers (a plain Node server here) the first
// visit runs on one thread, and the service worker, which adds those
// headers to what it serves, makes the next visit isolated and threaded.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { dist, out, TIMEOUT, step, serve, stop, launch, run, idle, assertClose } from './harness.mjs';

assert.ok(fs.existsSync(path.join(dist, 'index.html')), `${dist}: run scripts/build-web.sh first`);
assert.ok(
  fs.existsSync(path.join(dist, 'pkg-threads-relaxed/dnagpu_web.js')),
  `${dist}/pkg-threads-relaxed: the threaded build is missing (scripts/build-web.sh needs the nightly scripts/setup.sh installs)`,
);

// 24 sequences of 400 bases: enough work for the threads to show.
let seed = 7;
// A linear congruential generator's high bits (its low bits cycle with period 4).
const base = () => 'ACGT'[(seed = (seed * 1103515245 + 12345) % 2 ** 31) >>> 29];
const fasta = Array.from({ length: 24 }, (_, i) => `>s${i}\n${Array.from({ length: 400 }, base).join('')}`).join('\n');

const { base: url, server } = await serve();
const browser = await launch(false);
try {
  const results = {};
  for (const threads of [1, 2]) {
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
    await page.goto(`${url}?backend=cpu&threads=${threads}`, { timeout: TIMEOUT });
    await page.evaluate(() => window.dnagpuPage.ready);
    assert.ok(await page.evaluate(() => self.crossOriginIsolated), 'dnagpu serve makes the page cross-origin isolated');
    const backend = await page.evaluate(() => window.dnagpuPage.backend);
    assert.equal(backend.threads, threads, `threads=${threads}: ${JSON.stringify(backend)}`);
    assert.equal(backend.name, threads > 1 ? `CPU (WASM, ${threads} threads)` : 'CPU (WASM)');
    // Chromium has relaxed SIMD: the fused multiply-add builds run here (and are what this test checks).
    assert.equal(backend.build, threads > 1 ? 'pkg-threads-relaxed' : 'pkg-relaxed', `the wasm build: ${JSON.stringify(backend)}`);
    await page.fill('#input', fasta);
    await run(page, '#embed-run', 'lastEmbeddings'); // warm-up: model upload, first-touch allocation
    const started = Date.now();
    results[threads] = await run(page, '#embed-run', 'lastEmbeddings');
    results[threads].ms = Date.now() - started;
    step(`${backend.name}: ${results[threads].rows} sequences embedded in ${results[threads].ms} ms`);
    if (threads > 1) {
      // A held file (gzip: held at any size) on the threaded build: its results come out as views into the shared
      // wasm memory, written to the origin-private file system.
      const gz = path.join(out, 'threads.fa.gz');
      fs.mkdirSync(out, { recursive: true });
      fs.writeFileSync(gz, zlib.gzipSync(fasta));
      await page.setInputFiles('#input-file', gz);
      await page.waitForFunction(() => document.getElementById('input-note').textContent.includes('threads.fa.gz'), null, { timeout: TIMEOUT });
      await page.evaluate(() => {
        window.dnagpuPage.lastEmbeddings = null;
      });
      await page.click('#embed-run');
      await page.waitForFunction(() => window.dnagpuPage.lastEmbeddings !== null || document.body.dataset.state === 'error', null, { timeout: TIMEOUT });
      await idle(page);
      const held = await page.evaluate(async () => {
        const e = window.dnagpuPage.lastEmbeddings;
        const npy = new Uint8Array(await e.npy.arrayBuffer());
        return { rows: e.rows, keptOn: e.keptOn, values: Array.from(e.values), npyBytes: npy.length };
      });
      assert.equal(held.keptOn, 'disk', 'results written to the origin-private file system');
      assert.equal(held.rows, results[threads].rows, 'rows');
      assert.equal(held.npyBytes, 128 + held.rows * results[threads].hidden * 4, 'the .npy download: header and every row');
      assertClose(held.values, results[threads].values, 'a held gzip file on 2 threads vs the text box', 1e-5, 1e-6);
    }
    await page.close();
  }
  assert.equal(results[2].rows, results[1].rows, 'rows');
  assertClose(results[2].values, results[1].values, 'embeddings, 2 threads vs 1', 1e-4, 1e-5);
  step(`speed-up with 2 threads: ${(results[1].ms / results[2].ms).toFixed(2)}x (this machine; not asserted)`);

  // A thread count that is not a whole number: the page says so.
  const page = await browser.newPage();
  await page.goto(`${url}?backend=cpu&threads=two`, { timeout: TIMEOUT });
  await assert.rejects(page.evaluate(() => window.dnagpuPage.ready), /thread count must be a whole number/);
  step('?threads=two is refused with a message');

  // A static host without the isolation headers.
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };
  const plain = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url, 'http://x').pathname).replace(/^\/+/, '') || 'index.html';
    const file = path.join(dist, rel);
    if (!file.startsWith(dist + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': types[path.extname(file)] ?? 'application/octet-stream' });
    res.end(fs.readFileSync(file));
  });
  await new Promise((resolve) => plain.listen(0, '127.0.0.1', resolve));
  try {
    const staticUrl = `http://127.0.0.1:${plain.address().port}/?backend=cpu&threads=2`;
    const context = await browser.newContext();
    const visit = await context.newPage();
    await visit.goto(staticUrl, { timeout: TIMEOUT });
    await visit.evaluate(() => window.dnagpuPage.ready);
    assert.equal(await visit.evaluate(() => self.crossOriginIsolated), false, 'a static host without COOP/COEP');
    assert.equal((await visit.evaluate(() => window.dnagpuPage.backend)).threads, 1, 'first visit: one thread');
    await visit.waitForFunction(() => window.dnagpuPage.offline?.version, null, { timeout: TIMEOUT });
    await visit.reload({ timeout: TIMEOUT });
    await visit.evaluate(() => window.dnagpuPage.ready);
    assert.equal(await visit.evaluate(() => self.crossOriginIsolated), true, 'the service worker isolates the page');
    assert.equal((await visit.evaluate(() => window.dnagpuPage.backend)).threads, 2, 'second visit: two threads');
    step('a static host without COOP/COEP: one thread on the first visit, two from the service worker on');
  } finally {
    plain.close();
  }
} finally {
  await browser.close();
  await stop(server);
}
