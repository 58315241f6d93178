// Job: small DOM helpers for app.js: element lookup, status lines, progress bars, download links, number/time formats, error wording.

import { UserError } from './files.js';

export const $ = (id) => {
  const node = document.getElementById(id);
  if (!node) throw new Error(`index.html has no #${id}`);
  return node;
};

/** Sets a status line; kind 'error' styles it and makes it an alert. */
export function say(id, text, kind = 'info') {
  const node = $(id);
  node.textContent = text;
  node.classList.toggle('error', kind === 'error');
  node.classList.toggle('ok', kind === 'ok');
}

/** A progress callback (done, total, stage) for a <progress> and a status line, text updates throttled. */
export function progressReporter(progressId, statusId, describe) {
  const bar = $(progressId);
  bar.hidden = false;
  bar.removeAttribute('value'); // indeterminate until the first report
  let lastText = 0;
  return (done, total, stage) => {
    if (total > 0) {
      bar.max = total;
      bar.value = Math.min(done, total);
    } else {
      bar.removeAttribute('value');
    }
    const now = performance.now();
    if (now - lastText > 400 || done === total) {
      lastText = now;
      say(statusId, describe(done, total, stage));
    }
  };
}

export function hideProgress(progressId) {
  const bar = $(progressId);
  bar.hidden = true;
  bar.value = 0;
}

const objectUrls = new Map();

/** Points a download link at a Blob (revoking the link's previous one) and shows it. */
export function offerDownload(id, blob, filename) {
  const link = $(id);
  const old = objectUrls.get(id);
  if (old) URL.revokeObjectURL(old);
  const url = URL.createObjectURL(blob);
  objectUrls.set(id, url);
  link.href = url;
  if (filename) link.download = filename;
  link.hidden = false;
}

export function withdrawDownload(id) {
  const link = $(id);
  const old = objectUrls.get(id);
  if (old) URL.revokeObjectURL(old);
  objectUrls.delete(id);
  link.removeAttribute('href');
  link.hidden = true;
}

export function formatCount(n) {
  return Number(n).toLocaleString('en-US');
}

export function formatParameters(n) {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} M`;
  return formatCount(n);
}

export function formatDuration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  const s = Math.round(ms / 1000);
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export const metric = (v) => (Number.isFinite(v) ? v.toFixed(3) : '–');

export const LOST_DEVICE = 'The GPU device was lost (driver reset or out of memory). Reload the model; a smaller batch size helps.';
export const OUT_OF_MEMORY = 'Out of memory: choose a smaller batch size (or a smaller model).';
export const NO_WEBGPU = 'This browser has no WebGPU (navigator.gpu is missing), so the CPU (WASM) backend runs instead, slower.';

/**
 * The message to show for an error. `source` (a file name, "input", …)
 * prefixes the library's own messages, which name what was wrong in it.
 */
export function explain(error, source = '') {
  if (error instanceof UserError || error?.name === 'UserError' || error?.name === 'WorkerFailed') return error.message;
  const message = (error && error.message) || String(error);
  if (error?.fatal) {
    return `The model runtime stopped on an internal error (${message}). It is restarted and the model reloaded; please try again.`;
  }
  if (/navigator\.gpu/i.test(message)) return NO_WEBGPU;
  if (/\blost\b/i.test(message)) return LOST_DEVICE;
  if (error?.name === 'RangeError' || /out of memory|memory|allocation/i.test(message)) return OUT_OF_MEMORY;
  // The library's messages already name their source ("input: record …").
  return source && !message.startsWith(`${source}:`) ? `${source}: ${message}` : message;
}
