// Job: 2-D PCA of an n×d Float32Array (centred; top-2 components by power iteration with deflation; deterministic).

const MAX_ITERATIONS = 300;
const TOLERANCE = 1e-10;

/**
 * Projects the rows of `values` (n×d, row-major) onto their two leading
 * principal components.
 * Returns { coords: Float32Array n×2, components: [Float64Array d, …],
 * variances: [λ1, λ2], explained: [fraction1, fraction2] }.
 * The same input always gives the same output: the start vector is fixed and
 * each component's sign is chosen so its largest-magnitude entry is positive.
 */
export function pca2(values, n, d) {
  if (values.length !== n * d) throw new RangeError(`pca2: ${values.length} values are not ${n}×${d}`);
  const coords = new Float32Array(n * 2);
  if (n < 2 || d < 1) return { coords, mean: new Float64Array(d), components: [], variances: [0, 0], explained: [0, 0] };

  // Centre (in float64).
  const x = new Float64Array(n * d);
  const mean = new Float64Array(d);
  for (let r = 0; r < n; r++) for (let k = 0; k < d; k++) mean[k] += values[r * d + k];
  for (let k = 0; k < d; k++) mean[k] /= n;
  let totalVariance = 0;
  for (let r = 0; r < n; r++) {
    for (let k = 0; k < d; k++) {
      const v = values[r * d + k] - mean[k];
      x[r * d + k] = v;
      totalVariance += v * v;
    }
  }
  totalVariance /= n - 1;

  const components = [];
  const variances = [];
  const wanted = Math.min(2, d);
  for (let c = 0; c < wanted; c++) {
    const { vector, lambda } = leadingEigen(x, n, d, components, variances, c);
    components.push(vector);
    variances.push(lambda);
  }
  while (variances.length < 2) variances.push(0);

  for (let r = 0; r < n; r++) {
    for (let c = 0; c < components.length; c++) {
      const u = components[c];
      let s = 0;
      for (let k = 0; k < d; k++) s += x[r * d + k] * u[k];
      coords[r * 2 + c] = s;
    }
  }
  const explained = variances.map((v) => (totalVariance > 0 ? v / totalVariance : 0));
  return { coords, mean, components, variances, explained };
}

/** Projects n×d rows onto a fit from pca2 (e.g. one fitted on a subsample): Float32Array n×2. */
export function project(values, n, d, fit) {
  const coords = new Float32Array(n * 2);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < fit.components.length; c++) {
      const u = fit.components[c];
      let s = 0;
      for (let k = 0; k < d; k++) s += (values[r * d + k] - fit.mean[k]) * u[k];
      coords[r * 2 + c] = s;
    }
  }
  return coords;
}

/** C·v with C = XᵀX/(n-1), never formed. */
function covTimes(x, n, d, v, out) {
  out.fill(0);
  for (let r = 0; r < n; r++) {
    const base = r * d;
    let s = 0;
    for (let k = 0; k < d; k++) s += x[base + k] * v[k];
    if (s !== 0) for (let k = 0; k < d; k++) out[k] += s * x[base + k];
  }
  for (let k = 0; k < d; k++) out[k] /= n - 1;
}

function leadingEigen(x, n, d, previous, previousLambdas, seed) {
  let v = startVector(d, seed);
  orthogonalise(v, previous);
  if (!normalise(v)) return { vector: new Float64Array(d), lambda: 0 };
  const w = new Float64Array(d);
  let lambda = 0;
  for (let it = 0; it < MAX_ITERATIONS; it++) {
    covTimes(x, n, d, v, w);
    // Deflation: C' = C − Σ λᵢ uᵢuᵢᵀ, then re-orthogonalise against rounding.
    for (let i = 0; i < previous.length; i++) {
      const u = previous[i];
      const dot = dotProduct(u, v);
      for (let k = 0; k < d; k++) w[k] -= previousLambdas[i] * dot * u[k];
    }
    orthogonalise(w, previous);
    const nextLambda = dotProduct(v, w);
    if (!normalise(w)) return { vector: new Float64Array(d), lambda: 0 };
    let change = 0;
    for (let k = 0; k < d; k++) change += (w[k] - v[k]) ** 2;
    v.set(w);
    const converged = Math.abs(nextLambda - lambda) <= TOLERANCE * Math.max(1, Math.abs(nextLambda)) && change < 1e-12;
    lambda = nextLambda;
    if (converged) break;
  }
  fixSign(v);
  return { vector: v, lambda: Math.max(lambda, 0) };
}

function startVector(d, seed) {
  // A fixed pseudo-random start (LCG), so results never depend on Math.random.
  const v = new Float64Array(d);
  let state = 0x2545f491 + seed * 0x9e3779b9;
  for (let k = 0; k < d; k++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    v[k] = state / 0x100000000 - 0.5;
  }
  return v;
}

function dotProduct(a, b) {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += a[k] * b[k];
  return s;
}

function orthogonalise(v, basis) {
  for (const u of basis) {
    const dot = dotProduct(u, v);
    for (let k = 0; k < v.length; k++) v[k] -= dot * u[k];
  }
}

function normalise(v) {
  const norm = Math.sqrt(dotProduct(v, v));
  if (!(norm > 1e-300)) return false;
  for (let k = 0; k < v.length; k++) v[k] /= norm;
  return true;
}

function fixSign(v) {
  let best = 0;
  for (let k = 1; k < v.length; k++) if (Math.abs(v[k]) > Math.abs(v[best])) best = k;
  if (v[best] < 0) for (let k = 0; k < v.length; k++) v[k] = -v[k];
}
