/**
 * The models the command line can train (`fastrec train --model NAME`, the
 * demo): how to build each from command-line options, with the demo's
 * settings. Every entry is a model class of lib/models or lib/hybrid.
 */
import type { Dataset } from '../data/dataset.js';
import type { FitOptions } from '../recommender.js';
import type { PersistableRecommender } from '../models/registry.js';

/** Hyper-parameters given on the command line (--factors 64 --set alpha=2 ...). */
export type CliModelOptions = Record<string, string | number | boolean>;

export interface ModelSpec {
  name: string;
  description: string;
  /** Build an unfitted model; `quick` picks cheaper settings (CI). */
  create(options: CliModelOptions, quick: boolean): PersistableRecommender;
  /** Whether fit reports a loss per iteration (for the loss plot). */
  reportsLoss?: boolean;
  /** Extra fit options (e.g. the dataset's item features for the hybrid). */
  fitOptions?(dataset: Dataset): Partial<FitOptions>;
}

export const MODEL_SPECS: ModelSpec[] = [];

export function modelSpec(name: string): ModelSpec | undefined {
  return MODEL_SPECS.find((s) => s.name === name);
}

/** Read a numeric option (from --name or --set name=value). */
export function numberOf(o: CliModelOptions, name: string, fallback: number): number {
  const v = o[name];
  if (v === undefined) return fallback;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isFinite(n)) throw new TypeError(`option ${name} must be a number, got ${JSON.stringify(v)}`);
  return n;
}
