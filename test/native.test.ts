import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { native, callAsync, callSync, simd, simdLevels, hardwareThreads } from '../lib/native.js';
import { FastrecError, InvalidArgumentError, OutOfMemoryError } from '../lib/errors.js';
import type { AlsNativeConfig } from '../lib/binding.js';

/** A complete native ALS config (what lib/models/als.ts passes for an implicit model of 4 factors). */
const FOLD_IN_CONFIG: AlsNativeConfig = {
  factors: 4, implicit: true, confidence: 'linear', alpha: 1, unobservedWeight: 1, regularization: 0.1, regularizationScaling: 'none', nu: 1,
  solver: 'cg', cgSteps: 3, precondition: true, gatherPrecision: 'float16', itemBias: false, itemBiasRegularization: 0.1,
};

describe('native addon', () => {
  it('reports its SIMD level, the levels available, and threads', () => {
    const levels = simdLevels();
    expect(levels[0]).toBe('scalar');
    expect(levels).toContain(simd());
    expect(simd()).toBe(levels[levels.length - 1]);
    expect(hardwareThreads()).toBeGreaterThanOrEqual(1);
  });

  it('FASTREC_SIMD forces a lower level', () => {
    const root = new URL('..', import.meta.url);
    for (const level of simdLevels()) {
      const r = spawnSync(process.execPath, ['-e', "console.log(require('node-gyp-build')(process.cwd()).simdLevel())"], {
        cwd: root,
        env: { ...process.env, FASTREC_SIMD: level },
        encoding: 'utf8',
      });
      expect(r.stderr).toBe('');
      expect(r.stdout.trim()).toBe(level);
    }
  });

  it('turns a native exception into a typed error (sync)', () => {
    expect(() => callSync((n) => n.debugThrow('bad input'))).toThrow(InvalidArgumentError);
    expect(() => callSync((n) => n.debugThrow('bad_alloc'))).toThrow(OutOfMemoryError);
    try {
      callSync((n) => n.debugThrow('std'));
    } catch (err) {
      expect(err).toBeInstanceOf(FastrecError);
      expect((err as FastrecError).code).toBe('INTERNAL');
    }
  });

  it('refuses a norm order that is not a normOrder handle, or made for other factors', () => {
    const items = Float32Array.from({ length: 40 }, (_, i) => Math.sin(i));
    const user = Float32Array.of(1, 0.5, -0.25, 2);
    const call = (order: unknown) => callSync((n) => n.factorTopK(user, items, 4, null, null, null, null, 3, order as null));
    expect(() => call('not a handle')).toThrow(InvalidArgumentError);
    expect(() => call('not a handle')).toThrow(/order: expected a handle from normOrder/);
    const other = callSync((n) => n.normOrder(items.subarray(0, 36), null, 4, 0, true));
    expect(() => call(other)).toThrow(/order: made for 9 x 4 factors, not these 10 x 4/);
    const own = callSync((n) => n.normOrder(items, null, 4, 0, true));
    expect(Array.from(call(own).indices)).toEqual(Array.from(call(null).indices));
  });

  it('refuses a handle of another kind wherever one is expected (typed error, never a wrong cast)', () => {
    const items = Float32Array.from({ length: 40 }, (_, i) => Math.sin(i));
    const handles = {
      hnsw: callSync((n) => n.hnswCreate(4, 'ip', 8, 16, 1, false, 0, 16, 'float32')),
      order: callSync((n) => n.normOrder(items, null, 4, 0, true))!,
      flat: callSync((n) => n.flatCreate(4, 'ip')),
      strings: callSync((n) => n.stringIndexNew()),
      foldIn: callSync((n) => n.alsFoldInPlan({ fixed: items, fixedBias: null, globalMean: 0 }, null, FOLD_IN_CONFIG)),
    };
    const uses: Record<keyof typeof handles, (h: unknown) => unknown> = {
      hnsw: (h) => callSync((n) => n.hnswInfo(h as never)),
      order: (h) => callSync((n) => n.normOrderStats(h as never)),
      flat: (h) => callSync((n) => n.flatInfo(h as never)),
      strings: (h) => callSync((n) => n.stringIndexIntern(h as never, new Uint16Array(0), new Int32Array(0), 0, new Int32Array(0))),
      foldIn: (h) => callSync((n) => n.alsFoldIn(h as never, Int32Array.of(1, 3), Float32Array.of(1, 2))),
    };
    for (const [use, fn] of Object.entries(uses)) {
      for (const [kind, h] of Object.entries(handles)) {
        if (kind === use) expect(() => fn(h), `${kind} as ${use}`).not.toThrow();
        else expect(() => fn(h), `${kind} as ${use}`).toThrow(InvalidArgumentError);
      }
      expect(() => fn({}), use).toThrow(InvalidArgumentError);
    }
    // The per-query path of the index checks its handle too.
    const out = { items: new Int32Array(4), scores: new Float32Array(4) };
    expect(() => callSync((n) => n.hnswRescoredTopK(handles.order as never, Float32Array.of(1, 0, 0, 0), 2, 4, 8, null, null, 0.5, items, null, null, out.items, out.scores, null))).toThrow(/index: expected a native index handle/);
  });

  it('rejects async calls with a typed error whose stack names the caller', async () => {
    const err = await callAsync((n) => n.debugThrow('async failure', true) as Promise<void>).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toContain('async failure');
    expect((err as Error).stack).toContain('native.test.ts');
    const oom = await callAsync((n) => n.debugThrow('bad_alloc', true) as Promise<void>).catch((e: unknown) => e);
    expect(oom).toBeInstanceOf(OutOfMemoryError);
  });

  it('the process survives a native error storm', async () => {
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => callAsync((n) => n.debugThrow('x', true) as Promise<void>)));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(native().hardwareThreads()).toBeGreaterThanOrEqual(1);
  });
});
