// Job: reading the page's inputs: the sequence text or held file, numbers, bundled and uploaded CSVs, the fine-tuning row cap.

import { UserError, formatBytes, readTextFile } from './files.js';
import { $, formatCount } from './ui.js';
import { FT_MAX_ROWS, LARGE_INPUT_BYTES, WHOLE_INPUT_MAX_BYTES, state } from './page-state.js';

// ---------------------------------------------------------------- inputs

/** The text box's input (the page holds no large file: see heldFile). */
export function inputText() {
  const text = $('input').value;
  if (!text.trim()) throw new UserError('There is no input: paste sequences, open a file, or press “Load example”.');
  return text;
}

/**
 * The held file for a task that reads its input whole (`task` names it in the refusal of a file too large for
 * that; `command` is the command line that streams it), or null when the text box is the input. The worker reads it
 * (decompressing gzip) and refuses more than WHOLE_INPUT_MAX_BYTES of text.
 */
export function wholeInputFile(task, command) {
  const held = state.heldInput;
  if (!held) return null;
  if (held.file.size > WHOLE_INPUT_MAX_BYTES) {
    throw new UserError(
      `${task} reads its input whole, and ${held.name} is ${formatBytes(held.file.size)} (at most ${formatBytes(WHOLE_INPUT_MAX_BYTES)}): ` +
        `embed or classify it (large files are read in slices there), split it, or run \`${command}\` on the command line, which streams any size.`,
    );
  }
  return held.file;
}

/** Drops the held file: the text box is the input again (typed, or filled by the page). */
export function releaseHeldInput() {
  state.heldInput = null;
  showHeldFile($('input'), null);
}

/**
 * How an opened file is taken: 'gzip' (by its first two bytes, whatever its name) or 'large' (over
 * LARGE_INPUT_BYTES): held as its File, which the worker reads in slices; null: read into its text box.
 */
export async function holdKind(file) {
  const head = new Uint8Array(await file.slice(0, 2).arrayBuffer());
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  return file.size > LARGE_INPUT_BYTES ? 'large' : null;
}

/**
 * Says in the text box `box` that the held `file` is used instead of its text (`how`: how it is used), or, for
 * no file, gives the box its own placeholder back.
 */
export function showHeldFile(box, file, how = '') {
  box.dataset.placeholder ??= box.placeholder;
  if (!file) {
    box.placeholder = box.dataset.placeholder;
    return;
  }
  box.value = '';
  box.placeholder = `Using ${file.name} (${formatBytes(file.size)}, ${how}). Type or paste here to use that text instead.`;
}

/** The large input file the page holds (read in slices by the worker), or null. */
export const heldFile = () => state.heldInput?.file ?? null;

export const inputSource = () => state.heldInput?.name || state.inputName || 'input';

export function readInteger(id, what, { min = -Infinity, max = Infinity, optional = false } = {}) {
  const raw = $(id).value.trim();
  if (raw === '' && optional) return null;
  const n = Number(raw);
  if (raw === '' || !Number.isInteger(n) || n < min || n > max) {
    const range = Number.isFinite(max) ? ` from ${min} to ${max}` : Number.isFinite(min) ? ` ≥ ${min}` : '';
    throw new UserError(`${what} must be a whole number${range}, not “${raw}”.`);
  }
  return n;
}

export function readLayer() {
  const layers = state.model.layers;
  return readInteger('layer', `The layer (-1 = last; this model has ${layers} layers)`, { min: -(layers + 1), max: layers });
}

export const readBatch = () => readInteger('batch', 'The batch size', { min: 1, max: 4096 });

export async function setInputFile(file) {
  const kind = await holdKind(file);
  if (kind) {
    // Not read here: embedding and classification read it in slices (and decompress it), whatever its size.
    const gzip = kind === 'gzip';
    state.heldInput = { name: file.name, file, gzip };
    showHeldFile($('input'), file, gzip ? 'compressed, not shown' : 'not shown');
    $('input-note').textContent = `Input: ${file.name}, ${formatBytes(file.size)} (${gzip ? 'gzip-compressed' : 'too large to show'}; embedding and classification read it in slices).`;
  } else {
    const text = await readTextFile(file);
    releaseHeldInput();
    $('input').value = text;
    $('input-note').textContent = `Input: ${file.name}.`;
  }
  state.inputName = file.name;
}

export async function fetchText(url, what) {
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
export async function chosenCsv(selectId, fileId, what) {
  const select = $(selectId);
  if (select.value === 'upload') {
    const file = $(fileId).files[0];
    if (!file) throw new UserError(`Choose your ${what} file first (or pick a bundled one).`);
    return { text: await readTextFile(file), name: file.name };
  }
  const label = select.selectedOptions[0]?.textContent ?? select.value;
  return { text: await fetchText(select.value, label), name: select.value.split('/').pop() };
}

export function countCsvRows(text) {
  let rows = 0;
  for (const line of text.split('\n')) if (line.trim()) rows++;
  return Math.max(0, rows - 1); // minus the header
}

export async function updateFtCap() {
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
