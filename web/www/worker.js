// Job: the module Web Worker that owns the dnagpu wasm runtime, model and fine-tuning session, answering client.js's requests one at a time.

// The bindings: the threaded build (pkg-threads/: the CPU backend's rayon
// pool on Web Workers sharing the wasm memory; needs cross-origin isolation,
// which `dnagpu serve` gives) where it exists and more than one thread is
// wanted, else the single-threaded build (pkg/); each in its relaxed-SIMD
// build (-relaxed) where the browser has relaxed SIMD (wasm-features.js),
// the plain one if that fails. Chosen once per worker.
import { dropOrphanResults, openResultFiles } from './result-files.js';
import './wasm-features.js';

let wasmReady = null;
let wasmMemory = null;
let Runtime = null;
let Model = null;
let FineTune = null;
let readText = null;
let threads = 1;
/** The wasm build loaded (pkg, pkg-threads, either with -relaxed). */
let build = null;

/** How long the thread pool may take to start before the page goes on with one thread. */
const POOL_START_SECONDS = 30;

/**
 * The first of the builds (threaded or not) that loads: the relaxed-SIMD one first where relaxed SIMD validates, then
 * the plain one (a browser whose relaxed SIMD failed anyway, or a build missing from the folder).
 */
async function importBuild(threaded) {
  let error;
  for (const build of self.dnagpuBuilds(threaded)) {
    try {
      const pkg = await import(`./${build}/dnagpu_web.js`);
      wasmMemory = (await pkg.default()).memory;
      return { pkg, build };
    } catch (e) {
      error = e;
      console.warn(`dnagpu: the ${build}/ build did not load (${errorMessage(e)})`);
    }
  }
  throw error;
}

