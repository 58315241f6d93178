// Lints the page's ES modules (web/www): undefined names are errors, so a
// code path the page test does not reach still cannot throw a
// ReferenceError. Run by scripts/test.sh through web/e2e's node_modules.
import globals from './e2e/node_modules/globals/index.js';

export default [
  {
    files: ['www/**/*.js', 'e2e/*.mjs'],
    languageOptions: {
      ecmaVersion: 2024,
      sourceType: 'module',
      globals: { ...globals.browser, ...globals.worker, ...globals.node },
    },
    rules: { 'no-undef': 'error', 'no-unused-vars': 'error', 'no-import-assign': 'error' },
  },
  {
    // The service worker runs in its own global scope (clients, skipWaiting).
    files: ['www/sw.js'],
    languageOptions: { globals: { ...globals.serviceworker } },
  },
];
