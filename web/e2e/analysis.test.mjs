// End-to-end test of the page's Variants and Attention panels and its
// per-base embeddings (run scripts/build-web.sh first; scripts/test.sh
// does): the page's numbers against the native CLI's on the same inputs —
// `dnagpu vep` scores (examples/variants.vcf on examples/sample.fa) and
// the CSV download, `dnagpu attention` for one layer and head, `dnagpu
// embed --pooling none --per-base` against the page's .npy downloads — on
// WebGPU (SwiftShader) and, for the scores, on the CPU backend in WASM; and
// the library's errors for a bad VCF and a bad FASTA shown in the page.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { root, bin, dist, out, TIMEOUT, step, serve, launch, idle, assertClose, readNpy, readSafetensors } from './harness.mjs';

fs.mkdirSync(out, { recursive: true });
const native = (args) =>
  execFileSync(bin, ['--backend', 'cpu', ...args], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

// ---------------------------------------------------------------- native references
const sampleFa = fs.readFileSync(path.join(root, 'examples/sample.fa'), 'utf8');
const vcfText = fs.readFileSync(path.join(root, 'examples/variants.vcf'), 'utf8');
const FLANK = 24;
step('native references (CPU backend)');
const vepCsv = path.join(out, 'vep-native.csv');
native(['vep', '--reference', 'examples/sample.fa', '--variants', 'examples/variants.vcf', '--flank', String(FLANK), '--output', vepCsv]);
const nativeVep = fs.readFileSync(vepCsv, 'utf8');

const attnSeq = 'ACGTTGCATGCGGGTCGATATCCTATCTGAATCTCTCAGCCCAAGAGG';
const attnFa = path.join(out, 'attn.fa');
fs.writeFileSync(attnFa, `>one\n${attnSeq}\n`);
const [LAYER, HEAD] = [1, 2];
const attnOut = path.join(out, 'attn-native.safetensors');
native(['attention', '--input', attnFa, '--output', attnOut, '--layers', String(LAYER), '--heads', String(HEAD)]);
const nativeAttn = readSafetensors(attnOut);

const perBaseOut = path.join(out, 'per-base-native.safetensors');
native(['embed', '--input', 'examples/sample.fa', '--pooling', 'none', '--per-base', '--output', perBaseOut]);
const nativePerBase = readSafetensors(perBaseOut).tensors;

/** CSV text → header and rows of fields. */
function parseCsv(text) {
  const [head, ...rows] = text.trim().split('\n').map((l) => l.split(','));
  return { head, rows };
}

async function scoreVariants(page, backend) {
  await page.click('#vep-example');
  await page.waitForFunction(() => document.getElementById('vep-vcf').value.includes('snv1'));
  await page.fill('#vep-flank', String(FLANK));
  await page.evaluate(() => {
    window.dnagpuPage.lastVep = null;
  });
  await page.click('#vep-run');
  await idle(page);
  const got = await page.evaluate(() => window.dnagpuPage.lastVep);
  const want = parseCsv(nativeVep);
  const csv = parseCsv(got.csv);
  assert.deepEqual(csv.head, want.head, 'the CSV columns are the CLI\'s');
  assert.deepEqual(got.columns, want.head.slice(5), 'the score columns');
  assert.deepEqual(csv.rows.map((r) => r.slice(0, 5)), want.rows.map((r) => r.slice(0, 5)), 'the same variants, in VCF order');
  assert.equal(got.rows.length, want.rows.length, 'one row per scored ALT');
  got.columns.forEach((c, k) => {
    const expected = want.rows.map((r) => Number(r[5 + k]));
    assertClose(got.rows.map((r) => r.scores[k]), expected, `vep ${c} on ${backend} vs native`, 2e-3, 2e-3);
    assertClose(csv.rows.map((r) => Number(r[5 + k])), expected, `vep CSV download ${c} on ${backend}`, 2e-3, 2e-3);
  });
  const rows = await page.$$eval('#vep-scores tbody tr', (trs) => trs.length);
  assert.equal(rows, want.rows.length, 'the table shows every scored allele');
  assert.ok(await page.isVisible('#vep-plot svg'), 'the llr plot is drawn');
}

const foreign = [];
const browser = await launch(true);
const noGpuBrowser = await launch(false);
const { base, origin, server } = await serve();
function watch(page) {
  page.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(origin + '/') && !url.startsWith('data:') && !url.startsWith('blob:')) foreign.push(url);
  });
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
}

