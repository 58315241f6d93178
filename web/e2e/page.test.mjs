// End-to-end test of the browser page: builds nothing itself (run
// scripts/build-web.sh first; scripts/test.sh does), serves web/dist with
// `dnagpu serve`, drives the system Chromium through Playwright on WebGPU
// (SwiftShader) and, in a browser with WebGPU disabled, on the CPU backend
// in WASM, and checks the page's results against the native CLI on the same
// inputs: embed (sample FASTA) within 1e-3, classify within 1e-3, GUE
// evaluation MCC within 1e-4, LoRA fine-tuning steps, the adapter download,
// the second visit loading from Cache Storage, phone width, and that no
// request leaves the page's own origin. Screenshots go to $DNAGPU_E2E_OUT
// (default target/e2e).
import assert from 'node:assert/strict';
import { spawnSync, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { root, bin, dist, out, TIMEOUT, step, serve, launch, idle, run, assertClose, readNpy } from './harness.mjs';

fs.mkdirSync(out, { recursive: true });

function native(args) {
  return execFileSync(bin, ['--backend', 'cpu', ...args], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

// ---------------------------------------------------------------- inputs and native references
const sampleFa = fs.readFileSync(path.join(root, 'examples/sample.fa'), 'utf8');
const testRows = fs.readFileSync(path.join(root, 'web/www/data/prom_core_all_test.csv'), 'utf8').trim().split('\n');
const evalCsv = path.join(out, 'eval40.csv');
fs.writeFileSync(evalCsv, testRows.slice(0, 41).join('\n') + '\n');
const trainRows = fs.readFileSync(path.join(root, 'web/www/data/prom_core_all_train.csv'), 'utf8').trim().split('\n');
const trainCsv = path.join(out, 'train32.csv');
fs.writeFileSync(trainCsv, trainRows.slice(0, 33).join('\n') + '\n');

step('native references (CPU backend)');
native(['embed', '--input', 'examples/sample.fa', '--output', path.join(out, 'native.npy')]);
const nativeEmb = readNpy(path.join(out, 'native.npy'));
const classified = native(['classify', '--input', 'examples/sample.fa']);
// id,prediction,prob_0,prob_1,...
const [head, ...lines] = classified.trim().split('\n');
const probCols = head.split(',').flatMap((name, i) => (name.startsWith('prob_') ? [i] : []));
const nativeProbs = lines.flatMap((line) => probCols.map((i) => Number(line.split(',')[i])));
const scored = spawnSync(bin, ['--backend', 'cpu', 'classify', '--input', evalCsv, '--output', path.join(out, 'eval40-pred.csv')], {
  cwd: root,
  encoding: 'utf8',
});
assert.equal(scored.status, 0, `native classify failed: ${scored.stderr}`);
const nativeMcc = Number(/MCC (-?[\d.]+)/.exec(scored.stderr)?.[1]);

assert.ok(fs.existsSync(path.join(dist, 'index.html')), `${dist}: run scripts/build-web.sh first`);
const { base, origin, server } = await serve();
step(`serving ${dist} at ${base}`);
const browser = await launch(true);
// The fallback: a browser without WebGPU, the page on its default (auto) backend.
const noGpuBrowser = await launch(false);

const foreign = [];
function watch(page, log) {
  page.on('request', (r) => {
    const url = r.url();
    log.push(url);
    if (process.env.E2E_VERBOSE) console.log('request', url);
    if (!url.startsWith(origin + '/') && !url.startsWith('data:') && !url.startsWith('blob:')) foreign.push(url);
  });
  page.on('requestfailed', (r) => console.log(`request failed: ${r.url()}: ${r.failure()?.errorText}`));
  page.on('requestfinished', (r) => process.env.E2E_VERBOSE && console.log(`finished ${r.url()}`));
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') console.log(`console: ${m.text()}`);
  });
}

async function embedAndClassify(page, backend) {
  await page.fill('#input', sampleFa);
  const emb = await run(page, '#embed-run', 'lastEmbeddings');
  assert.equal(emb.rows, nativeEmb.length / emb.hidden, 'embedding rows');
  assertClose(emb.values, nativeEmb, `embeddings on ${backend} vs native`);
  const cls = await run(page, '#classify-run', 'lastClassified');
  assertClose(cls.probs, nativeProbs, `class probabilities on ${backend} vs native`);
}

try {
  // ---- WebGPU (SwiftShader)
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  const page = await context.newPage();
  const first = [];
  watch(page, first);
  await page.goto(`${base}?backend=gpu`, { timeout: TIMEOUT });
  const ready = await page.evaluate(() => window.dnagpuPage.ready);
  step(`ready on ${ready.backend.name} (${ready.backend.notice})`);
  assert.ok(ready.backend.isGpu, 'WebGPU runs');
  assert.ok(ready.model.hasClassifier, 'the demo adapter is set');
  assert.match(await page.textContent('#info-arch'), /^DNABERT-2/, 'the model panel names the architecture');
  await embedAndClassify(page, 'WebGPU');

  await page.selectOption('#eval-bundled', 'upload');
  await page.setInputFiles('#eval-file', evalCsv);
  const ev = await run(page, '#eval-run', 'lastEvaluation');
  assert.equal(ev.n, 40);
  assert.ok(Math.abs(ev.mcc - nativeMcc) <= 1e-4, `MCC ${ev.mcc} in the page vs ${nativeMcc} from dnagpu classify`);
  step(`evaluation: MCC ${ev.mcc.toFixed(4)} (native ${nativeMcc.toFixed(4)}), accuracy ${ev.accuracy.toFixed(4)}`);

  await page.selectOption('#ft-bundled', 'upload');
  await page.setInputFiles('#ft-file', trainCsv);
  await page.fill('#ft-steps', '3');
  await page.fill('#ft-batch', '8');
  await page.click('#ft-run');
  await page.waitForFunction(() => window.dnagpuPage.lastFineTune?.done || document.body.dataset.state === 'error', null, {
    timeout: TIMEOUT,
  });
  await idle(page);
  const ft = await page.evaluate(() => window.dnagpuPage.lastFineTune);
  assert.equal(ft.losses.length, 3, 'three fine-tuning steps');
  assert.ok(ft.losses.every(Number.isFinite), `finite losses: ${ft.losses}`);
  step(`fine-tuning losses ${ft.losses.map((l) => l.toFixed(4)).join(', ')}`);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#ft-weights')]);
  const weights = fs.readFileSync(await download.path());
  const header = JSON.parse(weights.subarray(8, 8 + Number(weights.readBigUInt64LE(0))).toString('utf8'));
  assert.ok(Object.keys(header).some((k) => k.endsWith('.lora_A.weight')), 'the adapter has LoRA weights');
  assert.ok(Object.keys(header).some((k) => k.includes('modules_to_save') || k.includes('classifier')), 'and its head');
  await page.screenshot({ path: path.join(out, 'page-webgpu.png'), fullPage: true });

  // Second visit: the model comes from Cache Storage.
  const second = [];
  page.removeAllListeners('request');
  watch(page, second);
  await page.reload({ timeout: TIMEOUT });
  await page.evaluate(() => window.dnagpuPage.ready);
  const refetched = second.filter((u) => u.includes('/models/'));
  assert.deepEqual(refetched, [], 'the second visit downloads no model file');
  step('second visit: model loaded from Cache Storage');

  // Keyboard: Tab alone reaches every run button.
  await page.evaluate(() => document.activeElement?.blur());
  const reached = new Set();
  for (let i = 0; i < 80; i++) {
    await page.keyboard.press('Tab');
    reached.add(await page.evaluate(() => document.activeElement?.id ?? ''));
  }
  for (const id of ['backend', 'input', 'embed-run', 'classify-run', 'eval-run', 'ft-run']) {
    assert.ok(reached.has(id), `Tab never reaches #${id}`);
  }
  step('keyboard: Tab reaches every control that runs something');

  // Phone width: nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `at 390 px the page is ${overflow} px too wide`);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(out, 'page-phone.png'), fullPage: false });
  await context.close();

  // ---- CPU backend in WASM, WebGPU disabled
  const cpuContext = await noGpuBrowser.newContext({ viewport: { width: 1280, height: 800 } });
  const cpuPage = await cpuContext.newPage();
  watch(cpuPage, []);
  await cpuPage.goto(base, { timeout: TIMEOUT });
  const cpuReady = await cpuPage.evaluate(() => window.dnagpuPage.ready);
  assert.equal(cpuReady.backend.isGpu, false);
  step(`without WebGPU: ready on ${cpuReady.backend.name} (${cpuReady.backend.notice})`);
  await embedAndClassify(cpuPage, 'CPU (WASM)');

  // f16 weights: the model reloads with its matrices at half the size; the
  // shipped model is stored in f16, so it embeds and classifies as before.
  await cpuPage.selectOption('#precision', 'f16');
  await cpuPage.waitForFunction(() => /f16/.test(document.getElementById('info-precision')?.textContent ?? ''), null, {
    timeout: TIMEOUT,
  });
  await idle(cpuPage);
  step(`weights in memory: ${await cpuPage.textContent('#info-precision')}`);
  await embedAndClassify(cpuPage, 'CPU (WASM), f16 weights');

  // What the reader notices is shown; bad input is a clear error, and the page stays usable.
  await cpuPage.fill('#input', '>ambiguous\nACGTNNACGTACGT\n');
  await run(cpuPage, '#embed-run', 'lastEmbeddings');
  const noted = await cpuPage.textContent('#embed-status');
  assert.match(noted, /Note: .*ambiguous/i, `the ambiguous-base warning is shown: ${noted}`);
  await cpuPage.fill('#input', '>ok\nACGTACGT\n>bad\nACGT!ACGT\n');
  await cpuPage.click('#embed-run');
  await cpuPage.waitForFunction(() => document.body.dataset.state === 'error', null, { timeout: TIMEOUT });
  const message = await cpuPage.textContent('#embed-status');
  assert.match(message, /^input: record "bad" \(line 3\): invalid symbol/, `the error names the record: ${message}`);
  step(`bad input: "${message.trim()}"`);
  await cpuPage.fill('#input', sampleFa);
  await run(cpuPage, '#embed-run', 'lastEmbeddings');
  await cpuContext.close();

  assert.deepEqual(foreign, [], 'requests outside the page origin');
  step(`no request left ${origin}`);
  console.log('e2e: all passed');
} finally {
  await browser.close();
  await noGpuBrowser.close();
  server.kill();
}
