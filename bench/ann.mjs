// ANN benchmark: fastrec's HNSW against hnswlib-node and usearch (npm), same
// M, efConstruction and ef grid, one query at a time on one thread, k = 10;
// QPS and build cost are measured in CPU seconds of the process (this VM is
// shared: wall time measures the scheduler), wall seconds are recorded too;
// recall@10 against exact search (fastrec's ExactIndex, itself checked
// against a brute-force oracle in the tests). Also: filtered search, the
// exact-scan threshold, exact single/batched top-k, bytes per vector.
//
// Usage: node bench/ann.mjs [--datasets uniform,clustered,als-ml,als-cj] [--clustered-n 200000] [--name ann]
//        [--queries 1000] [--libs fastrec,hnswlib,usearch] [--threads 2] [--skip-exact] [--exact-n 1000000]
//        [--efs 10,16,...] [--no-f16] [--no-mips] [--ef-construction 200] [--cache-dir DIR]
// Peers resolve from bench/node_modules (npm run bench:setup).
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { writeFileSync, mkdtempSync, rmSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { HnswIndex, ExactIndex, AlsModel, readInteractions, Dataset } from '../dist/index.js';
import { native } from '../dist/native.js';
import { loadavg } from 'node:os';
import { benchDir, writeResult, rng, uniformVectors, gaussianMixture } from './harness.mjs';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}
const flag = (name) => process.argv.includes(`--${name}`);
const datasets = arg('datasets', 'uniform,clustered,als-ml,als-cj').split(',');
const libs = arg('libs', 'fastrec,hnswlib,usearch').split(',');
const nQueries = Number(arg('queries', 1000));
const clusteredN = Number(arg('clustered-n', 200_000));
const threads = Number(arg('threads', 2));
const exactN = Number(arg('exact-n', 1_000_000));
const resultName = arg('name', 'ann');  // results/<name>.json and .svg (split runs)
const M = 16, efConstruction = Number(arg('ef-construction', 200)), k = 10;
const efGrid = arg('efs', '10,16,24,32,48,64,96,128,192,256,384,512').split(',').map(Number);

function peer(name) {
  for (const base of [join(benchDir, 'package.json')]) {
    try {
      return createRequire(base)(name);
    } catch {}
  }
  console.warn(`peer ${name} is not installed (run npm run bench:setup): skipped`);
  return null;
}
const hnswlib = libs.includes('hnswlib') ? peer('hnswlib-node') : null;
const usearch = libs.includes('usearch') ? peer('usearch') : null;

// ---- data ---------------------------------------------------------------------

async function alsFactors(name) {
  const shared = join(benchDir, '..', '..', 'shared', 'datasets');
  let file, columns;
  if (name === 'als-ml') {
    file = join(shared, 'ml-latest-small', 'ratings.csv');
    columns = { user: 'userId', item: 'movieId', value: 'rating' };
  } else {
    file = join(shared, 'completejourney', 'transactions_sample.csv');
    columns = { user: 'household_id', item: 'product_id', value: 'quantity' };
  }
  const { value: interactions } = await readInteractions(file, { columns });
  const dataset = await Dataset.build(interactions);
  const model = new AlsModel({ factors: 64, iterations: 10 });
  await model.fit(dataset, { threads, seed: 1 });
  return { items: model.itemFactors, users: model.userFactors, nItems: dataset.items.size, nUsers: dataset.users.size };
}

// ---- libraries --------------------------------------------------------------------

const rss = () => process.memoryUsage().rss;
// CPU seconds of this process (all threads). On a VM shared with other jobs
// wall time mostly measures the scheduler; CPU time measures the work.
const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

// --cache-dir DIR: save each built index there and, when a later run finds it,
// load it instead of building (sweeps with other ef points or queries without
// paying for the build again; build times are then reported as null).
const cacheDir = arg('cache-dir', null);
const cacheFile = (lib, tag) => cacheDir && join(cacheDir, `${tag}.${lib}`);

