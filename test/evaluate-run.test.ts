import { describe, expect, it } from 'vitest';
import { evaluate, randomSplit, timeSplit, csrRow, FeatureTable, Dataset, Interactions, NotFittedError, InvalidArgumentError, type Split } from '../lib/index.js';
import { lcg, randomDataset, ScoreTableModel } from './evaluate-helpers.js';

/** Scores on a coarse grid, so that many ties occur. */
function randomScores(seed: number, nUsers: number, nItems: number): Float32Array {
  const rand = lcg(seed);
  return Float32Array.from({ length: nUsers * nItems }, () => Math.floor(rand() * 6));
}

/** Straightforward reference: per-user metrics from sorted full rankings and plain sets. */
function reference(model: ScoreTableModel, split: Split, k: number) {
  const nItems = split.train.numItems;
  const trainPop = split.train.itemCounts();
  const trainUsers = [...split.train.userCounts()].filter((c) => c > 0).length;
  const warm = [...Array(nItems).keys()].filter((i) => trainPop[i]! > 0);
  const sums: Record<string, number[]> = { precision: [], recall: [], ndcg: [], map: [], mrr: [], hitRate: [], auc: [], novelty: [], popularity: [] };
  const covered = new Set<number>();
  let se = 0, ae = 0, pairs = 0;
  for (const u of split.users) {
    const seen = new Set(csrRow(split.train.matrix, u).indices);
    const testRow = csrRow(split.test.matrix, u);
    const rel = new Set<number>();
    let usable = 0;
    let use = 0, uae = 0, upairs = 0;
    testRow.indices.forEach((i, p) => {
      if (trainPop[i] === 0) return;
      use += (model.score(u, i) - testRow.values[p]!) ** 2;
      uae += Math.abs(model.score(u, i) - testRow.values[p]!);
      upairs++;
      if (seen.has(i)) return;
      usable++;
      rel.add(i);
    });
    // Users with no usable pair (only cold items or training repeats) are not evaluated, for rmse either.
    if (usable === 0) continue;
    (se += use), (ae += uae), (pairs += upairs);
    const ranking = [...Array(nItems).keys()].filter((i) => !seen.has(i)).sort((a, b) => model.score(u, b) - model.score(u, a) || a - b);
    const top = ranking.slice(0, k);
    top.forEach((i) => covered.add(i));
    const hits = top.filter((i) => rel.has(i)).length;
    sums.precision!.push(hits / k);
    sums.recall!.push(hits / rel.size);
    let dcg = 0, idcg = 0, ap = 0, h = 0, rr = 0;
    top.forEach((i, r) => {
      if (!rel.has(i)) return;
      dcg += 1 / Math.log2(r + 2);
      ap += ++h / (r + 1);
      if (!rr) rr = 1 / (r + 1);
    });
    for (let r = 0; r < Math.min(k, rel.size); r++) idcg += 1 / Math.log2(r + 2);
    sums.ndcg!.push(dcg / idcg);
    sums.map!.push(ap / Math.min(k, rel.size));
    sums.mrr!.push(rr);
    sums.hitRate!.push(hits > 0 ? 1 : 0);
    // AUC over the warm unseen candidates by brute force.
    const cand = warm.filter((i) => !seen.has(i));
    let correct = 0, np = 0, nn = 0;
    for (const p of cand) if (rel.has(p)) for (const q of cand) if (!rel.has(q)) correct += model.score(u, p) > model.score(u, q) ? 1 : model.score(u, p) === model.score(u, q) ? 0.5 : 0;
    for (const i of cand) rel.has(i) ? np++ : nn++;
    if (np && nn) sums.auc!.push(correct / (np * nn));
    sums.novelty!.push(top.reduce((s, i) => s - Math.log2(Math.max(trainPop[i]!, 1) / trainUsers), 0) / top.length);
    sums.popularity!.push(top.reduce((s, i) => s + trainPop[i]! / trainUsers, 0) / top.length);
  }
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  const out: Record<string, number> = {};
  for (const [m, v] of Object.entries(sums)) out[m] = mean(v);
  out.coverage = [...covered].filter((i) => trainPop[i]! > 0).length / warm.length;
  out.rmse = Math.sqrt(se / pairs);
  out.mae = ae / pairs;
  out.users = sums.precision!.length;
  return out;
}

