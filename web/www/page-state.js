// Job: what the page's panels share: constants, the test hook (window.dnagpuPage), page state, running one job at a time, and the runtime (worker start and restart).

import { DnagpuClient } from './client.js';
import { UserError, cacheAvailable } from './files.js';
import { $, NO_WEBGPU, explain, say } from './ui.js';
import { loadModel, showModelInfo } from './model-panel.js';

export const SHIPPED_MODEL = new URL('./models/dnabert2-small-gue/', document.baseURI).href;
export const SHIPPED_ADAPTER = new URL('./models/dnabert2-small-gue-promoter-lora/', document.baseURI).href;
export const SHIPPED_CLASS_NAMES = ['0 (not promoter)', '1 (promoter)'];
export const EXAMPLE_URL = './data/sample.fa';
export const LARGE_INPUT_BYTES = 2e6; // bigger input files are held, not shown in the textarea; embed reads them in slices
export const WHOLE_INPUT_MAX_BYTES = 64e6; // tasks that read the input whole refuse bigger files
export const TABLE_ROWS = 500; // predictions shown on the page (the CSV has all)
export const PCA_FIT_ROWS = 2000; // PCA components are fitted on at most this many rows
export const FT_MAX_ROWS = 2000;
export const BACKEND_LABELS = { auto: 'Auto', gpu: 'WebGPU', cpu: 'CPU (WASM)' };

// ---------------------------------------------------------------- test hook

let resolveReady;
let rejectReady;
export const page = {
  ready: new Promise((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  }),
  backend: null,
  model: null,
  lastEmbeddings: null,
  lastClassified: null,
  lastEvaluation: null,
  lastFineTune: null,
  lastPerBase: null,
  lastVep: null,
  lastAttention: null,
  lastError: null,
  offline: null, // {controlled, version, updated, error}: the service worker (offline.js)
  stages: null, // Set of the progress stages a large file's run reported ('reading', 'embedding', 'classifying')
  lastDownload: null, // {id, events: [{file, done, total}], origin: 'cache'|'download'|null, cancelled}: the last hub load
};
page.ready.catch(() => {});
/** The default model is loaded: `page.ready` resolves with `info`. */
export const markReady = (info) => resolveReady(info);
/** The page could not start: `page.ready` rejects with `error`. */
export const markFailed = (error) => rejectReady(error); // a failed start is shown on the page; tests may still await it
window.dnagpuPage = page;

// ---------------------------------------------------------------- state

export const state = {
  client: null,
  backend: 'auto',
  source: null, // how the model was loaded, to load it again after a backend change
  model: null, // model info from the worker
  baseClassNames: null, // from config.json id2label
  classNames: null, // for the classifier now active
  adapter: null, // 'shipped' | 'disk' | 'fine-tuned' | null
  adapterOverride: null, // {config, weights, kind} set after load, re-applied after a reload; 'none' after "remove"
  busy: false,
  heldInput: null, // {name, file, gzip} for a large or gzip input file (embed reads it in slices)
  inputName: '', // file name the textarea came from ('' when typed)
  ft: null, // the fine-tuning run in progress or last finished
  ftAdapter: null, // {config, weights: ArrayBuffer} from the last run
  textCache: new Map(), // bundled data files by URL
  download: null, // the AbortController of the hub download in progress (#hub-cancel)
};

// ---------------------------------------------------------------- running things

/** The error as shown to the user, with library messages prefixed by `source`; keeps `fatal`. */
export function prefixed(error, source) {
  if (error instanceof UserError || error?.fatal || error?.name === 'WorkerFailed') return error;
  const wrapped = new UserError(explain(error, source));
  wrapped.cause = error;
  return wrapped;
}

export function setPageState(value) {
  document.body.dataset.state = value;
}

/**
 * Runs one job with the page marked busy: run buttons off, errors shown in
 * `statusId` and #status. Returns true when it succeeded.
 */
