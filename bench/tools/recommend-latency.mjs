// Single-user recommend latency of factor models, for A/B between two checkouts:
//   node bench/tools/recommend-latency.mjs /path/to/checkout [model file]   (the checkout's dist/ is loaded)
// 1. the taste model of bench/server.mjs (100,000 items x 64; --model /tmp/svc/model.fastrec there):
//    recommend, and foldIn / recommendForHistory of histories of 4, 20 and 100 items,
// 2. implicit ALS on ml-latest-small (../shared/datasets), two settings. Median of 3 rounds, µs per call.
const root = process.argv[2] ?? new URL('../..', import.meta.url).pathname;
const f = await import(`${root}/dist/index.js`);
const { performance } = await import('node:perf_hooks');
const time = (fn, n) => { const t = []; for (let r = 0; r < 3; r++) { const t0 = performance.now(); for (let i = 0; i < n; i++) fn(i); t.push((performance.now() - t0) * 1000 / n); } return t.sort((a, b) => a - b)[1].toFixed(1); };
// 1. the service's taste model (100,000 items x 64)
const m = await f.loadModel(process.argv[3] ?? '/tmp/svc/model.fastrec');
const ids = Array.from({ length: 2000 }, (_, n) => `u${(n * 2654435761) % 50000}`);
m.recommend(ids[0], { k: 10 });
console.log('taste 100k items: recommend k10 us', time((i) => m.recommend(ids[i], { k: 10 }), ids.length), ' k100', time((i) => m.recommend(ids[i], { k: 100 }), 500));
// Fold-in: a visitor's history (each call its own items), solved exactly against the item factors.
for (const len of [4, 20, 100]) {
  const hist = (i) => Array.from({ length: len }, (_, j) => ({ item: `i${(i * 7919 + j * 104729) % 100000}`, value: 1 }));
  const hs = Array.from({ length: 500 }, (_, i) => hist(i));
  console.log(`taste 100k items: history of ${len}: foldIn us`, time((i) => m.foldIn(hs[i % hs.length]), 2000), ' recommendForHistory k10 us', time((i) => m.recommendForHistory(hs[i % hs.length], { k: 10 }), 2000));
}
// 2. ml-latest-small, implicit ALS: the tests' setting and a lightly regularized one
const { value: log } = await f.readInteractions(new URL('../../../shared/datasets/ml-latest-small/ratings.csv', import.meta.url).pathname, { columns: { user: 'userId', item: 'movieId', timestamp: 'timestamp' } });
const ds = await f.Dataset.build(log);
for (const opts of [{ factors: 64, alpha: 10, regularization: 50, iterations: 15 }, { factors: 64, alpha: 1, regularization: 0.01, iterations: 15 }]) {
  const als = await new f.AlsModel(opts).fit(ds, { seed: 1 });
  const users = ds.users.ids();
  als.recommend(users[0], { k: 10 });
  console.log(`ml-latest-small ${ds.items.size} items, alpha ${opts.alpha} lambda ${opts.regularization}: recommend k10 us ${time((i) => als.recommend(users[i % users.length], { k: 10 }), 2000)}`);
}
