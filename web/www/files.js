// Job: get model files and input text into the page: file pickers, drag-and-drop folders, the shipped model's download with progress, Cache Storage (hub downloads: hub.js).

export const CACHE_NAME = 'dnagpu-models-v1';
/** Weights larger than this are refused before loading (see weightsTooLarge). */
export const MAX_WEIGHTS_BYTES = 1.5e9;
const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;
const WEIGHT_NAMES = ['model.safetensors', 'pytorch_model.bin'];

/** An error whose message is meant for the user as it is. */
export class UserError extends Error {
  constructor(message) {
    super(message);
    this.name = 'UserError';
  }
}

export function formatBytes(n) {
  if (n == null || !Number.isFinite(n)) return '? B';
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)} kB`;
  return `${n} B`;
}

function weightsTooLarge(bytes) {
  return new UserError(
    `${(bytes / 1e9).toFixed(1)} GB of weights do not fit in a browser page (a WASM page has 4 GiB of memory ` +
      'and needs the file plus an f32 copy); use the dnagpu command line',
  );
}

export function checkWeightsSize(bytes) {
  if (bytes > MAX_WEIGHTS_BYTES) throw weightsTooLarge(bytes);
}

/** A hub id ("owner/name") from what the user typed; anything else (URLs, paths) is refused. */
export function parseHubId(text) {
  const id = String(text ?? '').trim();
  if (!id) throw new UserError('Type a Hugging Face model id such as zhihan1996/DNABERT-2-117M.');
  if (/^[a-z]+:\/\//i.test(id) || id.includes('huggingface.co') || !HUB_ID.test(id) || id.includes('..')) {
    throw new UserError(
      `"${id}" is not a Hugging Face model id (owner/name). Links and other addresses are not fetched: ` +
        'download the model files (config.json, tokenizer.json or vocab.txt, model.safetensors or pytorch_model.bin) and open them from disk.',
    );
  }
  return id;
}

// ---------------------------------------------------------------- Cache Storage

export function cacheAvailable() {
  return typeof caches !== 'undefined' && globalThis.isSecureContext !== false;
}

async function openCache() {
  if (!cacheAvailable()) return null;
  try {
    return await caches.open(CACHE_NAME);
  } catch {
    return null; // e.g. storage disabled in private windows
  }
}

/** Bytes held in the model cache (null when Cache Storage is unavailable). */
export async function cachedBytes() {
  const cache = await openCache();
  if (!cache) return null;
  let sum = 0;
  for (const request of await cache.keys()) {
    const response = await cache.match(request);
    if (!response) continue;
    const length = Number(response.headers.get('content-length'));
    sum += length > 0 ? length : (await response.blob()).size;
  }
  return sum;
}

/** The bytes Cache Storage holds for `url`, or null (none, or no Cache Storage). */
export async function cachedBuffer(url) {
  const cache = await openCache();
  const hit = cache && (await cache.match(url).catch(() => undefined));
  return hit ? hit.arrayBuffer() : null;
}

/**
 * Stores downloaded files ({url, buffer, type}) in Cache Storage, all or none: a model half stored would look
 * complete to a later visit. Storage full or disabled: nothing is kept (false) and the model still loads.
 */
export async function storeAll(entries) {
  const cache = await openCache();
  if (!cache) return false;
  try {
    for (const { url, buffer, type } of entries) await putCached(cache, url, buffer, type);
    return true;
  } catch {
    await Promise.all(entries.map(({ url }) => cache.delete(url).catch(() => {})));
    return false;
  }
}

/** Stores one file in `cache` under `url`, with its type and length. */
function putCached(cache, url, buffer, type) {
  // new Response copies the bytes now, so the buffer may be transferred later.
  const headers = { 'content-type': type || 'application/octet-stream', 'content-length': String(buffer.byteLength) };
  return cache.put(url, new Response(buffer, { headers }));
}

/** Deletes the model cache's entries whose address `drop(url)` picks. */
export async function deleteCached(drop) {
  const cache = await openCache();
  if (!cache) return;
  const gone = (await cache.keys()).filter((request) => drop(request.url));
  await Promise.all(gone.map((request) => cache.delete(request).catch(() => {})));
}

export async function clearCache() {
  if (cacheAvailable()) await caches.delete(CACHE_NAME);
}

// ---------------------------------------------------------------- streaming reads

/** Reads a byte stream into one ArrayBuffer, reporting bytes so far; stops past maxBytes. */
export async function readStream(stream, total, onBytes, maxBytes, what) {
  const reader = stream.getReader();
  let buf = new Uint8Array(total > 0 ? total : 1 << 20);
  let len = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (maxBytes && len + value.length > maxBytes) {
      await reader.cancel().catch(() => {});
      throw weightsTooLarge(len + value.length);
    }
    if (len + value.length > buf.length) {
      const grown = new Uint8Array(Math.max(buf.length * 2, len + value.length));
      grown.set(buf.subarray(0, len));
      buf = grown;
    }
    buf.set(value, len);
    len += value.length;
    onBytes?.(len, total > 0 ? Math.max(total, len) : null, what);
  }
  return len === buf.length ? buf.buffer : buf.slice(0, len).buffer;
}

/**
 * Fetches `url` through the model cache. Returns { buffer, fromCache } or
 * null when `optional` and the server answers 404.
 * onProgress(loaded, total|null, name) follows the download.
 */
async function fetchCached(url, name, { optional = false, maxBytes = 0, onProgress } = {}) {
  const cache = await openCache();
  if (cache) {
    const hit = await cache.match(url).catch(() => undefined);
    if (hit) {
      const length = Number(hit.headers.get('content-length'));
      if (maxBytes && length > maxBytes) throw weightsTooLarge(length);
      const buffer = await hit.arrayBuffer();
      onProgress?.(buffer.byteLength, buffer.byteLength, name);
      return { buffer, fromCache: true };
    }
  }
  const host = new URL(url, location.href).host;
  let response;
  try {
    response = await fetch(url, { credentials: 'omit' });
  } catch {
    throw new UserError(`Could not download ${name} from ${host} (offline, or blocked by the network).`);
  }
  if (!response.ok) {
    response.body?.cancel().catch(() => {});
    if (optional && response.status === 404) return null;
    if (response.status === 401 || response.status === 403) {
      throw new UserError(
        `${host} refused ${name} (HTTP ${response.status}): the repository does not exist, or it is private or gated. ` +
          'Download the files with an account that has access and open them from disk.',
      );
    }
    throw new UserError(`Could not download ${name} from ${host}: HTTP ${response.status} ${response.statusText}`.trim());
  }
  const total = Number(response.headers.get('content-length')) || 0;
  if (maxBytes && total > maxBytes) {
    response.body?.cancel().catch(() => {});
    throw weightsTooLarge(total);
  }
  onProgress?.(0, total || null, name);
  const buffer = response.body
    ? await readStream(response.body, total, onProgress, maxBytes, name)
    : await response.arrayBuffer();
  if (cache) {
    try {
      await putCached(cache, url, buffer, response.headers.get('content-type'));
    } catch {
      // Storage full or disabled: the model still loads, it just downloads again next time.
    }
  }
  return { buffer, fromCache: false };
}

/** UTF-8 bytes as text (config and tokenizer files). */
export const decodeText = (buffer) => new TextDecoder().decode(buffer);

/**
 * Downloads a model (and optionally an adapter) from base URLs, through the
 * cache. Returns { files, origin: 'cache'|'download'|'mixed', bytes }.
 * `files` is the worker's load argument.
 */
export async function fetchModel(baseUrl, { adapterUrl = null, onProgress } = {}) {
  const base = baseUrl.endsWith('/') ? baseUrl : baseUrl + '/';
  const origins = new Set();
  let bytes = 0;
  const get = async (url, name, opts = {}) => {
    const got = await fetchCached(url, name, { onProgress, ...opts });
    if (got) {
      origins.add(got.fromCache ? 'cache' : 'download');
      bytes += got.buffer.byteLength;
    }
    return got;
  };
  const config = await get(base + 'config.json', 'config.json');
  // DNABERT-2 has tokenizer.json; DNABERT and the Nucleotide Transformer vocab.txt.
  let tokenizerName = 'tokenizer.json';
  let tokenizer = await get(base + tokenizerName, tokenizerName, { optional: true });
  if (!tokenizer) {
    tokenizerName = 'vocab.txt';
    tokenizer = await get(base + tokenizerName, tokenizerName, { optional: true });
  }
  if (!tokenizer) throw new UserError(`${baseUrl} has neither tokenizer.json nor vocab.txt.`);
  let weights = null;
  let weightsName = null;
  for (const name of WEIGHT_NAMES) {
    weights = await get(base + name, name, { optional: true, maxBytes: MAX_WEIGHTS_BYTES });
    if (weights) {
      weightsName = name;
      break;
    }
  }
  if (!weights) throw new UserError(`${baseUrl} has neither model.safetensors nor pytorch_model.bin.`);
  const files = {
    config: decodeText(config.buffer),
    tokenizerName,
    tokenizer: decodeText(tokenizer.buffer),
    weights: weights.buffer,
    weightsName,
  };
  if (adapterUrl) {
    const a = adapterUrl.endsWith('/') ? adapterUrl : adapterUrl + '/';
    const adapterConfig = await get(a + 'adapter_config.json', 'adapter_config.json', { optional: true });
    const adapterWeights = adapterConfig
      ? await get(a + 'adapter_model.safetensors', 'adapter_model.safetensors', { optional: true })
      : null;
    if (adapterConfig && adapterWeights) {
      files.adapterConfig = decodeText(adapterConfig.buffer);
      files.adapterWeights = adapterWeights.buffer;
    }
  }
  const origin = origins.size === 1 ? [...origins][0] : 'mixed';
  return { files, origin, bytes };
}

// ---------------------------------------------------------------- files from disk

/** [{file, path}] from a FileList / File[] / [{file, path}]. */
function normalise(list) {
  return [...list].map((x) => (x instanceof File ? { file: x, path: x.webkitRelativePath || x.name } : x));
}

/**
 * Sorts picked files into a model folder. Returns
 * { kind: 'model'|'adapter', config, tokenizer, tokenizerName, weights, weightsName,
 *   adapterConfig, adapterWeights, folder, warnings } (Files, not contents).
 * Where a name occurs more than once the shallowest path wins.
 */
export function pickModelFiles(list) {
  const entries = normalise(list);
  if (!entries.length) throw new UserError('No files were chosen.');
  const byName = new Map();
  for (const e of entries) {
    const depth = e.path.split('/').length;
    const prev = byName.get(e.file.name);
    if (!prev || depth < prev.depth) byName.set(e.file.name, { ...e, depth });
  }
  const f = (name) => byName.get(name)?.file ?? null;
  const anchor = byName.get('config.json') ?? byName.get('adapter_config.json') ?? entries[0];
  const folder = anchor.path.split('/').slice(0, -1).join('/') || 'the chosen files';
  const warnings = [];
  let adapterConfig = f('adapter_config.json');
  let adapterWeights = f('adapter_model.safetensors');
  if (adapterConfig && !adapterWeights) {
    warnings.push(
      f('adapter_model.bin')
        ? 'adapter_model.bin is not read here (save the adapter as safetensors); the adapter is ignored.'
        : 'adapter_config.json without adapter_model.safetensors: the adapter is ignored.',
    );
    adapterConfig = null;
  } else if (!adapterConfig && adapterWeights) {
    warnings.push('adapter_model.safetensors without adapter_config.json: the adapter is ignored.');
    adapterWeights = null;
  }
  const weightsName = WEIGHT_NAMES.find((n) => byName.has(n)) ?? null;
  const config = f('config.json');
  const tokenizerName = byName.has('tokenizer.json') ? 'tokenizer.json' : 'vocab.txt';
  const tokenizer = f(tokenizerName);
  if (!config && !tokenizer && !weightsName && adapterConfig) {
    return { kind: 'adapter', adapterConfig, adapterWeights, folder, warnings };
  }
  const missing = [];
  if (!config) missing.push('config.json');
  if (!tokenizer) missing.push('tokenizer.json (or vocab.txt)');
  if (!weightsName) missing.push('model.safetensors (or pytorch_model.bin)');
  if (missing.length) {
    throw new UserError(
      `The chosen files lack ${missing.join(', ')}. A Hugging Face model folder holds config.json, tokenizer.json ` +
        '(DNABERT-2) or vocab.txt (DNABERT, Nucleotide Transformer) and ' +
        'model.safetensors or pytorch_model.bin (optionally adapter_config.json + adapter_model.safetensors).',
    );
  }
  const weights = f(weightsName);
  checkWeightsSize(weights.size);
  return {
    kind: 'model',
    config,
    tokenizer,
    tokenizerName,
    weights,
    weightsName,
    adapterConfig,
    adapterWeights,
    folder,
    warnings,
  };
}

async function readFileBytes(file, onProgress, maxBytes = 0) {
  if (maxBytes && file.size > maxBytes) throw weightsTooLarge(file.size);
  try {
    if (typeof file.stream === 'function') return await readStream(file.stream(), file.size, onProgress, maxBytes, file.name);
    const buffer = await file.arrayBuffer();
    onProgress?.(buffer.byteLength, buffer.byteLength, file.name);
    return buffer;
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${file.name}: could not be read (${e.message}). Was it moved or deleted?`);
  }
}

