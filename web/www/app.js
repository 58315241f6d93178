// Job: the page's main-thread logic: wires the controls to the model worker (via client.js), shows results, exposes window.dnagpuPage for tests.

import { DnagpuClient } from './client.js';
import {
  UserError, fetchModel, pickModelFiles, readPickedModel, readPickedAdapter, readTextFile, filesFromDrop,
  parseHubId, checkWeightsSize, cachedBytes, clearCache, cacheAvailable, formatBytes,
} from './files.js';
import { npyFloat32, embeddingsCsv, predictionsCsv, argmax } from './npy.js';
import { pca2, project } from './pca.js';
import { scatterChart, lineChart, confusionTable } from './charts.js';
import {
  $, say, progressReporter, hideProgress, offerDownload, withdrawDownload, formatCount, formatParameters,
  formatDuration, metric, explain, NO_WEBGPU,
} from './ui.js';

const SHIPPED_MODEL = new URL('./models/dnabert2-small-gue/', document.baseURI).href;
const SHIPPED_ADAPTER = new URL('./models/dnabert2-small-gue-promoter-lora/', document.baseURI).href;
const SHIPPED_CLASS_NAMES = ['0 (not promoter)', '1 (promoter)'];
const EXAMPLE_URL = './data/sample.fa';
const LARGE_INPUT_BYTES = 2e6; // bigger input files are held, not shown in the textarea
const TABLE_ROWS = 500; // predictions shown on the page (the CSV has all)
const PCA_FIT_ROWS = 2000; // PCA components are fitted on at most this many rows
const FT_MAX_ROWS = 2000;
const BACKEND_LABELS = { auto: 'Auto', gpu: 'WebGPU', cpu: 'CPU (WASM)' };

// ---------------------------------------------------------------- test hook

let resolveReady;
let rejectReady;
const page = {
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
  lastError: null,
};
page.ready.catch(() => {}); // a failed start is shown on the page; tests may still await it
window.dnagpuPage = page;

// ---------------------------------------------------------------- state

const state = {
  client: null,
  backend: 'auto',
  source: null, // how the model was loaded, to load it again after a backend change
  model: null, // model info from the worker
  baseClassNames: null, // from config.json id2label
  classNames: null, // for the classifier now active
  adapter: null, // 'shipped' | 'disk' | 'fine-tuned' | null
  adapterOverride: null, // {config, weights, kind} set after load, re-applied after a reload; 'none' after "remove"
  busy: false,
  heldInput: null, // {name, text} for a large input file
  inputName: '', // file name the textarea came from ('' when typed)
  ft: null, // the fine-tuning run in progress or last finished
  ftAdapter: null, // {config, weights: ArrayBuffer} from the last run
  textCache: new Map(), // bundled data files by URL
};

// ---------------------------------------------------------------- running things

/** The error as shown to the user, with library messages prefixed by `source`; keeps `fatal`. */
function prefixed(error, source) {
  if (error instanceof UserError || error?.fatal || error?.name === 'WorkerFailed') return error;
  const wrapped = new UserError(explain(error, source));
  wrapped.cause = error;
  return wrapped;
}

function setPageState(value) {
  document.body.dataset.state = value;
}

/**
 * Runs one job with the page marked busy: run buttons off, errors shown in
 * `statusId` and #status. Returns true when it succeeded.
 */
