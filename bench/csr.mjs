// CSR construction from random (user, item, value) COO triples, and the
// transpose (item x user view), on 1 and 2 threads; peak resident memory.
// Usage: node bench/csr.mjs [--nnz 20000000] [--users 1000000] [--items 100000] [--threads 1,2] [--name csr]
// Target (issue 2): 20 million triples in under 3 s on 2 threads.
import { native } from '../dist/native.js';
import { writeResult, peakRssMiB, rng } from './harness.mjs';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}
const nnz = Number(arg('nnz', 20_000_000));
const users = Number(arg('users', 1_000_000));
const items = Number(arg('items', 100_000));
const threadList = arg('threads', '1,2').split(',').map(Number);
const name = arg('name', 'csr');

// Random triples (duplicates occur naturally: about nnz^2 / (2 users items) pairs).
const t0 = performance.now();
const rand = rng(42);
const rows = new Int32Array(nnz);
const cols = new Int32Array(nnz);
const vals = new Float32Array(nnz);
for (let i = 0; i < nnz; i++) {
  rows[i] = (rand() * users) | 0;
  cols[i] = (rand() * items) | 0;
  vals[i] = 1 + ((rand() * 5) | 0);
}
console.log(`generated ${nnz} triples in ${((performance.now() - t0) / 1000).toFixed(1)} s; RSS peak ${peakRssMiB()} MiB`);

const n = native();
const runs = [];
for (const threads of threadList) {
  let best = { build: Infinity, transpose: Infinity, buildCpu: Infinity };
  let result;
  const reps = nnz > 50_000_000 ? 1 : 3;
  for (let r = 0; r < reps; r++) {
    result = undefined; // let the previous matrices go before the next build
    let s = performance.now();
    const cpu0 = process.cpuUsage();
    const m = await n.csrFromCoo(rows, cols, vals, users, items, 'sum', false, threads);
    const build = (performance.now() - s) / 1000;
    const used = process.cpuUsage(cpu0);
    const buildCpu = (used.user + used.system) / 1e6;
    s = performance.now();
    const t = await n.csrTranspose(m, threads);
    const transpose = (performance.now() - s) / 1000;
    best = { build: Math.min(best.build, build), transpose: Math.min(best.transpose, transpose), buildCpu: Math.min(best.buildCpu, buildCpu) };
    result = { stored: Number(m.indptr[m.rows]), transposeStored: Number(t.indptr[t.rows]) };
  }
  const run = {
    threads,
    buildSeconds: +best.build.toFixed(3),
    transposeSeconds: +best.transpose.toFixed(3),
    // CPU seconds of all threads during the build: robust to other load on a shared machine.
    buildCpuSeconds: +best.buildCpu.toFixed(3),
    buildMillionTriplesPerSecond: +(nnz / best.build / 1e6).toFixed(1),
    storedNonZeros: result.stored,
    peakRssMiB: peakRssMiB(),
  };
  if (run.storedNonZeros !== result.transposeStored) throw new Error('transpose lost entries');
  runs.push(run);
  console.log(JSON.stringify(run));
}
await writeResult(name, { nnz, users, items, combine: 'sum', runs, inputBytes: nnz * 12 });
