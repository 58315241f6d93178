// Shared by the page test and the page benchmark: paths, `dnagpu serve`
// on a free port, Chromium launched through playwright-core (with WebGPU on
// SwiftShader, or with WebGPU disabled), and driving the page's controls
// through its test hook (window.dnagpuPage, body[data-state]).
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

export const root = path.resolve(import.meta.dirname, '../..');
export const bin = process.env.DNAGPU_BIN ?? path.join(root, 'target/debug/dnagpu');
export const dist = path.join(root, 'web/dist');
export const out = process.env.DNAGPU_E2E_OUT ?? path.join(root, 'target/e2e');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const TIMEOUT = Number(process.env.E2E_TIMEOUT ?? 300_000);

export function step(msg) {
  console.log(`e2e: ${msg}`);
}

/**
 * Starts `dnagpu serve` on a free port (or `port`, to serve a new build where the old one was): { base, origin, server }.
 * `args` are more `serve` arguments.
 */
export async function serve({ dir = dist, port = 0, args = [] } = {}) {
  const verbose = process.env.E2E_VERBOSE ? ['--verbose'] : [];
  const server = spawn(bin, ['serve', '--port', String(port), '--dir', dir, ...verbose, ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const base = await new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: server.stdout });
    lines.once('line', (line) => {
      const m = /(http:\/\/[\d.]+:\d+\/)/.exec(line);
      m ? resolve(m[1]) : reject(new Error(`dnagpu serve printed: ${line}`));
    });
    server.once('exit', (code) => reject(new Error(`dnagpu serve exited with ${code}`)));
  });
  return { base, origin: new URL(base).origin, server };
}

/** Stops a `serve` started by serve() and waits until it has exited (its port is free again). */
export async function stop(server) {
  if (server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill();
  await exited;
}

const QUIET = [
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-sandbox',
];

const gpuArgs = (gpu) => (gpu ? ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader'] : ['--disable-features=WebGPU']);

/** Headless Chromium with WebGPU on SwiftShader (`gpu`), or with WebGPU disabled. */
export function launch(gpu) {
  return chromium.launch({ executablePath: chromiumPath, args: [...gpuArgs(gpu), ...QUIET] });
}

/**
 * launch() with a profile on disk in `dir` (a user's browser: storage such as the origin-private file system on
 * disk, where a plain launch keeps it in memory): a BrowserContext.
 */
export function launchWithProfile(dir, gpu, options = {}) {
  return chromium.launchPersistentContext(dir, { executablePath: chromiumPath, args: [...gpuArgs(gpu), ...QUIET], ...options });
}

/** Waits until the page is idle; throws the page's message if it shows an error. */
export async function idle(page) {
  await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state), null, { timeout: TIMEOUT });
  const state = await page.evaluate(() => document.body.dataset.state);
  if (state === 'error') {
    const msg = await page.evaluate(() => window.dnagpuPage.lastError);
    throw new Error(`the page reports an error: ${msg}`);
  }
}

/** Clicks `button` and returns the page's new `window.dnagpuPage[field]`. */
export async function run(page, button, field) {
  await page.evaluate((f) => {
    window.dnagpuPage[f] = null;
  }, field);
  await page.click(button);
  await page.waitForFunction((f) => window.dnagpuPage[f] !== null || document.body.dataset.state === 'error', field, {
    timeout: TIMEOUT,
  });
  await idle(page);
  return page.evaluate((f) => {
    const v = window.dnagpuPage[f];
    return { ...v, values: v.values && Array.from(v.values), probs: v.probs && Array.from(v.probs) };
  }, field);
}

/** |a-b| <= atol + rtol*|b| element-wise, atol relative to max|b|. */
export function assertClose(actual, expected, what, rtol = 1e-3, atolFrac = 1e-3) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const scale = Math.max(...Array.from(expected, Math.abs), 1e-30);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    const tol = atolFrac * scale + rtol * Math.abs(expected[i]);
    worst = Math.max(worst, err / tol);
    assert.ok(err <= tol, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
  step(`${what}: ${expected.length} values match (worst error ${(worst * 100).toFixed(1)}% of the tolerance)`);
}

/** Float32 rows of a .npy file written by `dnagpu embed`. */
export function readNpy(file) {
  const buf = fs.readFileSync(file);
  const headerLen = buf.readUInt16LE(8);
  const header = buf.subarray(10, 10 + headerLen).toString('latin1');
  assert.match(header, /'descr': '<f4'/, `${file}: float32`);
  const data = buf.subarray(10 + headerLen);
  return new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
}

/** A safetensors file written by the CLI: { tensors: {name: {dtype, shape, data}}, metadata }. */
export function readSafetensors(file) {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const base = 8 + n;
  const tensors = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [a, b] = t.data_offsets;
    const bytes = buf.subarray(base + a, base + b);
    const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    const data = t.dtype === 'F32' ? new Float32Array(copy) : t.dtype === 'I64' ? new BigInt64Array(copy) : copy;
    tensors[name] = { dtype: t.dtype, shape: t.shape, data };
  }
  return { tensors, metadata: header.__metadata__ ?? {} };
}
