import { describe, expect, it } from 'vitest';
import { compare, compareResults, crossValidate, evaluate, kFoldSplits, pairedTTest, randomSplit, tTwoSidedP, tune, csrRow, Random, InvalidArgumentError, type Split } from '../lib/index.js';
import { lcg, randomDataset, ScoreTableModel } from './evaluate-helpers.js';

/** P(|T| >= t) by Simpson integration of the Student t density (an independent reference). */
function tTailByIntegration(t: number, df: number): number {
  const logc = lgammaRef((df + 1) / 2) - lgammaRef(df / 2) - 0.5 * Math.log(df * Math.PI);
  const f = (x: number) => Math.exp(logc - ((df + 1) / 2) * Math.log(1 + (x * x) / df));
  const n = 200000;
  const h = t / n;
  let s = f(0) + f(t);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * f(i * h);
  return 1 - 2 * ((s * h) / 3);
}
/** ln Γ by Stirling's series after shifting x above 10. */
function lgammaRef(x: number): number {
  let shift = 0;
  while (x < 10) (shift += Math.log(x)), (x += 1);
  return (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + 1 / (12 * x) - 1 / (360 * x ** 3) + 1 / (1260 * x ** 5) - shift;
}

/** Scores: 1 on the user's test items of `split` plus noise * uniform. */
function noisyOracle(split: Split, noise: number, seed: number): Float32Array {
  const rand = lcg(seed);
  const n = split.train.numItems;
  const s = Float32Array.from({ length: split.train.numUsers * n }, () => noise * rand());
  for (let u = 0; u < split.train.numUsers; u++) for (const i of csrRow(split.test.matrix, u).indices) s[u * n + i]! += 1;
  return s;
}

describe('statistics', () => {
  it('Student t two-sided p-values match known quantiles and numerical integration', () => {
    expect(tTwoSidedP(2.228138851986273, 10)).toBeCloseTo(0.05, 9);
    expect(tTwoSidedP(12.706204736174705, 1)).toBeCloseTo(0.05, 9);
    expect(tTwoSidedP(1, 1)).toBeCloseTo(0.5, 12); // Cauchy
    expect(tTwoSidedP(1.959963984540054, 1e8)).toBeCloseTo(0.05, 6); // → normal
    expect(tTwoSidedP(0, 7)).toBe(1);
    for (const [t, df] of [[0.5, 3], [2.5, 4], [1.7, 25], [3.2, 60]] as const) expect(tTwoSidedP(t, df)).toBeCloseTo(tTailByIntegration(t, df), 8);
  });

  it('paired t-test on a hand-worked example', () => {
    // differences 1, 2, 2, 3: mean 2, sd sqrt(2/3), se sqrt(2/3)/2, t = 2 / (sqrt(2/3)/2) = sqrt(24)
    const r = pairedTTest([1, 2, 3, 4, NaN], [0, 0, 1, 1, 5]);
    expect(r.pairs).toBe(4);
    expect(r.meanDiff).toBe(2);
    expect(r.t).toBeCloseTo(Math.sqrt(24), 12);
    expect(r.df).toBe(3);
    expect(r.pValue).toBeCloseTo(tTailByIntegration(Math.sqrt(24), 3), 8);
    expect(pairedTTest([1, 2], [1, 2]).pValue).toBe(1);
  });
});

describe('compare', () => {
  it('tables per-metric means with paired bootstrap intervals and t-tests against the baseline', async () => {
    const d = await randomDataset(31, 120, 40, 12);
    const split = await randomSplit(d, { fraction: 0.3, seed: 1 });
    const good = await new ScoreTableModel(noisyOracle(split, 1.5, 1), d.numItems, 'good').fit(split.train);
    const rand = await new ScoreTableModel(noisyOracle(split, 0, 2).map(() => 0).map((_, j) => (j * 7919) % 101), d.numItems, 'random').fit(split.train);
    const cmp = await compare([rand, good], split, { k: 5, metrics: ['ndcg', 'recall', 'coverage'], resamples: 300, seed: 7 });
    expect(cmp.baseline).toBe('random');
    expect(cmp.metrics).toEqual(['ndcg@5', 'recall@5', 'coverage@5']);
    const [base, other] = cmp.rows;
    const eGood = await evaluate(good, split, { k: 5, metrics: ['ndcg', 'recall', 'coverage'] });
    const eRand = await evaluate(rand, split, { k: 5, metrics: ['ndcg', 'recall', 'coverage'] });
    expect(other!.metrics['ndcg@5']!.value).toBe(eGood.metrics['ndcg@5']);
    expect(other!.metrics['ndcg@5']!.diff).toBeCloseTo(eGood.metrics['ndcg@5']! - eRand.metrics['ndcg@5']!, 14);
    expect(other!.metrics['ndcg@5']!.pValue!).toBeLessThan(1e-6);
    expect(base!.metrics['ndcg@5']!.pValue).toBeUndefined();
    expect(other!.metrics['coverage@5']!.ci).toBeNull();
    expect(other!.metrics['coverage@5']!.diff).toBeCloseTo(eGood.metrics['coverage@5']! - eRand.metrics['coverage@5']!, 14);

    // The interval equals a straightforward percentile bootstrap with the same seeded draws.
    const values = eGood.columns.find((c) => c.name === 'ndcg@5')!.values!;
    const rng = new Random(7);
    const means: number[] = [];
    for (let b = 0; b < 300; b++) {
      let s = 0;
      for (let j = 0; j < values.length; j++) s += values[rng.int(values.length)]!;
      means.push(s / values.length);
    }
    means.sort((a, b) => a - b);
    const q = (p: number) => means[Math.floor(p * 299)]! + (means[Math.min(299, Math.floor(p * 299) + 1)]! - means[Math.floor(p * 299)]!) * (p * 299 - Math.floor(p * 299));
    const ci = other!.metrics['ndcg@5']!.ci!;
    expect(ci[0]).toBeCloseTo(q(0.025), 12);
    expect(ci[1]).toBeCloseTo(q(0.975), 12);
    expect(ci[0]).toBeLessThan(other!.metrics['ndcg@5']!.value);
    expect(ci[1]).toBeGreaterThan(other!.metrics['ndcg@5']!.value);
    expect(other!.metrics['ndcg@5']!.diffCi![0]).toBeGreaterThan(0);

    // Pooled RMSE: each resample pools the drawn users' squared errors (Σ sse / Σ pairs), same draws.
    const pooled = await compare([rand, good], split, { k: 5, metrics: ['rmse'], resamples: 100, seed: 7 });
    const rm = (await evaluate(good, split, { k: 5, metrics: ['rmse'] })).columns[0]!;
    const rng2 = new Random(7);
    const rmses: number[] = [];
    for (let b = 0; b < 100; b++) {
      let sse = 0, cnt = 0;
      for (let j = 0; j < rm.values!.length; j++) {
        const r = rng2.int(rm.values!.length);
        sse += rm.values![r]!;
        cnt += rm.weights![r]!;
      }
      rmses.push(Math.sqrt(sse / cnt));
    }
    rmses.sort((a, b) => a - b);
    const q2 = (p: number) => rmses[Math.floor(p * 99)]! + (rmses[Math.floor(p * 99) + 1]! - rmses[Math.floor(p * 99)]!) * (p * 99 - Math.floor(p * 99));
    expect(pooled.rows[1]!.metrics.rmse!.value).toBe(rm.value);
    expect(pooled.rows[1]!.metrics.rmse!.ci![0]).toBeCloseTo(q2(0.025), 10);
    expect(pooled.rows[1]!.metrics.rmse!.ci![1]).toBeCloseTo(q2(0.975), 10);

    const md = cmp.toMarkdown();
    expect(md.split('\n')[0]).toBe('| model | ndcg@5 | recall@5 | coverage@5 |');
    expect(md).toContain('| random (baseline) |');
    expect(md).toMatch(/\| good \| [0-9.]+ \[[0-9.]+, [0-9.]+\] Δ\+[0-9.]+ \(p<0.001\)/);
    expect(cmp.toString()).toContain('random (baseline)');
    const json = JSON.parse(JSON.stringify(cmp));
    expect(json.rows[1].metrics['recall@5'].value).toBe(eGood.metrics['recall@5']);
    expect(json.users).toBe(eGood.users.length);
    // Same seed, same table; a model against itself: no difference, p = 1.
    const run = async () => (await compare({ a: good, b: rand }, split, { k: 5, metrics: ['ndcg'], resamples: 50, seed: 3, baseline: 'b' })).rows.map((r) => r.metrics);
    expect(await run()).toEqual(await run());
    const self = await compare({ a: good, b: good }, split, { k: 5, metrics: ['ndcg'], resamples: 20 });
    expect(self.rows[1]!.metrics['ndcg@5']!.diff).toBe(0);
    expect(self.rows[1]!.metrics['ndcg@5']!.pValue).toBe(1);
  });

  it('rejects bad input', async () => {
    const d = await randomDataset(32, 20, 10, 5);
    const split = await randomSplit(d, { seed: 1 });
    const m = await new ScoreTableModel(new Float32Array(d.numUsers * d.numItems), d.numItems, 'm').fit(split.train);
    await expect(compare([], split)).rejects.toThrow(/for models/);
    await expect(compare([m, m], split)).rejects.toThrow(/names must be unique/);
    await expect(compare({ a: m }, split, { baseline: 'zz' })).rejects.toThrow(/options.baseline/);
    await expect(compare({ a: m }, split, { confidence: 2 })).rejects.toThrow(/options.confidence/);
    const r1 = await evaluate(m, split, { metrics: ['ndcg'] });
    const r2 = await evaluate(m, split, { metrics: ['ndcg'], users: split.users.subarray(0, 3) });
    expect(() => compareResults([r1, { ...r2, model: 'other' }])).toThrow(InvalidArgumentError);
  });
});

describe('tune', () => {
  it('grid search finds the least noisy model on the validation split, never touching test', async () => {
    const d = await randomDataset(33, 100, 40, 14);
    const split = await randomSplit(d, { fraction: 0.2, seed: 4, validation: { fraction: 0.25 } });
    const v = split.validation!;
    const fitted: unknown[] = [];
    const factory = (p: Record<string, unknown>) => {
      const model = new ScoreTableModel(noisyOracle(v, p.noise as number, 5), d.numItems, 'noisy');
      const fit = model.fit.bind(model);
      model.fit = async (ds) => (fitted.push(ds), fit(ds));
      return model;
    };
    const seen: number[] = [];
    const res = await tune(factory, { noise: [4, 0.1, 2, 8] }, split, { metric: 'ndcg@10', onTrial: (t) => seen.push(t.index), refit: true });
    expect(res.strategy).toBe('grid');
    expect(res.trials.map((t) => t.params.noise)).toEqual([4, 0.1, 2, 8]);
    expect(seen).toEqual([0, 1, 2, 3]);
    expect(res.best.params).toEqual({ noise: 0.1 });
    expect(res.best.value).toBe(Math.max(...res.trials.map((t) => t.value)));
    expect(res.direction).toBe('maximize');
    expect(fitted.slice(0, 4).every((ds) => ds === v.train)).toBe(true);
    expect(fitted[4]).toBe(split.train); // the refit
    expect(res.test!.metrics['ndcg@10']).toBeGreaterThan(0);

    // Early stopping: with the best first and patience 2, the search stops after 3 trials.
    const early = await tune(factory, { noise: [0.1, 4, 2, 8, 16] }, split, { metric: 'ndcg@10', patience: 2 });
    expect(early.trials.length).toBe(3);
    expect(early.stoppedEarly).toBe(true);

    // Random search over a range: reproducible by seed, values inside the range.
    const r1 = await tune(factory, { noise: { min: 0.01, max: 10, log: true } }, split, { metric: 'recall@5', trials: 4, seed: 9 });
    const r2 = await tune(factory, { noise: { min: 0.01, max: 10, log: true } }, split, { metric: 'recall@5', trials: 4, seed: 9 });
    expect(r1.strategy).toBe('random');
    expect(r1.trials.map((t) => t.params)).toEqual(r2.trials.map((t) => t.params));
    for (const t of r1.trials) expect(t.params.noise as number).toBeGreaterThanOrEqual(0.01), expect(t.params.noise as number).toBeLessThanOrEqual(10);
    // Integer ranges and lists mix; repeated points are not re-run.
    const r3 = await tune(factory, { noise: [0.5, 1], k: { min: 1, max: 2, integer: true } }, split, { metric: 'hitRate@3', strategy: 'random', trials: 10 });
    expect(r3.trials.length).toBe(4);
  });

  it('rejects bad input', async () => {
    const d = await randomDataset(34, 20, 10, 5);
    const split = await randomSplit(d, { seed: 1 });
    const withVal = await randomSplit(d, { seed: 1, validation: true });
    const f = () => new ScoreTableModel(new Float32Array(d.numUsers * d.numItems), d.numItems);
    await expect(tune(f, { a: [1] }, split, { metric: 'ndcg@10' })).rejects.toThrow(/validation split/);
    await expect(tune(f, { a: [1] }, withVal, { metric: 'ndcg' })).rejects.toThrow(/options.metric/);
    await expect(tune(f, { a: [1] }, withVal, { metric: 'auc@5' })).rejects.toThrow(/options.metric/);
    await expect(tune(f, { a: { min: 0, max: 1 } }, withVal, { metric: 'ndcg@10', strategy: 'grid' })).rejects.toThrow(/for space/);
    await expect(tune(f, { a: { min: 0, max: 1, log: true } }, withVal, { metric: 'ndcg@10' })).rejects.toThrow(/space.a.min/);
    await expect(tune(f, { a: [] }, withVal, { metric: 'ndcg@10' })).rejects.toThrow(/space.a/);
    await expect(tune(f, {}, withVal, { metric: 'ndcg@10' })).rejects.toThrow(/for space/);
    await expect(tune(f, { a: [1] }, withVal, { metric: 'ndcg@10', trails: 3 } as never)).rejects.toThrow(/did you mean 'trials'/);
    await expect(tune('x' as never, { a: [1] }, withVal, { metric: 'ndcg@10' })).rejects.toThrow(/for modelFactory/);
  });
});

describe('crossValidate', () => {
  it('fits a fresh model per fold and summarizes each metric as mean and std over folds', async () => {
    const d = await randomDataset(35, 60, 30, 10);
    const folds = await kFoldSplits(d, { folds: 3, seed: 1 });
    const scores = Float32Array.from({ length: d.numUsers * d.numItems }, (_, j) => (j * 31) % 17);
    const made: ScoreTableModel[] = [];
    const cv = await crossValidate(() => (made.push(new ScoreTableModel(scores, d.numItems)), made.at(-1)!), folds, { k: 5, metrics: ['ndcg', 'recall'] });
    expect(made.length).toBe(3);
    expect(cv.folds.length).toBe(3);
    const per = await Promise.all(folds.map(async (f) => (await evaluate(await new ScoreTableModel(scores, d.numItems).fit(f.train), f, { k: 5, metrics: ['ndcg', 'recall'] })).metrics['ndcg@5']!));
    const mean = per.reduce((a, b) => a + b, 0) / 3;
    expect(cv.metrics['ndcg@5']!.mean).toBeCloseTo(mean, 14);
    expect(cv.metrics['ndcg@5']!.std).toBeCloseTo(Math.sqrt(per.reduce((a, b) => a + (b - mean) ** 2, 0) / 2), 14);
    await expect(crossValidate(() => made[0]!, [])).rejects.toThrow(/for folds/);
  });
});
