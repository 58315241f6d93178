// Job: the Embed, Classify and Evaluate panels: run, show, plot and offer downloads.

import { pca2, project } from './pca.js';
import { confusionTable, scatterChart } from './charts.js';
import { $, formatCount, hideProgress, metric, offerDownload, progressReporter, say, withdrawDownload } from './ui.js';
import { PCA_FIT_ROWS, TABLE_ROWS, WHOLE_INPUT_MAX_BYTES, page, state } from './page-state.js';
import { chosenCsv, heldFile, inputText, readBatch, readLayer, wholeInputFile } from './inputs.js';
import { formatBytes } from './files.js';

// ---------------------------------------------------------------- embed

export async function runEmbed() {
  const pooling = $('pooling').value;
  const layer = readLayer();
  const batchSize = readBatch();
  withdrawDownload('embed-npy');
  withdrawDownload('embed-csv');
  $('embed-figure').hidden = true;
  const file = heldFile();
  if (file) return embedFile(file, pooling, layer, batchSize);
  const text = inputText();
  const started = performance.now();
  const result = await state.client.call('embed', { text, pooling, layer, batchSize }, {
    onProgress: progressReporter('embed-progress', 'embed-status', (done, total) => `Embedding: ${formatCount(done)} of ${formatCount(total)} sequences…`),
  }).finally(() => hideProgress('embed-progress'));
  const seconds = (performance.now() - started) / 1000;
  const values = new Float32Array(result.values);
  const { rows, hidden, ids, labels } = result;
  page.lastEmbeddings = { ids, labels, rows, hidden, values };
  say('embed-status', `${formatCount(rows)} sequences → ${formatCount(rows)} × ${hidden} embeddings (${pooling} pooling, layer ${layer}) in ${seconds.toFixed(1)} s.${notes(result.warnings)}`, 'ok');
  offerDownload('embed-npy', new Blob([result.npy], { type: 'application/octet-stream' }), 'embeddings.npy');
  offerDownload('embed-csv', new Blob([result.csv], { type: 'text/csv' }), 'embeddings.csv');
  if (rows >= 2) drawPca(values, rows, hidden, ids, labels);
}

/**
 * The progress line of a large file's run: bytes while the worker checks it, then sequences (`doing` them); the
 * stages reported go to the test hook (page.stages).
 */
function fileProgress(file, doing) {
  page.stages = new Set();
  return (done, total, stage) => {
    page.stages.add(stage);
    return stage === 'reading'
      ? `Checking ${file.name}: ${formatBytes(done)} of ${formatBytes(total)}…`
      : `${doing}: ${formatCount(done)} of ${formatCount(total)} sequences…`;
  };
}

/** Where a large file's results went (`keptOn` from the worker), for the status line. */
const keptWhere = (keptOn) => (keptOn === 'disk' ? 'written to disk as they were done' : 'kept by the browser as they were done');

/**
 * A large file, read in slices by the worker: the downloads are written as rows are done (on disk where the
 * browser allows), and the page keeps an evenly spaced sample of the rows for the plot.
 */
async function embedFile(file, pooling, layer, batchSize) {
  const started = performance.now();
  const result = await state.client.call('embedFile', { file, pooling, layer, batchSize, sampleRows: PCA_FIT_ROWS }, {
    onProgress: progressReporter('embed-progress', 'embed-status', fileProgress(file, 'Embedding')),
  }).finally(() => hideProgress('embed-progress'));
  const seconds = (performance.now() - started) / 1000;
  const values = new Float32Array(result.sampleValues);
  const { rows, hidden, sampleIds: ids, sampleLabels: labels, keptOn, wasmBytesBefore, wasmBytes, tokens } = result;
  page.lastEmbeddings = { ids, labels, rows, sampleRows: ids.length, hidden, values, keptOn, wasmBytesBefore, wasmBytes, tokens, npy: result.npy, csv: result.csv };
  say('embed-status', `${formatCount(rows)} sequences of ${file.name} → ${formatCount(rows)} × ${hidden} embeddings (${pooling} pooling, layer ${layer}) in ${seconds.toFixed(1)} s; the downloads were ${keptWhere(keptOn)}.${notes(result.warnings)}`, 'ok');
  offerDownload('embed-npy', result.npy, 'embeddings.npy');
  offerDownload('embed-csv', result.csv, 'embeddings.csv');
  if (ids.length >= 2) drawPca(values, ids.length, hidden, ids, labels, rows);
}

