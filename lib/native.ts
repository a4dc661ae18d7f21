/**
 * Loads the native addon: a prebuilt binary from prebuilds/ or a local build
 * from build/Release (node-gyp-build), or the file named by FASTREC_ADDON_PATH.
 * A failure throws one NativeLoadError that says why and what to run.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AbortError, fromNative, NativeLoadError } from './errors.js';
import type { NativeBinding } from './binding.js';

const require = createRequire(import.meta.url);
/** The package root (dist/ and lib/ both sit one level below it). */
export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

let loaded: NativeBinding | undefined;

function load(): NativeBinding {
  const override = process.env.FASTREC_ADDON_PATH;
  try {
    if (override) return require(override) as NativeBinding;
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
    return nodeGypBuild(packageRoot) as NativeBinding;
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
    throw new NativeLoadError(
      `fastrec could not load its native addon for ${process.platform}-${process.arch} (Node ${process.versions.node}, N-API ${process.versions.napi}).\n` +
        `Reason: ${reason}\n` +
        'No prebuilt binary fits this platform and no local build was found. To build it from the shipped sources, run:\n' +
        `  cd ${packageRoot} && npm run build:native\n` +
        'This needs cmake >= 3.20 and a C++17 compiler (Debian/Ubuntu: apt-get install cmake g++; macOS: xcode-select --install && brew install cmake).' +
        (override ? `\n(FASTREC_ADDON_PATH is set to ${override}; unset it to use the packaged addon.)` : ''),
      { cause },
    );
  }
}

/** The native addon (loaded on first use). */
export function native(): NativeBinding {
  loaded ??= load();
  return loaded;
}

/**
 * Run a synchronous native call, turning native errors into typed errors.
 */
export function callSync<T>(fn: (n: NativeBinding) => T): T {
  const n = native();
  try {
    return fn(n);
  } catch (err) {
    throw fromNative(err);
  }
}

/**
 * Run an asynchronous native call. The caller's stack is captured before the
 * call so that a rejection points at the user's code, not at the event loop.
 */
export async function callAsync<T>(fn: (n: NativeBinding) => Promise<T>): Promise<T> {
  const holder: { stack?: string } = {};
  Error.captureStackTrace(holder, callAsync);
  const callerStack = holder.stack?.split('\n').slice(1).join('\n');
  const n = native();
  try {
    return await fn(n);
  } catch (err) {
    throw fromNative(err, callerStack);
  }
}

/**
 * A cancellation flag for native work: an Int32Array(1) that native threads
 * poll, set to 1 when `signal` aborts. Call `release()` when the work is done.
 * Throws AbortError at once if the signal is already aborted.
 */
export function cancelFlag(signal: AbortSignal | undefined): { flag: Int32Array | null; release: () => void } {
  if (!signal) return { flag: null, release: () => {} };
  if (signal.aborted) throw new AbortError();
  const flag = new Int32Array(1);
  const onAbort = () => Atomics.store(flag, 0, 1);
  signal.addEventListener('abort', onAbort, { once: true });
  return { flag, release: () => signal.removeEventListener('abort', onAbort) };
}

/** The SIMD level the kernels use ('scalar', 'avx2', 'avx512' or 'neon'). Set FASTREC_SIMD to force a lower one. */
export function simd(): string {
  return native().simdLevel();
}

/** Every SIMD level compiled in and supported by this CPU, lowest first. */
export function simdLevels(): string[] {
  return native().simdLevels();
}

/** Hardware threads available to the native thread pool. */
export function hardwareThreads(): number {
  return native().hardwareThreads();
}
