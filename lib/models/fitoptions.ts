/** Validation of the options every `fit` accepts (FitOptions). */
import type { FitOptions, FitProgress } from '../recommender.js';
import { abortSignal, func, integer, knownOptions, threads as checkThreads } from '../validate.js';

export interface ResolvedFitOptions {
  threads: number;
  seed: number;
  signal: AbortSignal | undefined;
  onProgress: ((p: FitProgress) => void) | undefined;
}

const FIT_KEYS = ['threads', 'seed', 'signal', 'onProgress'] as const;

export function resolveFitOptions(options: FitOptions | undefined, name = 'options'): ResolvedFitOptions {
  knownOptions(name, options, FIT_KEYS);
  const o = options ?? {};
  return {
    threads: checkThreads(o.threads, `${name}.threads`),
    seed: integer(`${name}.seed`, o.seed ?? 0, 0, Number.MAX_SAFE_INTEGER),
    signal: abortSignal(`${name}.signal`, o.signal),
    onProgress: o.onProgress === undefined ? undefined : (func(`${name}.onProgress`, o.onProgress) as (p: FitProgress) => void),
  };
}