async function buildFastrec(data, d, metric, mipsTransform = false, storage = 'float32', tag = null) {
  const before = rss();
  const file = cacheFile(`fastrec-${storage}${mipsTransform ? '-mips' : ''}.hnsw`, tag);
  if (file && existsSync(file)) {
    const index = await HnswIndex.load(file, { mmap: false });
    const n = data.length / d;
    return { seconds: null, cpu: null, cached: true, bytesPerVector: index.info().memoryBytes / n, rssBytesPerVector: 0, setEf: (ef) => (index.ef = ef), search: (q) => index.search(q, k).labels, cppQps: (queries) => queries.length / d / native().hnswTimeSearch(index.handle, queries, k, index.ef), index };
  }
  const t0 = performance.now(), c0 = cpuSeconds();
  const index = await HnswIndex.build(data, { dim: d, metric, mipsTransform, M, efConstruction, threads, storage });
  const seconds = (performance.now() - t0) / 1000, cpu = cpuSeconds() - c0;
  if (file) await index.save(file);
  const n = data.length / d;
  return {
    seconds,
    cpu,
    bytesPerVector: index.info().memoryBytes / n,
    rssBytesPerVector: (rss() - before) / n,
    setEf: (ef) => (index.ef = ef),
    search: (q) => index.search(q, k).labels,
    // The same queries timed inside C++ (thread CPU time): the search without the JS call around it.
    cppQps: (queries) => queries.length / d / native().hnswTimeSearch(index.handle, queries, k, index.ef),
    index,
  };
}

function buildHnswlib(data, d, metric, tag = null) {
  const n = data.length / d;
  const file = cacheFile('hnswlib', tag);
  if (file && existsSync(file)) {
    const index = new hnswlib.HierarchicalNSW(metric === 'l2' ? 'l2' : metric === 'ip' ? 'ip' : 'cosine', d);
    index.readIndexSync(file);
    return { seconds: null, cpu: null, cached: true, rssBytesPerVector: 0, setEf: (ef) => index.setEf(ef), search: (q) => index.searchKnn(q, k).neighbors, index, arrays: true };
  }
  const rows = Array.from({ length: n }, (_, i) => Array.from(data.subarray(i * d, (i + 1) * d)));
  const before = rss();
  const t0 = performance.now(), c0 = cpuSeconds();
  const index = new hnswlib.HierarchicalNSW(metric === 'l2' ? 'l2' : metric === 'ip' ? 'ip' : 'cosine', d);
  index.initIndex(n, M, efConstruction, 100);
  for (let i = 0; i < n; i++) index.addPoint(rows[i], i);
  const seconds = (performance.now() - t0) / 1000, cpu = cpuSeconds() - c0;
  const bytes = (rss() - before) / n;
  if (file) index.writeIndexSync(file);
  return { seconds, cpu, rssBytesPerVector: bytes, setEf: (ef) => index.setEf(ef), search: (q) => index.searchKnn(q, k).neighbors, index, arrays: true };
}

