// Job: the Attention panel: one sequence's attention map for a chosen layer and head, from the library's attention-map code in the worker, drawn as a canvas heatmap with token labels.

import { $, say } from './ui.js';
import { page, state } from './page-state.js';
import { UserError } from './files.js';

/** Fills the layer and head pickers for the loaded model (keeping the choice where it still exists). */
export function fillAttentionPickers() {
  const fill = (id, count) => {
    const select = $(id);
    const kept = select.value;
    select.replaceChildren(
      ...Array.from({ length: count }, (_, i) => {
        const option = document.createElement('option');
        option.value = String(i);
        option.textContent = String(i);
        return option;
      }),
    );
    select.value = kept !== '' && Number(kept) < count ? kept : '0';
  };
  fill('attn-layer', state.model?.layers ?? 0);
  fill('attn-head', state.model?.heads ?? 0);
}

export async function runAttention() {
  const text = $('attn-input').value;
  if (!text.trim()) throw new UserError('sequence: paste one sequence (plain or FASTA).');
  const layer = Number($('attn-layer').value);
  const head = Number($('attn-head').value);
  const started = performance.now();
  const r = await state.client.call('attention', { text, layer, head });
  const seconds = (performance.now() - started) / 1000;
  const values = new Float32Array(r.values);
  page.lastAttention = { layer, head, size: r.size, tokens: r.tokens, values };
  draw($('attn-canvas'), values, r.tokens);
  $('attn-caption').textContent = `Layer ${layer}, head ${head}: ${r.size} tokens (special ones included); each row (a query) sums to 1. Darker = more attention.`;
  $('attn-figure').hidden = false;
  say('attn-status', `Attention map of layer ${layer}, head ${head} (${r.size} × ${r.size}) in ${seconds.toFixed(1)} s.`, 'ok');
}

/** Heatmap of the [T, T] map `values`, rows = queries, with the tokens along both axes. */
function draw(canvas, values, tokens) {
  const t = tokens.length;
  const cell = Math.max(2, Math.min(24, Math.floor(720 / Math.max(t, 1))));
  const labels = cell >= 8;
  const margin = labels ? Math.min(90, 8 + 7 * Math.max(...tokens.map((s) => s.length))) : 4;
  const size = margin + t * cell;
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(size * ratio);
  canvas.height = Math.round(size * ratio);
  canvas.style.width = `${size}px`;
  canvas.style.height = `${size}px`;
  const ctx = canvas.getContext('2d');
  ctx.scale(ratio, ratio);
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, size, size);
  let max = 0;
  for (const v of values) if (v > max) max = v;
  for (let q = 0; q < t; q++) {
    for (let k = 0; k < t; k++) {
      const v = max > 0 ? values[q * t + k] / max : 0;
      // white → dark blue
      const c = (a, b) => Math.round(a + (b - a) * v);
      ctx.fillStyle = `rgb(${c(255, 8)},${c(255, 48)},${c(255, 107)})`;
      ctx.fillRect(margin + k * cell, margin + q * cell, cell, cell);
    }
  }
  if (labels) {
    ctx.fillStyle = '#222';
    ctx.font = `${Math.min(12, cell - 1)}px sans-serif`;
    ctx.textBaseline = 'middle';
    ctx.textAlign = 'right';
    tokens.forEach((s, i) => ctx.fillText(s, margin - 3, margin + (i + 0.5) * cell, margin - 4));
    ctx.save();
    ctx.rotate(-Math.PI / 2);
    tokens.forEach((s, i) => ctx.fillText(s, -3, margin + (i + 0.5) * cell, margin - 4));
    ctx.restore();
  }
  canvas.setAttribute('aria-label', `Attention heatmap, ${t} × ${t} tokens: ${tokens.join(' ')}`);
}
