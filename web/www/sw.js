// Job: the service worker that keeps this build of the page for offline use: on install it stores every file of the build
// (page, scripts, styles, the wasm builds this browser loads first and their glue, shipped model and adapter, sample
// data) in a cache named after the build's version, answers the page's own requests from it, and on activate deletes the caches of older builds.

// scripts/stamp-web.sh fills these two lines in the built copy (web/dist/sw.js): a hash of every other file of the
// build, so any change to the build renames the cache, and the files' paths. Left as they are (web/www served as it
// is), the worker stores nothing.
const VERSION = 'unstamped';
const FILES = [];

importScripts('wasm-features.js');

/**
 * Whether a file is of a wasm build this browser does not load first (worker.js picks the relaxed-SIMD builds where
 * relaxed SIMD validates, the plain ones elsewhere): kept is what the page loads offline; the other is fetched online
 * in the rare case it is needed (worker.js falls back to the plain build if a relaxed one fails).
 */
const FIRST_BUILDS = [false, true].map((threaded) => self.dnagpuBuilds(threaded)[0]);
function otherBuild(path) {
  const build = path.match(/^(pkg[^/]*)\//)?.[1];
  return build !== undefined && !FIRST_BUILDS.includes(build);
}

/** This worker's caches are `dnagpu-page-<version>`; the page's own model cache (files.js) has another prefix and stays. */
const PREFIX = 'dnagpu-page-';
const CACHE = PREFIX + VERSION;

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      if (VERSION === 'unstamped') return;
      const cache = await caches.open(CACHE);
      // './' is the page itself as a navigation asks for it; `reload` skips the HTTP cache so the copy is this build's.
      await cache.addAll(['./', ...FILES.filter((path) => !otherBuild(path))].map((path) => new Request(path, { cache: 'reload' })));
      // The new build serves from the next request on; the page says so (offline.js).
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      const names = await caches.keys();
      await Promise.all(names.filter((name) => name.startsWith(PREFIX) && name !== CACHE).map((name) => caches.delete(name)));
      await self.clients.claim();
      // Told only now, once the old caches are gone: a controller changes before the activate event runs.
      for (const client of await self.clients.matchAll({ type: 'window' })) client.postMessage({ type: 'activated', version: VERSION });
    })(),
  );
});

/**
 * The response with cross-origin isolation (COOP/COEP) where it lacks it, as `dnagpu serve` sends it: shared memory,
 * and so the threaded CPU backend, needs it, and a static host may not send it; from the worker's second load of the
 * page on, the page is isolated wherever it is hosted. Every response, not only the page's: a worker script needs the
 * same embedder policy as the page that starts it.
 */
function isolated(response) {
  // Only plain same-origin answers: an opaque one, or a navigation's redirect (status 0), cannot be rebuilt.
  if (response.type !== 'basic' || response.status === 0 || response.headers.has('Cross-Origin-Embedder-Policy')) return response;
  const headers = new Headers(response.headers);
  headers.set('Cross-Origin-Opener-Policy', 'same-origin');
  headers.set('Cross-Origin-Embedder-Policy', 'require-corp');
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  // Only the page's own files: hub downloads go to the network untouched (files.js caches those itself).
  if (request.method !== 'GET' || url.origin !== self.location.origin || VERSION === 'unstamped') return;
  event.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      // `?backend=gpu` and the like pick options, not files.
      const hit = await cache.match(request, { ignoreSearch: request.mode === 'navigate' });
      return isolated(hit ?? (await fetch(request)));
    })(),
  );
});