async function loadWasm(wanted) {
  if (wanted > 1 && self.crossOriginIsolated) {
    try {
      const { pkg, build } = await importBuild(true);
      // The pool waits for every worker it starts, with no error of its own if one never starts.
      let timer;
      const stalled = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${wanted} threads did not start within ${POOL_START_SECONDS} s`)), POOL_START_SECONDS * 1000);
      });
      await Promise.race([pkg.initThreadPool(wanted), stalled]).finally(() => clearTimeout(timer));
      return { pkg, threads: wanted, build };
    } catch (e) {
      // A build without pkg-threads/ (stable toolchain only), or a pool that did not start: one thread.
      console.warn(`dnagpu: the threaded build did not start (${errorMessage(e)}); using one thread`);
    }
  }
  const { pkg, build } = await importBuild(false);
  return { pkg, threads: 1, build };
}

/** The thread count asked for: a whole number ≥ 1, or every core. */
function wantedThreads(value) {
  if (value === undefined || value === null) return Math.max(1, navigator.hardwareConcurrency || 1);
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`The thread count must be a whole number ≥ 1, not "${value}".`);
  return n;
}
let runtime = null;
let model = null;
let fineTune = null;

const free = (x) => {
  try {
    x?.free?.();
  } catch {
    // Already freed or poisoned by an earlier panic: nothing to release.
  }
};

/** A typed array that owns its whole buffer (so the buffer can be transferred). */
function owned(typed) {
  const shared = typeof SharedArrayBuffer !== 'undefined' && typed.buffer instanceof SharedArrayBuffer;
  return !shared && typed.byteOffset === 0 && typed.byteLength === typed.buffer.byteLength ? typed : typed.slice();
}

/**
 * "WebGPU: <vendor> <architecture>" from the adapter's GPUAdapterInfo:
 * wgpu reports only its description, which browsers leave empty unless
 * developer features are on.
 */
async function webGpuName(fallback) {
  try {
    const adapter = await navigator.gpu?.requestAdapter();
    const info = adapter?.info;
    if (!info) return fallback;
    const parts = [info.description || [info.vendor, info.architecture].filter(Boolean).join(' ')];
    if (adapter.isFallbackAdapter ?? info.isFallbackAdapter) parts.push('(software)');
    const name = parts.filter(Boolean).join(' ');
    return name ? `WebGPU: ${name}` : fallback;
  } catch {
    return fallback;
  }
}

/**
 * Runs `run(write)`, whose results go into the files `names` part by part (`write(i, bytes)`): its result, the
 * finished Files, and where they were kept; on an error the files are dropped.
 */
async function writingResults(names, run) {
  const out = await openResultFiles(names);
  let result;
  try {
    result = await run((i, bytes) => out.write(i, bytes));
    return { result, files: await out.finish(), keptOn: out.where };
  } catch (error) {
    free(result);
    await out.discard();
    throw error;
  }
}

function needModel() {
  if (!model) throw new Error('No model is loaded.');
  return model;
}

function modelInfo() {
  const m = needModel();
  return {
    hiddenSize: m.hiddenSize,
    layers: m.layers,
    architecture: m.architecture,
    parameters: m.parameters,
    precision: m.precision,
    precisionSummary: m.precisionSummary,
    hasClassifier: m.hasClassifier,
    heads: m.heads,
    hasMlmHead: m.hasMlmHead,
    classes: m.classes,
  };
}

function checkBatch(batchSize) {
  const b = Number(batchSize);
  if (!Number.isInteger(b) || b < 1) throw new Error(`The batch size must be a whole number ≥ 1, not "${batchSize}".`);
  return b;
}

const commands = {
  // `threads` counts for the first call only: a worker keeps its build.
  async init({ backend = 'auto', threads: wanted } = {}) {
    wasmReady ??= loadWasm(wantedThreads(wanted)).then((loaded) => {
      ({ Runtime, Model, FineTune, readText } = loaded.pkg);
      threads = loaded.threads;
      build = loaded.build;
    }).catch((e) => {
      wasmReady = null;
      throw e;
    });
    await wasmReady;
    // Results of tabs closed since (their folders are no longer held) go now, not at the next large run.
    dropOrphanResults();
    // A model lives on its runtime's device: a new runtime drops both.
    free(fineTune);
    fineTune = null;
    free(model);
    model = null;
    free(runtime);
    runtime = null;
    runtime = await Runtime.create(backend);
    const isGpu = Boolean(runtime.isGpu);
    return { name: isGpu ? await webGpuName(runtime.name) : runtime.name, notice: runtime.notice, isGpu, threads, build };
  },

  async load(files, progress) {
    if (!runtime) throw new Error('The runtime is not started (call init first).');
    free(fineTune);
    fineTune = null;
    free(model);
    model = null;
    progress(0, 1, 'uploading weights');
    model = Model.load(
      runtime,
      files.config,
      files.tokenizerName,
      files.tokenizer,
      new Uint8Array(files.weights),
      files.weightsName,
      files.precision ?? 'f32',
    );
    progress(1, 1, 'uploading weights');
    let adapter = false;
    let adapterError = null;
    if (files.adapterConfig && files.adapterWeights) {
      try {
        model.setAdapter(files.adapterConfig, new Uint8Array(files.adapterWeights));
        adapter = true;
      } catch (e) {
        adapterError = errorMessage(e);
      }
    }
    return { ...modelInfo(), adapter, adapterError };
  },

  async setAdapter({ config, weights }) {
    needModel().setAdapter(config, new Uint8Array(weights));
    return modelInfo();
  },

  async clearAdapter() {
    needModel().clearAdapter();
    return modelInfo();
  },

  async embed({ text, pooling = 'mean', layer, batchSize = 8 }, progress) {
    const m = needModel();
    const layerArg = layer === null || layer === undefined || layer === '' ? undefined : Number(layer);
    const e = await m.embed(text, pooling, layerArg, checkBatch(batchSize), (done, total) => progress(done, total, 'embedding'));
    try {
      const values = owned(e.values());
      // The downloads come from the library's writers, as the CLI's files do.
      const npy = owned(e.npy());
      return {
        value: { rows: e.rows, hidden: e.hidden, ids: e.ids(), labels: e.labels(), warnings: e.warnings(), values: values.buffer, npy: npy.buffer, csv: e.csv() },
        transfer: [values.buffer, npy.buffer],
      };
    } finally {
      free(e);
    }
  },

  /** A large file, read in slices and embedded a chunk at a time; the downloads are written as rows are done. */
  async embedFile({ file, pooling = 'mean', layer, batchSize = 8, sampleRows = 2000 }, progress) {
    const m = needModel();
    const layerArg = layer === null || layer === undefined || layer === '' ? undefined : Number(layer);
    const wasmBytesBefore = wasmMemory?.buffer.byteLength ?? null;
    const { result: e, files: [npy, csv], keptOn } = await writingResults(['embeddings.npy', 'embeddings.csv'], (write) =>
      m.embedFile(file, file.name, pooling, layerArg, checkBatch(batchSize), sampleRows, progress, (npyPart, csvPart) => {
        write(0, npyPart);
        write(1, csvPart);
      }));
    const sample = e.sample();
    try {
      const values = owned(sample.values());
      return {
        value: {
          rows: e.rows,
          tokens: e.tokens,
          hidden: sample.hidden,
          sampleIds: sample.ids(),
          sampleLabels: sample.labels(),
          sampleValues: values.buffer,
          warnings: sample.warnings(),
          npy,
          csv,
          keptOn,
          // The wasm memory never shrinks: its size after the run is its peak.
          wasmBytesBefore,
          wasmBytes: wasmMemory?.buffer.byteLength ?? null,
        },
        transfer: [values.buffer],
      };
    } finally {
      free(sample);
      free(e);
    }
  },

  /** A large file, read in slices and classified 4,096 sequences at a time; the predictions CSV is written as rows are done. */
  async classifyFile({ file, batchSize = 8, firstRows = 500 }, progress) {
    const { result: c, files: [csv], keptOn } = await writingResults(['predictions.csv'], (write) =>
      needModel().classifyFile(file, file.name, checkBatch(batchSize), firstRows, progress, (csvPart) => write(0, csvPart)));
    const first = c.first();
    try {
      const probs = owned(first.probs());
      return {
        value: {
          rows: c.rows,
          classes: first.classes,
          predicted: Array.from(c.predicted()),
          ids: first.ids(),
          labels: first.labels(),
          warnings: first.warnings(),
          probs: probs.buffer,
          csv,
          keptOn,
        },
        transfer: [probs.buffer],
      };
    } finally {
      free(first);
      free(c);
    }
  },

  async classify({ text, batchSize = 8 }, progress) {
    const c = await needModel().classify(text, checkBatch(batchSize), (done, total) => progress(done, total, 'classifying'));
    try {
      const probs = owned(c.probs());
      return {
        value: { rows: c.rows, classes: c.classes, ids: c.ids(), labels: c.labels(), warnings: c.warnings(), probs: probs.buffer, csv: c.csv() },
        transfer: [probs.buffer],
      };
    } finally {
      free(c);
    }
  },

  async evaluate({ text, batchSize = 8 }, progress) {
    const ev = await needModel().evaluate(text, checkBatch(batchSize), (done, total) => progress(done, total, 'evaluating'));
    try {
      const confusion = owned(ev.confusion());
      const probs = owned(ev.probs());
      return {
        value: {
          n: ev.n,
          classes: ev.classes,
          mcc: ev.mcc,
          f1: ev.f1,
          accuracy: ev.accuracy,
          loss: ev.loss,
          confusion: confusion.buffer,
          probs: probs.buffer,
        },
        transfer: [confusion.buffer, probs.buffer],
      };
    } finally {
      free(ev);
    }
  },

  /** `text`, or a held `file` read whole here (gzip decompressed, at most `maxBytes` of text). */
  async embedPerBase({ text, file, maxBytes, layer, batchSize = 8 }, progress) {
    const m = needModel();
    if (file) text = readText(file, file.name, maxBytes);
    const layerArg = layer === null || layer === undefined || layer === '' ? undefined : Number(layer);
    const e = await m.embedPerBase(text, layerArg, checkBatch(batchSize), (done, total) => progress(done, total, 'embedding'));
    try {
      // One .npy [bases, H] per record, from the library's writer.
      const npys = Array.from({ length: e.rows }, (_, r) => owned(e.npy(r)).buffer);
      return {
        value: { rows: e.rows, hidden: e.hidden, ids: e.ids(), warnings: e.warnings(), bases: Array.from(e.bases()), npys },
        transfer: npys,
      };
    } finally {
      free(e);
    }
  },

  async vep({ vcf, reference = '', referenceFile, flank = 256, batchSize = 8 }, progress) {
    const f = Number(flank);
    if (!Number.isInteger(f) || f < 0) throw new Error(`The flank must be a whole number ≥ 0, not "${flank}".`);
    const s = await needModel().vep(vcf, reference, referenceFile, referenceFile?.name, f, checkBatch(batchSize), progress);
    try {
      const values = owned(s.values());
      return {
        value: {
          rows: s.rows,
          classes: s.classes,
          symbolic: s.symbolic,
          chrom: s.chrom(),
          pos: Array.from(s.pos()),
          id: s.id(),
          ref: s.ref(),
          alt: s.alt(),
          columns: s.columns(),
          values: values.buffer,
          csv: s.csv(),
        },
        transfer: [values.buffer],
      };
    } finally {
      free(s);
    }
  },

  async attention({ text, layer = 0, head = 0 }) {
    const a = await needModel().attention(text, Number(layer), Number(head));
    try {
      const values = owned(a.values());
      return { value: { size: a.size, tokens: a.tokens(), values: values.buffer }, transfer: [values.buffer] };
    } finally {
      free(a);
    }
  },

  async finetuneStart({ trainCsv, options = {} }) {
    free(fineTune);
    fineTune = null;
    fineTune = FineTune.create(needModel(), trainCsv, JSON.stringify(options));
    return {
      totalSteps: fineTune.totalSteps,
      rows: fineTune.rows,
      rowsInFile: fineTune.rowsInFile,
      maxRows: fineTune.maxRows,
      classes: fineTune.classes,
    };
  },

  async finetuneStep() {
    if (!fineTune) throw new Error('No fine-tuning run is in progress.');
    const loss = await fineTune.trainStep();
    return { step: fineTune.step, totalSteps: fineTune.totalSteps, loss };
  },

  async finetuneAdapter() {
    if (!fineTune) throw new Error('No fine-tuning run is in progress.');
    const config = fineTune.adapterConfig();
    const weights = owned(await fineTune.adapterWeights());
    return { value: { config, weights: weights.buffer }, transfer: [weights.buffer] };
  },

  async finetuneEnd() {
    free(fineTune);
    fineTune = null;
    return true;
  },
};

function errorMessage(e) {
  if (e instanceof Error) return e.message || e.name;
  return String(e);
}

async function handle({ id, cmd, args }) {
  const progress = (done, total, stage) => postMessage({ id, type: 'progress', done, total, stage });
  try {
    const run = commands[cmd];
    if (!run) throw new Error(`unknown command "${cmd}"`);
    const out = await run(args ?? {}, progress);
    // Commands that hand back buffers return {value, transfer}.
    if (out && typeof out === 'object' && 'transfer' in out && 'value' in out) {
      postMessage({ id, type: 'result', value: out.value }, out.transfer);
    } else {
      postMessage({ id, type: 'result', value: out });
    }
  } catch (e) {
    // A wasm trap (panic) leaves the module unusable: say so.
    const trapped = e instanceof WebAssembly.RuntimeError;
    postMessage({ id, type: 'error', message: errorMessage(e), name: e?.name ?? 'Error', fatal: trapped });
  }
}

// One request at a time, in order: the model and the device are not shared.
let queue = Promise.resolve();
self.onmessage = (event) => {
  queue = queue.then(() => handle(event.data));
};
