/**
 * The models the command line can train (`fastrec train --model NAME`, the
 * demo): how to build each from command-line options, with the demo's
 * settings. Every entry is a model class of lib/models or lib/hybrid.
 */
import type { Dataset } from '../data/dataset.js';
import type { FitOptions } from '../recommender.js';
import type { PersistableRecommender } from '../models/registry.js';
import { AlsModel } from '../models/als.js';
import { PopularModel } from '../models/popular.js';
import { RandomModel } from '../models/random.js';
import { PureSvdModel } from '../models/puresvd.js';
import { ItemKnnModel } from '../models/itemknn.js';
import { UserKnnModel } from '../models/userknn.js';
import { HybridRecommender } from '../hybrid/recommender.js';

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

/** Command-line option names that differ from the API's. */
const ALIASES: Record<string, string> = { neighbors: 'neighbours' };

/** The options as the model's constructor names them (it validates them: unknown names fail with a hint). */
function apiOptions(o: CliModelOptions): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [ALIASES[k] ?? k, v]));
}

export const MODEL_SPECS: ModelSpec[] = [
  {
    name: 'als',
    description: 'Implicit ALS (Hu, Koren, Volinsky 2008): conjugate-gradient solver, confidence 1 + alpha * value',
    create: (o, quick) => new AlsModel({ factors: quick ? 32 : 64, iterations: quick ? 8 : 15, alpha: 5, regularization: 0.1, computeLoss: true, ...apiOptions(o) }),
    reportsLoss: true,
  },
  {
    name: 'puresvd',
    description: 'PureSVD (Cremonesi et al. 2010): randomized truncated SVD of the interaction matrix',
    create: (o, quick) => new PureSvdModel({ factors: quick ? 32 : 64, ...apiOptions(o) }),
  },
  {
    name: 'itemknn',
    description: 'Item-kNN: cosine neighbours of the bought items, similarities summed',
    create: (o) => new ItemKnnModel({ neighbours: 100, ...apiOptions(o) }),
  },
  {
    name: 'userknn',
    description: 'User-kNN: cosine neighbours among users',
    create: (o) => new UserKnnModel({ neighbours: 100, ...apiOptions(o) }),
  },
  {
    name: 'hybrid',
    description: 'Hybrid: item-to-item, content, complements, trending, popular and new arrivals, blended with learned weights',
    create: (o) => new HybridRecommender(apiOptions(o)) as unknown as PersistableRecommender,
    fitOptions: () => ({ learnWeights: true }) as Partial<FitOptions>,
  },
  {
    name: 'popular',
    description: 'Baseline: most bought products',
    create: (o) => new PopularModel(apiOptions(o)),
  },
  {
    name: 'random',
    description: 'Baseline: random products (seeded)',
    create: (o) => new RandomModel({ seed: 42, ...apiOptions(o) }),
  },
];

/** Whether a model can be saved to a model file. */
export function persistable(model: unknown): boolean {
  return typeof (model as { toState?: unknown }).toState === 'function';
}

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
