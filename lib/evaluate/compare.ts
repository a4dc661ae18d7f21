/**
 * compare(models, split): evaluate several models on the same users and put
 * the results in one table with per-metric means, bootstrap confidence
 * intervals over users and a paired test against a baseline model.
 *
 * - Confidence interval: percentile bootstrap over users. Each resample draws
 *   the evaluated users with replacement (seeded); the metric is recomputed on
 *   it (a mean, or pooled like RMSE); the interval is the (1±c)/2 quantiles.
 *   The same resamples are used for every model (paired), which also gives a
 *   bootstrap interval for the difference to the baseline.
 * - p-value: a two-sided paired t-test on the per-user values (model − baseline),
 *   over users where both are defined. For pooled metrics (rmse, mae) the
 *   per-user value is the user's own mean (squared) error.
 * - Global metrics (coverage) have no per-user values: no interval, no test.
 * Cost: resamples × users × (models × metrics) additions.
 */
import type { Recommender } from '../recommender.js';
import { InvalidArgumentError } from '../errors.js';
import { integer, invalid, knownOptions, number } from '../validate.js';
import { evaluate, LOWER_IS_BETTER, type EvaluateOptions, type EvaluationResult, type MetricColumn } from './evaluate.js';
import { Random } from './random.js';
import { pairedTTest, quantile } from './stats.js';
import type { Split } from './split.js';

export interface CompareOptions extends EvaluateOptions {
  /** Name of the baseline model (default the first). */
  baseline?: string;
  /** Bootstrap resamples (default 1000; 0 disables intervals). */
  resamples?: number;
  /** Confidence level of the intervals (default 0.95). */
  confidence?: number;
}

export interface MetricSummary {
  value: number;
  /** Bootstrap interval [low, high], null for global metrics or without resamples. */
  ci: [number, number] | null;
  /** Against the baseline (absent on the baseline's own row and for global metrics). */
  diff?: number;
  diffCi?: [number, number] | null;
  pValue?: number;
}

export interface ComparisonRow {
  model: string;
  baseline: boolean;
  metrics: Record<string, MetricSummary>;
  seconds: number;
}

export interface ComparisonJson {
  baseline: string;
  metrics: string[];
  users: number;
  resamples: number;
  confidence: number;
  seed: number;
  method: string;
  rows: ComparisonRow[];
}

export const COMPARE_METHOD =
  'value: mean over users (rmse pooled over pairs; coverage over all lists); CI: percentile bootstrap over users (paired resamples); p: two-sided paired t-test over users vs the baseline';

export class Comparison {
  constructor(
    readonly baseline: string,
    /** Metric names, in column order. */
    readonly metrics: string[],
    readonly rows: ComparisonRow[],
    readonly users: number,
    readonly resamples: number,
    readonly confidence: number,
    readonly seed: number,
    /** The full evaluation of each model, in row order. */
    readonly results: EvaluationResult[],
  ) {}

  toJSON(): ComparisonJson {
    return { baseline: this.baseline, metrics: this.metrics, users: this.users, resamples: this.resamples, confidence: this.confidence, seed: this.seed, method: COMPARE_METHOD, rows: this.rows };
  }

  /** A Markdown table: one row per model, one column per metric ("mean [low, high]", then "Δ diff (p)" against the baseline). */
  toMarkdown(): string {
    const header = ['model', ...this.metrics];
    const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, j) => (j === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
    for (const row of this.cells()) lines.push(`| ${row.join(' | ')} |`);
    return `${lines.join('\n')}\n\n${this.footnote()}\n`;
  }

