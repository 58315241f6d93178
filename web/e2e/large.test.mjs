// End-to-end test of a large input file in the page (run scripts/build-web.sh
// first; scripts/test.sh does): a generated FASTA of $DNAGPU_LARGE_MB MB
// (default 64; docs/benchmarks.md has the 200 MB run) is opened from disk,
// read by the worker in 1 MB slices, checked, embedded a chunk at a time on
// the CPU backend, and its results written to the downloads as they are
// done. A micro model (hidden size 8, made here with `dnagpu pretrain`)
// keeps the run short: the work per token is not what is tested. Checked:
// the downloaded .npy's first rows equal `dnagpu embed` on the file's
// first 2 MB (1e-3) and the CSV holds the .npy's ids and values; progress
// is shown for both stages; the wasm memory and the browser's peak memory
// grow by far less than the file's size; a bad record deep in a large file
// is named before any embedding; a gzip FASTA embeds in slices too (and a
// small one is read whole, decompressed, for per-base); variant scores against a gzip
// reference genome read from its file match `dnagpu vep`; classifying a
// held (gzip) file with the shipped model gives the text box's
// probabilities and CSV; and a task that reads its input whole refuses a
// file too large for that.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import zlib from 'node:zlib';
import path from 'node:path';
import { root, bin, dist, out, TIMEOUT, step, serve, stop, launchWithProfile, idle, assertClose, readNpy } from './harness.mjs';

assert.ok(fs.existsSync(path.join(dist, 'index.html')), `${dist}: run scripts/build-web.sh first`);
const work = path.join(out, 'large');
fs.rmSync(work, { recursive: true, force: true });
fs.mkdirSync(work, { recursive: true });
const megabytes = Number(process.env.DNAGPU_LARGE_MB ?? 64);

const native = (args) => execFileSync(bin, ['--backend', 'cpu', ...args], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

// ---------------------------------------------------------------- inputs
let seed = 11;
// A linear congruential generator's high bits (its low bits cycle with period 4).
const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
const pool = Array.from({ length: 1 << 20 }, () => 'ACGT'[next() >>> 29]).join('');

/**
 * A FASTA of about `bytes` bytes: records of 300–1,000 bases cut from a random pool; an "X" in record number `bad`;
 * its first `headBytes` (whole records) also go to `head`.
 */
function writeFasta(file, bytes, { bad = -1, head = null, headBytes = 0 } = {}) {
  const fd = fs.openSync(file, 'w');
  const headFd = head && fs.openSync(head, 'w');
  let size = 0;
  let records = 0;
  let block = '';
  while (size < bytes) {
    const n = 300 + (next() % 701);
    const at = next() % (pool.length - n);
    let seq = pool.slice(at, at + n);
    if (records === bad) seq = seq.slice(0, 100) + 'X' + seq.slice(101);
    const record = `>r${records} len=${n}\n${seq}\n`;
    if (headFd && size + record.length <= headBytes) fs.writeSync(headFd, record);
    block += record;
    size += record.length;
    records++;
    if (block.length > 1 << 22) {
      fs.writeSync(fd, block);
      block = '';
    }
  }
  fs.writeSync(fd, block);
  fs.closeSync(fd);
  if (headFd) fs.closeSync(headFd);
  return records;
}

step('a micro model (dnagpu pretrain, 1 step)');
const config = JSON.parse(fs.readFileSync(path.join(root, 'tests/fixtures/tiny/config.json'), 'utf8'));
Object.assign(config, { hidden_size: 8, num_attention_heads: 2, num_hidden_layers: 1, intermediate_size: 16 });
fs.writeFileSync(path.join(work, 'micro.json'), JSON.stringify(config));
writeFasta(path.join(work, 'pretrain.fa'), 40_000);
const model = path.join(work, 'micro');
native(['pretrain', '--config', path.join(work, 'micro.json'), '--data', path.join(work, 'pretrain.fa'), '--output', model,
  '--steps', '1', '--batch-size', '4', '--val-sequences', '4']);
const modelFiles = ['config.json', 'tokenizer.json', 'model.safetensors'].map((f) => path.join(model, f));

const big = path.join(work, 'big.fa');
const head = path.join(work, 'head.fa');
const records = writeFasta(big, megabytes * 1e6, { head, headBytes: 2e6 });
const bigBytes = fs.statSync(big).size;
step(`${big}: ${(bigBytes / 1e6).toFixed(1)} MB, ${records} records; native reference on its first 2 MB`);
let started = Date.now();
native(['embed', '--model', model, '--input', head, '--output', path.join(work, 'native.npy')]);
const nativeEmb = readNpy(path.join(work, 'native.npy'));
step(`native embed: ${((Date.now() - started) / 1000).toFixed(1)} s`);

// ---------------------------------------------------------------- memory
/** Resident bytes of this process's descendants (the browser's processes), from /proc, in all and by process type. */
function browserRss() {
  const procs = new Map();
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const type = /--type=([\w-]+)/.exec(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'))?.[1] ?? 'browser';
      procs.set(Number(pid), { parent: Number(fields[1]), rss: Number(fields[21]) * 4096, type });
    } catch {
      // gone meanwhile
    }
  }
  const byType = {};
  let all = 0;
  for (const [pid, { rss, type }] of procs) {
    let p = procs.get(pid)?.parent;
    while (p && p !== process.pid) p = procs.get(p)?.parent;
    if (p !== process.pid) continue;
    all += rss;
    byType[type] = (byType[type] ?? 0) + rss;
  }
  return { all, byType };
}

