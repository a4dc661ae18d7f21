/**
 * Statistics for comparing models: the percentile bootstrap over users and a
 * paired two-sided t-test, with the Student t distribution computed through
 * the regularized incomplete beta function (continued fraction, Lentz's method)
 * and log-gamma (Lanczos approximation, g = 7).
 */

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
  -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0. */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x); // reflection
  x -= 1;
  let a = LANCZOS[0]!;
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the incomplete beta function (modified Lentz). */
function betaFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 1000; m++) {
    const m2 = 2 * m;
    // even step
    let aa = (m * (b - m) * x) / ((a - 1 + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    // odd step
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + 1 + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return h;
}

/** The regularized incomplete beta function I_x(a, b). */
export function regularizedBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  // The fraction converges fast for x < (a+1)/(a+b+2); use the symmetry I_x(a,b) = 1 − I_{1−x}(b,a) otherwise.
  return x < (a + 1) / (a + b + 2) ? (front * betaFraction(x, a, b)) / a : 1 - (front * betaFraction(1 - x, b, a)) / b;
}

/** Two-sided p-value of a Student t statistic with `df` degrees of freedom: P(|T| >= |t|) = I_{df/(df+t²)}(df/2, 1/2). */
export function tTwoSidedP(t: number, df: number): number {
  if (!Number.isFinite(t)) return Number.isNaN(t) ? NaN : 0;
  return regularizedBeta(df / (df + t * t), df / 2, 0.5);
}

export interface PairedTest {
  /** Mean of the per-user differences (model − baseline). */
  meanDiff: number;
  t: number;
  df: number;
  /** Two-sided p-value; NaN with fewer than 2 pairs; 1 when every difference is 0. */
  pValue: number;
  /** Users with a defined value for both models. */
  pairs: number;
}

/** Paired two-sided t-test on per-user values (pairs where either is NaN are skipped). */
export function pairedTTest(a: ArrayLike<number>, b: ArrayLike<number>): PairedTest {
  let n = 0, sum = 0;
  for (let j = 0; j < a.length; j++) {
    const d = a[j]! - b[j]!;
    if (Number.isNaN(d)) continue;
    n++;
    sum += d;
  }
  const mean = n ? sum / n : NaN;
  let ss = 0;
  for (let j = 0; j < a.length; j++) {
    const d = a[j]! - b[j]!;
    if (!Number.isNaN(d)) ss += (d - mean) ** 2;
  }
  if (n < 2) return { meanDiff: mean, t: NaN, df: n - 1, pValue: NaN, pairs: n };
  const se = Math.sqrt(ss / (n - 1) / n);
  if (se === 0) return { meanDiff: mean, t: mean === 0 ? 0 : Infinity * Math.sign(mean), df: n - 1, pValue: mean === 0 ? 1 : 0, pairs: n };
  const t = mean / se;
  return { meanDiff: mean, t, df: n - 1, pValue: tTwoSidedP(t, n - 1), pairs: n };
}

/** The q-quantile of sorted values (linear interpolation between order statistics). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}