describe('evaluate', () => {
  it.each(['random', 'time'])('agrees with a straightforward reference on random data with ties (%s split, several k, small batches)', async (kind) => {
    const d = await randomDataset(21, 80, kind === 'random' ? 50 : 300, 15);
    const split = kind === 'random' ? await randomSplit(d, { fraction: 0.3, seed: 3 }) : await timeSplit(d, { fraction: 0.3 });
    if (kind === 'time') expect(split.info.coldItems).toBeGreaterThan(0); // the reference must handle cold items and repeats too
    const model = await new ScoreTableModel(randomScores(5, d.numUsers, d.numItems), d.numItems).fit(split.train);
    const progress: number[] = [];
    const res = await evaluate(model, split, {
      k: [3, 10],
      metrics: ['precision', 'recall', 'ndcg', 'map', 'mrr', 'hitRate', 'auc', 'coverage', 'novelty', 'popularity', 'rmse', 'mae'],
      batchSize: 7,
      onProgress: (f) => progress.push(f),
    });
    for (const k of [3, 10]) {
      const ref = reference(model, split, k);
      expect(res.counts.users).toBe(ref.users);
      for (const m of ['precision', 'recall', 'ndcg', 'map', 'mrr', 'hitRate', 'coverage', 'novelty', 'popularity']) {
        expect(res.metrics[`${m}@${k}`], `${m}@${k}`).toBeCloseTo(ref[m]!, 10);
      }
      expect(res.metrics.auc).toBeCloseTo(ref.auc!, 10);
      expect(res.metrics.rmse).toBeCloseTo(ref.rmse!, 5);
      expect(res.metrics.mae).toBeCloseTo(ref.mae!, 5);
    }
    expect(progress.length).toBeGreaterThan(3);
    expect(progress.at(-1)).toBeCloseTo(1, 12);
    for (let j = 1; j < progress.length; j++) expect(progress[j]!).toBeGreaterThanOrEqual(progress[j - 1]!);
    expect(res.users.length).toBe(res.counts.users);
    expect(res.columns.find((c) => c.name === 'ndcg@10')!.values!.length).toBe(res.counts.users);
  });

  it('a model that ranks the test items first scores the maximum', async () => {
    const d = await randomDataset(22, 40, 30, 10);
    const split = await randomSplit(d, { fraction: 0.4, seed: 1 });
    const scores = new Float32Array(d.numUsers * d.numItems);
    for (let u = 0; u < d.numUsers; u++) for (const i of csrRow(split.test.matrix, u).indices) scores[u * d.numItems + i] = 1;
    const oracle = await new ScoreTableModel(scores, d.numItems, 'oracle').fit(split.train);
    const res = await evaluate(oracle, split, { k: 20, metrics: ['recall', 'ndcg', 'implicitPrecision', 'map', 'mrr', 'auc', 'sampledAuc'] });
    // every user has fewer than 20 test items here
    for (const m of ['recall@20', 'ndcg@20', 'implicitPrecision@20', 'map@20', 'mrr@20', 'auc', 'sampledAuc']) expect(res.metrics[m], m).toBe(1);
    // and the reversed model scores the minimum
    const worst = await new ScoreTableModel(scores.map((s) => -s), d.numItems, 'worst').fit(split.train);
    const bad = await evaluate(worst, split, { k: 1, metrics: ['auc', 'sampledAuc', 'hitRate'] });
    expect(bad.metrics.auc).toBe(0);
    expect(bad.metrics.sampledAuc).toBe(0);
  });

  it('sampledAuc is reproducible by seed and agrees between predictMany and full rankings', async () => {
    const d = await randomDataset(23, 50, 40, 12);
    const split = await randomSplit(d, { seed: 2 });
    const scores = randomScores(9, d.numUsers, d.numItems);
    const withPredict = await new ScoreTableModel(scores, d.numItems).fit(split.train);
    const noPredict = await new ScoreTableModel(scores, d.numItems).fit(split.train);
    (noPredict as { predictMany?: unknown }).predictMany = undefined;
    const a = await evaluate(withPredict, split, { metrics: ['sampledAuc'], seed: 3, aucSamples: 50 });
    const b = await evaluate(noPredict, split, { metrics: ['sampledAuc'], seed: 3, aucSamples: 50 });
    const c = await evaluate(withPredict, split, { metrics: ['sampledAuc'], seed: 4, aucSamples: 50 });
    expect(a.metrics.sampledAuc).toBe(b.metrics.sampledAuc);
    expect(a.metrics.sampledAuc).not.toBe(c.metrics.sampledAuc);
    expect(a.metrics.sampledAuc).toBeGreaterThan(0.3);
    expect(a.metrics.sampledAuc).toBeLessThan(0.7);
  });

  it('graded NDCG, minRelevance and diversity from features or embeddings', async () => {
    const log = new Interactions();
    // user a: train x; test y (rating 5) and z (rating 2). user b: train y; test x (rating 4).
    log.add('a', 'x', 3, undefined, 1);
    log.add('b', 'y', 3, undefined, 1);
    log.add('c', 'x', 3, undefined, 1);
    log.add('c', 'y', 3, undefined, 1);
    log.add('c', 'z', 3, undefined, 1);
    log.add('a', 'y', 5, undefined, 10);
    log.add('a', 'z', 2, undefined, 10);
    log.add('b', 'x', 4, undefined, 10);
    const features = new FeatureTable({ genre: 'multi' });
    features.set('x', { genre: 'a|b' });
    features.set('y', { genre: 'b' });
    features.set('z', { genre: 'c' });
    const d = await Dataset.build(log, { itemFeatures: features });
    const split = await timeSplit(d, { cutoff: 5 });
    const [x, y, z] = ['x', 'y', 'z'].map((id) => d.items.index(id)!);
    const table = new Float32Array(d.numUsers * d.numItems);
    const a = d.users.index('a')!, b = d.users.index('b')!;
    // a ranks z above y (the worse order); b gets x.
    table[a * 3 + z!] = 2; table[a * 3 + y!] = 1;
    table[b * 3 + x!] = 1;
    const model = await new ScoreTableModel(table, 3).fit(split.train);
    const res = await evaluate(model, split, { k: 2, metrics: ['ndcgGraded', 'ndcg', 'precision', 'diversity'] });
    // user a: DCG = 2 + 5/log2(3), IDCG = 5 + 2/log2(3); user b: 1.
    const ua = (2 + 5 / Math.log2(3)) / (5 + 2 / Math.log2(3));
    expect(res.metrics['ndcgGraded@2']).toBeCloseTo((ua + 1) / 2, 12);
    expect(res.metrics['ndcg@2']).toBeCloseTo(1, 12);
    expect(res.metrics['precision@2']).toBeCloseTo((1 + 0.5) / 2, 12);
    // diversity: a's list (z, y): Jaccard distance of {c} and {b} = 1; b's list has one item → undefined
    expect(res.metrics['diversity@2']).toBe(1);
    // Only ratings >= 4 are relevant: a keeps y (ranked second), b keeps x.
    const strict = await evaluate(model, split, { k: 1, metrics: ['precision', 'recall'], minRelevance: 4 });
    expect(strict.metrics['precision@1']).toBe(0.5);
    expect(strict.counts.belowRelevance).toBe(1);
    // embeddings: x = (1,0), y = (0,1), z = (1,1)
    const emb = new Float32Array(6);
    emb.set([1, 0], x! * 2); emb.set([0, 1], y! * 2); emb.set([1, 1], z! * 2);
    const withEmb = await evaluate(model, split, { k: 2, metrics: ['diversity'], itemEmbeddings: { vectors: emb, dim: 2 } });
    expect(withEmb.metrics['diversity@2']).toBeCloseTo(1 - Math.SQRT1_2, 6);
  });

  it('drops cold items and training repeats from the relevant sets and reports them', async () => {
    const log = new Interactions();
    log.add('a', 'x', 1, undefined, 1);
    log.add('a', 'w', 1, undefined, 1);
    log.add('b', 'y', 1, undefined, 1);
    log.add('a', 'x', 1, undefined, 10); // a repeat of a training pair
    log.add('a', 'y', 1, undefined, 10);
    log.add('a', 'new', 1, undefined, 10); // cold item
    log.add('b', 'new', 1, undefined, 10); // b: only a cold item → not evaluated
    const d = await Dataset.build(log);
    const split = await timeSplit(d, { cutoff: 5 });
    const model = await new ScoreTableModel(new Float32Array(d.numUsers * d.numItems), d.numItems).fit(split.train);
    const res = await evaluate(model, split, { k: 5, metrics: ['recall'] });
    expect(res.counts).toMatchObject({ users: 1, relevantPairs: 1, seenPairs: 1, coldItemPairs: 2, skippedUsers: 1, coldItems: 1 });
    expect(res.metrics['recall@5']).toBe(1);
    // coldStart 'include': the cold item is relevant and in the catalog (a content model could recommend it).
    const inc = await timeSplit(d, { cutoff: 5, coldStart: 'include' });
    const all = await evaluate(model, inc, { k: 5, metrics: ['recall', 'coverage'] });
    expect(all.counts).toMatchObject({ users: 2, relevantPairs: 3, seenPairs: 1, coldItemPairs: 0 });
    // all scores tie at 0, so lists follow item index order: x(0) w(1) y(2) new(3); a has seen x, w; b has seen y
    expect(all.metrics['recall@5']).toBe(1);
    expect(all.metrics['coverage@5']).toBe(1);
  });

  it('evaluates a given user subset or a seeded sample', async () => {
    const d = await randomDataset(24, 60, 30, 10);
    const split = await randomSplit(d, { seed: 1 });
    const model = await new ScoreTableModel(randomScores(1, d.numUsers, d.numItems), d.numItems).fit(split.train);
    const some = split.users.subarray(0, 5);
    const r1 = await evaluate(model, split, { users: some, metrics: ['ndcg'] });
    expect([...r1.users]).toEqual([...some].filter((u) => r1.users.includes(u)));
    expect(r1.counts.users + r1.counts.skippedUsers).toBe(5);
    const ids = [...some].map((u) => d.users.id(u));
    expect((await evaluate(model, split, { users: ids, metrics: ['ndcg'] })).metrics).toEqual(r1.metrics);
    const s1 = await evaluate(model, split, { users: 10, seed: 5, metrics: ['ndcg'] });
    const s2 = await evaluate(model, split, { users: 10, seed: 5, metrics: ['ndcg'] });
    expect([...s1.users]).toEqual([...s2.users]);
    expect(s1.users.length + s1.counts.skippedUsers).toBe(10);
  });

  it('rejects bad input with typed errors naming the argument', async () => {
    const d = await randomDataset(25, 10, 10, 5);
    const split = await randomSplit(d, { seed: 1 });
    const model = new ScoreTableModel(new Float32Array(d.numUsers * d.numItems), d.numItems);
    await expect(evaluate(model, split)).rejects.toThrow(NotFittedError);
    await model.fit(split.train);
    await expect(evaluate(model, split, { k: 0 })).rejects.toThrow(/options.k/);
    await expect(evaluate(model, split, { k: [5, 2.5] })).rejects.toThrow(/options.k\[1\]/);
    await expect(evaluate(model, split, { metrics: ['ndcg', 'ndgc' as never] })).rejects.toThrow(/options.metrics\[1\]/);
    await expect(evaluate(model, split, { metrics: ['diversity'] })).rejects.toThrow(/item features .* or options.itemEmbeddings/);
    await expect(evaluate(model, split, { itemEmbeddings: { vectors: new Float32Array(3), dim: 2 }, metrics: ['diversity'] })).rejects.toThrow(/numItems \* dim/);
    await expect(evaluate(model, split, { users: new Int32Array([999]) })).rejects.toThrow(/options.users\[0\]/);
    await expect(evaluate(model, split, { topk: 3 } as never)).rejects.toThrow(/Unknown option 'topk'/);
    await expect(evaluate(model, {} as never)).rejects.toThrow(/for split/);
    await expect(evaluate({} as never, split)).rejects.toThrow(/for model/);
    const noPredict = await new ScoreTableModel(new Float32Array(d.numUsers * d.numItems), d.numItems).fit(split.train);
    (noPredict as { predictMany?: unknown }).predictMany = undefined;
    await expect(evaluate(noPredict, split, { metrics: ['rmse'] })).rejects.toThrow(InvalidArgumentError);
    // a model returning out-of-range items is reported, not scored
    const broken = await new ScoreTableModel(new Float32Array(d.numUsers * d.numItems), d.numItems).fit(split.train);
    broken.recommendMany = async (users) => ({ k: 1, count: (users as Int32Array).length, indices: new Int32Array((users as Int32Array).length).fill(77), scores: new Float32Array((users as Int32Array).length) });
    await expect(evaluate(broken, split, { k: 1 })).rejects.toThrow(/item index 77/);
    const ac = new AbortController();
    ac.abort();
    await expect(evaluate(model, split, { signal: ac.signal })).rejects.toThrow(/aborted/);
  });
});
