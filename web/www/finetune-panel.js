// Job: the Fine-tune panel: LoRA training step by step with a live loss curve, then the adapter.

import { UserError } from './files.js';
import { lineChart } from './charts.js';
import { $, formatCount, formatDuration, metric, offerDownload, say, withdrawDownload } from './ui.js';
import { FT_MAX_ROWS, page, prefixed, state, updateControls } from './page-state.js';
import { setAdapter } from './model-panel.js';
import { chosenCsv, readInteger } from './inputs.js';

// ---------------------------------------------------------------- fine-tune

export function readFtOptions() {
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

export function showFtProgress(ft) {
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

export async function runFineTune() {
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

export async function useFineTunedAdapter() {
  const a = state.ftAdapter;
  if (!a) return;
  await setAdapter(a.config, a.weights, 'fine-tuned');
  say('ft-status', 'Your fine-tuned adapter is set on the model: Classify and Evaluate use it.', 'ok');
  say('status', 'Fine-tuned adapter in use.');
}
