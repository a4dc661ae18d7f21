// Exact top-k (ExactIndex) over n x 64 vectors, k = 10: the batch kernel's
// throughput against the shared gemm_nt path, brute-force and pruned batches,
// and single queries against the memory-bandwidth bound measured in the same run.
//
// Usage: node bench/exact-topk.mjs [--n 1000000] [--queries 2000] [--single 30]
//        [--datasets clustered-ip,clustered-l2,uniform-ip] [--threads 2] [--block 512] [--name exact-topk]
// Needs a build (npm run build). Take the bench lock: flock /work/.bench.lock node bench/exact-topk.mjs
import os from 'node:os';
import { ExactIndex, simd } from '../dist/index.js';
import { native } from '../dist/native.js';
import { gaussianMixture, uniformVectors, writeResult } from './harness.mjs';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const n = Number(arg('n', 1_000_000));
const nq = Number(arg('queries', 2000));
const nSingle = Number(arg('single', 30));
const threads = Number(arg('threads', 2));
const blockSize = Number(arg('block', 512));
const datasets = arg('datasets', 'clustered-ip,clustered-l2,uniform-ip').split(',');
const name = arg('name', 'exact-topk');
const d = 64, k = 10;
const load = () => os.loadavg().map((x) => +x.toFixed(2));

// ---- timing helpers --------------------------------------------------------------

