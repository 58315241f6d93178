// Job: the page's entry point: wires every control to its panel's handler and starts the runtime and the default model.

import { DnagpuClient } from './client.js';
import { clearCache, filesFromDrop, parseHubId } from './files.js';
import { $, explain, say } from './ui.js';
import { EXAMPLE_URL, page, runTask, setPageState, startRuntime, state, updateControls, markReady, markFailed } from './page-state.js';
import { loadModelNamed, openDiskFiles, refreshCacheSize, showModelInfo } from './model-panel.js';
import { fetchText, inputSource, releaseHeldInput, setInputFile, updateFtCap } from './inputs.js';
import { runClassify, runEmbed, runEvaluate, runPerBase, evalSource } from './results-panel.js';
import { runFineTune, useFineTunedAdapter } from './finetune-panel.js';
import { dropHeldReference, fillSingle, loadVepExample, openReferenceFile, readFileInto, runVep } from './variants-panel.js';
import { runAttention } from './attention-panel.js';
import { registerOffline } from './offline.js';

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

  on('precision', 'change', () => {
    if (state.source) runTask(() => loadModelNamed(state.source), { statusId: 'model-status' });
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
  on('hub-cancel', 'click', () => state.download?.abort());
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

  on('input', 'input', () => {
    if (state.heldInput) releaseHeldInput();
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
      releaseHeldInput();
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
  on('eval-run', 'click', () => runTask(runEvaluate, { statusId: 'eval-status', source: evalSource }));
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
  on('perbase-run', 'click', () => runTask(runPerBase, { statusId: 'perbase-status', source: inputSource }));
  on('vep-run', 'click', () => runTask(runVep, { statusId: 'vep-status' }));
  on('vep-example', 'click', () => loadVepExample().catch((error) => say('vep-status', explain(error), 'error')));
  on('vep-single-fill', 'click', () => {
    try {
      fillSingle();
    } catch (error) {
      say('vep-status', explain(error), 'error');
    }
  });
  on('vep-vcf-file', 'change', () => readFileInto('vep-vcf-file', 'vep-vcf').catch((error) => say('vep-status', explain(error), 'error')));
  on('vep-ref-file', 'change', () => openReferenceFile().catch((error) => say('vep-status', explain(error), 'error')));
  on('vep-ref', 'input', dropHeldReference);
  on('attn-run', 'click', () => runTask(runAttention, { statusId: 'attn-status' }));
  for (const id of ['attn-layer', 'attn-head']) {
    on(id, 'change', () => {
      if (page.lastAttention && !state.busy) runTask(runAttention, { statusId: 'attn-status' });
    });
  }
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
  registerOffline();
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
    markFailed(new Error(message));
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
  if (ok && state.model) markReady({ backend: page.backend, model: page.model });
  else markFailed(new Error(page.lastError ?? 'The default model did not load.'));
}

start();
