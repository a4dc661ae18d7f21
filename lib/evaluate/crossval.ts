/**
 * crossValidate(modelFactory, folds): fit a fresh model on each fold's
 * training side (kFoldSplits), evaluate it on the fold's test side, and
 * summarize every metric over folds as mean and sample standard deviation.
 */
import type { FitOptions, Recommender } from '../recommender.js';
import { func, invalid } from '../validate.js';
import { evaluate, type EvaluateOptions, type EvaluationResult } from './evaluate.js';
import type { Split } from './split.js';

export interface CrossValidationResult {
  folds: EvaluationResult[];
  /** Per metric: the mean over folds and the sample standard deviation (n − 1; NaN for one fold). */
  metrics: Record<string, { mean: number; std: number }>;
}

export async function crossValidate(
  modelFactory: () => Recommender,
  folds: readonly Split[],
  options: EvaluateOptions & { fit?: FitOptions } = {},
): Promise<CrossValidationResult> {
  func('modelFactory', modelFactory);
  if (!Array.isArray(folds) || folds.length === 0) throw invalid('folds', 'a non-empty array of splits (kFoldSplits)', folds);
  const { fit, ...evalOptions } = options;
  const results: EvaluationResult[] = [];
  for (const split of folds as readonly Split[]) {
    const model = modelFactory();
    await model.fit(split.train, fit);
    results.push(await evaluate(model, split, evalOptions));
  }
  const metrics: Record<string, { mean: number; std: number }> = {};
  for (const name of Object.keys(results[0]!.metrics)) {
    const v = results.map((r) => r.metrics[name]!);
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const std = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) : NaN;
    metrics[name] = { mean, std };
  }
  return { folds: results, metrics };
}
