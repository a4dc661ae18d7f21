// ALS training speed on seeded synthetic data shaped like MovieLens-20M and
// Last.fm-360K: seconds per iteration, achieved GFLOP/s, peak memory, and the
// loss of CG against the exact solver after the same number of iterations.
//
//   node bench/als.mjs                      # the default subset (see PLAN)
//   node bench/als.mjs --shape=ml20m --factors=64 --threads=2 --solver=cg --iterations=3
//   node bench/als.mjs --quick              # a 10x smaller ML-20M shape, for a smoke test
//   ... --gather=float32                    # gather from the float32 factors (default: the float16 copy)
//   ... --gather=int8                       # gather from the 8-bit copy (int8 values, one float scale per row)
//   ... --cgSteps=3 --precondition=false    # plain CG, 3 steps (the implicit library's method; default: preconditioned, 2)
//   ... --loss-check                        # also the loss after 4 iterations: preconditioned CG (both gathers; with
//                                           # --gather=int8 also the int8 one), plain CG 3 steps, vs Cholesky
//   ... --compare                           # float32 and float16 gathers alternately, one iteration each, --reps=N times
//   ... --compare --variants=float16,int8   # the same with other gathers
//
// FLOPs (ANCHORS.md): CG does (cgSteps + 1) * (4 k nnz + 2 k^2 rows) per
// half-iteration (one residual plus cgSteps matvecs; each matvec is 2 k nnz
// for Y p, 2 k nnz for Yᵀ(...) and 2 k^2 for the Gram product), plus
// cgSteps * 2 k^2 rows for the preconditioner's products. Cholesky does
// k^2 nnz (the symmetric Y_uᵀ C_u Y_u) + k^3 / 3 per row (the factorization),
// counted the same way. The k x k Gram of all factors (2 k^2 rows per half)
// is not counted in either.
import { readFileSync, writeFileSync } from 'node:fs';
import { peakRssMiB, rng, writeResult } from './harness.mjs';

const fastrec = await import('../dist/index.js');
const { native } = await import('../dist/native.js');

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? 'true'];
  }),
);

const SHAPES = {
  // 138,493 users x 26,744 items, 20M interactions; popularity ~ 1 / (rank + c).
  ml20m: { users: 138_493, items: 26_744, interactions: 20_000_000, userShift: 2000, itemShift: 50 },
  // ~360K users x ~290K artists, ~17.5M (user, artist) pairs; users nearly uniform (top-50 lists).
  lastfm: { users: 359_347, items: 292_589, interactions: 17_500_000, userShift: 1e9, itemShift: 60 },
};

