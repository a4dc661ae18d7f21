// Hybrid ranking layer benchmarks.
//   node bench/hybrid.mjs latency   one recommend (5 sources, ~500 candidates, MMR to 10) on a 100,000-item catalog
//   node bench/hybrid.mjs quality   Complete Journey, temporal split: single sources vs the blend (NDCG@10),
//                                   cold-start items vs popularity within their category, and the MMR trade-off curve
// Results: bench/results/hybrid-<mode>.json. Set FASTREC_BENCH_LOCK=/path/to/lock to serialize timed sections with other benchmarks.
import { writeResult, rng } from './harness.mjs';
import { spawn } from 'node:child_process';
import os from 'node:os';

/**
 * Optionally keep other benchmarks out while timing (building the synthetic
 * shop and fitting need no quiet machine): with FASTREC_BENCH_LOCK set to a
 * lock file, `flock` runs `cat`, which holds the lock until stdin closes.
 */
async function withBenchLock(fn) {
  const lockFile = process.env.FASTREC_BENCH_LOCK;
  if (!lockFile) return { locked: false, value: await fn() };
  const child = spawn('flock', [lockFile, 'sh', '-c', 'echo locked; cat'], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => String(d).includes('locked') && resolve());
    child.on('error', reject);
  });
  try {
    return { locked: true, value: await fn() };
  } finally {
    child.stdin.end();
  }
}
import * as fastrec from '../dist/index.js';

const { Interactions, Dataset, FeatureTable, HybridRecommender, FactorSource, ItemToItemSource, ContentSource, TrendingSource, ComplementSource } = fastrec;
const mode = process.argv[2] ?? 'latency';

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** A seeded synthetic shop: categories with power-law popularity, users with 2-3 home categories, baskets over 60 days. */
async function syntheticShop({ items = 100_000, users = 50_000, categories = 500, dim = 32, seed = 1 }) {
  const rand = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand());
  const features = new FeatureTable({ category: 'categorical', brand: 'categorical', title: 'text', price: 'numeric' });
  const words = Array.from({ length: 3000 }, (_, w) => `w${w}`);
  const catItems = Array.from({ length: categories }, () => []);
  const itemCat = new Int32Array(items);
  for (let i = 0; i < items; i++) {
    const c = Math.min(categories - 1, Math.floor(-Math.log(1 - rand()) * categories / 5)); // some categories are big
    itemCat[i] = c;
    catItems[c].push(i);
    const title = `${words[(c * 7) % 3000]} ${words[Math.floor(rand() * 3000)]} ${words[Math.floor(rand() * 3000)]}`;
    features.set(`i${i}`, { category: `c${c}`, brand: `b${Math.floor(rand() * 200)}`, title, price: Math.round(100 * Math.exp(gauss())) / 100 });
  }
  const inter = new Interactions();
  for (let i = 0; i < items; i++) inter.items.add(`i${i}`);
  const t0 = Date.UTC(2024, 0, 1);
  const us = [];
  const is = [];
  const ts = [];
  for (let u = 0; u < users; u++) {
    const homes = Array.from({ length: 2 + Math.floor(rand() * 2) }, () => Math.min(categories - 1, Math.floor(-Math.log(1 - rand()) * categories / 5)));
    const baskets = 2 + Math.floor(rand() * 6);
    for (let b = 0; b < baskets; b++) {
      const t = t0 + Math.floor(rand() * 60) * 86_400_000 + u;
      for (let q = 0; q < 4; q++) {
        const list = catItems[homes[Math.floor(rand() * homes.length)]];
        if (!list.length) continue;
        const j = Math.min(list.length - 1, Math.floor(-Math.log(1 - rand()) * list.length / 8)); // power law within the category
        us.push(`u${u}`);
        is.push(`i${list[j]}`);
        ts.push(t + q * 1000);
      }
    }
  }
  inter.addColumns({ users: us, items: is, timestamps: ts });
  const dataset = await Dataset.build(inter, { itemFeatures: features });
  // A planted factor model: item = category centroid + noise; user = mean of their items.
  const centroids = Float32Array.from({ length: categories * dim }, gauss);
  const itemFactors = new Float32Array(dataset.numItems * dim);
  for (let i = 0; i < dataset.numItems; i++) {
    const c = Number(String(dataset.items.id(i)).slice(1));
    for (let j = 0; j < dim; j++) itemFactors[i * dim + j] = 0.3 * (centroids[itemCat[c] * dim + j] + 0.5 * gauss());
  }
  const userFactors = new Float32Array(dataset.numUsers * dim);
  for (let u = 0; u < dataset.numUsers; u++) {
    const row = fastrec.csrRow(dataset.matrix, u).indices;
    for (const i of row) for (let j = 0; j < dim; j++) userFactors[u * dim + j] += itemFactors[i * dim + j] / row.length;
  }
  return { dataset, model: { name: 'factors', fitted: true, itemFactors, userFactors }, dim };
}

