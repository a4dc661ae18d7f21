// Evaluation throughput: evaluate() on a factor model (fused native scoring +
// top-k through FactorScorer) for many test users, then the same users'
// recommendMany alone, so the cost of scoring the metrics shows as a ratio.
// Also times a split, a full-AUC pass on a user sample and compare()'s bootstrap.
// Usage: node bench/evaluate.mjs [--users 100000] [--items 30000] [--dim 64] [--k 10] [--per-user 20] [--threads 0]
// Target (issue 3): 100,000 test users, 30,000 items, k = 10, 64 factors: seconds, not minutes.
// With --ml: instead, compare the real models on ml-latest-small (../shared/datasets) and tune PureSVD.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { IdMap, Interactions, Dataset, randomSplit, evaluate, compare, tune, readInteractions } from '../dist/index.js';
import { FactorScorer } from '../dist/models/factor.js';
import { resolveBatchOptions, trainingDataOf } from '../dist/models/common.js';
import { writeResult, peakRssMiB, rng, benchDir } from './harness.mjs';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}
const nUsers = Number(arg('users', 100_000));
const nItems = Number(arg('items', 30_000));
const dim = Number(arg('dim', 64));
const k = Number(arg('k', 10));
const perUser = Number(arg('per-user', 20));
const threads = Number(arg('threads', 0));
const clusters = 32;

if (process.argv.includes('--ml')) {
  await realData();
  process.exit(0);
}

/** Real models on ml-latest-small: a compare() table with bootstrap CIs and a tune() of PureSVD's factors. */
async function realData() {
  const { PopularModel } = await import('../dist/models/popular.js');
  const { PureSvdModel } = await import('../dist/models/puresvd.js');
  const { ItemKnnModel } = await import('../dist/models/itemknn.js');
  const { UserKnnModel } = await import('../dist/models/userknn.js');
  const dir = join(benchDir, '..', '..', 'shared', 'datasets', 'ml-latest-small');
  if (!existsSync(join(dir, 'ratings.csv'))) throw new Error(`${dir} not found (ml-latest-small lives in ../shared/datasets beside the repository)`);
  const { value: log } = await readInteractions(join(dir, 'ratings.csv'), { columns: { user: 'userId', item: 'movieId', timestamp: 'timestamp' } });
  const dataset = await Dataset.build(log);
  let t = performance.now();
  const split = await randomSplit(dataset, { fraction: 0.2, seed: 1, validation: { fraction: 0.2 } });
  const splitSeconds = (performance.now() - t) / 1000;
  const models = { popular: new PopularModel(), puresvd: new PureSvdModel({ factors: 50 }), itemknn: new ItemKnnModel({ neighbours: 100 }), userknn: new UserKnnModel({ neighbours: 50 }) };
  for (const m of Object.values(models)) await m.fit(split.train, { seed: 1 });
  t = performance.now();
  const metrics = ['precision', 'recall', 'ndcg', 'map', 'mrr', 'coverage', 'novelty'];
  const cmp = await compare(models, split, { k: 10, metrics, resamples: 1000, seed: 1 });
  const compareSeconds = (performance.now() - t) / 1000;
  console.log(cmp.toString());
  console.log(cmp.toMarkdown());
  t = performance.now();
  const tuned = await tune((p) => new PureSvdModel(p), { factors: [8, 16, 32, 64, 128, 256] }, split, { metric: 'ndcg@10', refit: true, fit: { seed: 1 } });
  const tuneSeconds = (performance.now() - t) / 1000;
  for (const tr of tuned.trials) console.log(`factors ${tr.params.factors}: validation ndcg@10 ${tr.value.toFixed(4)} (fit ${tr.fitSeconds.toFixed(2)} s)`);
  console.log(`best ${JSON.stringify(tuned.best.params)}; test ndcg@10 after refit ${tuned.test.metrics['ndcg@10'].toFixed(4)}; tune ${tuneSeconds.toFixed(1)} s`);
  await writeResult('evaluate-ml', {
    dataset: 'ml-latest-small',
    split: split.info,
    validation: split.validation.info,
    splitSeconds: +splitSeconds.toFixed(3),
    compareSeconds: +compareSeconds.toFixed(2),
    comparison: cmp.toJSON(),
    markdown: cmp.toMarkdown(),
    tune: { seconds: +tuneSeconds.toFixed(2), trials: tuned.trials.map((tr) => ({ params: tr.params, value: tr.value, fitSeconds: tr.fitSeconds })), best: tuned.best.params, testNdcg10: tuned.test.metrics['ndcg@10'] },
  });
}