async function runTask(job, { statusId, source = '' } = {}) {
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

function updateControls() {
  const idle = !state.busy;
  const hasModel = Boolean(state.model);
  const hasClassifier = hasModel && state.model.hasClassifier;
  $('embed-run').disabled = !(idle && hasModel);
  $('classify-run').disabled = !(idle && hasClassifier);
  $('eval-run').disabled = !(idle && hasClassifier);
  $('ft-run').disabled = !(idle && hasModel);
  $('ft-stop').disabled = !(state.ft?.running && !state.ft.stopRequested);
  for (const id of ['backend', 'model-default', 'model-folder', 'model-files', 'hub-id', 'hub-load', 'adapter-clear', 'cache-clear', 'ft-use']) {
    $(id).disabled = !idle;
  }
  if (!cacheAvailable()) $('cache-clear').disabled = true;
  $('model-drop').classList.toggle('disabled', !idle);
  $('classify-section').classList.toggle('disabled', !hasClassifier);
  $('eval-section').classList.toggle('disabled', !hasClassifier);
  const note = hasModel && !hasClassifier
    ? 'The loaded model has no classifier (no classification head or adapter): fine-tune an adapter below, or open one from disk.'
    : "Predicts a class for each input sequence with the model's classifier (its head or adapter).";
  $('classify-note').textContent = note;
}

// ---------------------------------------------------------------- runtime

async function startRuntime(backend) {
  say('status', `Starting the ${BACKEND_LABELS[backend] ?? backend} backend…`);
  let info;
  let fellBack = '';
  try {
    info = await state.client.call('init', { backend });
  } catch (error) {
    if (backend !== 'gpu' || error.name === 'WorkerFailed') throw error;
    // WebGPU asked for but unavailable: run on the CPU, and say why.
    fellBack = !('gpu' in navigator) ? NO_WEBGPU : `WebGPU could not start (${error.message}), so the CPU (WASM) backend runs instead, slower.`;
    backend = 'cpu';
    info = await state.client.call('init', { backend });
  }
  state.backend = backend;
  $('backend').value = backend;
  state.model = null;
  let notice = fellBack || info.notice || '';
  if (!info.isGpu && !('gpu' in navigator) && !fellBack) notice = `${NO_WEBGPU}${info.notice ? ` (${info.notice})` : ''}`;
  $('backend-name').textContent = info.name;
  $('backend-notice').textContent = notice;
  page.backend = { name: info.name, notice, isGpu: info.isGpu };
  say('status', `Runs on ${info.name}.`);
}

async function restartWorker() {
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

// ---------------------------------------------------------------- model

function classNamesFromConfig(configText) {
  try {
    const id2label = JSON.parse(configText).id2label;
    if (!id2label || typeof id2label !== 'object') return null;
    const keys = Object.keys(id2label).map(Number).filter(Number.isInteger).sort((a, b) => a - b);
    const names = keys.map((k) => String(id2label[k]));
    if (!names.length || names.every((n) => /^LABEL_\d+$/.test(n))) return null;
    return keys.map((k, i) => `${k} (${names[i]})`);
  } catch {
    return null; // the library reports a bad config.json
  }
}

function describeSource(source) {
  if (source.kind === 'shipped') return 'dnabert2-small-gue (shipped with this page)';
  if (source.kind === 'hub') return source.id;
  return source.picked.folder || 'files from disk';
}

/** Loads a model from a source ({kind: 'shipped'} | {kind: 'hub', id} | {kind: 'disk', picked}). */
async function loadModel(source) {
  const label = describeSource(source);
  say('model-status', `Loading ${label}…`);
  const onBytes = progressReporter('model-progress', 'model-status', (done, total, name) =>
    `${source.kind === 'disk' ? 'Reading' : 'Fetching'} ${name}: ${formatBytes(done)}${total ? ` of ${formatBytes(total)}` : ''}`,
  );
  let files;
  let origin;
  try {
    if (source.kind === 'disk') {
      files = await readPickedModel(source.picked, onBytes);
      origin = 'opened from disk';
    } else {
      const base = source.kind === 'shipped' ? SHIPPED_MODEL : `https://huggingface.co/${source.id}/resolve/main/`;
      const got = await fetchModel(base, { adapterUrl: source.kind === 'shipped' ? SHIPPED_ADAPTER : null, onProgress: onBytes });
      files = got.files;
      origin = got.origin === 'cache' ? 'loaded from cache' : got.origin === 'download' ? `downloaded (${formatBytes(got.bytes)})` : 'partly from cache, partly downloaded';
    }
    checkWeightsSize(files.weights.byteLength);
    const hasAdapter = Boolean(files.adapterConfig && files.adapterWeights);
    state.baseClassNames = classNamesFromConfig(files.config);
    const uploading = progressReporter('model-progress', 'model-status', (done, total) =>
      done < total ? `Uploading weights to ${page.backend?.name ?? 'the device'}…` : 'Weights uploaded.',
    );
    // From here the worker drops the old model: the page has none until this one loads.
    state.source = source;
    state.model = null;
    showModelInfo();
    const info = await state.client.call('load', files, {
      transfer: [files.weights, files.adapterWeights],
      onProgress: uploading,
    });
    state.model = info;
    state.adapter = info.adapter ? (source.kind === 'shipped' ? 'shipped' : 'disk') : null;
    state.classNames = state.adapter === 'shipped' ? SHIPPED_CLASS_NAMES : state.adapter ? null : state.baseClassNames;
    state.model.label = label;
    state.model.origin = origin;
    const notes = [...(source.picked?.warnings ?? [])];
    if (hasAdapter && info.adapterError) notes.push(`The adapter could not be set: ${info.adapterError}`);
    await reapplyAdapterOverride();
    showModelInfo();
    say('model-status', `${label}: ${origin}.${notes.length ? ` ${notes.join(' ')}` : ''}`, notes.length ? 'error' : 'ok');
    say('status', `Model ready on ${page.backend?.name ?? 'this device'}.`);
  } finally {
    hideProgress('model-progress');
    refreshCacheSize();
  }
}

async function reapplyAdapterOverride() {
  const o = state.adapterOverride;
  if (!o || !state.model) return;
  const info = o === 'none'
    ? await state.client.call('clearAdapter')
    : await state.client.call('setAdapter', { config: o.config, weights: o.weights.slice(0) });
  Object.assign(state.model, info);
  state.adapter = o === 'none' ? null : o.kind;
  state.classNames = o === 'none' ? state.baseClassNames : null;
}

function showModelInfo() {
  const m = state.model;
  page.model = m ? { ...m, adapter: state.adapter } : null;
  $('model-info').hidden = !m;
  $('adapter-clear').hidden = !(m && state.adapter);
  if (m) {
    $('info-name').textContent = m.label ?? '';
    $('info-origin').textContent = m.origin ?? '';
    $('info-layers').textContent = String(m.layers);
    $('info-hidden').textContent = String(m.hiddenSize);
    $('info-params').textContent = formatParameters(m.parameters);
    const kind = state.adapter === 'fine-tuned' ? ', your fine-tuned LoRA adapter' : state.adapter ? ', LoRA adapter' : '';
    $('info-classifier').textContent = m.hasClassifier ? `yes: ${m.classes} classes${kind}` : 'no';
  }
  updateControls();
}

async function setAdapter(config, weights, kind) {
  const info = await state.client.call('setAdapter', { config, weights: weights.slice(0) });
  Object.assign(state.model, info);
  state.adapter = kind;
  state.classNames = null;
  state.adapterOverride = { config, weights, kind };
  showModelInfo();
}

async function openDiskFiles(list) {
  const picked = pickModelFiles(list);
  if (picked.kind === 'adapter') {
    if (!state.model) throw new UserError('Load a base model first, then open the adapter folder.');
    const { config, weights } = await readPickedAdapter(picked);
    try {
      await setAdapter(config, weights, 'disk');
    } catch (error) {
      throw prefixed(error, picked.folder || 'adapter');
    }
    say('model-status', `Adapter from ${picked.folder} set: Classify and Evaluate use it.${picked.warnings.length ? ` ${picked.warnings.join(' ')}` : ''}`, 'ok');
    return;
  }
  state.adapterOverride = null;
  await loadModelNamed({ kind: 'disk', picked });
}

/** loadModel with the library's errors prefixed by the source. */
async function loadModelNamed(source) {
  try {
    await loadModel(source);
  } catch (error) {
    throw prefixed(error, describeSource(source));
  }
}

async function refreshCacheSize() {
  const button = $('cache-clear');
  if (!cacheAvailable()) {
    button.textContent = 'Clear cached models';
    button.disabled = true;
    $('cache-note').textContent = 'Cache Storage is unavailable here (the page needs https or localhost), so models download on every visit.';
    return;
  }
  try {
    const bytes = await cachedBytes();
    button.textContent = `Clear cached models (${formatBytes(bytes)})`;
    $('cache-note').textContent = bytes ? 'Downloaded models are kept in this browser so the next visit loads without downloading.' : '';
  } catch {
    button.textContent = 'Clear cached models';
  }
}

// ---------------------------------------------------------------- inputs

function inputText() {
  const text = state.heldInput ? state.heldInput.text : $('input').value;
  if (!text.trim()) throw new UserError('There is no input: paste sequences, open a file, or press “Load example”.');
  return text;
}

const inputSource = () => state.heldInput?.name || state.inputName || 'input';

function readInteger(id, what, { min = -Infinity, max = Infinity, optional = false } = {}) {
  const raw = $(id).value.trim();
  if (raw === '' && optional) return null;
  const n = Number(raw);
  if (raw === '' || !Number.isInteger(n) || n < min || n > max) {
    const range = Number.isFinite(max) ? ` from ${min} to ${max}` : Number.isFinite(min) ? ` ≥ ${min}` : '';
    throw new UserError(`${what} must be a whole number${range}, not “${raw}”.`);
  }
  return n;
}

function readLayer() {
  const layers = state.model.layers;
  return readInteger('layer', `The layer (-1 = last; this model has ${layers} layers)`, { min: -(layers + 1), max: layers });
}

const readBatch = () => readInteger('batch', 'The batch size', { min: 1, max: 4096 });

async function setInputFile(file) {
  const text = await readTextFile(file);
  const input = $('input');
  if (file.size > LARGE_INPUT_BYTES) {
    state.heldInput = { name: file.name, text };
    input.value = '';
    input.placeholder = `Using ${file.name} (${formatBytes(file.size)}, not shown). Type or paste here to use that text instead.`;
    $('input-note').textContent = `Input: ${file.name}, ${formatBytes(file.size)} (too large to show).`;
  } else {
    state.heldInput = null;
    input.value = text;
    $('input-note').textContent = `Input: ${file.name}.`;
  }
  state.inputName = file.name;
}

async function fetchText(url, what) {
  if (state.textCache.has(url)) return state.textCache.get(url);
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new UserError(`Could not fetch ${what}: ${error.message}`);
  }
  if (!response.ok) throw new UserError(`Could not fetch ${what} (${url}): HTTP ${response.status}.`);
  const text = await response.text();
  state.textCache.set(url, text);
  return text;
}

/** The CSV chosen by a bundled-file select and a file input pair: {text, name}. */
async function chosenCsv(selectId, fileId, what) {
  const select = $(selectId);
  if (select.value === 'upload') {
    const file = $(fileId).files[0];
    if (!file) throw new UserError(`Choose your ${what} file first (or pick a bundled one).`);
    return { text: await readTextFile(file), name: file.name };
  }
  const label = select.selectedOptions[0]?.textContent ?? select.value;
  return { text: await fetchText(select.value, label), name: select.value.split('/').pop() };
}

function countCsvRows(text) {
  let rows = 0;
  for (const line of text.split('\n')) if (line.trim()) rows++;
  return Math.max(0, rows - 1); // minus the header
}

async function updateFtCap() {
  try {
    const { text, name } = await chosenCsv('ft-bundled', 'ft-file', 'train.csv');
    const rows = countCsvRows(text);
    $('ft-cap').textContent = rows > FT_MAX_ROWS
      ? `Uses the first ${formatCount(FT_MAX_ROWS)} rows; ${name} has ${formatCount(rows)}.`
      : `${name} has ${formatCount(rows)} rows; all are used (at most ${formatCount(FT_MAX_ROWS)}).`;
  } catch (error) {
    $('ft-cap').textContent = error instanceof UserError ? error.message : '';
  }
}

// ---------------------------------------------------------------- embed

async function runEmbed() {
  const text = inputText();
  const pooling = $('pooling').value;
  const layer = readLayer();
  const batchSize = readBatch();
  withdrawDownload('embed-npy');
  withdrawDownload('embed-csv');
  $('embed-figure').hidden = true;
  const started = performance.now();
  const result = await state.client.call('embed', { text, pooling, layer, batchSize }, {
    onProgress: progressReporter('embed-progress', 'embed-status', (done, total) => `Embedding: ${formatCount(done)} of ${formatCount(total)} sequences…`),
  }).finally(() => hideProgress('embed-progress'));
  const seconds = (performance.now() - started) / 1000;
  const values = new Float32Array(result.values);
  const { rows, hidden, ids, labels } = result;
  page.lastEmbeddings = { ids, labels, rows, hidden, values };
  say('embed-status', `${formatCount(rows)} sequences → ${formatCount(rows)} × ${hidden} embeddings (${pooling} pooling, layer ${layer}) in ${seconds.toFixed(1)} s.${notes(result.warnings)}`, 'ok');
  offerDownload('embed-npy', new Blob([npyFloat32(values, rows, hidden)], { type: 'application/octet-stream' }), 'embeddings.npy');
  offerDownload('embed-csv', new Blob([embeddingsCsv(ids, values, hidden)], { type: 'text/csv' }), 'embeddings.csv');
  if (rows >= 2) drawPca(values, rows, hidden, ids, labels);
}

function drawPca(values, rows, hidden, ids, labels) {
  let fitValues = values;
  let fitRows = rows;
  if (rows > PCA_FIT_ROWS) {
    // Fit on evenly spaced rows (deterministic), project every row.
    fitRows = PCA_FIT_ROWS;
    fitValues = new Float32Array(fitRows * hidden);
    for (let i = 0; i < fitRows; i++) {
      const r = Math.floor((i * rows) / fitRows);
      fitValues.set(values.subarray(r * hidden, (r + 1) * hidden), i * hidden);
    }
  }
  const fit = pca2(fitValues, fitRows, hidden);
  const coords = fitRows === rows ? fit.coords : project(values, rows, hidden, fit);
  const hasLabels = labels.some((l) => l !== '');
  const pct = (x) => `${(x * 100).toFixed(1)}%`;
  scatterChart($('embed-plot'), coords, {
    ids,
    labels: hasLabels ? labels : null,
    xLabel: `PC 1 (${pct(fit.explained[0])})`,
    yLabel: `PC 2 (${pct(fit.explained[1])})`,
    title: 'PCA of the embeddings',
  });
  $('embed-caption').textContent =
    `PCA of the ${formatCount(rows)} embeddings: PC 1 explains ${pct(fit.explained[0])} and PC 2 ${pct(fit.explained[1])} of the variance` +
    `${hasLabels ? '; colours are the input labels' : ''}${fitRows < rows ? `; components fitted on ${formatCount(fitRows)} evenly spaced rows` : ''}.`;
  $('embed-figure').hidden = false;
}

// ---------------------------------------------------------------- classify

const className = (k) => state.classNames?.[k] ?? String(k);

/** What the reader noticed about the input (ambiguous bases, repeated ids), as a sentence. */
const notes = (warnings) => (warnings?.length ? ` Note: ${warnings.join('; ')}.` : '');

async function runClassify() {
  const text = inputText();
  const batchSize = readBatch();
  withdrawDownload('classify-csv');
  $('classify-table').replaceChildren();
  const started = performance.now();
  const result = await state.client.call('classify', { text, batchSize }, {
    onProgress: progressReporter('classify-progress', 'classify-status', (done, total) => `Classifying: ${formatCount(done)} of ${formatCount(total)} sequences…`),
  }).finally(() => hideProgress('classify-progress'));
  const seconds = (performance.now() - started) / 1000;
  const probs = new Float32Array(result.probs);
  const { rows, classes, ids, labels } = result;
  const predictions = Array.from({ length: rows }, (_, r) => argmax(probs.subarray(r * classes, (r + 1) * classes)));
  page.lastClassified = { ids, labels, rows, classes, probs, predictions };
  const counts = new Array(classes).fill(0);
  for (const p of predictions) counts[p]++;
  const summary = counts.map((c, k) => `${className(k)}: ${formatCount(c)}`).join(', ');
  say('classify-status', `${formatCount(rows)} sequences classified in ${seconds.toFixed(1)} s. Predicted ${summary}.${notes(result.warnings)}`, 'ok');
  offerDownload('classify-csv', new Blob([predictionsCsv(ids, probs, classes, labels)], { type: 'text/csv' }), 'predictions.csv');
  $('classify-table').replaceChildren(predictionsTable(result, probs, predictions));
}

function predictionsTable({ rows, classes, ids, labels }, probs, predictions) {
  const withLabels = labels.some((l) => l !== '');
  const table = document.createElement('table');
  const caption = document.createElement('caption');
  caption.textContent = rows > TABLE_ROWS
    ? `Predictions (the first ${formatCount(TABLE_ROWS)} of ${formatCount(rows)}; the CSV has all)`
    : 'Predictions';
  table.append(caption);
  const head = table.createTHead().insertRow();
  const headers = ['id', ...(withLabels ? ['label'] : []), 'predicted', ...Array.from({ length: classes }, (_, k) => `prob ${className(k)}`)];
  headers.forEach((h, i) => {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = h;
    if (i === 0) th.className = 'id';
    head.append(th);
  });
  const body = table.createTBody();
  for (let r = 0; r < Math.min(rows, TABLE_ROWS); r++) {
    const row = body.insertRow();
    const id = document.createElement('th');
    id.scope = 'row';
    id.className = 'id';
    id.textContent = ids[r];
    row.append(id);
    if (withLabels) row.insertCell().textContent = labels[r];
    row.insertCell().textContent = className(predictions[r]);
    for (let k = 0; k < classes; k++) row.insertCell().textContent = probs[r * classes + k].toFixed(3);
  }
  const box = document.createElement('div');
  box.className = 'table-box scroll';
  box.tabIndex = 0; // scrollable region reachable by keyboard
  box.setAttribute('role', 'region');
  box.setAttribute('aria-label', 'Predictions table');
  box.append(table);
  return box;
}

// ---------------------------------------------------------------- evaluate

let evalSourceName = '';

async function runEvaluate() {
  const batchSize = readBatch();
  const { text, name } = await chosenCsv('eval-bundled', 'eval-file', 'test.csv');
  evalSourceName = name;
  $('eval-results').hidden = true;
  $('eval-confusion').replaceChildren();
  const started = performance.now();
  const result = await state.client.call('evaluate', { text, batchSize }, {
    onProgress: progressReporter('eval-progress', 'eval-status', (done, total) => `Evaluating: ${formatCount(done)} of ${formatCount(total)} rows…`),
  }).finally(() => hideProgress('eval-progress'));
  const seconds = (performance.now() - started) / 1000;
  const confusion = new Uint32Array(result.confusion);
  const { n, classes, mcc, f1, accuracy, loss } = result;
  const matrix = Array.from({ length: classes }, (_, t) => Array.from(confusion.subarray(t * classes, (t + 1) * classes)));
  page.lastEvaluation = { n, classes, mcc, f1, accuracy, loss, confusion: matrix, probs: new Float32Array(result.probs), file: name };
  $('eval-mcc').textContent = metric(mcc);
  $('eval-f1').textContent = metric(f1);
  $('eval-accuracy').textContent = metric(accuracy);
  $('eval-loss').textContent = metric(loss);
  $('eval-n').textContent = formatCount(n);
  $('eval-results').hidden = false;
  confusionTable($('eval-confusion'), confusion, classes, state.classNames);
  say('eval-status', `${name}: ${formatCount(n)} rows evaluated in ${seconds.toFixed(1)} s.`, 'ok');
}

// ---------------------------------------------------------------- fine-tune

function readFtOptions() {
  const lr = Number($('ft-lr').value);
  if (!(lr > 0 && lr < 1)) throw new UserError(`The learning rate must be a number between 0 and 1 (e.g. 0.001), not “${$('ft-lr').value}”.`);
  return {
    lr,
    r: readInteger('ft-rank', 'The LoRA rank', { min: 1, max: 256 }),
    epochs: readInteger('ft-epochs', 'The number of epochs', { min: 1, max: 1000 }),
    steps: readInteger('ft-steps', 'The number of steps', { min: 1, max: 1_000_000, optional: true }),
    batchSize: readInteger('ft-batch', 'The fine-tuning batch size', { min: 1, max: 4096 }),
    maxRows: FT_MAX_ROWS,
    seed: 0,
  };
}

function showFtProgress(ft) {
  const done = ft.losses.length;
  const elapsed = performance.now() - ft.started;
  const perStep = done ? elapsed / done : NaN;
  $('ft-step').textContent = `${formatCount(done)} of ${formatCount(ft.totalSteps)}`;
  $('ft-loss').textContent = done ? metric(ft.losses[done - 1]) : '–';
  $('ft-elapsed').textContent = formatDuration(elapsed);
  $('ft-eta').textContent = done ? formatDuration(perStep * (ft.totalSteps - done)) : '–';
  const bar = $('ft-progress');
  bar.hidden = false;
  bar.max = ft.totalSteps;
  bar.value = done;
  lineChart($('ft-chart'), ft.losses, { xLabel: 'step', yLabel: 'training loss', title: 'Training loss per step', xMax: ft.totalSteps });
}

async function runFineTune() {
  const options = readFtOptions();
  const { text, name } = await chosenCsv('ft-bundled', 'ft-file', 'train.csv');
  for (const id of ['ft-config', 'ft-weights']) withdrawDownload(id);
  $('ft-use').hidden = true;
  state.ftAdapter = null;
  say('ft-status', `Preparing ${name}…`);
  let info;
  try {
    info = await state.client.call('finetuneStart', { trainCsv: text, options });
  } catch (error) {
    throw prefixed(error, name);
  }
  $('ft-cap').textContent = info.rowsInFile > info.rows
    ? `Uses the first ${formatCount(info.rows)} rows; ${name} has ${formatCount(info.rowsInFile)}.`
    : `${name}: all ${formatCount(info.rows)} rows are used.`;
  const ft = { losses: [], totalSteps: info.totalSteps, started: performance.now(), running: true, stopRequested: false };
  state.ft = ft;
  page.lastFineTune = { losses: ft.losses, totalSteps: ft.totalSteps, rows: info.rows, rowsInFile: info.rowsInFile, classes: info.classes, done: false };
  $('ft-stats').hidden = false;
  updateControls();
  showFtProgress(ft);
  say('ft-status', `Training on ${formatCount(info.rows)} rows, ${info.classes} classes: ${formatCount(ft.totalSteps)} steps.`);
  try {
    while (ft.losses.length < ft.totalSteps && !ft.stopRequested) {
      const { loss } = await state.client.call('finetuneStep');
      ft.losses.push(loss);
      showFtProgress(ft);
      if (!Number.isFinite(loss)) {
        throw new UserError(`The loss became ${loss} at step ${ft.losses.length}: choose a smaller learning rate and start again.`);
      }
    }
  } finally {
    ft.running = false;
    updateControls();
  }
  const done = ft.losses.length;
  if (done > 0) {
    const adapter = await state.client.call('finetuneAdapter');
    state.ftAdapter = adapter;
    offerDownload('ft-config', new Blob([adapter.config], { type: 'application/json' }), 'adapter_config.json');
    offerDownload('ft-weights', new Blob([adapter.weights], { type: 'application/octet-stream' }), 'adapter_model.safetensors');
    $('ft-use').hidden = false;
  }
  await state.client.call('finetuneEnd');
  page.lastFineTune.done = true;
  page.lastFineTune.stopped = ft.stopRequested;
  const took = formatDuration(performance.now() - ft.started);
  say('ft-status', ft.stopRequested
    ? `Stopped after ${formatCount(done)} of ${formatCount(ft.totalSteps)} steps (${took}).${done ? ' The adapter so far can be downloaded or used.' : ''}`
    : `Done: ${formatCount(done)} steps in ${took}, final loss ${metric(ft.losses[done - 1])}.`, 'ok');
}

async function useFineTunedAdapter() {
  const a = state.ftAdapter;
  if (!a) return;
  await setAdapter(a.config, a.weights, 'fine-tuned');
  say('ft-status', 'Your fine-tuned adapter is set on the model: Classify and Evaluate use it.', 'ok');
  say('status', 'Fine-tuned adapter in use.');
}

// ---------------------------------------------------------------- wiring

function on(id, event, handler) {
  $(id).addEventListener(event, handler);
}

function wire() {
  on('backend', 'change', () => {
    const backend = $('backend').value;
    runTask(async () => {
      await startRuntime(backend);
      showModelInfo();
      if (state.source) await loadModelNamed(state.source);
    }, { statusId: 'model-status' });
  });

  on('model-default', 'click', () => {
    state.adapterOverride = null;
    runTask(() => loadModelNamed({ kind: 'shipped' }), { statusId: 'model-status' });
  });
  for (const id of ['model-folder', 'model-files']) {
    on(id, 'change', () => {
      const input = $(id);
      const files = [...input.files];
      input.value = ''; // choosing the same folder again fires change again
      if (files.length) runTask(() => openDiskFiles(files), { statusId: 'model-status' });
    });
  }
  const drop = $('model-drop');
  drop.addEventListener('dragover', (event) => {
    event.preventDefault();
    event.dataTransfer.dropEffect = state.busy ? 'none' : 'copy';
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    if (state.busy) return;
    const pending = filesFromDrop(event.dataTransfer); // must start inside the handler
    runTask(async () => openDiskFiles(await pending), { statusId: 'model-status' });
  });
  const loadHub = () => {
    runTask(async () => {
      const id = parseHubId($('hub-id').value);
      state.adapterOverride = null;
      await loadModelNamed({ kind: 'hub', id });
    }, { statusId: 'model-status' });
  };
  on('hub-load', 'click', loadHub);
  on('hub-id', 'keydown', (event) => {
    if (event.key === 'Enter') loadHub();
  });
  on('adapter-clear', 'click', () => runTask(async () => {
    Object.assign(state.model, await state.client.call('clearAdapter'));
    state.adapter = null;
    state.classNames = state.baseClassNames;
    state.adapterOverride = 'none';
    showModelInfo();
    say('model-status', 'Adapter removed: the base model is used as it is.', 'ok');
  }, { statusId: 'model-status' }));
  on('cache-clear', 'click', async () => {
    $('cache-clear').disabled = true;
    try {
      await clearCache();
      say('status', 'Cached models cleared: the next load downloads again.');
    } catch (error) {
      say('status', `Could not clear the cache: ${error.message}`, 'error');
    }
    await refreshCacheSize();
    updateControls();
  });

  const defaultPlaceholder = $('input').placeholder;
  on('input', 'input', () => {
    if (state.heldInput) {
      state.heldInput = null;
      $('input').placeholder = defaultPlaceholder;
    }
    state.inputName = '';
    $('input-note').textContent = '';
  });
  on('input-file', 'change', async () => {
    const file = $('input-file').files[0];
    if (!file) return;
    try {
      await setInputFile(file);
    } catch (error) {
      say('input-note', explain(error, file.name), 'error');
    }
  });
  const inputBox = $('input');
  inputBox.addEventListener('dragover', (event) => {
    if ([...event.dataTransfer.types].includes('Files')) event.preventDefault();
  });
  inputBox.addEventListener('drop', async (event) => {
    const file = event.dataTransfer.files?.[0];
    if (!file) return;
    event.preventDefault();
    try {
      await setInputFile(file);
    } catch (error) {
      say('input-note', explain(error, file.name), 'error');
    }
  });
  on('input-example', 'click', async () => {
    const button = $('input-example');
    button.disabled = true;
    try {
      const text = await fetchText(EXAMPLE_URL, 'the example');
      state.heldInput = null;
      $('input').value = text;
      state.inputName = 'sample.fa';
      say('input-note', 'Input: the example sample.fa (GUE promoter sequences; label=1 in the header means promoter).');
    } catch (error) {
      say('input-note', explain(error), 'error');
    } finally {
      button.disabled = false;
    }
  });

  on('embed-run', 'click', () => runTask(runEmbed, { statusId: 'embed-status', source: inputSource }));
  on('classify-run', 'click', () => runTask(runClassify, { statusId: 'classify-status', source: inputSource }));
  on('eval-run', 'click', () => runTask(runEvaluate, { statusId: 'eval-status', source: () => evalSourceName }));
  on('eval-file', 'change', () => {
    if ($('eval-file').files[0]) $('eval-bundled').value = 'upload';
  });
  on('ft-file', 'change', () => {
    if ($('ft-file').files[0]) $('ft-bundled').value = 'upload';
    updateFtCap();
  });
  on('ft-bundled', 'change', updateFtCap);
  on('ft-run', 'click', () => runTask(runFineTune, { statusId: 'ft-status' }));
  on('ft-stop', 'click', () => {
    if (!state.ft?.running) return;
    state.ft.stopRequested = true;
    updateControls();
    say('ft-status', 'Stopping after the current step…');
  });
  on('ft-use', 'click', () => runTask(useFineTunedAdapter, { statusId: 'ft-status' }));

  // A file dropped outside the drop zones must not navigate away from the page.
  window.addEventListener('dragover', (event) => event.preventDefault());
  window.addEventListener('drop', (event) => event.preventDefault());
  window.addEventListener('unhandledrejection', (event) => {
    console.error(event.reason);
    say('status', `Unexpected error: ${explain(event.reason)}`, 'error');
  });
}

async function start() {
  wire();
  updateControls();
  refreshCacheSize();
  updateFtCap();
  setPageState('loading');
  try {
    state.client = new DnagpuClient();
  } catch (error) {
    const message = `This browser cannot start the model worker (${error.message}). Use a current Chrome, Edge, Firefox or Safari.`;
    say('status', message, 'error');
    setPageState('error');
    rejectReady(new Error(message));
    return;
  }
  const ok = await runTask(
    async () => {
      // ?backend=gpu|cpu|auto picks the backend from the address (links, tests).
      const asked = new URLSearchParams(location.search).get('backend');
      await startRuntime(['auto', 'gpu', 'cpu'].includes(asked) ? asked : 'auto');
      await loadModelNamed({ kind: 'shipped' });
    },
    { statusId: 'model-status' },
  );
  if (ok && state.model) resolveReady({ backend: page.backend, model: page.model });
  else rejectReady(new Error(page.lastError ?? 'The default model did not load.'));
}

start();