async function latency() {
  const reps = Number(process.env.REPS ?? 5000);
  let t = performance.now();
  const shop = await syntheticShop({});
  const buildSeconds = (performance.now() - t) / 1000;
  console.log(`synthetic shop: ${shop.dataset.numItems} items, ${shop.dataset.numUsers} users, ${shop.dataset.nnz} pairs (${buildSeconds.toFixed(1)} s)`);
  let ann = null;
  try {
    ann = await import('../dist/ann.js');
  } catch {
    console.log('lib/ann.ts not built: the factor source scores exactly');
  }
  const retriever = ann?.AnnScorer ? (f, d) => ann.AnnScorer.build(f, d, { ef: 100, oversample: 1 }) : undefined;
  const results = { catalog: shop.dataset.numItems, users: shop.dataset.numUsers, pairs: shop.dataset.nnz, factors: shop.dim, reps, configs: [] };
  const others = [new ItemToItemSource(), new ContentSource(), new TrendingSource(), new ComplementSource()];
  // Fit every configuration first, then time them all under one hold of the bench lock.
  const configs = [];
  for (const [label, useAnn] of retriever ? [['ann', true], ['exact', false]] : [['exact', false]]) {
    const sources = [new FactorSource(shop.model, { name: 'factors', ...(useAnn ? { retriever } : {}) }), ...others];
    const h = new HybridRecommender({ sources, content: { dim: 32 }, categoryColumn: 'category', diversity: { lambda: 0.7 } });
    t = performance.now();
    await h.fit(shop.dataset, { seed: 1 });
    configs.push({ label, h, fitSeconds: (performance.now() - t) / 1000 });
    console.log(`fitted ${label} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  const r = rng(7);
  const users = Array.from({ length: reps }, () => shop.dataset.users.id(Math.floor(r() * shop.dataset.numUsers)));
  const { locked } = await withBenchLock(async () => {
    for (const c of configs) {
      const h = c.h;
      const times = new Float64Array(reps);
      // CPU time of the process per request: the work done, without the waits of a shared, overloaded machine.
      const cpu = new Float64Array(reps);
      let pooled = 0;
      for (let i = 0; i < 500; i++) h.recommend(users[i], { k: 10 }); // warm-up (JIT)
      const load = os.loadavg()[0];
      for (let i = 0; i < reps; i++) {
        const c0 = process.cpuUsage();
        const s = performance.now();
        h.recommend(users[i], { k: 10 });
        times[i] = performance.now() - s;
        const cu = process.cpuUsage(c0);
        cpu[i] = (cu.user + cu.system) / 1000;
        pooled += h.lastPoolSize;
      }
      times.sort();
      cpu.sort();
      const row = {
        retrieval: c.label,
        fitSeconds: +c.fitSeconds.toFixed(2),
        p50ms: +percentile(times, 50).toFixed(4),
        p90ms: +percentile(times, 90).toFixed(4),
        p99ms: +percentile(times, 99).toFixed(4),
        meanMs: +(times.reduce((a, b) => a + b, 0) / reps).toFixed(4),
        cpuP50ms: +percentile(cpu, 50).toFixed(4),
        cpuP99ms: +percentile(cpu, 99).toFixed(4),
        candidatesPerRequest: +(pooled / reps).toFixed(1),
        loadAverage1m: +load.toFixed(2),
        sources: 5,
        mmrLambda: 0.7,
        k: 10,
      };
      console.log(row);
      results.configs.push(row);
    }
  });
  results.benchLock = locked;
  await writeResult('hybrid-latency', results);
}

if (mode === 'latency') await latency();
else if (mode === 'quality') await (await import('./hybrid-quality.mjs')).quality();
else throw new Error(`unknown mode ${mode}: latency | quality`);
