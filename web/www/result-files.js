// Job: files for results too large to hold (a large input's embeddings), written part by part from the worker: in
// the origin's private file system (on disk, memory stays bounded), else as Blob parts (the browser keeps them, on disk
// when large). Each run's files live in a folder of their own, held by a Web Lock while the worker lives; folders
// nobody holds (tabs since closed) are removed before the next run.

const ROOT = 'dnagpu-results';
const LOCK_PREFIX = 'dnagpu-results/';

/** This worker's previous run: { dir, release } (its files are replaced by the next run's). */
let previous = null;

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

/** Removes the results folders no page holds any more. */
async function dropOrphans(root) {
  const held = new Set((await navigator.locks.query()).held.map((lock) => lock.name));
  for await (const name of root.keys()) {
    if (!held.has(LOCK_PREFIX + name)) await root.removeEntry(name, { recursive: true }).catch(() => {});
  }
}

async function onDisk(names) {
  if (!navigator.storage?.getDirectory || !navigator.locks || typeof FileSystemFileHandle === 'undefined') return null;
  if (!('createSyncAccessHandle' in FileSystemFileHandle.prototype)) return null;
  const root = await (await navigator.storage.getDirectory()).getDirectoryHandle(ROOT, { create: true });
  if (previous) {
    previous.release();
    previous = null;
  }
  await dropOrphans(root);
  const folder = `run-${Date.now()}-${Math.random().toString(36).slice(2, 10)}`;
  const release = await hold(LOCK_PREFIX + folder);
  const dir = await root.getDirectoryHandle(folder, { create: true });
  const files = [];
  try {
    for (const name of names) {
      const handle = await dir.getFileHandle(name, { create: true });
      files.push({ handle, access: await handle.createSyncAccessHandle(), at: 0 });
    }
  } catch (e) {
    for (const f of files) f.access.close();
    release();
    await root.removeEntry(folder, { recursive: true }).catch(() => {});
    throw e;
  }
  const close = () => files.forEach((f) => f.access.close());
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
      previous = { release };
      return Promise.all(files.map((f) => f.handle.getFile()));
    },
    async discard() {
      close();
      release();
      await root.removeEntry(folder, { recursive: true }).catch(() => {});
    },
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
 * which kind ('disk' or 'memory').
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
