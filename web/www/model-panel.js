// Job: the Model panel: the shipped model, folders from disk, hub ids, adapters, the model cache.

import { UserError, cacheAvailable, cachedBytes, checkWeightsSize, fetchModel, formatBytes, pickModelFiles, readPickedAdapter, readPickedModel } from './files.js';
import { fetchHubModel, isCancel } from './hub.js';
import { $, formatParameters, hideProgress, progressReporter, say } from './ui.js';
import { fillAttentionPickers } from './attention-panel.js';
import { SHIPPED_ADAPTER, SHIPPED_CLASS_NAMES, SHIPPED_MODEL, page, prefixed, state, updateControls } from './page-state.js';

// ---------------------------------------------------------------- model

export function classNamesFromConfig(configText) {
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

export function describeSource(source) {
  if (source.kind === 'shipped') return 'dnabert2-small-gue (shipped with this page)';
  if (source.kind === 'hub') return source.id;
  return source.picked.folder || 'files from disk';
}

/** Loads a model from a source ({kind: 'shipped'} | {kind: 'hub', id} | {kind: 'disk', picked}). */
export async function loadModel(source) {
  const label = describeSource(source);
  say('model-status', `Loading ${label}…`);
  const report = progressReporter('model-progress', 'model-status', (done, total, name) =>
    `${source.kind === 'disk' ? 'Reading' : source.kind === 'hub' ? 'Downloading' : 'Fetching'} ${name}: ${formatBytes(done)}` +
      (total ? ` of ${formatBytes(total)} (${Math.floor((100 * done) / total)}%)` : ''),
  );
  const events = [];
  const onBytes = (done, total, name) => {
    events.push({ file: name, done, total });
    report(done, total, name);
  };
  let files;
  let origin;
  try {
    if (source.kind === 'disk') {
      files = await readPickedModel(source.picked, onBytes);
      origin = 'opened from disk';
    } else if (source.kind === 'hub') {
      state.download = new AbortController();
      updateControls();
      page.lastDownload = { id: source.id, events, origin: null, cancelled: false };
      let got;
      try {
        got = await fetchHubModel(source.id, { onProgress: onBytes, signal: state.download.signal });
      } catch (error) {
        if (!isCancel(error)) throw error;
        page.lastDownload.cancelled = true;
        say('model-status', `Download of ${label} cancelled: nothing was stored${state.model ? '; the model loaded before stays' : ''}.`);
        return;
      } finally {
        state.download = null;
        updateControls();
      }
      page.lastDownload.origin = got.origin;
      files = got.files;
      origin = got.origin === 'cache' ? 'loaded from cache' : `downloaded (${formatBytes(got.bytes)})`;
    } else {
      const got = await fetchModel(SHIPPED_MODEL, { adapterUrl: SHIPPED_ADAPTER, onProgress: onBytes });
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
    files.precision = $('precision').value;
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

export async function reapplyAdapterOverride() {
  const o = state.adapterOverride;
  if (!o || !state.model) return;
  const info = o === 'none'
    ? await state.client.call('clearAdapter')
    : await state.client.call('setAdapter', { config: o.config, weights: o.weights.slice(0) });
  Object.assign(state.model, info);
  state.adapter = o === 'none' ? null : o.kind;
  state.classNames = o === 'none' ? state.baseClassNames : null;
}

export function showModelInfo() {
  const m = state.model;
  page.model = m ? { ...m, adapter: state.adapter } : null;
  $('model-info').hidden = !m;
  $('adapter-clear').hidden = !(m && state.adapter);
  if (m) {
    $('info-name').textContent = m.label ?? '';
    $('info-origin').textContent = m.origin ?? '';
    $('info-arch').textContent = m.architecture ?? '';
    $('info-layers').textContent = String(m.layers);
    $('info-hidden').textContent = String(m.hiddenSize);
    $('info-params').textContent = formatParameters(m.parameters);
    $('info-precision').textContent = m.precisionSummary ?? m.precision;
    const kind = state.adapter === 'fine-tuned' ? ', your fine-tuned LoRA adapter' : state.adapter ? ', LoRA adapter' : '';
    $('info-classifier').textContent = m.hasClassifier ? `yes: ${m.classes} classes${kind}` : 'no';
  }
  fillAttentionPickers();
  updateControls();
}

export async function setAdapter(config, weights, kind) {
  const info = await state.client.call('setAdapter', { config, weights: weights.slice(0) });
  Object.assign(state.model, info);
  state.adapter = kind;
  state.classNames = null;
  state.adapterOverride = { config, weights, kind };
  showModelInfo();
}

export async function openDiskFiles(list) {
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
export async function loadModelNamed(source) {
  try {
    await loadModel(source);
  } catch (error) {
    throw prefixed(error, describeSource(source));
  }
}

export async function refreshCacheSize() {
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
