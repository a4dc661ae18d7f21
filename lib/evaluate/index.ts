/** Evaluation: splits, metrics, evaluate, compare and tune. */
export * from './split.js';
export * as metrics from './metrics.js';
export {
  evaluate,
  aggregateColumn,
  featureTokens,
  RANKING_METRICS,
  LIST_METRICS,
  GLOBAL_METRICS,
  DEFAULT_METRICS,
  LOWER_IS_BETTER,
  type EvaluateOptions,
  type EvaluationResult,
  type MetricColumn,
  type MetricName,
  type RatingPredictor,
} from './evaluate.js';
export { Random } from './random.js';
export { compare, compareResults, isBetter, Comparison, COMPARE_METHOD, type CompareOptions, type ComparisonJson, type ComparisonRow, type MetricSummary } from './compare.js';
export { tune, type TuneOptions, type TuneResult, type Trial, type SearchSpace, type SearchDimension } from './tune.js';
export { pairedTTest, tTwoSidedP, type PairedTest } from './stats.js';
export { crossValidate, type CrossValidationResult } from './crossval.js';
