// Loading the addon: a failed load gives one NativeLoadError that says why and
// what to run (checked in a child process through the packaged entry point,
// dist/index.js, which `npm test` builds), and the addon works in worker threads.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist', 'index.js');

/** Run a snippet as an ES module in a child process with FASTREC_ADDON_PATH set. */
function runWithAddonPath(addonPath: string, code: string) {
  return spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    cwd: root,
    env: { ...process.env, FASTREC_ADDON_PATH: addonPath },
    encoding: 'utf8',
    timeout: 30_000,
  });
}

const report = `
const fastrec = await import(${JSON.stringify(dist)});
try {
  console.log(JSON.stringify({ ok: fastrec.simd() }));
} catch (err) {
  console.log(JSON.stringify({ name: err.name, code: err.code, isFastrec: err instanceof fastrec.FastrecError, message: err.message }));
}`;

describe('native addon loading', () => {
  it.skipIf(!existsSync(dist))('a bad FASTREC_ADDON_PATH gives a NativeLoadError that says why and what to run', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fastrec-load-'));
    try {
      const notAnAddon = join(dir, 'fastrec.node');
      writeFileSync(notAnAddon, 'this is not a shared library');
      for (const bad of [join(dir, 'missing.node'), notAnAddon]) {
        const r = runWithAddonPath(bad, report);
        expect(r.status).toBe(0); // the error is catchable; the process does not crash
        const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
        expect(out).toMatchObject({ name: 'NativeLoadError', code: 'NATIVE_LOAD_FAILED', isFastrec: true });
        expect(out.message).toContain(`could not load its native addon for ${process.platform}-${process.arch}`);
        expect(out.message).toMatch(/Reason: .+/); // why
        expect(out.message).toContain('npm run build:native'); // what to run
        expect(out.message).toContain(`FASTREC_ADDON_PATH is set to ${bad}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!existsSync(dist))('FASTREC_ADDON_PATH pointing at a real build loads it', () => {
    const r = runWithAddonPath(join(root, 'build', 'Release', 'fastrec.node'), report);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toEqual({ ok: expect.stringMatching(/^(scalar|avx2|avx512|neon)$/) });
  });
});

// The worker loads the addon the way the package does (node-gyp-build on the
// package root) and runs async native work, including an error, off its own thread.
const workerCode = `
const { parentPort, workerData } = require('node:worker_threads');
const addon = require('node-gyp-build')(workerData.root);
(async () => {
  const n = workerData.n;
  const rows = new Int32Array(n), cols = new Int32Array(n), vals = new Float32Array(n);
  for (let i = 0; i < n; i++) { rows[i] = (i * 7919) % 97; cols[i] = (i * 104729) % 89; vals[i] = 1; }
  const m = await addon.csrFromCoo(rows, cols, vals, 97, 89, 'sum', false, 2);
  const t = await addon.csrTranspose(m, 2);
  let sum = 0;
  for (const v of m.data) sum += v;
  let error = null;
  try { await addon.debugThrow('from a worker', true); } catch (e) { error = e.code + ': ' + e.message; }
  parentPort.postMessage({ level: addon.simdLevel(), sum, nnz: m.indices.length, tnnz: t.indices.length, error });
})().catch((e) => parentPort.postMessage({ crash: String(e) }));
`;

function runWorker(n: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const w = new Worker(workerCode, { eval: true, workerData: { root, n } });
    w.once('message', (msg) => {
      resolve(msg);
      void w.terminate();
    });
    w.once('error', reject);
  });
}

describe('worker_threads', () => {
  it('several workers use the addon at once, with the same results as the main thread', async () => {
    const results = await Promise.all([runWorker(50_000), runWorker(50_000), runWorker(20_000)]);
    for (const [k, r] of results.entries()) {
      expect(r.crash).toBeUndefined();
      expect(r.sum).toBe(k < 2 ? 50_000 : 20_000); // every triple counted once, duplicates summed
      expect(r.nnz).toBe(r.tnnz);
      expect(r.error).toBe('INVALID_ARGUMENT: debugThrow: from a worker');
    }
    expect(results[0]!.nnz).toBe(results[1]!.nnz);
  });

  it('terminating a worker while its native work is in flight leaves the process healthy', async () => {
    const w = new Worker(workerCode, { eval: true, workerData: { root, n: 2_000_000 } });
    await new Promise((r) => setTimeout(r, 50));
    await w.terminate();
    const again = await runWorker(1000);
    expect(again.sum).toBe(1000);
  });
});
