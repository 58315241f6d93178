// Benchmark of the browser page (figures for docs/benchmarks.md): wasm
// bundle size, time from opening the page to the first embedding (first
// visit, then cached), and embedding throughput on WebGPU (SwiftShader here)
// and on the CPU backend in WASM. Needs scripts/build-web.sh first.
//   node web/e2e/bench.mjs [--sequences N]
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { dist, out, root, step, serve, launch, idle, run } from './harness.mjs';

const n = Number(process.argv[process.argv.indexOf('--sequences') + 1]) || 100;
const wasm = fs.readFileSync(path.join(dist, 'pkg/dnagpu_web_bg.wasm'));
const js = fs.readFileSync(path.join(dist, 'pkg/dnagpu_web.js'));
const gz = (b) => zlib.gzipSync(b, { level: 9 }).length;
const mib = (b) => (b / 1048576).toFixed(2);
const results = {
  date: new Date().toISOString(),
  wasm_bytes: wasm.length,
  wasm_gzip_bytes: gz(wasm),
  js_gzip_bytes: gz(js),
};
step(`bundle: wasm ${mib(wasm.length)} MiB, gzip ${mib(results.wasm_gzip_bytes)} MiB (+ JS glue ${(results.js_gzip_bytes / 1024).toFixed(1)} KiB gzip)`);

const rows = fs.readFileSync(path.join(root, 'web/www/data/prom_core_all_test.csv'), 'utf8').trim().split('\n');
const csv = rows.slice(0, n + 1).join('\n');
const first = '>seq\n' + rows[1].split(',')[0] + '\n';
const { base, server } = await serve();

async function openToFirstEmbedding(page, reload, query) {
  const t0 = performance.now();
  if (reload) await page.reload();
  else await page.goto(base + query);
  await page.evaluate(() => window.dnagpuPage.ready);
  await page.fill('#input', first);
  await run(page, '#embed-run', 'lastEmbeddings');
  return (performance.now() - t0) / 1000;
}

for (const gpu of [true, false]) {
  const browser = await launch(gpu);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  // SwiftShader is a software adapter: `auto` would pick the CPU, so ask for WebGPU.
  const query = gpu ? '?backend=gpu' : '';
  const first_s = await openToFirstEmbedding(page, false, query);
  const cached_s = await openToFirstEmbedding(page, true, query);
  const backend = await page.evaluate(() => window.dnagpuPage.backend.name);
  await page.fill('#batch', '32');
  await page.fill('#input', csv);
  await run(page, '#embed-run', 'lastEmbeddings'); // warm-up: pipelines compiled
  const t0 = performance.now();
  const emb = await run(page, '#embed-run', 'lastEmbeddings');
  const seconds = (performance.now() - t0) / 1000;
  await idle(page);
  const r = { backend, first_visit_s: first_s, cached_visit_s: cached_s, sequences: emb.rows, seconds, sequences_per_s: emb.rows / seconds };
  results[gpu ? 'webgpu' : 'cpu_wasm'] = r;
  step(`${backend}: open→first embedding ${first_s.toFixed(1)} s (cached ${cached_s.toFixed(1)} s); ${emb.rows} sequences in ${seconds.toFixed(1)} s = ${r.sequences_per_s.toFixed(2)} seq/s`);
  await browser.close();
}
server.kill();
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, 'page-bench.json'), JSON.stringify(results, null, 2));
step(`wrote ${path.join(out, 'page-bench.json')}`);