/** Per-base vectors of every input sequence; one .npy [bases, H] per sequence to download. */
export async function runPerBase() {
  const file = wholeInputFile('Per-base embedding', 'dnagpu embed --per-base');
  const input = file ? { file, maxBytes: WHOLE_INPUT_MAX_BYTES } : { text: inputText() };
  const layer = readLayer();
  const batchSize = readBatch();
  withdrawDownload('perbase-npy');
  $('perbase-record').replaceChildren();
  $('perbase-record').disabled = true;
  const started = performance.now();
  const result = await state.client.call('embedPerBase', { ...input, layer, batchSize }, {
    onProgress: progressReporter('perbase-progress', 'perbase-status', (done, total) => `Embedding per base: ${formatCount(done)} of ${formatCount(total)} sequences…`),
  }).finally(() => hideProgress('perbase-progress'));
  const seconds = (performance.now() - started) / 1000;
  const { ids, bases, hidden, npys } = result;
  page.lastPerBase = { ids, bases, hidden };
  const select = $('perbase-record');
  select.replaceChildren(...ids.map((id, r) => new Option(`${id} (${formatCount(bases[r])} bases)`, String(r))));
  select.disabled = false;
  const offer = () => {
    const r = Number(select.value);
    offerDownload('perbase-npy', new Blob([npys[r]], { type: 'application/octet-stream' }), `${ids[r].replace(/[^\w.-]+/g, '_')}.per-base.npy`);
  };
  select.onchange = offer;
  offer();
  say('perbase-status', `${formatCount(ids.length)} sequences → per-base vectors of width ${hidden} (layer ${layer}) in ${seconds.toFixed(1)} s: choose a sequence to download its [bases, ${hidden}] .npy.${notes(result.warnings)}`, 'ok');
}

/** PCA of `rows` embeddings (a sample of `total` when given: the plot says so). */
export function drawPca(values, rows, hidden, ids, labels, total = rows) {
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
  const which = total > rows ? `${formatCount(rows)} evenly spaced of the ${formatCount(total)} embeddings` : `the ${formatCount(rows)} embeddings`;
  $('embed-caption').textContent =
    `PCA of ${which}: PC 1 explains ${pct(fit.explained[0])} and PC 2 ${pct(fit.explained[1])} of the variance` +
    `${hasLabels ? '; colours are the input labels' : ''}${fitRows < rows ? `; components fitted on ${formatCount(fitRows)} evenly spaced rows` : ''}.`;
  $('embed-figure').hidden = false;
}

// ---------------------------------------------------------------- classify

export const className = (k) => state.classNames?.[k] ?? String(k);

/** Index of the largest value (the first one on ties, as the library's). */
function argmax(values) {
  let best = 0;
  for (let k = 1; k < values.length; k++) if (values[k] > values[best]) best = k;
  return best;
}

/** What the reader noticed about the input (ambiguous bases, repeated ids), as a sentence. */
export const notes = (warnings) => (warnings?.length ? ` Note: ${warnings.join('; ')}.` : '');

export async function runClassify() {
  const batchSize = readBatch();
  withdrawDownload('classify-csv');
  $('classify-table').replaceChildren();
  const file = heldFile();
  if (file) return classifyFile(file, batchSize);
  const text = inputText();
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
  offerDownload('classify-csv', new Blob([result.csv], { type: 'text/csv' }), 'predictions.csv');
  $('classify-table').replaceChildren(predictionsTable(result, probs, predictions));
}

/** A large file, read in slices by the worker: the predictions CSV is written as rows are done; the table shows the first rows. */
async function classifyFile(file, batchSize) {
  const started = performance.now();
  const result = await state.client.call('classifyFile', { file, batchSize, firstRows: TABLE_ROWS }, {
    onProgress: progressReporter('classify-progress', 'classify-status', fileProgress(file, 'Classifying')),
  }).finally(() => hideProgress('classify-progress'));
  const seconds = (performance.now() - started) / 1000;
  const probs = new Float32Array(result.probs);
  const { rows, classes, ids, labels, predicted, keptOn } = result;
  const predictions = ids.map((_, r) => argmax(probs.subarray(r * classes, (r + 1) * classes)));
  page.lastClassified = { ids, labels, rows, firstRows: ids.length, classes, probs, predictions, predicted, keptOn, csv: result.csv };
  const summary = predicted.map((c, k) => `${className(k)}: ${formatCount(c)}`).join(', ');
  say('classify-status', `${formatCount(rows)} sequences of ${file.name} classified in ${seconds.toFixed(1)} s. Predicted ${summary}; the predictions were ${keptWhere(keptOn)}.${notes(result.warnings)}`, 'ok');
  offerDownload('classify-csv', result.csv, 'predictions.csv');
  $('classify-table').replaceChildren(predictionsTable({ rows, classes, ids, labels }, probs, predictions));
}

export function predictionsTable({ rows, classes, ids, labels }, probs, predictions) {
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
/** The file the last evaluation read, for its error messages. */
export const evalSource = () => evalSourceName;

export async function runEvaluate() {
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