/**
 * A benchmark-only factor model: fixed user and item factors with planted
 * clusters (user u and item i load on cluster u % C and i % C), scored by the
 * shared FactorScorer. Not a trained model: it only exercises evaluate's path.
 */
class PlantedFactorModel {
  constructor(name, noise, seed) {
    this.name = name;
    this.noise = noise;
    this.seed = seed;
    this.fitted = false;
  }
  factors(n, seed) {
    const rand = rng(seed);
    const f = new Float32Array(n * dim);
    for (let r = 0; r < n; r++) {
      for (let d = 0; d < dim; d++) f[r * dim + d] = this.noise * (rand() - 0.5);
      f[r * dim + (r % clusters)] += 1;
    }
    return f;
  }
  async fit(dataset) {
    this.data = trainingDataOf(dataset);
    this.userFactors = this.factors(dataset.numUsers, this.seed);
    this.scorer = new FactorScorer(this.data, this.factors(dataset.numItems, this.seed + 1), dim);
    this.fitted = true;
    return this;
  }
  recommendMany(users, options) {
    return this.scorer.recommendMany(this.userFactors, users, resolveBatchOptions(options, this.data.items));
  }
}

// Data: each user picks `perUser` items, 80% from its own cluster (popularity-skewed), 20% anywhere.
let t = performance.now();
const rand = rng(7);
const n = nUsers * perUser;
const users = new Int32Array(n), items = new Int32Array(n);
for (let e = 0; e < n; e++) {
  const u = Math.floor(e / perUser);
  users[e] = u;
  const inCluster = rand() < 0.8;
  const r = Math.floor(rand() ** 2 * (inCluster ? nItems / clusters : nItems));
  items[e] = inCluster ? Math.min(nItems - 1, r * clusters + (u % clusters)) : r;
}
const log = Interactions.fromColumns({ users, items }, { users: IdMap.from(Array.from({ length: nUsers }, (_, i) => i)), items: IdMap.from(Array.from({ length: nItems }, (_, i) => i)) });
const dataset = await Dataset.build(log, { threads });
const buildSeconds = (performance.now() - t) / 1000;
t = performance.now();
const split = await randomSplit(dataset, { fraction: 0.2, seed: 1, threads });
const splitSeconds = (performance.now() - t) / 1000;
console.log(`dataset: ${nUsers} users, ${nItems} items, ${dataset.nnz} pairs (built in ${buildSeconds.toFixed(1)} s); randomSplit ${splitSeconds.toFixed(2)} s; ${split.users.length} test users`);

const good = await new PlantedFactorModel('planted', 0.5, 11).fit(split.train);
const noisy = await new PlantedFactorModel('noisy', 4, 21).fit(split.train);

// Warm-up (page in the factors, start the thread pool).
await evaluate(good, split, { k, users: 2000, threads });

/** CPU seconds of this process (all threads) since `from`: robust to other processes sharing the machine. */
const cpuSince = (from) => {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1e6;
};
t = performance.now();
let cpu0 = process.cpuUsage();
const allRecs = await good.recommendMany(split.users, { k, threads });
const recommendOnlySeconds = (performance.now() - t) / 1000;
const recommendOnlyCpuSeconds = cpuSince(cpu0);

// evaluate's own cost: the same lists served from memory, so only the metric scoring is timed.
const rowOf = new Int32Array(dataset.numUsers).fill(-1);
split.users.forEach((u, r) => (rowOf[u] = r));
const cached = {
  name: 'cached',
  fitted: true,
  async recommendMany(users, options) {
    const kk = options.k;
    const indices = new Int32Array(users.length * kk), scores = new Float32Array(users.length * kk);
    users.forEach((u, r) => {
      const src = rowOf[u] * allRecs.k;
      indices.set(allRecs.indices.subarray(src, src + kk), r * kk);
      scores.set(allRecs.scores.subarray(src, src + kk), r * kk);
    });
    return { k: kk, count: users.length, indices, scores };
  },
};
cpu0 = process.cpuUsage();
const scoringOnly = await evaluate(cached, split, { k, metrics: ['precision', 'recall', 'ndcg', 'map', 'mrr', 'hitRate', 'coverage'] });
const scoringOnlyRun = { seconds: +scoringOnly.seconds.toFixed(3), cpuSeconds: +cpuSince(cpu0).toFixed(3), usersPerSecond: Math.round(scoringOnly.usersPerSecond) };
console.log('metric scoring alone (cached lists)', JSON.stringify(scoringOnlyRun));