export async function runTask(job, { statusId, source = '' } = {}) {
  if (state.busy) return false;
  state.busy = true;
  setPageState('busy');
  updateControls();
  let failure = null;
  try {
    await job();
  } catch (error) {
    failure = error;
    const message = explain(error, typeof source === 'function' ? source() : source);
    console.error(error);
    page.lastError = message;
    if (statusId) say(statusId, message, 'error');
    say('status', message, 'error');
  } finally {
    state.busy = false;
    setPageState(failure || !state.model ? 'error' : 'ready');
    updateControls();
  }
  if (failure?.fatal) await restartWorker();
  return !failure;
}

export function updateControls() {
  const idle = !state.busy;
  const hasModel = Boolean(state.model);
  const hasClassifier = hasModel && state.model.hasClassifier;
  $('embed-run').disabled = !(idle && hasModel);
  $('classify-run').disabled = !(idle && hasClassifier);
  $('eval-run').disabled = !(idle && hasClassifier);
  $('ft-run').disabled = !(idle && hasModel);
  $('perbase-run').disabled = !(idle && hasModel);
  $('vep-run').disabled = !(idle && hasModel && state.model.hasMlmHead);
  $('attn-run').disabled = !(idle && hasModel);
  $('ft-stop').disabled = !(state.ft?.running && !state.ft.stopRequested);
  for (const id of ['backend', 'model-default', 'model-folder', 'model-files', 'hub-id', 'hub-load', 'adapter-clear', 'cache-clear', 'ft-use']) {
    $(id).disabled = !idle;
  }
  if (!cacheAvailable()) $('cache-clear').disabled = true;
  $('model-drop').classList.toggle('disabled', !idle);
  $('hub-cancel').hidden = !state.download;
  $('hub-cancel').disabled = !state.download;
  $('classify-section').classList.toggle('disabled', !hasClassifier);
  $('eval-section').classList.toggle('disabled', !hasClassifier);
  const note = hasModel && !hasClassifier
    ? 'The loaded model has no classifier (no classification head or adapter): fine-tune an adapter below, or open one from disk.'
    : "Predicts a class for each input sequence with the model's classifier (its head or adapter).";
  $('classify-note').textContent = note;
}

// ---------------------------------------------------------------- runtime

/** ?threads=N from the address (tests, benchmarks); else (undefined) every core. */
const threadsAsked = () => new URLSearchParams(location.search).get('threads') ?? undefined;

export async function startRuntime(backend) {
  say('status', `Starting the ${BACKEND_LABELS[backend] ?? backend} backend…`);
  let info;
  let fellBack = '';
  const threads = threadsAsked();
  try {
    info = await state.client.call('init', { backend, threads });
  } catch (error) {
    if (backend !== 'gpu' || error.name === 'WorkerFailed') throw error;
    // WebGPU asked for but unavailable: run on the CPU, and say why.
    fellBack = !('gpu' in navigator) ? NO_WEBGPU : `WebGPU could not start (${error.message}), so the CPU (WASM) backend runs instead, slower.`;
    backend = 'cpu';
    info = await state.client.call('init', { backend, threads });
  }
  state.backend = backend;
  $('backend').value = backend;
  state.model = null;
  let notice = fellBack || info.notice || '';
  if (!info.isGpu && !('gpu' in navigator) && !fellBack) notice = `${NO_WEBGPU}${info.notice ? ` (${info.notice})` : ''}`;
  $('backend-name').textContent = info.name;
  $('backend-notice').textContent = notice;
  page.backend = { name: info.name, notice, isGpu: info.isGpu, threads: info.threads, build: info.build };
  say('status', `Runs on ${info.name}.`);
}

export async function restartWorker() {
  // Restart at most twice a minute: a model that crashes on load must not loop.
  const now = Date.now();
  state.restarts = (state.restarts ?? []).filter((t) => now - t < 60_000);
  if (state.restarts.length >= 2) {
    say('status', 'The model runtime keeps stopping on an internal error. Reload the page; a smaller batch size or the CPU (WASM) backend may help.', 'error');
    return;
  }
  state.restarts.push(now);
  state.client?.terminate();
  state.client = new DnagpuClient();
  state.model = null;
  showModelInfo();
  await runTask(
    async () => {
      await startRuntime(state.backend);
      if (state.source) await loadModel(state.source);
    },
    { statusId: 'model-status' },
  );
}