/** Inverse-CDF sampler over weights 1 / (i + shift). */
function powerLawSampler(n, shift, rand) {
  const cdf = new Float64Array(n);
  let s = 0;
  for (let i = 0; i < n; i++) cdf[i] = s += 1 / (i + shift);
  for (let i = 0; i < n; i++) cdf[i] /= s;
  return () => {
    const x = rand();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/** The users x items CSR (duplicates summed) and its transpose. */
async function synthetic(shape, scale = 1) {
  const s = { ...SHAPES[shape] };
  s.users = Math.round(s.users * scale);
  s.items = Math.round(s.items * scale);
  s.interactions = Math.round(s.interactions * scale);
  const rand = rng(shape === 'ml20m' ? 20 : 360);
  const user = powerLawSampler(s.users, s.userShift, rand);
  const item = powerLawSampler(s.items, s.itemShift, rand);
  // Shuffle ids so that popular rows are not contiguous.
  const perm = (n) => {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [p[i], p[j]] = [p[j], p[i]];
    }
    return p;
  };
  const pu = perm(s.users);
  const pi = perm(s.items);
  const rows = new Int32Array(s.interactions);
  const cols = new Int32Array(s.interactions);
  const vals = new Float32Array(s.interactions);
  for (let n = 0; n < s.interactions; n++) {
    rows[n] = pu[user()];
    cols[n] = pi[item()];
    vals[n] = shape === 'lastfm' ? 1 + Math.floor(-Math.log(1 - rand()) * 20) : 1;
  }
  const nb = native();
  const ui = await nb.csrFromCoo(rows, cols, vals, s.users, s.items, 'max', false, 0);
  const iu = await nb.csrTranspose(ui, 0);
  return { shape, users: s.users, items: s.items, ui, iu };
}

function resetPeak() {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

function rssMiB() {
  const m = readFileSync('/proc/self/status', 'utf8').match(/VmRSS:\s*(\d+) kB/);
  return m ? Number(m[1]) / 1024 : NaN;
}

function flopsPerIteration(data, k, solver, cgSteps, precondition) {
  const nnz = data.ui.indices.length;
  const rows = data.users + data.items;
  if (solver === 'cg') return (cgSteps + 1) * (2 * 4 * k * nnz + 2 * k * k * rows) + (precondition ? cgSteps * 2 * k * k * rows : 0);
  return 2 * k * k * nnz + (rows * k ** 3) / 3;
}

function csrBytes(m) {
  return m.indptr.byteLength + m.indices.byteLength + m.data.byteLength;
}

async function run(data, { factors, threads, solver, iterations, cgSteps = 2, precondition = true, computeLoss = false, gather = 'float16', quiet = false }) {
  const cfg = {
    factors,
    implicit: true,
    confidence: 'linear',
    alpha: 1,
    unobservedWeight: 1,
    regularization: 0.01,
    regularizationScaling: 'none',
    nu: 1,
    solver,
    cgSteps,
    precondition,
    gatherPrecision: gather,
  };
  const times = [];
  const losses = [];
  global.gc?.();
  const base = rssMiB();
  const peakReset = resetPeak();
  const cpu0 = process.cpuUsage();
  const r = await native().alsFit(data.ui, data.iu, cfg, null, iterations, 1, threads, computeLoss, (p) => {
    times.push(p.seconds);
    if (p.loss !== undefined) losses.push(p.loss);
  }, null);
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  await new Promise((res) => setTimeout(res, 10));
  const peak = peakReset ? peakRssMiB() : NaN;
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  const flops = flopsPerIteration(data, factors, solver, cgSteps, precondition);
  const inputMiB = (csrBytes(data.ui) + csrBytes(data.iu)) / 2 ** 20;
  const factorMiB = ((data.users + data.items) * factors * 4) / 2 ** 20;
  const out = {
    shape: data.shape,
    factors,
    threads,
    solver,
    cgSteps: solver === 'cg' ? cgSteps : undefined,
    precondition: solver === 'cg' ? precondition : undefined,
    gatherPrecision: gather,
    iterations,
    secondsPerIteration: +median.toFixed(3),
    allIterationSeconds: times.map((t) => +t.toFixed(3)),
    gflops: +(flops / median / 1e9).toFixed(1),
    // CPU time is less sensitive than wall time to other processes on a shared machine.
    cpuSecondsPerIteration: +(cpuSeconds / iterations).toFixed(3),
    gflopsPerCpuSecond: +((flops * iterations) / cpuSeconds / 1e9).toFixed(1),
    loadAverage: (await import('node:os')).loadavg()[0].toFixed(1),
    nominalGflopPerIteration: +(flops / 1e9).toFixed(1),
    rssBeforeMiB: +base.toFixed(0),
    peakRssMiB: peak,
    peakOverBaseMiB: +(peak - base).toFixed(0),
    inputMatrixMiB: +inputMiB.toFixed(0),
    factorsMiB: +factorMiB.toFixed(0),
    losses: losses.length ? losses : undefined,
    finalLoss: r.loss ?? undefined,
  };
  if (!quiet) console.log(JSON.stringify(out));
  return out;
}

/** Variants interleaved (A B A B ...), one iteration each, so that they see the same machine load. */
async function compare(data, p, reps, variants = ['float32', 'float16']) {
  const byVariant = Object.fromEntries(variants.map((g) => [g, { wall: [], cpu: [] }]));
  for (let i = 0; i < reps; i++) {
    for (const g of variants) {
      const r = await run(data, { ...p, iterations: 1, gather: g, quiet: true });
      byVariant[g].wall.push(r.secondsPerIteration);
      byVariant[g].cpu.push(r.cpuSecondsPerIteration);
    }
  }
  const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const out = { ...p, reps, loadAverage: (await import('node:os')).loadavg()[0].toFixed(1), variants: {} };
  for (const g of variants) {
    const v = byVariant[g];
    out.variants[g] = { medianSeconds: med(v.wall), minSeconds: Math.min(...v.wall), medianCpuSeconds: med(v.cpu), seconds: v.wall, cpuSeconds: v.cpu };
  }
  const [first, ...rest] = variants;
  for (const g of rest) out[`${g}Over${first}`] = +(out.variants[g].medianSeconds / out.variants[first].medianSeconds).toFixed(3);
  console.log('compare', JSON.stringify(out));
  return out;
}

// The default plan: what fits in a few minutes on 2 shared cores.
const PLAN = [
  { shape: 'ml20m', factors: 64, threads: 2, solver: 'cg', iterations: 3 },
  { shape: 'ml20m', factors: 64, threads: 1, solver: 'cg', iterations: 2 },
  { shape: 'ml20m', factors: 64, threads: 2, solver: 'cholesky', iterations: 2 },
  { shape: 'ml20m', factors: 32, threads: 2, solver: 'cg', iterations: 3 },
  { shape: 'ml20m', factors: 128, threads: 2, solver: 'cg', iterations: 2 },
  { shape: 'ml20m', factors: 256, threads: 2, solver: 'cg', iterations: 2 },
  { shape: 'lastfm', factors: 64, threads: 2, solver: 'cg', iterations: 3 },
  { shape: 'lastfm', factors: 64, threads: 2, solver: 'cholesky', iterations: 2 },
];

const results = { runs: [], lossCheck: undefined, shapes: {} };
const cache = {};
async function dataFor(shape) {
  const scale = args.quick ? 0.1 : 1;
  if (!cache[shape]) {
    const t0 = performance.now();
    cache[shape] = await synthetic(shape, scale);
    const d = cache[shape];
    results.shapes[shape] = { users: d.users, items: d.items, nnz: d.ui.indices.length, scale, generateSeconds: +((performance.now() - t0) / 1000).toFixed(1) };
    console.log(shape, JSON.stringify(results.shapes[shape]));
  }
  return cache[shape];
}

const plan = args.shape
  ? [{ shape: args.shape, factors: +(args.factors ?? 64), threads: +(args.threads ?? 2), solver: args.solver ?? 'cg', iterations: +(args.iterations ?? 3), cgSteps: +(args.cgSteps ?? 2), precondition: args.precondition !== 'false', gather: args.gather ?? 'float16' }]
  : PLAN;
if (args.compare) {
  const variants = args.variants ? String(args.variants).split(',') : undefined;
  results.compare = await compare(await dataFor(plan[0].shape), plan[0], +(args.reps ?? 3), variants);
} else {
  for (const p of plan) results.runs.push(await run(await dataFor(p.shape), p));
}

// Same work, same answer: the loss after N iterations of CG (preconditioned, 2 steps; and plain CG with 3 steps,
// the implicit library's method) against the exact solver.
if (!args.shape || args['loss-check']) {
  const n = +(args.lossIterations ?? 4);
  const data = await dataFor('ml20m');
  const cg = await run(data, { factors: 64, threads: 2, solver: 'cg', iterations: n, computeLoss: true, gather: 'float16' });
  const cg32 = await run(data, { factors: 64, threads: 2, solver: 'cg', iterations: n, computeLoss: true, gather: 'float32' });
  const plain3 = await run(data, { factors: 64, threads: 2, solver: 'cg', iterations: n, computeLoss: true, gather: 'float16', cgSteps: 3, precondition: false });
  const cg8 = args.gather === 'int8' ? await run(data, { factors: 64, threads: 2, solver: 'cg', iterations: n, computeLoss: true, gather: 'int8' }) : undefined;
  const exact = await run(data, { factors: 64, threads: 2, solver: 'cholesky', iterations: n, computeLoss: true, gather: 'float32' });
  const rel = (a, b) => +((a - b) / b).toExponential(2);
  results.lossCheck = {
    iterations: n,
    cgLosses: cg.losses,
    cgFloat32GatherLosses: cg32.losses,
    plainCg3StepsLosses: plain3.losses,
    choleskyLosses: exact.losses,
    relativeDifference: rel(cg.finalLoss, exact.finalLoss),
    relativeDifferenceFloat32Gather: rel(cg32.finalLoss, exact.finalLoss),
    relativeDifferencePlainCg3Steps: rel(plain3.finalLoss, exact.finalLoss),
    float16VsFloat32Gather: rel(cg.finalLoss, cg32.finalLoss),
    ...(cg8 && { cgInt8GatherLosses: cg8.losses, relativeDifferenceInt8Gather: rel(cg8.finalLoss, exact.finalLoss), int8VsFloat32Gather: rel(cg8.finalLoss, cg32.finalLoss) }),
  };
  console.log('loss check', JSON.stringify(results.lossCheck));
}

void fastrec;
const name = args.quick
  ? 'als-quick'
  : args.shape
    ? `als-${args.shape}-${args.factors ?? 64}-${args.solver ?? 'cg'}-${args.threads ?? 2}t${args.compare ? '-compare' : args.gather === 'float32' ? '-f32' : args.gather === 'int8' ? '-i8' : ''}`
    : 'als';
if (!args['no-write']) await writeResult(name, results);
