// Job: models from the Hugging Face hub: the repository's files, sizes and revision from the hub's API, a model too
// large for the page refused before anything downloads, downloads with progress that can be cancelled, and Cache
// Storage keyed by revision, so a later visit loads without downloading while the hub has no newer revision, and
// offline loads the revision kept. A cancelled or failed download stores nothing.

import { MAX_WEIGHTS_BYTES, UserError, cachedBuffer, decodeText, deleteCached, formatBytes, readStream, storeAll } from './files.js';

/** The hub's origin: index.html names it (a test page names a stand-in on loopback; `dnagpu serve` writes it). */
export const HUB = document.querySelector('meta[name="dnagpu-hub"]')?.content || 'https://huggingface.co';
const WEIGHT_NAMES = ['model.safetensors', 'pytorch_model.bin'];
const TOKENIZER_NAMES = ['tokenizer.json', 'vocab.txt'];

/** A file of the model at `revision` (a commit: its files never change, so a cached copy is never stale). */
export const hubFileUrl = (id, file, revision) => `${HUB}/${id}/resolve/${revision}/${file}`;
/** Where the model cache keeps the revision of `id` it holds (a cache key only: the page never fetches it). */
const revisionKey = (id) => `${HUB}/${id}/dnagpu-cached-revision`;

