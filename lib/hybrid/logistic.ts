/**
 * A small logistic-regression click/conversion model over blend features
 * (the normalized source scores): p(y = 1 | x) = σ(w·x + b), fitted by
 * Newton's method (iteratively reweighted least squares) on the L2-penalized
 * log-loss  Σ −[y log p + (1 − y) log(1 − p)] + (λ/2)‖w‖².
 * The fit itself is deterministic; the seed enters through the sampling of
 * negative examples (blend.ts), so weights are reproducible by seed.
 */
import { choleskySolve } from './linalg.js';

export interface LogisticFit {
  weights: Float64Array;
  bias: number;
  iterations: number;
  /** Mean log-loss on the training samples at the end. */
  loss: number;
}

/** x: row-major samples x features; y: 0/1 labels. */
export function fitLogistic(x: Float64Array, y: Uint8Array, features: number, l2 = 1, maxIterations = 50): LogisticFit {
  const n = y.length;
  const p = features + 1; // last parameter is the bias (not penalized)
  const w = new Float64Array(p);
  const row = (i: number, j: number) => (j === features ? 1 : x[i * features + j]!);
  let it = 0;
  let loss = 0;
  for (; it < maxIterations; it++) {
    const grad = new Float64Array(p);
    const hess = new Float64Array(p * p);
    loss = 0;
    for (let i = 0; i < n; i++) {
      let z = w[features]!;
      for (let j = 0; j < features; j++) z += w[j]! * x[i * features + j]!;
      const prob = 1 / (1 + Math.exp(-z));
      loss += y[i] ? -Math.log(Math.max(prob, 1e-15)) : -Math.log(Math.max(1 - prob, 1e-15));
      const r = prob - y[i]!;
      const s = Math.max(prob * (1 - prob), 1e-9);
      for (let a = 0; a < p; a++) {
        const xa = row(i, a);
        grad[a]! += r * xa;
        for (let b = 0; b <= a; b++) hess[a * p + b]! += s * xa * row(i, b);
      }
    }
    for (let a = 0; a < p; a++) for (let b = 0; b < a; b++) hess[b * p + a] = hess[a * p + b]!;
    for (let a = 0; a < features; a++) {
      grad[a]! += l2 * w[a]!;
      hess[a * p + a]! += l2;
      loss += (l2 / 2) * w[a]! ** 2;
    }
    hess[features * p + features]! += 1e-9;
    const step = choleskySolve(hess, p, grad, 1);
    let change = 0;
    for (let a = 0; a < p; a++) {
      w[a]! -= step[a]!;
      change = Math.max(change, Math.abs(step[a]!));
    }
    if (change < 1e-8) {
      it++;
      break;
    }
  }
  return { weights: w.slice(0, features), bias: w[features]!, iterations: it, loss: loss / Math.max(1, n) };
}
