// Job: a promise-based client for worker.js: numbered requests, progress callbacks, transferable buffers, worker failure.

export class WorkerFailed extends Error {
  constructor(message) {
    super(message);
    this.name = 'WorkerFailed';
  }
}

export class DnagpuClient {
  constructor(url = new URL('./worker.js', import.meta.url)) {
    this.url = url;
    this.nextId = 1;
    this.pending = new Map();
    this.failure = null;
    this.worker = new Worker(url, { type: 'module' });
    this.worker.onmessage = (event) => this.#receive(event.data);
    this.worker.onerror = (event) => {
      event.preventDefault?.();
      // A module worker that fails to import (e.g. ./pkg missing) ends up here with little detail.
      this.#failAll(
        new WorkerFailed(
          `The model worker stopped${event.message ? `: ${event.message}` : ''}. ` +
            'If this is a fresh checkout, the page needs its wasm build (scripts/build-web.sh writes web/dist with pkg/).',
        ),
      );
    };
    this.worker.onmessageerror = () => this.#failAll(new WorkerFailed('A message from the model worker could not be read.'));
  }

  /**
   * Sends `cmd` with `args`; resolves with the result value.
   * onProgress(done, total, stage) follows the work; `transfer` lists
   * ArrayBuffers to move (not copy) to the worker; they are detached here.
   */
  call(cmd, args = {}, { onProgress, transfer = [] } = {}) {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress });
      try {
        this.worker.postMessage({ id, cmd, args }, transfer.filter(Boolean));
      } catch (e) {
        this.pending.delete(id);
        reject(e);
      }
    });
  }

  /** Stops the worker (and everything it holds); pending calls are rejected. */
  terminate() {
    this.worker.terminate();
    this.#failAll(new WorkerFailed('The model worker was stopped.'));
  }

  #receive(msg) {
    const entry = this.pending.get(msg?.id);
    if (!entry) return;
    if (msg.type === 'progress') {
      try {
        entry.onProgress?.(msg.done, msg.total, msg.stage);
      } catch (e) {
        console.error(e);
      }
      return;
    }
    this.pending.delete(msg.id);
    if (msg.type === 'result') {
      entry.resolve(msg.value);
    } else {
      const error = new Error(msg.message);
      error.name = msg.name || 'Error';
      error.fatal = Boolean(msg.fatal);
      entry.reject(error);
    }
  }

  #failAll(error) {
    this.failure ??= error;
    for (const { reject } of this.pending.values()) reject(error);
    this.pending.clear();
  }
}
