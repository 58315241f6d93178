// Job: files for results too large to hold (a large input's embeddings or predictions), written part by part from the
// worker: in the origin's private file system (on disk, memory stays bounded), else as Blob parts (the browser keeps
// them, on disk when large). Each run's files live in a folder of their own, held by a Web Lock while the worker
// lives and until the same task runs again; folders nobody holds (tabs since closed) are removed when a worker
// starts and before each run.

const ROOT = 'dnagpu-results';
const LOCK_PREFIX = 'dnagpu-results/';

/** The last finished run of each task (by its file names): its lock's release, called when that task runs again. */
const previous = new Map();

/** Holds the Web Lock `name` until `release()` is called (or the worker ends). */
async function hold(name) {
  let release;
  const released = new Promise((resolve) => {
    release = resolve;
  });
  await new Promise((granted, refused) => {
    navigator.locks.request(name, { ifAvailable: true }, (lock) => {
      if (!lock) {
        refused(new Error(`the results folder ${name} is in use`));
        return undefined;
      }
      granted();
      return released;
    }).catch(refused);
  });
  return release;
}

function usable() {
  return Boolean(navigator.storage?.getDirectory && navigator.locks && typeof FileSystemFileHandle !== 'undefined' &&
    'createSyncAccessHandle' in FileSystemFileHandle.prototype);
}

async function resultsRoot() {
  return (await navigator.storage.getDirectory()).getDirectoryHandle(ROOT, { create: true });
}

/**
 * Removes the results folders no page holds any more: each while holding its lock, so a folder another tab has
 * just made (and locked) is left alone.
 */
export async function dropOrphanResults() {
  if (!usable()) return;
  try {
    const root = await resultsRoot();
    const names = [];
    for await (const name of root.keys()) names.push(name);
    for (const name of names) {
      await navigator.locks.request(LOCK_PREFIX + name, { ifAvailable: true }, (lock) =>
        lock ? root.removeEntry(name, { recursive: true }).catch(() => {}) : undefined);
    }
  } catch (e) {
    console.warn(`dnagpu: old results were not cleared (${e?.message ?? e})`);
  }
}

async function onDisk(names) {
  if (!usable()) return null;
  const task = names.join('+');
  previous.get(task)?.();
  previous.delete(task);
  await dropOrphanResults();
  const root = await resultsRoot();
  const folder = `run-${Date.now()}-${Math.random().toString(36).slice(2, 10)}`;
  const release = await hold(LOCK_PREFIX + folder);
  const files = [];
  const close = () => files.forEach((f) => f.access.close());
  const discard = async () => {
    close();
    release();
    await root.removeEntry(folder, { recursive: true }).catch(() => {});
  };
  try {
    const dir = await root.getDirectoryHandle(folder, { create: true });
    for (const name of names) {
      const handle = await dir.getFileHandle(name, { create: true });
      files.push({ handle, access: await handle.createSyncAccessHandle(), at: 0 });
    }
  } catch (e) {
    await discard();
    throw e;
  }
  return {
    where: 'disk',
    write(i, bytes) {
      const f = files[i];
      const n = f.access.write(bytes, { at: f.at });
      if (n !== bytes.byteLength) throw new Error(`only ${n} of ${bytes.byteLength} bytes were written (is the disk full?)`);
      f.at += n;
    },
    async finish() {
      for (const f of files) f.access.flush();
      close();
      const done = await Promise.all(files.map((f) => f.handle.getFile()));
      previous.set(task, release);
      return done;
    },
    discard,
  };
}

function inMemory(names) {
  const parts = names.map(() => []);
  return {
    where: 'memory',
    write(i, bytes) {
      // A copy: the bytes may view shared (threaded) wasm memory, which a Blob does not take.
      parts[i].push(new Blob([bytes.slice()]));
    },
    async finish() {
      return parts.map((p, i) => new File(p, names[i]));
    },
    async discard() {
      parts.length = 0;
    },
  };
}

/**
 * Output files `names`, written part by part: `write(i, bytes)` appends the Uint8Array `bytes` to file i (copied
 * before it returns: `bytes` may view wasm memory), `finish()` gives the Files, `discard()` drops them. `where` says
 * which kind ('disk' or 'memory'). The Files of a task stay readable until the same task (the same `names`) runs
 * again in this worker.
 */
export async function openResultFiles(names) {
  try {
    const disk = await onDisk(names);
    if (disk) return disk;
  } catch (e) {
    console.warn(`dnagpu: results are kept in memory (${e?.message ?? e})`);
  }
  return inMemory(names);
}
