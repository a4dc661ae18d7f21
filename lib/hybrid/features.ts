/**
 * The sparse item feature matrix: one row per item of a dataset's IdMap, one
 * column per feature value. Each feature column group (a FeatureTable column)
 * contributes a block whose L2 norm is the group's weight, so that groups are
 * balanced whatever their number of values:
 *   categorical  one-hot: the value's cell = w
 *   multi        n values, each cell = w / sqrt(n)
 *   numeric      'bucket': one-hot of its quantile bucket (cell = w);
 *                'standardize': one cell = w * clip(z, -3, 3) / 3
 *   text         TF-IDF (text.ts) scaled to norm w
 * Items with no features (or not in the table) have empty rows.
 */
import type { CsrArrays } from '../binding.js';
import type { FeatureTable, FeatureKind } from '../data/features.js';
import type { IdMap } from '../data/idmap.js';
import { invalid, knownOptions, number as checkNumber, integer, oneOf } from '../validate.js';
import { fitTfIdf, tfIdfVector, tokenize } from './text.js';

export interface ItemFeatureOptions {
  /** Columns to use (default: every column of the table). */
  columns?: readonly string[];
  /** Weight of each column group (default 1). */
  weights?: Readonly<Record<string, number>>;
  /** Numeric columns: quantile buckets (default) or one standardized value. */
  numeric?: 'bucket' | 'standardize';
  /** Number of quantile buckets for numeric columns (default 5). */
  buckets?: number;
  /** Text tokens must occur in at least this many items (default 2). */
  minDf?: number;
}

const OPTIONS = ['columns', 'weights', 'numeric', 'buckets', 'minDf'] as const;

/** A built feature matrix with names for its columns. */
export interface ItemFeatureMatrix {
  /** items x features, rows in the order of the IdMap the matrix was built for. */
  matrix: CsrArrays;
  /** Column names like 'brand=Private', 'title:milk', 'price#2'. */
  names: string[];
  /** The FeatureTable column each feature column comes from. */
  groups: string[];
  /** Per feature column, the index into `groups`. */
  groupOf: Int32Array;
}

/** Build the item feature matrix of `table` for the items of `items`. */
export function buildItemFeatures(table: FeatureTable, items: IdMap, options: ItemFeatureOptions = {}): ItemFeatureMatrix {
  knownOptions('options', options, OPTIONS);
  const columns = options.columns ?? table.columns;
  if (!Array.isArray(columns) || columns.length === 0) throw invalid('options.columns', 'a non-empty array of column names', columns);
  for (const c of columns) if (!table.schema[c]) throw invalid('options.columns', `column names among ${table.columns.join(', ')}`, c);
  const numericMode = oneOf('options.numeric', options.numeric ?? 'bucket', ['bucket', 'standardize'] as const);
  const buckets = integer('options.buckets', options.buckets ?? 5, 1, 1000);
  const minDf = integer('options.minDf', options.minDf ?? 2, 1);
  const ids = items.ids();
  const n = ids.length;

  // Per-row lists of (column, value), assembled group by group.
  const rowCols: number[][] = Array.from({ length: n }, () => []);
  const rowVals: number[][] = Array.from({ length: n }, () => []);
  const names: string[] = [];
  const groupOfCol: number[] = [];

  columns.forEach((col, g) => {
    const w = checkNumber(`options.weights.${col}`, options.weights?.[col] ?? 1, 0);
    const kind: FeatureKind = table.schema[col]!;
    const values = table.column(col, ids);
    const base = names.length;
    const put = (r: number, c: number, v: number) => {
      rowCols[r]!.push(base + c);
      rowVals[r]!.push(v);
    };
    if (kind === 'categorical' || kind === 'multi') {
      const vocab = new Map<string, number>();
      const sortedValues = new Set<string>();
      for (const v of values) for (const s of asStrings(v)) sortedValues.add(s);
      [...sortedValues].sort().forEach((s, i) => vocab.set(s, i));
      for (const s of vocab.keys()) names.push(`${col}=${s}`);
      values.forEach((v, r) => {
        const list = [...new Set(asStrings(v))];
        for (const s of list) put(r, vocab.get(s)!, w / Math.sqrt(list.length));
      });
    } else if (kind === 'numeric') {
      const present = values.filter((v): v is number => typeof v === 'number').sort((a, b) => a - b);
      if (present.length === 0) return;
      if (numericMode === 'bucket') {
        // Quantile edges: bucket b holds values in [edge[b-1], edge[b]).
        const edges: number[] = [];
        for (let b = 1; b < buckets; b++) edges.push(present[Math.floor((b * present.length) / buckets)]!);
        for (let b = 0; b < buckets; b++) names.push(`${col}#${b}`);
        values.forEach((v, r) => {
          if (typeof v !== 'number') return;
          let b = 0;
          while (b < edges.length && v >= edges[b]!) b++;
          put(r, b, w);
        });
      } else {
        const mean = present.reduce((a, b) => a + b, 0) / present.length;
        const sd = Math.sqrt(present.reduce((a, b) => a + (b - mean) ** 2, 0) / present.length) || 1;
        names.push(col);
        values.forEach((v, r) => {
          if (typeof v === 'number') put(r, 0, (w * Math.max(-3, Math.min(3, (v - mean) / sd))) / 3);
        });
      }
    } else {
      const docs = values.map((v) => (typeof v === 'string' ? tokenize(v) : []));
      const vocab = fitTfIdf(docs.filter((d) => d.length > 0), minDf);
      for (const t of vocab.tokens) names.push(`${col}:${t}`);
      docs.forEach((d, r) => {
        if (d.length === 0) return;
        const vec = tfIdfVector(d, vocab);
        for (let j = 0; j < vec.indices.length; j++) put(r, vec.indices[j]!, w * vec.values[j]!);
      });
    }
    while (groupOfCol.length < names.length) groupOfCol.push(g);
  });

  let nnz = 0;
  for (const r of rowCols) nnz += r.length;
  const indptr = new BigInt64Array(n + 1);
  const indices = new Int32Array(nnz);
  const data = new Float32Array(nnz);
  let at = 0;
  for (let r = 0; r < n; r++) {
    // Groups were appended in increasing column order, so each row is already sorted.
    const cols = rowCols[r]!;
    const vals = rowVals[r]!;
    for (let j = 0; j < cols.length; j++) {
      indices[at] = cols[j]!;
      data[at++] = vals[j]!;
    }
    indptr[r + 1] = BigInt(at);
  }
  return {
    matrix: { rows: n, cols: names.length, indptr, indices, data },
    names,
    groups: [...columns],
    groupOf: Int32Array.from(groupOfCol),
  };
}

function asStrings(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v.map(String);
  return [String(v)];
}

/** Codes of one categorical column for the items of `items` (-1 where missing), and the code names. */
export interface CategoryCodes {
  column: string;
  codes: Int32Array;
  names: string[];
}

/** Dense codes of a categorical (or first value of a multi) column, for caps, popularity within a category and explanations. */
export function categoryCodes(table: FeatureTable, items: IdMap, column: string): CategoryCodes {
  if (!table.schema[column]) throw invalid('column', `a column among ${table.columns.join(', ')}`, column);
  const names: string[] = [];
  const index = new Map<string, number>();
  const codes = new Int32Array(items.size).fill(-1);
  const values = table.column(column, items.ids());
  values.forEach((v, i) => {
    const s = asStrings(v)[0];
    if (s === undefined) return;
    let c = index.get(s);
    if (c === undefined) {
      c = names.length;
      index.set(s, c);
      names.push(s);
    }
    codes[i] = c;
  });
  return { column, codes, names };
}
