// Job: serialise results for download: float32 .npy (format v1.0) and CSV text.

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * A float32 [n, d] array as .npy v1.0 bytes ('<f4', C order), the header
 * padded with spaces so that the data starts at a multiple of 64 bytes.
 */
export function npyFloat32(values, n, d) {
  if (!(values instanceof Float32Array)) throw new TypeError('npyFloat32 needs a Float32Array');
  if (values.length !== n * d) {
    throw new RangeError(`npyFloat32: ${values.length} values do not make a [${n}, ${d}] array`);
  }
  let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${n}, ${d}), }`;
  const preamble = 10; // magic (6) + version (2) + header length (2)
  const unpadded = preamble + dict.length + 1; // + the final '\n'
  const total = Math.ceil(unpadded / 64) * 64;
  dict += ' '.repeat(total - unpadded) + '\n';
  const headerLen = dict.length;
  if (headerLen > 0xffff) throw new RangeError('npy header too long');

  const out = new Uint8Array(total + values.length * 4);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]); // \x93NUMPY v1.0
  out[8] = headerLen & 0xff;
  out[9] = headerLen >> 8;
  for (let i = 0; i < dict.length; i++) out[preamble + i] = dict.charCodeAt(i);
  if (LITTLE_ENDIAN) {
    out.set(new Uint8Array(values.buffer, values.byteOffset, values.length * 4), total);
  } else {
    const view = new DataView(out.buffer, total);
    for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  }
  return out;
}

/** A CSV field, quoted when it holds a comma, quote or line break. */
export function csvField(value) {
  const s = String(value ?? '');
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** A float written with enough digits to read back the same float32. */
export function formatFloat(v) {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? 'NaN' : v > 0 ? 'inf' : '-inf';
  return String(Number(v.toPrecision(9)));
}

/** CSV with a header `id,e0,…,e{d-1}` and one row per id. */
export function embeddingsCsv(ids, values, d) {
  const lines = ['id,' + Array.from({ length: d }, (_, k) => `e${k}`).join(',')];
  for (let r = 0; r < ids.length; r++) {
    const row = new Array(d + 1);
    row[0] = csvField(ids[r]);
    for (let k = 0; k < d; k++) row[k + 1] = formatFloat(values[r * d + k]);
    lines.push(row.join(','));
  }
  return lines.join('\n') + '\n';
}

/**
 * Predictions as the command line writes them:
 * `id,prediction,prob_0,…,prob_{C-1}` plus `label` when any row has one.
 */
export function predictionsCsv(ids, probs, classes, labels) {
  const withLabels = Array.isArray(labels) && labels.some((l) => l !== '');
  let header = 'id,prediction';
  for (let k = 0; k < classes; k++) header += `,prob_${k}`;
  if (withLabels) header += ',label';
  const lines = [header];
  for (let r = 0; r < ids.length; r++) {
    const p = probs.subarray(r * classes, (r + 1) * classes);
    const row = [csvField(ids[r]), String(argmax(p))];
    for (let k = 0; k < classes; k++) row.push(formatFloat(p[k]));
    if (withLabels) row.push(csvField(labels[r]));
    lines.push(row.join(','));
  }
  return lines.join('\n') + '\n';
}

/** Index of the largest value (the first one on ties). */
export function argmax(values) {
  let best = 0;
  for (let k = 1; k < values.length; k++) if (values[k] > values[best]) best = k;
  return best;
}
