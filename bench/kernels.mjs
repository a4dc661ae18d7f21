// SIMD kernels per level: GB/s and GFLOP/s, single thread, against the
// machine's measured memory bandwidth. Sizes: in L1/L2 (compute bound) and far
// beyond the caches (memory bound: the ceiling is the read bandwidth).
// Usage: node bench/kernels.mjs [--quick]
import { native } from '../dist/native.js';
import { writeResult } from './harness.mjs';

const quick = process.argv.includes('--quick');
const n = native();
const big = quick ? 1 << 22 : 1 << 25; // floats per vector beyond the caches (128 MiB at full size)

const memory = await n.benchMemory(quick ? 1 << 28 : 1 << 30, quick ? 3 : 5);
console.log(`memory: read ${memory.readGBs.toFixed(1)} GB/s, copy ${memory.copyGBs.toFixed(1)} GB/s`);

const cases = [
  { kernel: 'dot', m: 0, n: 4096, k: 0, where: 'L1 (2 x 16 KiB)' },
  { kernel: 'dot', m: 0, n: big, k: 0, where: 'memory' },
  { kernel: 'l2sq', m: 0, n: 4096, k: 0, where: 'L1 (2 x 16 KiB)' },
  { kernel: 'l2sq', m: 0, n: big, k: 0, where: 'memory' },
  { kernel: 'axpy', m: 0, n: 4096, k: 0, where: 'L1 (2 x 16 KiB)' },
  { kernel: 'axpy', m: 0, n: big, k: 0, where: 'memory' },
  { kernel: 'gemv', m: 256, n: 256, k: 0, where: 'L2 (256 KiB matrix)' },
  { kernel: 'gemv', m: 8192, n: big / 8192, k: 0, where: 'memory' },
  { kernel: 'gemm_nt', m: 256, n: 4096, k: 64, where: 'scoring shape (k = 64)' },
  { kernel: 'gemm_nt', m: 256, n: 256, k: 256, where: 'square 256' },
];

const results = { memory, kernels: [] };
for (const level of n.simdLevels()) {
  for (const c of cases) {
    const inCache = c.where !== 'memory';
    const reps = inCache ? 30 : quick ? 3 : 7;
    const t = await n.benchKernel(level, c.kernel, c.m, c.n, c.k, reps);
    const row = {
      level,
      kernel: c.kernel,
      shape: c.kernel === 'gemm_nt' ? `${c.m}x${c.k} * (${c.n}x${c.k})T` : c.kernel === 'gemv' ? `${c.m}x${c.n}` : `n=${c.n}`,
      where: c.where,
      microseconds: +(t.seconds * 1e6).toFixed(2),
      GBs: +(t.bytes / t.seconds / 1e9).toFixed(2),
      GFLOPs: +(t.flops / t.seconds / 1e9).toFixed(2),
      ofReadBandwidth: +(t.bytes / t.seconds / 1e9 / memory.readGBs).toFixed(2),
    };
    results.kernels.push(row);
    console.log(`${level.padEnd(7)} ${c.kernel.padEnd(8)} ${row.shape.padEnd(24)} ${c.where.padEnd(22)} ${String(row.GBs).padStart(8)} GB/s ${String(row.GFLOPs).padStart(8)} GFLOP/s`);
  }
}
results.note = n.simdLevels().includes('avx512') ? '' : 'this CPU has no AVX-512: that level is compiled in but not runnable here';
await writeResult('kernels', results);
