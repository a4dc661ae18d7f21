// A synthetic matrix with the shape of MovieLens-20M: 138,493 users x 26,744
// items, about 20M stored ratings (0.5..5). User activity is log-normal
// (mean ~144, sd ~230, clamped to [20, 9254] like ML-20M); item popularity
// follows a power law p_i ∝ (i + 50)^-1 (the top item gets ~65k users, as in
// ML-20M). Seeded: the same arguments give the same matrix.
// `scale` < 1 shrinks users and items (and so nnz) proportionally.
import { native } from '../../dist/native.js';
import { rng } from '../harness.mjs';

export const ML20M = { users: 138_493, items: 26_744, nnz: 20_000_263 };

/** The CSR matrix (users x items), or with `coo: true` the raw triples { users, items, rows, cols, vals }. */
export async function ml20mShape({ scale = 1, seed = 1, threads = 0, coo = false } = {}) {
  const users = Math.round(ML20M.users * scale);
  const items = Math.round(ML20M.items * scale);
  const target = Math.round(ML20M.nnz * scale * scale);
  const r = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  const sigma = Math.sqrt(Math.log(1 + (230 / 144) ** 2));
  const mu = Math.log(144) - (sigma * sigma) / 2;
  const maxDeg = Math.min(9254, Math.floor(items * 0.35));
  const deg = new Float64Array(users);
  let sum = 0;
  for (let u = 0; u < users; u++) {
    deg[u] = Math.min(maxDeg, Math.max(20, Math.exp(mu + sigma * gauss())));
    sum += deg[u];
  }
  const f = target / sum;
  const degrees = Int32Array.from(deg, (d) => Math.max(1, Math.min(maxDeg, Math.round(d * f))));
  const cdf = new Float64Array(items);
  let acc = 0;
  for (let i = 0; i < items; i++) cdf[i] = acc += 1 / (i + 50);
  let n = 0;
  for (const d of degrees) n += d;
  const rows = new Int32Array(n);
  const cols = new Int32Array(n);
  const vals = new Float32Array(n);
  // Item ids are shuffled so popularity is not sorted by index.
  const perm = Int32Array.from({ length: items }, (_, i) => i);
  for (let i = items - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  // Each user draws distinct items (rejection of repeats), so nnz = Σ degrees.
  const taken = new Uint8Array(items);
  let p = 0;
  for (let u = 0; u < users; u++) {
    const start = p;
    for (let t = 0; t < degrees[u]; ) {
      const x = r() * acc;
      let lo = 0;
      let hi = items - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (cdf[mid] < x) lo = mid + 1;
        else hi = mid;
      }
      const item = perm[lo];
      if (taken[item]) continue;
      taken[item] = 1;
      rows[p] = u;
      cols[p] = item;
      vals[p] = 0.5 * (1 + Math.floor(r() * 10));
      p++;
      t++;
    }
    for (let q = start; q < p; q++) taken[cols[q]] = 0;
  }
  if (coo) return { users, items, rows, cols, vals };
  return native().csrFromCoo(rows, cols, vals, users, items, 'sum', false, threads);
}
