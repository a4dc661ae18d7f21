/**
 * Dataset: what every model trains on. The id maps, the aggregated and
 * weighted user x item CSR matrix and its item x user transpose, the event
 * log it was built from (for splits by time), and optional feature tables.
 */
import type { CombineRule, CsrArrays } from '../binding.js';
import { callAsync } from '../native.js';
import { DimensionMismatchError, InvalidArgumentError } from '../errors.js';
import { integer, invalid, knownOptions, oneOf, threads as checkThreads } from '../validate.js';
import { IdMap } from './idmap.js';
import type { Interactions } from './interactions.js';
import { applyWeighting, type Weighting } from './weighting.js';
import type { FeatureTable } from './features.js';

/** One row per event, in indices of the dataset's id maps. */
export interface EventLog {
  users: Int32Array;
  items: Int32Array;
  /** Effective weights (value times event weight). */
  weights: Float32Array;
  /** Epoch milliseconds, NaN where unknown. */
  timestamps: Float64Array;
}

export interface DatasetOptions {
  /** How repeated (user, item) events combine: 'sum' (default), 'max' or 'last'. */
  combine?: CombineRule;
  /** Weighting applied after combining (default 'none'). */
  weighting?: Weighting;
  /** Allow negative weights (default false: implicit-feedback models need them non-negative; set true for signed data). */
  allowNegative?: boolean;
  itemFeatures?: FeatureTable;
  userFeatures?: FeatureTable;
  threads?: number;
}

const OPTIONS = ['combine', 'weighting', 'allowNegative', 'itemFeatures', 'userFeatures', 'threads'] as const;

export class Dataset {
  private constructor(
    readonly users: IdMap,
    readonly items: IdMap,
    /** users x items, aggregated and weighted. */
    readonly matrix: CsrArrays,
    /** items x users (the transpose of `matrix`). */
    readonly itemMatrix: CsrArrays,
    readonly log: EventLog,
    readonly options: Readonly<{ combine: CombineRule; weighting: Weighting; allowNegative: boolean }>,
    readonly itemFeatures: FeatureTable | undefined,
    readonly userFeatures: FeatureTable | undefined,
  ) {}

  /**
   * Build a dataset from collected interactions. Ids that appear only in the
   * feature tables are added to the id maps (as users or items with no
   * interactions), so cold-start models can score them.
   * @throws InvalidArgumentError for negative weights when allowNegative is false, or an empty log.
   */
  static async build(interactions: Interactions, options: DatasetOptions = {}): Promise<Dataset> {
    knownOptions('options', options, OPTIONS);
    const users = interactions.users;
    const items = interactions.items;
    for (const id of options.itemFeatures?.ids() ?? []) items.add(id);
    for (const id of options.userFeatures?.ids() ?? []) users.add(id);
    const c = interactions.columns();
    const log: EventLog = { users: c.users.slice(), items: c.items.slice(), weights: interactions.weights(), timestamps: c.timestamps.slice() };
    return Dataset.fromLog(log, users, items, options);
  }

  /**
   * Build from an event log over existing id maps (splits use this: train and
   * test share the id maps, so indices agree).
   */
  static async fromLog(log: EventLog, users: IdMap, items: IdMap, options: DatasetOptions = {}): Promise<Dataset> {
    knownOptions('options', options, OPTIONS);
    const combine = oneOf('options.combine', options.combine ?? 'sum', ['sum', 'max', 'last'] as const);
    const weighting = options.weighting ?? 'none';
    const allowNegative = options.allowNegative ?? false;
    const threads = checkThreads(options.threads);
    const types = { users: Int32Array, items: Int32Array, weights: Float32Array, timestamps: Float64Array } as const;
    for (const [key, type] of Object.entries(types)) {
      const col = (log as unknown as Record<string, unknown>)?.[key];
      if (!(col instanceof type)) throw invalid(`log.${key}`, `a typed array of type ${type.name}`, col);
    }
    const n = log.users.length;
    if (log.items.length !== n || log.weights.length !== n || log.timestamps.length !== n) {
      throw new DimensionMismatchError(
        `log: users, items, weights and timestamps must have the same length but have ${log.users.length}, ${log.items.length}, ${log.weights.length} and ${log.timestamps.length}`,
      );
    }
    const matrix = await callAsync((nb) =>
      nb.csrFromCoo(log.users, log.items, log.weights, users.size, items.size, combine, allowNegative, threads),
    ).catch((err: unknown) => {
      if (err instanceof InvalidArgumentError && !allowNegative && err.message.includes('non-negative')) {
        throw new InvalidArgumentError(`${err.message}. Interaction weights must be >= 0 for implicit feedback; pass { allowNegative: true } for ratings or signed data.`);
      }
      throw err;
    });
    applyWeighting(matrix, weighting);
    const itemMatrix = await callAsync((nb) => nb.csrTranspose(matrix, threads));
    return new Dataset(users, items, matrix, itemMatrix, log, { combine, weighting, allowNegative }, options.itemFeatures, options.userFeatures);
  }

  get numUsers(): number {
    return this.matrix.rows;
  }
  get numItems(): number {
    return this.matrix.cols;
  }
  /** Stored (user, item) pairs after combining duplicates. */
  get nnz(): number {
    return this.matrix.indices.length;
  }

  /** The items and weights of user `u` (an index), as views. */
  userRow(u: number): { items: Int32Array; values: Float32Array } {
    integer('user index', u, 0, this.matrix.rows - 1);
    return rowOf(this.matrix, u, 'items') as { items: Int32Array; values: Float32Array };
  }

  /** The users and weights of item `i` (an index), as views. */
  itemRow(i: number): { users: Int32Array; values: Float32Array } {
    integer('item index', i, 0, this.itemMatrix.rows - 1);
    return rowOf(this.itemMatrix, i, 'users') as { users: Int32Array; values: Float32Array };
  }

  /** Number of stored items per user. */
  userCounts(): Int32Array {
    return rowCounts(this.matrix);
  }

  /** Number of stored users per item. */
  itemCounts(): Int32Array {
    return rowCounts(this.itemMatrix);
  }
}

/** Row `r` of a CSR matrix as views. */
export function csrRow(m: CsrArrays, r: number): { indices: Int32Array; values: Float32Array } {
  const lo = Number(m.indptr[r]);
  const hi = Number(m.indptr[r + 1]);
  return { indices: m.indices.subarray(lo, hi), values: m.data.subarray(lo, hi) };
}

function rowOf(m: CsrArrays, r: number, key: 'items' | 'users'): Record<string, Int32Array | Float32Array> {
  const { indices, values } = csrRow(m, r);
  return { [key]: indices, values };
}

function rowCounts(m: CsrArrays): Int32Array {
  const out = new Int32Array(m.rows);
  for (let r = 0; r < m.rows; r++) out[r] = Number(m.indptr[r + 1]! - m.indptr[r]!);
  return out;
}

/** `value` as a Dataset: a look-alike object would reach native code without the structure it relies on. */
export function datasetArg(name: string, value: unknown): Dataset {
  if (!(value instanceof Dataset)) throw invalid(name, 'a Dataset (Dataset.build(interactions))', value);
  return value;
}