// ---------------------------------------------------------------- the page
const { base, server } = await serve();
// A profile on disk, as a user's browser has: the results are written to disk there (in memory without one).
const context = await launchWithProfile(path.join(work, 'profile'), false, { acceptDownloads: true });
try {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
  await page.goto(`${base}?backend=cpu`, { timeout: TIMEOUT });
  await page.evaluate(() => window.dnagpuPage.ready);
  /** Opens `file` in the input's file picker and waits for the page's note on it. */
  const open = async (file, note) => {
    await page.setInputFiles('#input-file', file);
    await page.waitForFunction((name) => document.getElementById('input-note').textContent.includes(name), path.basename(file), { timeout: TIMEOUT });
    assert.match(await page.textContent('#input-note'), note);
  };
  /** Clicks `button`, waits for `dnagpuPage[field]`, and returns what `pick` takes from it. */
  const runFor = async (button, field, pick = (v) => v) => {
    await page.evaluate((f) => {
      window.dnagpuPage[f] = null;
    }, field);
    await page.click(button);
    await page.waitForFunction((f) => window.dnagpuPage[f] !== null || document.body.dataset.state === 'error', field, { timeout: TIMEOUT });
    await idle(page);
    return page.evaluate(`(${pick})(window.dnagpuPage.${field})`);
  };
  /** Saves what the download link `link` offers as `file` in the work folder; its path. */
  const save = async (link, file) => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(link)]);
    await download.saveAs(path.join(work, file));
    return path.join(work, file);
  };

  await page.setInputFiles('#model-files', modelFiles);
  await page.waitForFunction(() => window.dnagpuPage.model?.hiddenSize === 8, null, { timeout: TIMEOUT });
  await idle(page);
  step('micro model loaded in the page');

  await open(big, /too large to show; embedding and classification read it in slices/);
  assert.equal(await page.inputValue('#input'), '', 'a large file is not put into the text box');

  const before = browserRss();
  const peak = { all: before.all, byType: { ...before.byType } };
  await page.evaluate(() => {
    window.dnagpuPage.lastEmbeddings = null;
  });
  started = Date.now();
  await page.click('#embed-run');
  for (;;) {
    const now = browserRss();
    peak.all = Math.max(peak.all, now.all);
    for (const [type, bytes] of Object.entries(now.byType)) peak.byType[type] = Math.max(peak.byType[type] ?? 0, bytes);
    const done = await page.evaluate(() => window.dnagpuPage.lastEmbeddings !== null || document.body.dataset.state === 'error');
    if (done) break;
    if (Date.now() - started > TIMEOUT * 4) throw new Error('the large file did not finish embedding');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await idle(page);
  const seconds = (Date.now() - started) / 1000;
  const emb = await page.evaluate(() => {
    const { rows, hidden, ids, sampleRows, keptOn, wasmBytesBefore, wasmBytes, tokens } = window.dnagpuPage.lastEmbeddings;
    return { rows, hidden, ids, sampleRows, keptOn, wasmBytesBefore, wasmBytes, tokens };
  });
  const grew = peak.all - before.all;
  const wasmGrew = emb.wasmBytes - emb.wasmBytesBefore;
  const mib = (n) => `${(n / 2 ** 20).toFixed(0)} MiB`;
  step(`page: ${emb.rows} sequences (${emb.tokens} tokens) in ${seconds.toFixed(1)} s; results kept on ${emb.keptOn}; ` +
    `wasm memory ${mib(emb.wasmBytesBefore)} before, ${mib(emb.wasmBytes)} after; browser processes ${mib(before.all)} before, ` +
    `peak ${mib(peak.all)} (+${mib(grew)}) for a ${mib(bigBytes)} file; by process type, peak (before): ` +
    Object.entries(peak.byType).map(([type, bytes]) => `${type} ${mib(bytes)} (${mib(before.byType[type] ?? 0)})`).join(', '));
  assert.equal(emb.rows, records, 'every record embedded');
  assert.equal(emb.sampleRows, 2000, 'the plot gets 2,000 rows');
  for (const i of [0, 1, 999, 1999]) assert.equal(emb.ids[i], `r${Math.floor((i * records) / 2000)}`, `sample row ${i}: evenly spaced`);
  const stages = await page.evaluate(() => [...window.dnagpuPage.stages].sort());
  assert.deepEqual(stages, ['embedding', 'reading'], 'progress shown while checking and while embedding');
  assert.equal(emb.keptOn, 'disk', 'results written to the origin private file system');
  // Bounded: the library's chunks (4,096 sequences, 4 Mbp) and 4 MB result parts set the memory, not the file.
  // Reading the file whole would take at least 3x its size (its bytes, a UTF-16 string, the copy in wasm memory).
  // The browser's own garbage collection leaves tens of MB of slack (measured +18 to +65 MiB from 46 to 191 MiB).
  const bound = 128 * 2 ** 20;
  assert.ok(3 * bigBytes > 1.25 * bound, `the file (${bigBytes} bytes) is too small to tell a whole read from a bounded one`);
  // (The shipped model, loaded first and replaced by the micro model, leaves some 40 MiB free in the wasm heap.)
  assert.ok(wasmGrew < 16 * 2 ** 20, `wasm memory grew by ${mib(wasmGrew)} for a ${mib(bigBytes)} file`);
  assert.ok(grew < bound, `the browser grew by ${mib(grew)} for a ${mib(bigBytes)} file (at most ${mib(bound)})`);

  // The downloads, as a user gets them.
  const npy = readNpy(await save('#embed-npy', 'page.npy'));
  assertClose(npy.subarray(0, nativeEmb.length), nativeEmb, `streamed embeddings vs native (first ${nativeEmb.length / 8} rows)`);
  assert.equal(npy.length, records * 8, '.npy size');
  const csv = fs.readFileSync(await save('#embed-csv', 'page.csv'), 'utf8').trimEnd().split('\n');
  assert.equal(csv[0], ['id', ...Array.from({ length: 8 }, (_, j) => `e${j}`)].join(','));
  assert.equal(csv.length, records + 1, 'CSV rows');
  for (const r of [0, 1, Math.floor(records / 2), records - 1]) {
    const fields = csv[r + 1].split(',');
    assert.equal(fields[0], `r${r}`, `CSV row ${r}: id`);
    assert.deepEqual(fields.slice(1).map((v) => Math.fround(Number(v))), Array.from(npy.subarray(r * 8, r * 8 + 8)), `CSV row ${r}: values`);
  }
  step('downloads: the .npy matches the CLI, the CSV the .npy');

  // A bad record deep in a large file: named, before any embedding, and nothing offered.
  const bad = path.join(work, 'bad.fa');
  writeFasta(bad, 4e6, { bad: 4000 }); // of about 6,000
  await open(bad, /too large to show/);
  await page.click('#embed-run');
  await page.waitForFunction(() => document.body.dataset.state !== 'busy', null, { timeout: TIMEOUT });
  const message = await page.textContent('#embed-status');
  assert.match(message, /bad\.fa: record "r\d+" \(line \d+\): invalid symbol 'X' at position 101/, message);
  assert.deepEqual(await page.evaluate(() => [...window.dnagpuPage.stages]), ['reading'], 'refused before any embedding');
  assert.equal(await page.isVisible('#embed-npy'), false, 'no download after an error');
  step(`bad record: ${message.slice(0, 120)}`);

  // Gzip: any size is read in slices (decompressed by the library) for embedding; a small one is decompressed by
  // the browser for a task that reads whole.
  const headGz = path.join(work, 'head.fa.gz');
  fs.writeFileSync(headGz, zlib.gzipSync(fs.readFileSync(head)));
  await open(headGz, /gzip-compressed; embedding and classification read it in slices/);
  await page.evaluate(() => {
    window.dnagpuPage.lastEmbeddings = null;
  });
  await page.click('#embed-run');
  await page.waitForFunction(() => window.dnagpuPage.lastEmbeddings !== null || document.body.dataset.state === 'error', null, { timeout: TIMEOUT });
  await idle(page);
  assertClose(readNpy(await save('#embed-npy', 'head-gz.npy')), nativeEmb, 'a gzip FASTA embedded in slices vs native');
  const fewGz = path.join(work, 'few.fa.gz');
  fs.writeFileSync(fewGz, zlib.gzipSync(fs.readFileSync(head, 'utf8').split('\n').slice(0, 10).join('\n') + '\n'));
  await open(fewGz, /gzip-compressed/);
  await page.evaluate(() => {
    window.dnagpuPage.lastPerBase = null;
  });
  await page.click('#perbase-run');
  await page.waitForFunction(() => window.dnagpuPage.lastPerBase !== null || document.body.dataset.state === 'error', null, { timeout: TIMEOUT });
  await idle(page);
  assert.deepEqual(await page.evaluate(() => window.dnagpuPage.lastPerBase.ids), ['r0', 'r1', 'r2', 'r3', 'r4']);
  step('gzip: embedded in slices (matches the CLI), and decompressed in the worker for per-base');

  // A reference genome from a file (gzip), read in slices for the windows around the variants, against the CLI.
  const genome = path.join(work, 'genome.fa.gz');
  const chroms = { chrA: pool.slice(0, 900_000) + pool.slice(0, 900_000), chrB: pool.slice(300_000, 1_000_000) };
  fs.writeFileSync(genome, zlib.gzipSync(Object.entries(chroms).map(([name, seq]) => `>${name} test\n${seq.replace(/.{1,80}/g, '$&\n')}`).join('')));
  const snvs = [['chrA', 500], ['chrA', 1_234_567], ['chrA', 1_799_990], ['chrB', 70], ['chrB', 654_321]];
  const vcf = ['##fileformat=VCFv4.2', '#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO',
    ...snvs.map(([chrom, pos], i) => {
      const ref = chroms[chrom][pos - 1];
      return `${chrom}\t${pos}\tv${i}\t${ref}\t${ref === 'A' ? 'G' : 'A'}\t.\t.\t.`;
    })].join('\n') + '\n';
  fs.writeFileSync(path.join(work, 'variants.vcf'), vcf);
  const nativeVep = native(['vep', '--model', model, '--variants', path.join(work, 'variants.vcf'), '--reference', genome, '--flank', '40']);
  await page.fill('#vep-vcf', vcf);
  await page.setInputFiles('#vep-ref-file', genome);
  await page.waitForFunction(() => document.getElementById('vep-ref').placeholder.startsWith('Using genome.fa.gz'), null, { timeout: TIMEOUT });
  await page.fill('#vep-flank', '40');
  await page.evaluate(() => {
    window.dnagpuPage.lastVep = null;
  });
  await page.click('#vep-run');
  await page.waitForFunction(() => window.dnagpuPage.lastVep !== null || document.body.dataset.state === 'error', null, { timeout: TIMEOUT });
  await idle(page);
  const vep = await page.evaluate(() => window.dnagpuPage.lastVep);
  const [vepHead, ...vepRows] = nativeVep.trim().split('\n').map((line) => line.split(','));
  assert.deepEqual(vep.csv.trim().split('\n').map((line) => line.split(',').slice(0, 5)), [vepHead, ...vepRows].map((r) => r.slice(0, 5)), 'the same variants');
  vep.columns.forEach((column, k) => {
    assertClose(vep.rows.map((r) => r.scores[k]), vepRows.map((r) => Number(r[5 + k])), `vep ${column}, reference from a gzip file, vs native`, 2e-3, 2e-3);
  });

  // Classification of a held file (gzip: held at any size) with the shipped model: the same as from the text box.
  await page.click('#model-default');
  await page.waitForFunction(() => window.dnagpuPage.model?.hiddenSize === 256, null, { timeout: TIMEOUT });
  await idle(page);
  const sampleFa = fs.readFileSync(path.join(root, 'examples/sample.fa'), 'utf8');
  const pick = (c) => ({ rows: c.rows, classes: c.classes, probs: Array.from(c.probs), predictions: c.predictions, predicted: c.predicted, ids: c.ids });
  await page.fill('#input', sampleFa);
  const typed = await runFor('#classify-run', 'lastClassified', pick);
  const typedCsv = fs.readFileSync(await save('#classify-csv', 'typed.csv'), 'utf8');
  const sampleGz = path.join(work, 'sample.fa.gz');
  fs.writeFileSync(sampleGz, zlib.gzipSync(sampleFa));
  await open(sampleGz, /gzip-compressed; embedding and classification read it in slices/);
  const streamed = await runFor('#classify-run', 'lastClassified', pick);
  assert.equal(streamed.rows, typed.rows, 'rows classified');
  assert.deepEqual(streamed.ids, typed.ids.slice(0, streamed.ids.length), 'the table\'s first rows');
  assertClose(streamed.probs, typed.probs.slice(0, streamed.probs.length), 'class probabilities, streamed vs typed', 1e-5, 1e-6);
  const counts = new Array(typed.classes).fill(0);
  for (const p of typed.predictions) counts[p]++;
  assert.deepEqual(streamed.predicted, counts, 'predicted class counts over every row');
  assert.equal(fs.readFileSync(await save('#classify-csv', 'streamed.csv'), 'utf8'), typedCsv, 'the predictions CSV, byte for byte');
  step(`classify: a gzip file in slices gives the text box's ${typed.rows} predictions and CSV`);
  // The embedding downloads of the last large run are still there after another task wrote its files.
  assertClose(readNpy(await save('#embed-npy', 'head-gz-again.npy')), nativeEmb, 'the embedding download, after a classification');

  // A task that reads its input whole refuses a file beyond its limit, saying what streams it.
  const huge = path.join(work, 'huge.fa');
  const block = Buffer.from(`>x\n${pool.slice(0, 999)}\n`.repeat(1000));
  const fd = fs.openSync(huge, 'w');
  for (let i = 0; i < 66; i++) fs.writeSync(fd, block);
  fs.closeSync(fd);
  await open(huge, /too large to show/);
  await page.click('#perbase-run');
  await page.waitForFunction(() => document.body.dataset.state !== 'busy', null, { timeout: TIMEOUT });
  assert.match(await page.textContent('#perbase-status'), /reads its input whole, and huge\.fa is 66\.\d MB.*dnagpu embed --per-base/);
  step('per-base refuses a 66 MB file, pointing to embed and the CLI');
} finally {
  await context.close();
  await stop(server);
}