const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
async function timed(fn) {
  const w0 = performance.now(), c0 = cpu();
  const value = await fn();
  return { value, wall: (performance.now() - w0) / 1000, cpu: cpu() - c0 };
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const r3 = (x) => +x.toFixed(3);

// ---- parts -------------------------------------------------------------------------

async function kernels() {
  const level = simd();
  // One thread, items in cache: 96 queries x 1,024 items x 64 (a work unit of the batch path).
  const reps = 400;
  const t = await native().benchExactKernel(level, 96, 1024, d, reps);
  const gf = (sec) => t.flops / sec / 1e9;
  const out = {
    level,
    shape: '96 queries x 1024 items x 64, in cache, 1 thread, GFLOP per CPU-second of the thread',
    panelKernelGflops: +gf(t.scanSeconds).toFixed(1),
    gemmNtPathGflops: +gf(t.gemmSeconds).toFixed(1),
    speedup: +(t.gemmSeconds / t.scanSeconds).toFixed(2),
    // 12 independent register FMA chains: the arithmetic peak of one core at this level, measured
    measuredPeakGflops: +t.peakGflops.toFixed(1),
    panelKernelShareOfPeak: +(gf(t.scanSeconds) / t.peakGflops).toFixed(2),
    gemmNtPathShareOfPeak: +(gf(t.gemmSeconds) / t.peakGflops).toFixed(2),
  };
  console.log('kernel', JSON.stringify(out));
  return out;
}

async function bandwidth() {
  const bytes = n * d * 4;
  // a streaming sum over the same bytes, 8 vector accumulators, best of 5, on 1 and on `threads` threads
  const gbs1 = await native().benchExactStream(bytes, 1, 5);
  const gbs = await native().benchExactStream(bytes, threads, 5);
  const out = { bytes, readGBs1t: +gbs1.toFixed(1), readGBs: +gbs.toFixed(1), threads, boundMs1t: r3((bytes / (gbs1 * 1e9)) * 1000), boundMs: r3((bytes / (gbs * 1e9)) * 1000) };
  console.log('bandwidth', JSON.stringify(out));
  return out;
}

function sameResults(a, b) {
  let diff = 0;
  for (let i = 0; i < a.labels.length; i++) if (a.labels[i] !== b.labels[i] || a.distances[i] !== b.distances[i]) diff++;
  return diff;
}

async function runDataset(label, bound) {
  bound = { ...bound };
  const [kind, metric] = label.split('-');
  const t0 = performance.now();
  let data, queries, note;
  if (kind === 'clustered') {
    const gen = gaussianMixture(d, 1000, 3);
    data = gen(n);
    queries = gen(nq);
    note = `${n.toLocaleString('en')} x 64 Gaussian mixture (1000 clusters, power-law sizes, sd 0.35); queries from the same mixture`;
  } else {
    data = uniformVectors(n, d, 5);
    queries = uniformVectors(nq, d, 6);
    note = `${n.toLocaleString('en')} x 64 uniform [0, 1); uniform queries`;
  }
  console.log(`${label}: data in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  // prune 'auto': partition, then keep pruning on by default only if 64 stored rows as queries scan <= half
  const built = await timed(() => ExactIndex.build(data, { dim: d, metric, prune: 'auto', blockSize, threads }));
  const index = built.value;
  const res = {
    dataset: label, note, metric, n, queries: nq, k, threads, blockSize,
    blocks: index.blocks, buildSeconds: r3(built.wall), autoPruning: index.pruning,
    memoryOverRawData: +(index.info().memoryBytes / (n * d * 4)).toFixed(3), loadBefore: load(),
  };

  // batches: brute force, then pruned; identical answers required
  const brute = await timed(() => index.searchMany(queries, k, { threads, prune: false }));
  const pruned = await timed(() => index.searchMany(queries, k, { threads, prune: true }));
  const flop = 2 * n * d * nq;
  res.batch = {
    bruteMsPerQuery: r3((brute.wall * 1000) / nq),
    bruteCpuMsPerQuery: r3((brute.cpu * 1000) / nq),
    bruteGflops: +(flop / brute.wall / 1e9).toFixed(1),
    bruteGflopsPerCpuSecond: +(flop / brute.cpu / 1e9).toFixed(1),
    prunedMsPerQuery: r3((pruned.wall * 1000) / nq),
    prunedCpuMsPerQuery: r3((pruned.cpu * 1000) / nq),
    scoredShare: +(pruned.value.scored / (n * nq)).toFixed(4),
    speedupFromPruning: +(brute.wall / pruned.wall).toFixed(2),
    mismatchesVsBrute: sameResults(brute.value, pruned.value),
  };
  console.log(label, 'batch', JSON.stringify(res.batch));

  // single queries (sync), median over nSingle queries, after one warm-up; the bandwidth
  // bound is measured again just before (the machine's load changes)
  const bwNow = await bandwidth();
  bound = { boundMs1t: Math.min(bound.boundMs1t, bwNow.boundMs1t), boundMs: Math.min(bound.boundMs, bwNow.boundMs) };
  res.bandwidthBoundMs = bound;
  res.single = {};
  for (const prune of [false, true]) {
    for (const th of [1, 2]) {
      index.search(queries.subarray(0, d), k, { threads: th, prune });
      const walls = [], cpus = [];
      let scored = 0;
      for (let i = 0; i < nSingle; i++) {
        const q = queries.subarray(i * d, (i + 1) * d);
        const c0 = cpu(), w0 = performance.now();
        const r = index.search(q, k, { threads: th, prune });
        walls.push(performance.now() - w0);
        cpus.push((cpu() - c0) * 1000);
        scored += r.scored;
        const b = brute.value;
        for (let j = 0; j < k; j++) if (r.labels[j] !== b.labels[i * k + j]) res.singleMismatch = (res.singleMismatch ?? 0) + 1;
      }
      const key = `${prune ? 'pruned' : 'brute'}${th}t`;
      const b = th === 1 ? bound.boundMs1t : bound.boundMs;
      res.single[key] = {
        wallMs: r3(median(walls)), bestWallMs: r3(Math.min(...walls)), cpuMs: r3(median(cpus)),
        scoredShare: +(scored / (n * nSingle)).toFixed(4),
        // the bound is a best-of-5 streaming sum: compare it with the median and with the best query
        ratioToBandwidthBound: r3(median(walls) / b), bestRatioToBandwidthBound: r3(Math.min(...walls) / b),
      };
    }
  }
  console.log(label, 'single', JSON.stringify(res.single));
  res.loadAfter = load();
  return res;
}

// ---- main ------------------------------------------------------------------------------

const loadStart = load();
const kernel = await kernels();
const bw = await bandwidth();
const results = [];
for (const ds of datasets) results.push(await runDataset(ds, bw));
await writeResult(name, { loadStart, loadEnd: load(), kernel, bandwidth: bw, datasets: results });
