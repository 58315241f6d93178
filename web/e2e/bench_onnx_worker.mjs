// Job: the Web Worker of bench_onnx.mjs. Loads the shipped model into
// dnagpu's WASM CPU backend and its ONNX export into onnxruntime-web (wasm
// EP, one thread), checks that both give the same embeddings, then times
// them in interleaved rounds on the same pre-tokenized batches, plus
// dnagpu's embed() with tokenizing, profiles dnagpu's forward per op, and
// posts the timings back. `build`: the page's wasm build to load (pkg/ or
// pkg-relaxed/, single-threaded).
import * as ort from './ort/ort.wasm.min.mjs';

const text = async (url) => (await fetch(url)).text();
const bytes = async (url) => new Uint8Array(await (await fetch(url)).arrayBuffer());

/** Seconds for `f()`. */
async function time(f) {
  const t0 = performance.now();
  await f();
  return (performance.now() - t0) / 1000;
}

async function bench({ csv, modelDir, onnxUrl, rounds, batchSize, build }) {
  const { default: init, Runtime, Model } = await import(`./${build}/dnagpu_web.js`);
  await init();
  const runtime = await Runtime.create('cpu');
  const model = Model.load(
    runtime,
    await text(`${modelDir}/config.json`),
    'tokenizer.json',
    await text(`${modelDir}/tokenizer.json`),
    await bytes(`${modelDir}/model.safetensors`),
    'model.safetensors',
    'f32',
  );
  ort.env.wasm.wasmPaths = new URL('./ort/', import.meta.url).href;
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(await bytes(onnxUrl), {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
  });

  // The same batches for both: the page's tokenizer, embed()'s grouping and padding.
  const batches = Array.from(model.tokenBatches(csv, batchSize));
  const feeds = batches.map((b) => ({
    input_ids: new ort.Tensor('int64', BigInt64Array.from(b.ids, BigInt), [b.rows, b.tokens]),
    attention_mask: new ort.Tensor('int64', BigInt64Array.from(b.mask, BigInt), [b.rows, b.tokens]),
  }));
  const sequences = batches.reduce((n, b) => n + b.rows, 0);
  const runOrt = async () => {
    const out = [];
    for (const f of feeds) out.push((await session.run(f)).mean.data);
    return out;
  };
  const runDnagpu = async () => {
    const out = [];
    for (const b of batches) out.push(await model.embedTokens(b.ids, b.mask, b.rows));
    return out;
  };
  const runEmbed = () => model.embed(csv, 'mean', undefined, batchSize);

  // Correctness first (also the warm-up): same embeddings within 1e-4 of the largest value.
  const [a, b] = [await runOrt(), await runDnagpu()];
  let scale = 0;
  let worst = 0;
  a.forEach((rows, i) =>
    rows.forEach((v, j) => {
      scale = Math.max(scale, Math.abs(v));
      worst = Math.max(worst, Math.abs(v - b[i][j]));
    }),
  );
  if (!(worst <= 1e-4 * scale)) throw new Error(`onnxruntime-web and dnagpu differ: ${worst} (largest value ${scale})`);
  (await runEmbed()).free();

  // Interleaved, the order alternating, so that drift in the machine's load hits both alike.
  const times = { ort: [], dnagpu: [], dnagpu_embed: [] };
  const runs = { ort: runOrt, dnagpu: runDnagpu, dnagpu_embed: async () => (await runEmbed()).free() };
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? ['dnagpu_embed', 'dnagpu', 'ort'] : ['ort', 'dnagpu', 'dnagpu_embed'];
    for (const k of order) times[k].push(await time(runs[k]));
  }
  // Where dnagpu's forward spends its time: seconds per op over one pass of all batches.
  const profile = {};
  for (const x of batches) {
    for (const [op, , s] of JSON.parse(await model.profileTokens(x.ids, x.mask, x.rows))) profile[op] = (profile[op] ?? 0) + s;
  }
  return {
    sequences,
    profile,
    batches: batches.map((x) => [x.rows, x.tokens]),
    max_abs_difference: worst,
    max_abs_value: scale,
    crossOriginIsolated: self.crossOriginIsolated,
    times,
  };
}

self.onmessage = async ({ data }) => {
  try {
    self.postMessage({ ok: await bench(data) });
  } catch (e) {
    self.postMessage({ error: String(e?.stack ?? e) });
  }
};
