// A stand-in for the Hugging Face hub on loopback, for the page's hub test:
// it answers /api/models/{id}?blobs=true (with the commit `main` is at as
// `sha`) and /{id}/resolve/{main or that commit}/{file} as the hub does (an
// older commit is a 404 here, so a page asking for one shows), serves small
// files itself and redirects weight files (302)
// to a second origin (the "file host"), or, for
// a model that asks for it, to a third origin the page's policy does not
// admit. Every request each origin gets is logged.
import http from 'node:http';

const CORS = {
  'access-control-allow-origin': '*',
};
const WEIGHTS = /\.(safetensors|bin)$/;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/** The model's commit: its own, or one made from its id. */
const shaOf = (id, model) => model.sha ?? Buffer.from(id).toString('hex').padEnd(40, '0').slice(0, 40);

function listen(name, log, handle) {
  const server = http.createServer(async (req, res) => {
    log.push({ origin: name, method: req.method, url: req.url });
    if (req.method === 'OPTIONS') {
      res.writeHead(204, CORS).end();
      return;
    }
    try {
      await handle(req, res);
    } catch {
      res.destroy(); // the page went away (a cancelled download)
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** Sends `bytes`, in 64 KiB chunks `delay` ms apart when slow. */
async function sendFile(res, bytes, delay) {
  res.writeHead(200, { ...CORS, 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) });
  for (let at = 0; at < bytes.length; at += 65536) {
    if (res.destroyed) return;
    res.write(bytes.subarray(at, at + 65536));
    if (delay) await sleep(delay);
  }
  res.end();
}

/**
 * models: { id: { files: {name: Buffer}, listed?: {name: size} (sizes the API gives, default the files'),
 *   slow?: ms between chunks of weights, host?: 'files' | 'foreign', sha?: the commit (40 hex digits; a test may
 *   change it to publish a new revision) } }.
 * Returns { origin, filesOrigin, foreignOrigin, log, close }.
 */
export async function startHub(models) {
  const log = [];
  const blobs = new Map(); // path on the file host -> {bytes, slow}
  const files = await listen('files', log, (req, res) => {
    const blob = blobs.get(req.url.split('?')[0]);
    if (!blob) return res.writeHead(404, CORS).end();
    return sendFile(res, blob.bytes, blob.slow);
  });
  const foreign = await listen('foreign', log, (req, res) => res.writeHead(404, CORS).end());
  const origin = (server) => `http://127.0.0.1:${server.address().port}`;
  const hub = await listen('hub', log, (req, res) => {
    const url = new URL(req.url, 'http://hub');
    const api = /^\/api\/models\/([^/]+\/[^/]+)$/.exec(url.pathname);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const id = api?.[1] ?? resolve?.[1];
    const model = models[id];
    if (!model) return res.writeHead(404, { ...CORS, 'content-type': 'application/json' }).end('{"error":"Repository not found"}');
    if (api) {
      const siblings = Object.entries(model.files).map(([name, bytes]) => {
        const size = model.listed?.[name] ?? bytes.length;
        return WEIGHTS.test(name) ? { rfilename: name, size, lfs: { size, sha256: '0'.repeat(64) } } : { rfilename: name, size };
      });
      res.writeHead(200, { ...CORS, 'content-type': 'application/json' });
      return res.end(JSON.stringify({ id, sha: shaOf(id, model), siblings }));
    }
    if (resolve[2] !== 'main' && resolve[2] !== shaOf(id, model)) return res.writeHead(404, CORS).end();
    const name = decodeURIComponent(resolve[3]);
    const bytes = model.files[name];
    if (!bytes) return res.writeHead(404, CORS).end();
    if (!WEIGHTS.test(name)) return sendFile(res, bytes, 0);
    const path = `/blobs/${id.replace('/', '--')}/${shaOf(id, model)}/${name}`;
    blobs.set(path, { bytes, slow: model.slow ?? 0 });
    const target = model.host === 'foreign' ? origin(foreign) : origin(files);
    res.writeHead(302, { ...CORS, location: `${target}${path}` });
    return res.end();
  });
  return {
    models,
    origin: origin(hub),
    filesOrigin: origin(files),
    foreignOrigin: origin(foreign),
    log,
    /** Stops the three servers (again: nothing); the page then finds the hub unreachable. */
    close: () =>
      [hub, files, foreign].forEach((server) => {
        if (!server.listening) return;
        server.closeAllConnections();
        server.close();
      }),
  };
}