try {
  assert.ok(fs.existsSync(path.join(dist, 'data/variants.vcf')), `${dist}: run scripts/build-web.sh first`);
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  const page = await context.newPage();
  watch(page);
  await page.goto(`${base}?backend=gpu`, { timeout: TIMEOUT });
  const ready = await page.evaluate(() => window.dnagpuPage.ready);
  step(`ready on ${ready.backend.name}`);
  assert.ok(ready.backend.isGpu, 'WebGPU runs');

  // ---- Variants
  await scoreVariants(page, 'WebGPU');
  // The scores table sorts by llr, and the other way on a second click.
  const llr = (await page.evaluate(() => window.dnagpuPage.lastVep.rows)).map((r) => r.scores[0]);
  const firstCell = () => page.$eval('#vep-scores tbody tr td:nth-child(6)', (td) => Number(td.textContent));
  assert.ok(Math.abs((await firstCell()) - Math.min(...llr)) < 1e-3 * Math.max(1, Math.abs(Math.min(...llr))), 'sorted by llr, ascending');
  await page.click('#vep-scores button[data-column="llr"]');
  assert.ok(Math.abs((await firstCell()) - Math.max(...llr)) < 1e-3 * Math.max(1, Math.abs(Math.max(...llr))), 'then descending');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#vep-csv')]);
  assert.equal(fs.readFileSync(await download.path(), 'utf8'), await page.evaluate(() => window.dnagpuPage.lastVep.csv), 'the CSV download');
  step('variants: table sorted by llr both ways, CSV downloaded');

  // One sequence with REF/ALT at a position: the same scores as its VCF record.
  await page.click('#vep-single summary');
  const prom0 = sampleFa.split('>')[1].split('\n').slice(1).join('');
  await page.fill('#vep-seq', prom0);
  await page.fill('#vep-pos', '35');
  await page.fill('#vep-refallele', 'C');
  await page.fill('#vep-alt', 'A');
  await page.click('#vep-single-fill');
  await page.click('#vep-run');
  await idle(page);
  const single = await page.evaluate(() => window.dnagpuPage.lastVep.rows);
  const snv1 = parseCsv(nativeVep).rows.find((r) => r[2] === 'snv1');
  assertClose(single[0].scores.slice(0, 4), snv1.slice(5, 9).map(Number), 'one sequence with REF/ALT vs the CLI on its VCF record', 2e-3, 2e-3);

  // Bad input: the library's errors, shown in the panel.
  const bad = async (vcf, ref, pattern, what) => {
    await page.fill('#vep-vcf', vcf);
    await page.fill('#vep-ref', ref);
    await page.click('#vep-run');
    await page.waitForFunction(() => document.body.dataset.state === 'error', null, { timeout: TIMEOUT });
    const message = await page.textContent('#vep-status');
    assert.match(message, pattern, `${what}: ${message}`);
    step(`${what}: "${message.trim()}"`);
  };
  await bad(vcfText.replace('snv1\tC\tA', 'snv1\tG\tA'), sampleFa, /^variants: line 4: prom_core_0:35 \(snv1\): REF G does not match/, 'a REF that does not match the genome');
  await bad(vcfText, '>prom_core_0\nACGT!ACGT\n', /^reference:2: chromosome `prom_core_0`: `!`/, 'a bad FASTA');
  await bad('#CHROM\tPOS\tID\tREF\tALT\nchr1\tx\t.\tA\tC\n', sampleFa, /^variants: line 2: POS "x"/, 'a bad VCF');

  // ---- Attention
  await page.fill('#attn-input', `>one\n${attnSeq}\n`);
  await page.selectOption('#attn-layer', String(LAYER));
  await page.selectOption('#attn-head', String(HEAD));
  await page.click('#attn-run');
  await idle(page);
  const attn = await page.evaluate(() => ({ ...window.dnagpuPage.lastAttention, values: Array.from(window.dnagpuPage.lastAttention.values) }));
  const want = nativeAttn.tensors.one;
  assert.deepEqual(want.shape, [1, 1, attn.size, attn.size], 'the map\'s shape');
  assert.deepEqual(attn.tokens, JSON.parse(nativeAttn.metadata['one.tokens']), 'the token labels');
  assertClose(attn.values, want.data, `attention layer ${LAYER} head ${HEAD} vs native`);
  assert.ok(await page.isVisible('#attn-canvas'), 'the heatmap is drawn');
  // Another head from the picker redraws.
  await page.selectOption('#attn-head', '0');
  await page.waitForFunction(() => window.dnagpuPage.lastAttention?.head === 0, null, { timeout: TIMEOUT });
  await idle(page);
  step('attention: picker redraws head 0');

  // ---- Per-base embeddings: each sequence's .npy against the CLI's tensor.
  await page.fill('#input', sampleFa);
  await page.click('#perbase-run');
  await idle(page);
  const pb = await page.evaluate(() => window.dnagpuPage.lastPerBase);
  for (const r of [0, pb.ids.length - 1]) {
    await page.selectOption('#perbase-record', String(r));
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#perbase-npy')]);
    const file = await dl.path();
    const header = fs.readFileSync(file).subarray(10, 138).toString('latin1');
    assert.match(header, new RegExp(`'shape': \\(${pb.bases[r]}, ${pb.hidden}\\)`), `per-base .npy of ${pb.ids[r]}: [bases, H]`);
    assertClose(readNpy(file), nativePerBase[pb.ids[r]].data, `per-base embeddings of ${pb.ids[r]} vs native`);
  }
  await page.screenshot({ path: path.join(out, 'page-analysis.png'), fullPage: true });
  await context.close();

  // ---- CPU backend in WASM
  const cpuPage = await (await noGpuBrowser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  watch(cpuPage);
  await cpuPage.goto(base, { timeout: TIMEOUT });
  assert.equal((await cpuPage.evaluate(() => window.dnagpuPage.ready)).backend.isGpu, false);
  await scoreVariants(cpuPage, 'CPU (WASM)');

  assert.deepEqual(foreign, [], 'requests outside the page origin');
  console.log('e2e analysis: all passed');
} finally {
  await browser.close();
  await noGpuBrowser.close();
  server.kill();
}
