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
