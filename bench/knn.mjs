// Neighbourhood models and baselines on the MovieLens-20M-shaped synthetic data
// (bench/tools/ml20m-shape.mjs): item-kNN fit time, and recommend latency of
// every model (single synchronous calls: p50/p99 over random users; batches:
// users per second through recommendMany).
//
// Usage: node bench/knn.mjs [--scale=1] [--models=puresvd,itemknn,popular,random[,userknn]] [--threads=0]
// user-kNN compares every pair of users sharing an item (Σ_items n_i², ~1e11 at full
// scale): run it at a smaller --scale.
import { Dataset, IdMap, ItemKnnModel, PopularModel, PureSvdModel, RandomModel, UserKnnModel } from '../dist/index.js';
import { peakRssMiB, rng, writeResult } from './harness.mjs';
import { ml20mShape } from './tools/ml20m-shape.mjs';

const arg = (name, def) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : def;
};
const scale = Number(arg('scale', '1'));
const threads = Number(arg('threads', '0'));
const models = arg('models', 'puresvd,itemknn,popular,random').split(',');

const coo = await ml20mShape({ scale, coo: true });
const users = IdMap.from(Array.from({ length: coo.users }, (_, u) => u));
const items = IdMap.from(Array.from({ length: coo.items }, (_, i) => i));
const tData = performance.now();
const ds = await Dataset.fromLog(
  { users: coo.rows, items: coo.cols, weights: coo.vals, timestamps: Float64Array.from(coo.rows, (_, e) => 1.4e12 + e * 1000) },
  users,
  items,
  { combine: 'last', threads },
);
console.log(`dataset ${ds.numUsers} x ${ds.numItems}, nnz ${ds.nnz} (${((performance.now() - tData) / 1000).toFixed(1)} s)`);

const make = {
  puresvd: () => new PureSvdModel({ factors: 64 }),
  itemknn: () => new ItemKnnModel({ neighbours: 100 }),
  userknn: () => new UserKnnModel({ neighbours: 100 }),
  popular: () => new PopularModel(),
  random: () => new RandomModel(),
};

const r = rng(7);
const probe = Array.from({ length: 2000 }, () => Math.floor(r() * ds.numUsers));
const results = {};
for (const name of models) {
  const model = make[name]();
  const t0 = performance.now();
  await model.fit(ds, { threads });
  const fitSeconds = (performance.now() - t0) / 1000;
  // Single calls (synchronous): warm up, then time each.
  for (let i = 0; i < 50; i++) model.recommend(probe[i], { k: 10 });
  const lat = probe.map((u) => {
    const s = performance.now();
    model.recommend(u, { k: 10 });
    return performance.now() - s;
  });
  lat.sort((a, b) => a - b);
  const batchUsers = Int32Array.from({ length: Math.min(20_000, ds.numUsers) }, (_, i) => probe[i % probe.length] + i) .map((u) => u % ds.numUsers);
  const tb = performance.now();
  await model.recommendMany(batchUsers, { k: 10, threads });
  const batchSeconds = (performance.now() - tb) / 1000;
  results[name] = {
    fitSeconds,
    recommendMs: { p50: lat[Math.floor(lat.length * 0.5)], p99: lat[Math.floor(lat.length * 0.99)], mean: lat.reduce((a, b) => a + b, 0) / lat.length },
    batch: { users: batchUsers.length, seconds: batchSeconds, usersPerSecond: batchUsers.length / batchSeconds },
  };
  console.log(name, JSON.stringify(results[name]));
}

await writeResult(scale === 1 ? 'knn' : `knn-scale${scale}`, {
  data: { users: ds.numUsers, items: ds.numItems, nnz: ds.nnz, generator: 'bench/tools/ml20m-shape.mjs', scale },
  threads,
  results,
  peakRssMiB: peakRssMiB(),
});