const runs = [];
for (const metrics of [['precision', 'recall', 'ndcg', 'map', 'mrr', 'hitRate', 'coverage'], ['precision', 'recall', 'ndcg', 'map', 'mrr', 'hitRate', 'coverage', 'novelty', 'popularity', 'implicitPrecision']]) {
  cpu0 = process.cpuUsage();
  const r = await evaluate(good, split, { k, metrics, threads });
  const cpuSeconds = cpuSince(cpu0);
  const run = {
    metrics: metrics.join(','),
    users: r.counts.users,
    seconds: +r.seconds.toFixed(3),
    cpuSeconds: +cpuSeconds.toFixed(3),
    recommendManyOnlyCpuSeconds: +recommendOnlyCpuSeconds.toFixed(3),
    cpuOverheadRatio: +(cpuSeconds / recommendOnlyCpuSeconds).toFixed(3),
    usersPerSecond: Math.round(r.usersPerSecond),
    recommendManyOnlySeconds: +recommendOnlySeconds.toFixed(3),
    overheadRatio: +(r.seconds / recommendOnlySeconds).toFixed(3),
    values: Object.fromEntries(Object.entries(r.metrics).map(([m, v]) => [m, +v.toFixed(4)])),
  };
  runs.push(run);
  console.log(JSON.stringify(run));
}

// Full AUC ranks the whole catalog per user: time it on a sample.
const aucUsers = 2000;
const auc = await evaluate(good, split, { k, metrics: ['auc'], users: aucUsers, threads });
const aucRun = { users: auc.counts.users, seconds: +auc.seconds.toFixed(3), usersPerSecond: Math.round(auc.usersPerSecond), auc: +auc.metrics.auc.toFixed(4) };
console.log('full AUC', JSON.stringify(aucRun));

// compare(): two models, 200 paired bootstrap resamples over all test users.
t = performance.now();
const cmp = await compare([noisy, good], split, { k, metrics: ['ndcg', 'recall'], resamples: 200, threads });
const compareSeconds = (performance.now() - t) / 1000;
const evalSeconds = cmp.results.reduce((s, r) => s + r.seconds, 0);
console.log(cmp.toString());
console.log(`compare: ${compareSeconds.toFixed(2)} s (evaluations ${evalSeconds.toFixed(2)} s, bootstrap + tests ${(compareSeconds - evalSeconds).toFixed(2)} s)`);

await writeResult('evaluate', {
  users: nUsers,
  items: nItems,
  dim,
  k,
  pairs: dataset.nnz,
  testUsers: split.users.length,
  threads,
  datasetBuildSeconds: +buildSeconds.toFixed(2),
  randomSplitSeconds: +splitSeconds.toFixed(2),
  recommendManyOnlySeconds: +recommendOnlySeconds.toFixed(3),
  recommendManyOnlyUsersPerSecond: Math.round(split.users.length / recommendOnlySeconds),
  recommendManyOnlyCpuSeconds: +recommendOnlyCpuSeconds.toFixed(3),
  // What 2 uncontended cores would take for recommendMany alone: CPU seconds / 2 (the fused kernel scales across threads).
  recommendManyOnlyIdealWallSeconds2Cores: +(recommendOnlyCpuSeconds / 2).toFixed(3),
  metricScoringOnly: scoringOnlyRun,
  runs,
  fullAuc: aucRun,
  compare: { models: 2, resamples: 200, seconds: +compareSeconds.toFixed(2), evaluateSeconds: +evalSeconds.toFixed(2), table: cmp.toJSON() },
  peakRssMiB: peakRssMiB(),
});