export async function readTextFile(file) {
  return new TextDecoder().decode(await readFileBytes(file));
}

/** Reads what pickModelFiles chose into the worker's load argument. */
export async function readPickedModel(picked, onProgress) {
  const files = {
    config: await readTextFile(picked.config),
    tokenizerName: picked.tokenizerName,
    tokenizer: await readTextFile(picked.tokenizer),
    weights: await readFileBytes(picked.weights, onProgress, MAX_WEIGHTS_BYTES),
    weightsName: picked.weightsName,
  };
  if (picked.adapterConfig && picked.adapterWeights) {
    files.adapterConfig = await readTextFile(picked.adapterConfig);
    files.adapterWeights = await readFileBytes(picked.adapterWeights, onProgress);
  }
  return files;
}

export async function readPickedAdapter(picked) {
  return { config: await readTextFile(picked.adapterConfig), weights: await readFileBytes(picked.adapterWeights) };
}

/**
 * The files of a drop, folders walked recursively, as [{file, path}].
 * Call it synchronously from the drop handler: the browser invalidates the
 * DataTransfer items once the handler returns, so the entries are taken first.
 */
export function filesFromDrop(dataTransfer) {
  const entries = [...(dataTransfer.items ?? [])]
    .filter((item) => item.kind === 'file')
    .map((item) => (typeof item.webkitGetAsEntry === 'function' ? item.webkitGetAsEntry() : null));
  const plain = [...(dataTransfer.files ?? [])];
  if (!entries.length || entries.some((e) => !e)) return Promise.resolve(normalise(plain));
  const out = [];
  const walk = async (entry, prefix) => {
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      out.push({ file, path: prefix + file.name });
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        if (!batch.length) break;
        for (const child of batch) await walk(child, `${prefix}${entry.name}/`);
      }
    }
  };
  return (async () => {
    for (const entry of entries) await walk(entry, '');
    return out;
  })();
}
