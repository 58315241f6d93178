// Job: offline use: registers the service worker (sw.js) that keeps this build of the page, and says on the page whether
// it is kept and when a newer build has taken over.

import { page } from './page-state.js';

const say = (text) => {
  const note = document.getElementById('offline-note');
  if (note) note.textContent = text;
};

/** Registers sw.js; never throws (the page works without it, only not offline). */
export async function registerOffline() {
  page.offline = { controlled: false, version: null, updated: false, error: null };
  if (!('serviceWorker' in navigator)) {
    say('This browser cannot keep the page for offline use (no service workers here: it needs https or localhost).');
    return;
  }
  const sw = navigator.serviceWorker;
  // Loaded from a kept build: a worker activated later is a newer build.
  const kept = Boolean(sw.controller);
  page.offline.controlled = kept;
  // The worker says so once it has stored its build and deleted older ones (sw.js, activate).
  sw.addEventListener('message', (event) => {
    if (event.data?.type !== 'activated') return;
    Object.assign(page.offline, { controlled: true, version: event.data.version, updated: kept });
    say(
      kept
        ? 'A newer version of this page was downloaded and is kept for offline use: reload the page to use it.'
        : 'This page and its shipped model are kept in this browser: it works offline from now on.',
    );
  });
  sw.startMessages();
  try {
    await sw.register('./sw.js', { scope: './' });
    if (kept) say('This page and its shipped model are kept in this browser: it works offline.');
  } catch (error) {
    page.offline.error = error.message;
    say(`This page could not be kept for offline use (${error.message}); it works online as before.`);
  }
}
