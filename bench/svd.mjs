// Truncated SVD on the MovieLens-20M-shaped synthetic matrix (bench/tools/ml20m-shape.mjs):
// fastrec's truncatedSvd against scikit-learn's randomized_svd with the same k,
// oversampling and power iterations, in the same run, plus the error of the top
// singular values against a converged run (many more power iterations).
//
// Usage: node bench/svd.mjs [--scale=1] [--k=64] [--oversample=10] [--iters=4,7] [--reps=2] [--no-sklearn]
// Needs python3-sklearn (apt-get install -y python3-sklearn) for the comparison.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { truncatedSvd } from '../dist/index.js';
import { benchDir, peakRssMiB, seconds, writeResult } from './harness.mjs';
import { ml20mShape } from './tools/ml20m-shape.mjs';

const arg = (name, def) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : def;
};
const scale = Number(arg('scale', '1'));
const k = Number(arg('k', '64'));
const oversample = Number(arg('oversample', '10'));
const iters = arg('iters', '4,7').split(',').map(Number);
const reps = Number(arg('reps', '2'));
const withSklearn = !process.argv.includes('--no-sklearn');

const t0 = performance.now();
const m = await ml20mShape({ scale });
console.log(`matrix ${m.rows} x ${m.cols}, nnz ${m.indices.length} (built in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);

const dir = join('/tmp', `fastrec-bench-svd-${process.pid}`);
if (withSklearn) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'indptr.bin'), Buffer.from(m.indptr.buffer, m.indptr.byteOffset, m.indptr.byteLength));
  writeFileSync(join(dir, 'indices.bin'), Buffer.from(m.indices.buffer, m.indices.byteOffset, m.indices.byteLength));
  writeFileSync(join(dir, 'data.bin'), Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength));
  writeFileSync(join(dir, 'meta.json'), JSON.stringify({ rows: m.rows, cols: m.cols }));
}

// Converged reference: 4x the oversampling and 20 power iterations.
const tRef = performance.now();
const ref = await truncatedSvd(m, { k, oversample: Math.max(40, 4 * oversample), powerIterations: 20, seed: 99 });
const refSeconds = (performance.now() - tRef) / 1000;
console.log(`converged reference: ${refSeconds.toFixed(1)} s; s[0..3] = ${Array.from(ref.s.subarray(0, 4), (x) => x.toFixed(3)).join(', ')}`);

/** Relative errors of the singular values against the reference: top 10 max, and the k-th. */
function errors(s) {
  let top10 = 0;
  for (let i = 0; i < Math.min(10, k); i++) top10 = Math.max(top10, Math.abs(s[i] - ref.s[i]) / ref.s[i]);
  let all = 0;
  for (let i = 0; i < k; i++) all = Math.max(all, Math.abs(s[i] - ref.s[i]) / ref.s[i]);
  return { maxRelErrTop10: top10, maxRelErrAllK: all, relErrKth: Math.abs(s[k - 1] - ref.s[k - 1]) / ref.s[k - 1] };
}

const runs = [];
for (const q of iters) {
  const row = { powerIterations: q, k, oversample };
  for (const threads of [0, 1]) {
    const times = [];
    const cpu = [];
    let last;
    for (let r = 0; r < reps; r++) {
      const c0 = process.cpuUsage();
      times.push(await seconds(async () => (last = await truncatedSvd(m, { k, oversample, powerIterations: q, seed: r, threads }))));
      const c1 = process.cpuUsage(c0);
      cpu.push((c1.user + c1.system) / 1e6);
    }
    const mid = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)];
    row[threads === 0 ? 'fastrec' : 'fastrec1thread'] = { seconds: mid, all: times, cpuSeconds: cpu, ...errors(last.s) };
  }
  if (withSklearn) {
    const py = spawnSync(process.env.PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3'), [join(benchDir, 'tools', 'sklearn_svd.py'), dir, String(k), String(oversample), String(q), String(reps)], { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (py.status !== 0) throw new Error(`sklearn run failed: ${py.stderr}`);
    const out = JSON.parse(py.stdout.trim().split('\n').pop());
    const times = [...out.seconds].sort((a, b) => a - b);
    row.sklearn = { seconds: times[Math.floor(times.length / 2)], all: out.seconds, cpuSeconds: out.cpu, ...errors(out.s), dtype: out.dtype, version: out.sklearn, numpy: out.numpy, blas: out.blas };
    row.speedup = row.sklearn.seconds / row.fastrec.seconds;
    row.cpuRatio = out.cpu.reduce((a, b) => a + b, 0) / row.fastrec.cpuSeconds.reduce((a, b) => a + b, 0);
  }
  console.log(JSON.stringify(row));
  runs.push(row);
}

if (withSklearn) rmSync(dir, { recursive: true, force: true });
await writeResult(scale === 1 ? 'svd' : `svd-scale${scale}`, {
  matrix: { rows: m.rows, cols: m.cols, nnz: m.indices.length, generator: 'bench/tools/ml20m-shape.mjs', scale },
  reference: { oversample: Math.max(40, 4 * oversample), powerIterations: 20, seconds: refSeconds, topSingularValues: Array.from(ref.s.subarray(0, 10)) },
  runs,
  peakRssMiB: peakRssMiB(),
});