/** The hosts the page's policy lets it download from besides itself, for messages (the policy is the one list). */
function admittedHosts() {
  const policy = document.querySelector('meta[http-equiv="Content-Security-Policy"]')?.content ?? '';
  const connect = policy.split(';').map((d) => d.trim().split(/\s+/)).find((d) => d[0] === 'connect-src') ?? [];
  return connect.slice(1).filter((s) => s !== "'self'").map((s) => s.replace(/^https?:\/\//, ''));
}

function tooLarge(id, bytes) {
  return new UserError(
    `${id}: ${formatBytes(bytes)} of weights (the size the hub lists) exceed this page's limit of ` +
      `${formatBytes(MAX_WEIGHTS_BYTES)}: a WASM page has 4 GiB of memory and needs the file plus an f32 copy. ` +
      'Nothing was downloaded; use the dnagpu command line for this model.',
  );
}

/** Whether `error` is a cancelled download (the AbortController's abort). */
export const isCancel = (error) => error?.name === 'AbortError';

/** The model's files at `revision` when all of them are in Cache Storage, else null. */
async function fromCache(id, revision) {
  const first = async (names) => {
    for (const name of names) {
      const buffer = await cachedBuffer(hubFileUrl(id, name, revision));
      if (buffer) return { name, buffer };
    }
    return null;
  };
  const config = await first(['config.json']);
  const tokenizer = config && (await first(TOKENIZER_NAMES));
  const weights = tokenizer && (await first(WEIGHT_NAMES));
  return weights ? { config, tokenizer, weights } : null;
}

/**
 * { sizes: { name: size }, revision } of the repository, from the hub's API (`blobs=true` adds sizes, as
 * huggingface_hub asks; `sha` is the commit `main` is at). An unreachable hub throws an error marked `unreachable`.
 */
async function listFiles(id, signal) {
  const url = `${HUB}/api/models/${id}?blobs=true`;
  let response;
  try {
    response = await fetch(url, { credentials: 'omit', signal });
  } catch (error) {
    if (isCancel(error)) throw error;
    const unreachable = new UserError(`Could not reach the hub (${new URL(HUB).host}) for ${id}: offline, or blocked by the network.`);
    unreachable.unreachable = true;
    throw unreachable;
  }
  if (response.status === 401 || response.status === 403 || response.status === 404) {
    throw new UserError(
      `The hub has no public model ${id} (HTTP ${response.status}): check the id; a private or gated model must be ` +
        'downloaded with an account that has access and opened from disk.',
    );
  }
  if (!response.ok) throw new UserError(`The hub answered HTTP ${response.status} for ${id}.`);
  const info = await response.json().catch(() => null);
  if (!Array.isArray(info?.siblings)) throw new UserError(`The hub's answer for ${id} lists no files.`);
  const sizes = {};
  for (const s of info.siblings) {
    const size = Number(s?.lfs?.size ?? s?.size);
    if (typeof s?.rfilename === 'string') sizes[s.rfilename] = Number.isFinite(size) && size >= 0 ? size : null;
  }
  // A commit id only: it goes into the files' addresses.
  const revision = /^[0-9a-f]{40}$/.test(info.sha) ? info.sha : 'main';
  return { sizes, revision };
}

/** Downloads one file: an ArrayBuffer, progress (bytes, total) as it comes. */
async function download(id, name, revision, expected, { signal, onProgress }) {
  const url = hubFileUrl(id, name, revision);
  let response;
  try {
    response = await fetch(url, { credentials: 'omit', signal });
  } catch (error) {
    if (isCancel(error)) throw error;
    const hosts = admittedHosts();
    throw new UserError(
      `Could not download ${name} of ${id}: offline, or the hub redirected it to a host this page's policy does not ` +
        `admit (it admits ${hosts.join(', ') || 'none'}). Download the files and open them from disk.`,
    );
  }
  if (!response.ok) {
    response.body?.cancel().catch(() => {});
    throw new UserError(`Could not download ${name} of ${id}: HTTP ${response.status} ${response.statusText}`.trim());
  }
  const total = Number(response.headers.get('content-length')) || expected || 0;
  onProgress?.(0, total || null, name);
  const limit = WEIGHT_NAMES.includes(name) ? MAX_WEIGHTS_BYTES : 0;
  const buffer = await readStream(response.body, total, onProgress, limit, name);
  if (expected != null && buffer.byteLength !== expected) {
    throw new UserError(`${name} of ${id}: ${buffer.byteLength} bytes arrived, the hub lists ${expected}; try again.`);
  }
  return { buffer, type: response.headers.get('content-type') };
}

/**
 * The model `id` from the hub, or from Cache Storage when an earlier visit stored all of the revision the hub's API
 * names (then only the API is asked), or, with the hub unreachable, all of the revision stored last. Returns
 * { files, origin: 'cache'|'download', bytes } (files: the worker's load argument). `signal` cancels; a cancelled or
 * failed download stores nothing.
 */
export async function fetchHubModel(id, { onProgress, signal } = {}) {
  const pack = (got, origin) => ({
    files: {
      config: decodeText(got.config.buffer),
      tokenizerName: got.tokenizer.name,
      tokenizer: decodeText(got.tokenizer.buffer),
      weights: got.weights.buffer,
      weightsName: got.weights.name,
    },
    origin,
    bytes: got.config.buffer.byteLength + got.tokenizer.buffer.byteLength + got.weights.buffer.byteLength,
  });
  const cachedAt = async (revision) => {
    const cached = revision && (await fromCache(id, revision));
    if (!cached) return null;
    const n = cached.weights.buffer.byteLength;
    if (n > MAX_WEIGHTS_BYTES) throw tooLarge(id, n);
    onProgress?.(n, n, cached.weights.name);
    return pack(cached, 'cache');
  };
  let listed;
  try {
    listed = await listFiles(id, signal);
  } catch (error) {
    const kept = error.unreachable ? await cachedBuffer(revisionKey(id)) : null;
    const offline = kept && (await cachedAt(decodeText(kept)));
    if (offline) return offline;
    throw error;
  }
  const { sizes, revision } = listed;
  const current = revision !== 'main' && (await cachedAt(revision));
  if (current) return current;
  const tokenizerName = TOKENIZER_NAMES.find((n) => n in sizes);
  const weightsName = WEIGHT_NAMES.find((n) => n in sizes);
  const missing = [
    'config.json' in sizes ? null : 'config.json',
    tokenizerName ? null : 'tokenizer.json (or vocab.txt)',
    weightsName ? null : 'model.safetensors (or pytorch_model.bin)',
  ].filter(Boolean);
  if (missing.length) throw new UserError(`${id} on the hub lacks ${missing.join(', ')}.`);
  // Refused before any download: the hub's size is the file's.
  if (sizes[weightsName] > MAX_WEIGHTS_BYTES) throw tooLarge(id, sizes[weightsName]);
  const got = {};
  for (const [key, name] of [['config', 'config.json'], ['tokenizer', tokenizerName], ['weights', weightsName]]) {
    got[key] = { name, ...(await download(id, name, revision, sizes[name], { signal, onProgress })) };
  }
  // Stored only once every file is here, so a cancelled model leaves nothing behind; then the older revisions go.
  // Without a commit id from the API ('main' moves) nothing is kept.
  if (revision !== 'main') {
    const files = Object.values(got).map((g) => ({ url: hubFileUrl(id, g.name, revision), buffer: g.buffer, type: g.type }));
    const pointer = { url: revisionKey(id), buffer: new TextEncoder().encode(revision).buffer, type: 'text/plain' };
    if (await storeAll([...files, pointer])) {
      const prefix = `${HUB}/${id}/resolve/`;
      await deleteCached((url) => url.startsWith(prefix) && !url.startsWith(`${prefix}${revision}/`));
    }
  }
  return pack(got, 'download');
}
