// Shared benchmark harness: machine facts, timing helpers, and result files.
// Every benchmark writes bench/results/<name>.json through writeResult() and
// its figures are summarized by hand in bench/README.md (one section each).
import { writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const benchDir = dirname(fileURLToPath(import.meta.url));

/** Facts about this machine, recorded with every result. */
export async function machineInfo() {
  const fastrec = await import('../dist/index.js');
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/);
    if (m) cpu = m[1];
  } catch {}
  return {
    cpu,
    cores: os.availableParallelism?.() ?? os.cpus().length,
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    node: process.versions.node,
    platform: `${process.platform}-${process.arch}`,
    simd: fastrec.simd(),
  };
}

/** Seconds taken by `fn` (awaited). */
export async function seconds(fn) {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

/** Median of the times of `reps` runs of `fn`, after `warmup` untimed runs. */
export async function medianSeconds(fn, reps = 5, warmup = 1) {
  for (let i = 0; i < warmup; i++) await fn();
  const t = [];
  for (let i = 0; i < reps; i++) t.push(await seconds(fn));
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)];
}

/** Peak resident memory of this process so far, in MiB (Linux). */
export function peakRssMiB() {
  try {
    const m = readFileSync('/proc/self/status', 'utf8').match(/VmHWM:\s*(\d+) kB/);
    if (m) return +(Number(m[1]) / 1024).toFixed(1);
  } catch {}
  return +(process.memoryUsage().rss / 2 ** 20).toFixed(1);
}

/** A seeded PRNG (mulberry32) returning floats in [0, 1): the library's own (lib/random.ts). */
import { seededRandom as rng } from '../dist/random.js';
export { rng };

/** count x d floats uniform in [0, 1): the worst case for graph indexes and pruning. */
export function uniformVectors(count, d, seed) {
  const r = rng(seed);
  const out = new Float32Array(count * d);
  for (let i = 0; i < out.length; i++) out[i] = r();
  return out;
}

/**
 * A Gaussian mixture with power-law cluster sizes (weight of cluster c ∝ 1/(c+1)^1.1), N(0,1)
 * centres and sd 0.35 around them. Returns a sampler: each call draws `count` more rows from the
 * same mixture (so data and queries share centres).
 */
export function gaussianMixture(d, clusters, seed) {
  const r = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  const centres = new Float32Array(clusters * d);
  for (let i = 0; i < centres.length; i++) centres[i] = gauss();
  const cdf = new Float64Array(clusters);
  let total = 0;
  for (let c = 0; c < clusters; c++) cdf[c] = total += 1 / Math.pow(c + 1, 1.1);
  return (count) => {
    const out = new Float32Array(count * d);
    for (let i = 0; i < count; i++) {
      const x = r() * total;
      let lo = 0, hi = clusters - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (cdf[mid] < x) lo = mid + 1;
        else hi = mid;
      }
      for (let j = 0; j < d; j++) out[i * d + j] = centres[lo * d + j] + 0.35 * gauss();
    }
    return out;
  };
}

/** Write bench/results/<name>.json with the machine, command, date and results. */
export async function writeResult(name, results) {
  const dir = join(benchDir, 'results');
  mkdirSync(dir, { recursive: true });
  const record = {
    name,
    date: new Date().toISOString(),
    command: `node ${process.argv.slice(1).map((a) => a.replace(process.cwd() + '/', '')).join(' ')}`,
    machine: await machineInfo(),
    results,
  };
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(record, null, 2) + '\n');
  console.log(`wrote ${file}`);
  return record;
}