function buildUsearch(data, d, metric) {
  const n = data.length / d;
  const keys = new BigUint64Array(n);
  for (let i = 0; i < n; i++) keys[i] = BigInt(i);
  const kind = metric === 'l2' ? 'l2sq' : metric === 'ip' ? 'ip' : 'cos';
  const before = rss();
  const t0 = performance.now(), c0 = cpuSeconds();
  const built = new usearch.Index({ dimensions: d, metric: kind, connectivity: M, expansion_add: efConstruction, expansion_search: 64 });
  built.add(keys, data, threads);
  const seconds = (performance.now() - t0) / 1000, cpu = cpuSeconds() - c0;
  const bytes = (rss() - before) / n;
  // expansion_search is fixed per Index object: save once, then view the file with each ef.
  const dir = mkdtempSync(join(tmpdir(), 'usearch-'));
  const path = join(dir, 'index.usearch');
  built.save(path);
  let current = built;
  return {
    seconds,
    cpu,
    rssBytesPerVector: bytes,
    setEf: (ef) => {
      current = new usearch.Index({ dimensions: d, metric: kind, connectivity: M, expansion_add: efConstruction, expansion_search: ef });
      current.view(path);
    },
    search: (q) => current.search(q, k, 1).keys,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

// ---- measuring ---------------------------------------------------------------------

function recallOf(truth, got, qi) {
  let hit = 0;
  const t = new Set(truth.subarray(qi * k, qi * k + k));
  for (const x of got) if (t.has(Number(x))) hit++;
  return hit / k;
}

// All libraries answer the same queries at each ef, interleaved in rounds so
// that load from other processes on this shared machine hits them alike.
function sweepAll(entries, queries, d, truth) {
  const nq = queries.length / d;
  const rounds = 5;  // QPS is the median over rounds: robust to bursts of load from other processes
  const qf = Array.from({ length: nq }, (_, i) => queries.subarray(i * d, (i + 1) * d));
  const qa = qf.map((q) => Array.from(q));
  const points = Object.fromEntries(entries.map(([name]) => [name, []]));
  const done = new Set();
  for (const ef of efGrid) {
    const active = entries.filter(([name]) => !done.has(name));
    if (!active.length) break;
    const secs = new Map(active.map(([name]) => [name, []]));
    const results = new Map(active.map(([name]) => [name, new Array(nq)]));
    for (const [, lib] of active) {
      lib.setEf(ef);
      const qs = lib.arrays ? qa : qf;
      for (let i = 0; i < Math.min(50, nq); i++) lib.search(qs[i]);  // warm-up
    }
    for (let r = 0; r < rounds; r++) {
      const from = Math.floor((r * nq) / rounds), to = Math.floor(((r + 1) * nq) / rounds);
      for (const [name, lib] of active) {
        const qs = lib.arrays ? qa : qf;
        const out = results.get(name);
        const t0 = cpuSeconds();
        for (let i = from; i < to; i++) out[i] = lib.search(qs[i]);
        secs.get(name).push((to - from) / Math.max(cpuSeconds() - t0, 1e-6));
      }
    }
    for (const [name, lib] of active) {
      let rec = 0;
      const out = results.get(name);
      for (let i = 0; i < nq; i++) rec += recallOf(truth, out[i], i);
      const qps = secs.get(name).sort((a, b) => a - b)[Math.floor(rounds / 2)];
      const point = { ef, recall: +(rec / nq).toFixed(4), qps: Math.round(qps) };
      if (lib.cppQps) point.cppQps = Math.round(Math.max(...[0, 1, 2].map(() => lib.cppQps(queries))));
      points[name].push(point);
      if (rec / nq > 0.999) done.add(name);
    }
  }
  return points;
}

// QPS at a recall: log-QPS interpolated linearly in recall between the two
// grid points around the target (the best point when the first already
// reaches it; null when no point does).
function qpsAt(points, target) {
  const ps = [...points].sort((a, b) => a.ef - b.ef);
  if (!ps.length || ps[ps.length - 1].recall < target) return null;
  if (ps[0].recall >= target) return Math.max(...ps.filter((p) => p.recall >= target).map((p) => p.qps));
  for (let i = 1; i < ps.length; i++) {
    const a = ps[i - 1], b = ps[i];
    if (a.recall < target && b.recall >= target) {
      const t = (target - a.recall) / (b.recall - a.recall);
      return Math.round(Math.exp(Math.log(a.qps) + t * (Math.log(b.qps) - Math.log(a.qps))));
    }
  }
  return null;
}

async function groundTruth(data, queries, d, metric) {
  const exact = new ExactIndex(d, { metric });
  exact.add(Array.from({ length: data.length / d }, (_, i) => i), data);
  return (await exact.searchMany(queries, k, { threads })).labels;
}

async function runDataset(name) {
  let data, queries, d = 64, metric = 'l2';
  let note = '';
  if (name === 'uniform') {
    data = uniformVectors(100_000, d, 1);
    queries = uniformVectors(nQueries, d, 2);
    note = '100,000 x 64 uniform [0,1)';
  } else if (name === 'clustered') {
    const gen = gaussianMixture(d, 1000, 3);
    data = gen(clusteredN);
    queries = gen(nQueries);
    note = `${clusteredN.toLocaleString('en')} x 64 Gaussian mixture, 1000 clusters with power-law sizes (weight ∝ 1/rank^1.1), sd 0.35 around N(0,1) centres`;
  } else {
    const f = await alsFactors(name);
    data = f.items;
    const nq = Math.min(nQueries, f.nUsers);
    queries = f.users.subarray(0, nq * d);
    metric = 'ip';
    note = `ALS item factors (64 factors, 10 iterations) of ${name === 'als-ml' ? 'ml-latest-small' : 'completejourney transactions_sample'}: ${f.nItems} items; queries = the first ${nq} users' factors; inner product`;
  }
  const n = data.length / d;
  console.log(`\n== ${name}: ${note}`);
  const truth = await groundTruth(data, queries, d, metric);
  const out = { dataset: name, note, n, dim: d, metric, queries: queries.length / d, loadAverageBefore: loadavg().map((x) => +x.toFixed(1)), libs: {} };

  const variants = [];
  const tag = `${name}-${n}-M${M}-efc${efConstruction}`;
  if (cacheDir) mkdirSync(cacheDir, { recursive: true });
  if (libs.includes('fastrec')) {
    variants.push(['fastrec', () => buildFastrec(data, d, metric, false, 'float32', tag)]);
    if (!flag('no-f16')) variants.push(['fastrec-f16', () => buildFastrec(data, d, metric, false, 'float16', tag)]);
    if (metric === 'ip' && !flag('no-mips')) variants.push(['fastrec-mips', () => buildFastrec(data, d, 'ip', true, 'float32', tag)]);
  }
  if (hnswlib) variants.push(['hnswlib-node', () => buildHnswlib(data, d, metric, tag)]);
  if (usearch) variants.push(['usearch', () => buildUsearch(data, d, metric)]);
  const built = [];
  for (const [label, build] of variants) {
    const lib = await build();
    built.push([label, lib]);
    console.log(label, lib.cached ? 'loaded from the cache' : `build ${lib.seconds.toFixed(1)} s wall, ${lib.cpu.toFixed(1)} s CPU`);
  }
  const allPoints = sweepAll(built, queries, d, truth);
  for (const [label, lib] of built) {
    const points = allPoints[label];
    const r = {
      buildSeconds: lib.cached ? null : +lib.seconds.toFixed(2),
      buildCpuSeconds: lib.cached ? null : +lib.cpu.toFixed(2),
      bytesPerVector: lib.bytesPerVector ? Math.round(lib.bytesPerVector) : undefined,
      rssBytesPerVector: Math.round(lib.rssBytesPerVector),
      qpsAtRecall: { '0.90': qpsAt(points, 0.9), '0.95': qpsAt(points, 0.95), '0.99': qpsAt(points, 0.99) },
      points,
    };
    out.libs[label] = r;
    console.log(label, JSON.stringify({ build: r.buildSeconds, bytes: r.bytesPerVector, rss: r.rssBytesPerVector, ...r.qpsAtRecall }));
    console.log('   ', points.map((p) => `ef${p.ef}:${p.recall}/${p.qps}${p.cppQps ? ` (C++ ${p.cppQps})` : ''}`).join(' '));
  }
  const mine = built.find(([l]) => l === 'fastrec')?.[1];
  const theirs = built.find(([l]) => l === 'hnswlib-node')?.[1];
  if (mine && name === 'uniform') {
    out.filtered = await filtered(mine.index, data, queries, d);
    if (theirs) out.filtered.hnswlib = filteredHnswlib(theirs.index, queries, d, out.filtered);
  }
  for (const [, lib] of built) lib.cleanup?.();
  out.loadAverageAfter = loadavg().map((x) => +x.toFixed(1));
  return out;
}

// ---- filtered search -------------------------------------------------------------------

async function filtered(index, data, queries, d) {
  const n = data.length / d;
  const nq = Math.min(300, queries.length / d);
  const res = { shares: {}, threshold: [] };
  const r = rng(9);
  const sets = {};
  for (const share of [0.005, 0.01, 0.02, 0.05, 0.1, 0.2]) {
    const allowIds = [];
    for (let i = 0; i < n; i++) if (r() < share) allowIds.push(i);
    sets[share] = allowIds;
    const allow = index.filter(allowIds);  // ids resolved once, reused by every search
    const truth = queries.length && Array.from({ length: nq }, (_, i) => index.searchExact(queries.subarray(i * d, (i + 1) * d), k, { allow }).labels);
    const measure = (opts, count = nq) => {
      const t0 = cpuSeconds();
      let hit = 0;
      for (let i = 0; i < count; i++) {
        const got = index.search(queries.subarray(i * d, (i + 1) * d), k, { allow, ...opts });
        const t = new Set(truth[i]);
        for (const x of got.labels) if (t.has(x)) hit++;
      }
      return { qps: Math.round(count / Math.max(cpuSeconds() - t0, 1e-6)), recall: +(hit / (count * k)).toFixed(4) };
    };
    const row = { share, allowed: allowIds.length, exact: measure({ exactThreshold: 1 }), graph: {} };
    // the filtered graph walk is slow at tiny shares (that is the point): fewer queries there
    for (const ef of [64, 128, 256]) row.graph[ef] = measure({ exactThreshold: 0, ef }, share < 0.05 ? 60 : nq);
    row.auto = measure({ ef: 128 });
    res.threshold.push(row);
    if (share === 0.1 || share === 0.01) res.truth = { ...res.truth, [share]: truth };
    console.log('filter', share, JSON.stringify(row));
  }
  res.sets = { 0.1: sets[0.1], 0.01: sets[0.01] };
  return res;
}

function filteredHnswlib(index, queries, d, mine) {
  const nq = Math.min(300, queries.length / d);
  const out = {};
  for (const share of [0.1, 0.01]) {
    const allow = mine.sets[share];
    const allowed = new Uint8Array(1 << 20);
    for (const i of allow) allowed[i] = 1;
    const filter = (label) => allowed[label] === 1;
    out[share] = {};
    const row = mine.threshold.find((t) => t.share === share);
    for (const ef of [64, 128, 256]) {
      index.setEf(ef);
      const qs = Array.from({ length: nq }, (_, i) => Array.from(queries.subarray(i * d, (i + 1) * d)));
      const t0 = cpuSeconds();
      const got = qs.map((q) => index.searchKnn(q, k, filter).neighbors);
      const qps = Math.round(nq / Math.max(cpuSeconds() - t0, 1e-6));
      let hit = 0;
      got.forEach((g, i) => {
        const t = new Set(mine.truth[share][i]);
        for (const x of g) if (t.has(x)) hit++;
      });
      out[share][ef] = { qps, recall: +(hit / (nq * k)).toFixed(4) };
      console.log('hnswlib-node filter', share, 'ef', ef, JSON.stringify(out[share][ef]));
    }
  }
  delete mine.sets;
  delete mine.truth;
  return out;
}

// ---- exact top-k -------------------------------------------------------------------------

async function exactBench() {
  const d = 64;
  const data = uniformVectors(exactN, d, 5);
  const queries = uniformVectors(1000, d, 6);
  const exact = new ExactIndex(d, { metric: 'ip' });
  exact.add(Array.from({ length: exactN }, (_, i) => i), data);
  const t0 = performance.now(), c0 = cpuSeconds();
  await exact.searchMany(queries, k, { threads });
  const batchMs = (performance.now() - t0) / 1000, batchCpu = cpuSeconds() - c0;
  const single = {};
  for (const th of [1, 2]) {
    exact.search(queries.subarray(0, d), k, { threads: th });
    const t1 = performance.now(), c1 = cpuSeconds();
    const reps = 20;
    for (let i = 0; i < reps; i++) exact.search(queries.subarray(i * d, (i + 1) * d), k, { threads: th });
    single[th] = { wallMs: +((performance.now() - t1) / reps).toFixed(2), cpuMs: +(((cpuSeconds() - c1) * 1000) / reps).toFixed(2) };
  }
  const bytes = exactN * d * 4;
  const res = {
    n: exactN,
    dim: d,
    batchQueries: 1000,
    batchMsPerQuery: +((batchMs * 1000) / 1000).toFixed(3),
    batchCpuMsPerQuery: +((batchCpu * 1000) / 1000).toFixed(3),
    batchGflops: +((2 * exactN * d * 1000) / batchMs / 1e9).toFixed(1),
    singleQueryMs: single,
    bandwidthBoundMs: +((bytes / 36e9) * 1000).toFixed(2),
  };
  console.log('exact', JSON.stringify(res));
  return res;
}

// ---- plot --------------------------------------------------------------------------------

function svgPlot(results) {
  const W = 360, H = 260, pad = 45;
  const colors = { fastrec: '#d62728', 'fastrec-f16': '#9467bd', 'fastrec-mips': '#ff7f0e', 'hnswlib-node': '#1f77b4', usearch: '#2ca02c' };
  const panels = results.map((r, p) => {
    const all = Object.values(r.libs).flatMap((l) => l.points);
    const qmax = Math.max(...all.map((x) => x.qps)), qmin = Math.max(10, Math.min(...all.map((x) => x.qps)));
    const rmin = Math.max(0, Math.min(0.5, Math.min(...all.map((x) => x.recall))));
    const X = (rec) => pad + ((rec - rmin) / (1 - rmin)) * (W - pad - 10);
    const Y = (q) => H - pad + 10 - ((Math.log10(q) - Math.log10(qmin)) / (Math.log10(qmax * 1.1) - Math.log10(qmin))) * (H - pad - 20);
    const lines = Object.entries(r.libs).map(([name, l], li) => {
      const pts = l.points.map((x) => `${X(x.recall).toFixed(1)},${Y(x.qps).toFixed(1)}`).join(' ');
      return `<polyline fill="none" stroke="${colors[name] ?? '#555'}" stroke-width="2" points="${pts}"/>` +
        `<text x="${pad + 8}" y="${22 + li * 14}" font-size="11" fill="${colors[name] ?? '#555'}">${name}</text>`;
    });
    const ticks = [];
    for (let e = Math.ceil(Math.log10(qmin)); e <= Math.log10(qmax * 1.1); e++) ticks.push(`<text x="${pad - 4}" y="${Y(10 ** e) + 4}" font-size="10" text-anchor="end">${10 ** e >= 1000 ? 10 ** e / 1000 + 'k' : 10 ** e}</text>`);
    for (const rec of [rmin, (rmin + 1) / 2, 1]) ticks.push(`<text x="${X(rec)}" y="${H - pad + 24}" font-size="10" text-anchor="middle">${rec.toFixed(2)}</text>`);
    return `<g transform="translate(${p * W},0)"><rect x="${pad}" y="10" width="${W - pad - 10}" height="${H - pad}" fill="none" stroke="#999"/>` +
      `<text x="${W / 2}" y="${H - 4}" font-size="11" text-anchor="middle">recall@10 — ${r.dataset} (${r.n.toLocaleString('en')})</text>` +
      ticks.join('') + lines.join('') + '</g>';
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W * results.length}" height="${H}" font-family="sans-serif">` +
    `<text x="4" y="${H / 2}" font-size="11" transform="rotate(-90 10 ${H / 2})">queries per CPU-second (1 thread, log)</text>${panels.join('')}</svg>\n`;
}

// ---- main ---------------------------------------------------------------------------------

// --plot-from a.json,b.json: redraw results/ann.svg from saved runs (a run split
// over processes), recomputing the QPS-at-recall figures from their points.
if (arg('plot-from', null)) {
  const { readFileSync } = await import('node:fs');
  const all = [];
  for (const file of arg('plot-from').split(',')) {
    const rec = JSON.parse(readFileSync(file, 'utf8'));
    for (const ds of rec.results.datasets)
      for (const l of Object.values(ds.libs)) l.qpsAtRecall = { '0.90': qpsAt(l.points, 0.9), '0.95': qpsAt(l.points, 0.95), '0.99': qpsAt(l.points, 0.99) };
    writeFileSync(file, JSON.stringify(rec, null, 2) + '\n');
    all.push(...rec.results.datasets);
  }
  writeFileSync(join(benchDir, 'results', 'ann.svg'), svgPlot(all));
  console.log(`wrote ${join(benchDir, 'results', 'ann.svg')} (${all.length} datasets)`);
  process.exit(0);
}

const results = [];
for (const name of datasets) {
  results.push(await runDataset(name));
  writeFileSync(join(benchDir, 'results', `${resultName}.partial.json`), JSON.stringify(results, null, 1));
}
for (const r of results) if (r.filtered) { delete r.filtered.sets; delete r.filtered.truth; }
const exact = flag('skip-exact') ? null : await exactBench();
if (results.length) writeFileSync(join(benchDir, 'results', `${resultName}.svg`), svgPlot(results));
await writeResult(resultName, { M, efConstruction, k, threads, efGrid, datasets: results, exact });
