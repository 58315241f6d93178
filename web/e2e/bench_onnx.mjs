// Benchmark (figures for docs/benchmarks.md): dnagpu's WASM CPU backend
// against onnxruntime-web (wasm EP, one thread) on the shipped model in
// headless Chromium, both in one Web Worker (bench_onnx_worker.mjs) on the
// same pre-tokenized batches, in interleaved rounds; plus dnagpu's embed()
// with tokenizing. Needs scripts/build-web.sh and the ONNX export (made
// here with $PYTHON, which needs torch and onnx, if missing).
// --build picks the page's single-threaded wasm build: pkg-relaxed (what
// Chromium loads: relaxed SIMD's fused multiply-add) or pkg (plain SIMD128).
//   node web/e2e/bench_onnx.mjs [--sequences 100] [--rounds 7] [--batch 32] [--build pkg-relaxed]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { dist, out, root, step, serve, launch } from './harness.mjs';

const arg = (name, dflt) => Number(process.argv[process.argv.indexOf(name) + 1]) || dflt;
const [n, rounds, batchSize] = [arg('--sequences', 100), arg('--rounds', 7), arg('--batch', 32)];
const build = process.argv.includes('--build') ? process.argv[process.argv.indexOf('--build') + 1] : 'pkg-relaxed';
if (!['pkg', 'pkg-relaxed'].includes(build)) throw new Error(`--build ${build}: expected pkg or pkg-relaxed`);
const modelDir = 'models/dnabert2-small-gue';
const onnx = path.join(root, 'target/onnx/dnabert2-small-gue.onnx');
if (!fs.existsSync(onnx)) {
  step(`exporting ${modelDir} to ${onnx}`);
  const script = path.join(root, 'benches/baselines/onnx_encoder.py');
  execFileSync(process.env.PYTHON ?? 'python3', [script, '--from', path.join(root, modelDir), '--export', onnx], {
    stdio: 'inherit',
  });
}

// What the worker needs, served from one origin: the built page (its wasm
// and the model), onnxruntime-web's wasm build, the ONNX file, the worker.
const dir = path.join(root, 'target/bench-onnx');
const ortDist = path.join(import.meta.dirname, 'node_modules/onnxruntime-web/dist');
fs.rmSync(dir, { recursive: true, force: true });
fs.cpSync(dist, dir, { recursive: true });
fs.mkdirSync(path.join(dir, 'ort'));
for (const f of ['ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm']) {
  fs.copyFileSync(path.join(ortDist, f), path.join(dir, 'ort', f));
}
fs.copyFileSync(onnx, path.join(dir, 'model.onnx'));
fs.copyFileSync(path.join(import.meta.dirname, 'bench_onnx_worker.mjs'), path.join(dir, 'bench_onnx_worker.mjs'));
fs.writeFileSync(path.join(dir, 'bench-onnx.html'), '<!doctype html><title>dnagpu vs onnxruntime-web</title>\n');

const rows = fs.readFileSync(path.join(root, 'web/www/data/prom_core_all_test.csv'), 'utf8').trim().split('\n');
const csv = rows.slice(0, n + 1).join('\n');
const ortVersion = JSON.parse(fs.readFileSync(path.join(ortDist, '../package.json'), 'utf8')).version;

const { base, server } = await serve({ dir });
const browser = await launch(false);
try {
  const page = await browser.newPage();
  await page.goto(base + 'bench-onnx.html');
  step(`Chromium ${browser.version()}, onnxruntime-web ${ortVersion}, dnagpu ${build}/: ${n} sequences, batches of ${batchSize}, ${rounds} rounds`);
  const r = await page.evaluate(
    (msg) =>
      new Promise((resolve, reject) => {
        const w = new Worker('bench_onnx_worker.mjs', { type: 'module' });
        w.onmessage = ({ data }) => (data.error ? reject(new Error(data.error)) : resolve(data.ok));
        w.onerror = (e) => reject(new Error(e.message));
        w.postMessage(msg);
      }),
    { csv, modelDir, onnxUrl: 'model.onnx', rounds, batchSize, build },
  );
  step(`batches [rows, tokens]: ${JSON.stringify(r.batches)}; outputs agree within ${r.max_abs_difference.toExponential(2)} (largest value ${r.max_abs_value.toFixed(2)})`);
  const ops = Object.entries(r.profile).sort((a, b) => b[1] - a[1]);
  const total = ops.reduce((t, [, s]) => t + s, 0);
  step(`dnagpu per op (one pass, ${(total * 1000).toFixed(0)} ms): ${ops.map(([op, s]) => `${op} ${((100 * s) / total).toFixed(0)}%`).join(', ')}`);
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const summary = {};
  for (const [k, xs] of Object.entries(r.times)) {
    const rates = xs.map((s) => r.sequences / s);
    summary[k] = { median_sequences_per_s: median(rates), min: Math.min(...rates), max: Math.max(...rates) };
    step(`${k.padEnd(12)} ${summary[k].median_sequences_per_s.toFixed(1)} sequences/s (${summary[k].min.toFixed(1)}–${summary[k].max.toFixed(1)})`);
  }
  // Per round, so that the ratio's spread is not the product of two spreads.
  const ratio = (k) => median(r.times.ort.map((s, i) => s / r.times[k][i]));
  summary.ratio_dnagpu_to_ort = ratio('dnagpu');
  summary.ratio_dnagpu_embed_to_ort = ratio('dnagpu_embed');
  step(`dnagpu / onnxruntime-web: ${summary.ratio_dnagpu_to_ort.toFixed(2)}x forward, ${summary.ratio_dnagpu_embed_to_ort.toFixed(2)}x with tokenizing (median of the rounds' ratios)`);
  const result = { date: new Date().toISOString(), chromium: browser.version(), onnxruntime_web: ortVersion, build, sequences: n, batch: batchSize, rounds, ...r, summary };
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'onnx-bench.json'), JSON.stringify(result, null, 2));
  step(`wrote ${path.join(out, 'onnx-bench.json')}`);
} finally {
  await browser.close();
  server.kill();
}