  /** A plain-text table for the console (aligned columns). */
  toString(): string {
    const rows = [['model', ...this.metrics], ...this.cells()];
    const widths = rows[0]!.map((_, j) => Math.max(...rows.map((r) => r[j]!.length)));
    const fmt = (r: string[]) => r.map((c, j) => (j === 0 ? c.padEnd(widths[j]!) : c.padStart(widths[j]!))).join('  ');
    return [fmt(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(fmt), '', this.footnote()].join('\n');
  }

  private cells(): string[][] {
    return this.rows.map((row) => [
      row.baseline ? `${row.model} (baseline)` : row.model,
      ...this.metrics.map((m) => {
        const s = row.metrics[m]!;
        let cell = fmtNum(s.value);
        if (s.ci) cell += ` [${fmtNum(s.ci[0])}, ${fmtNum(s.ci[1])}]`;
        if (s.diff !== undefined) cell += ` Δ${s.diff >= 0 ? '+' : ''}${fmtNum(s.diff)}${s.pValue !== undefined ? ` (p${fmtP(s.pValue)})` : ''}`;
        return cell;
      }),
    ]);
  }

  private footnote(): string {
    const ci = this.resamples > 0 ? `[${Math.round(this.confidence * 100)}% bootstrap CI over ${this.users} users, ${this.resamples} paired resamples, seed ${this.seed}]` : `${this.users} users`;
    return `${ci}; Δ = model − ${this.baseline}; p: two-sided paired t-test over users.`;
  }
}

function fmtNum(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  return Math.abs(x) >= 1000 ? x.toFixed(1) : x.toFixed(4);
}

function fmtP(p: number): string {
  if (Number.isNaN(p)) return '=n/a';
  return p < 0.001 ? '<0.001' : `=${p.toFixed(3)}`;
}

const KEYS = ['baseline', 'resamples', 'confidence'] as const;

/**
 * Evaluate each model (fitted on split.train) and compare them.
 * `models`: an array (names from model.name, which must be unique) or a record name → model.
 */
export async function compare(models: readonly Recommender[] | Record<string, Recommender>, split: Split, options: CompareOptions = {}): Promise<Comparison> {
  const entries: [string, Recommender][] = Array.isArray(models)
    ? (models as readonly Recommender[]).map((m) => [m?.name, m])
    : typeof models === 'object' && models !== null
      ? Object.entries(models as Record<string, Recommender>)
      : [];
  if (entries.length === 0) throw invalid('models', 'a non-empty array of models or a record of name → model', models);
  const names = entries.map(([n]) => n);
  if (new Set(names).size !== names.length) throw new InvalidArgumentError(`models: names must be unique, got ${names.join(', ')}; pass a record { name: model } to name them`);
  const { baseline, resamples, confidence, ...evalOptions } = options;
  knownOptions('options', { baseline, resamples, confidence }, KEYS);
  const results: EvaluationResult[] = [];
  for (const [name, model] of entries) {
    const r = await evaluate(model, split, evalOptions);
    results.push({ ...r, model: name });
  }
  return compareResults(results, { baseline, resamples, confidence, seed: options.seed });
}

/**
 * Compare evaluation results already computed on the same users (same split and options).
 * @throws InvalidArgumentError when the results were computed on different users or metrics.
 */
export function compareResults(
  input: readonly EvaluationResult[],
  options: { baseline?: string | undefined; resamples?: number | undefined; confidence?: number | undefined; seed?: number | undefined } = {},
): Comparison {
  if (!Array.isArray(input) || input.length === 0) throw invalid('results', 'a non-empty array of evaluation results', input);
  const results: readonly EvaluationResult[] = input;
  const baseName = options.baseline ?? results[0]!.model;
  const baseIndex = results.findIndex((r) => r.model === baseName);
  if (baseIndex < 0) throw invalid('options.baseline', `one of the model names (${results.map((r) => r.model).join(', ')})`, baseName);
  const B = integer('options.resamples', options.resamples ?? 1000, 0);
  const confidence = number('options.confidence', options.confidence ?? 0.95, 0, 1);
  const seed = integer('options.seed', options.seed ?? 42, 0, 2 ** 32 - 1);
  const first = results[0]!;
  const metricNames = first.columns.map((c) => c.name);
  for (const r of results) {
    if (r.users.length !== first.users.length || r.users.some((u, j) => u !== first.users[j])) {
      throw new InvalidArgumentError(`results: '${r.model}' was evaluated on different users than '${first.model}'; compare needs the same split and user options`);
    }
    if (r.columns.map((c) => c.name).join() !== metricNames.join()) throw new InvalidArgumentError(`results: '${r.model}' has different metrics than '${first.model}'`);
  }
  const n = first.users.length;
  const perUser = (c: MetricColumn): Float64Array | null => {
    if (!c.values) return null;
    if (!c.weights) return c.values;
    return Float64Array.from(c.values, (v, j) => v / c.weights![j]!);
  };

  // Paired bootstrap: the same resampled users for every model and metric. A resample is
  // stored as how many times each user was drawn, so each column is one sequential pass.
  const boot = results.map(() => metricNames.map(() => new Float64Array(B)));
  const prepared = results.map((r) => r.columns.map((c) => (c.values ? resamplable(c) : null)));
  const rng = new Random(seed);
  const drawn = new Int32Array(n);
  for (let b = 0; b < B && n > 0; b++) {
    drawn.fill(0);
    for (let j = 0; j < n; j++) drawn[rng.int(n)]!++;
    for (let x = 0; x < prepared.length; x++) {
      for (let y = 0; y < metricNames.length; y++) {
        const p = prepared[x]![y];
        boot[x]![y]![b] = p ? weightedValue(drawn, p.values, p.weights, p.root) : NaN;
      }
    }
  }
  const lo = (1 - confidence) / 2, hi = 1 - lo;
  const interval = (samples: Float64Array): [number, number] | null => {
    const s = samples.filter((v) => !Number.isNaN(v)).sort();
    return s.length ? [quantile(s, lo), quantile(s, hi)] : null;
  };

  const table: ComparisonRow[] = results.map((r, x) => {
    const metrics: Record<string, MetricSummary> = {};
    r.columns.forEach((c, y) => {
      const s: MetricSummary = { value: c.value, ci: c.values && B > 0 ? interval(boot[x]![y]!) : null };
      if (x !== baseIndex) {
        const base = results[baseIndex]!.columns[y]!;
        s.diff = c.value - base.value;
        if (c.values && base.values) {
          s.diffCi = B > 0 ? interval(boot[x]![y]!.map((v, b) => v - boot[baseIndex]![y]![b]!)) : null;
          s.pValue = pairedTTest(perUser(c)!, perUser(base)!).pValue;
        }
      }
      metrics[c.name] = s;
    });
    return { model: r.model, baseline: x === baseIndex, metrics, seconds: r.seconds };
  });
  return new Comparison(baseName, metricNames, table, n, B, confidence, seed, [...results]);
}

/** Σ drawn·values / Σ drawn·weights (square-rooted for pooled RMSE). */
function weightedValue(drawn: Int32Array, values: Float64Array, weights: Float64Array, root: boolean): number {
  let sum = 0;
  let weight = 0;
  for (let j = 0; j < drawn.length; j++) {
    const c = drawn[j]!;
    sum += c * values[j]!;
    weight += c * weights[j]!;
  }
  if (weight === 0) return NaN;
  return root ? Math.sqrt(sum / weight) : sum / weight;
}

/** A column with undefined values zeroed and given weight 0, ready for weighted resampling. */
function resamplable(c: MetricColumn): { values: Float64Array; weights: Float64Array; root: boolean } {
  const values = new Float64Array(c.values!.length);
  const weights = new Float64Array(c.values!.length);
  c.values!.forEach((v, j) => {
    if (Number.isNaN(v)) return;
    values[j] = v;
    weights[j] = c.weights ? c.weights[j]! : 1;
  });
  return { values, weights, root: c.aggregate === 'rootMean' };
}

/** True when `a` is a better value than `b` for the metric (e.g. 'ndcg@10' higher, 'rmse' lower). */
export function isBetter(metric: string, a: number, b: number): boolean {
  if (Number.isNaN(a)) return false;
  if (Number.isNaN(b)) return true;
  return LOWER_IS_BETTER.has(metric.split('@')[0]!) ? a < b : a > b;
}
