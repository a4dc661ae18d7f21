import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { native, callAsync, callSync, simd, simdLevels, hardwareThreads } from '../lib/native.js';
import { FastrecError, InvalidArgumentError, OutOfMemoryError } from '../lib/errors.js';

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
