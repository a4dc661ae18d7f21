// Shared fixtures for the evaluate-* tests: seeded random interaction logs and a
// deterministic Recommender over a fixed score table.
import { Dataset, Interactions, type DatasetOptions } from '../lib/index.js';
import type { BatchOptions, BatchRecommendations, Recommender, Recommendations } from '../lib/recommender.js';
import type { Id } from '../lib/data/idmap.js';
import { csrRow } from '../lib/data/dataset.js';

export function lcg(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** A random log: users u0.., items i0.. (popularity skewed), values 1..5, timestamps increasing with noise, some repeats. */
export async function randomDataset(seed: number, nUsers = 60, nItems = 40, perUser = 12, options: DatasetOptions = {}): Promise<Dataset> {
  const rand = lcg(seed);
  const log = new Interactions();
  for (let u = 0; u < nUsers; u++) {
    const n = 1 + Math.floor(rand() * perUser);
    for (let e = 0; e < n; e++) {
      const item = Math.floor(rand() ** 2 * nItems);
      log.add(`u${u}`, `i${item}`, 1 + Math.floor(rand() * 5), undefined, 1_600_000_000_000 + Math.floor(rand() * 1000) * 60_000);
    }
  }
  return Dataset.build(log, options);
}

/**
 * A deterministic model over a fixed users x items score table: recommends the
 * unseen items by score (ties: smaller index first), like the real models.
 */
export class ScoreTableModel implements Recommender {
  readonly name: string;
  fitted = false;
  private train: Dataset | undefined;
  calls = 0;
  constructor(readonly scores: Float32Array, readonly numItems: number, name = 'table') {
    this.name = name;
  }
  async fit(dataset: Dataset): Promise<this> {
    this.train = dataset;
    this.fitted = true;
    return this;
  }
  score(u: number, i: number): number {
    return this.scores[u * this.numItems + i]!;
  }
  async recommendMany(users: readonly Id[] | Int32Array, options: BatchOptions = {}): Promise<BatchRecommendations> {
    this.calls++;
    const idx = users as Int32Array;
    const k = options.k ?? 10;
    const indices = new Int32Array(idx.length * k).fill(-1);
    const scores = new Float32Array(idx.length * k).fill(-Infinity);
    idx.forEach((u, r) => {
      const seen = new Set(options.filterSeen === false ? [] : csrRow(this.train!.matrix, u).indices);
      const order = [...Array(this.numItems).keys()].filter((i) => !seen.has(i)).sort((a, b) => this.score(u, b) - this.score(u, a) || a - b);
      order.slice(0, k).forEach((i, p) => ((indices[r * k + p] = i), (scores[r * k + p] = this.score(u, i))));
    });
    return { k, count: idx.length, indices, scores };
  }
  predictMany(users: Int32Array, items: Int32Array): Float32Array {
    return Float32Array.from(users, (u, j) => this.score(u, items[j]!));
  }
  recommend(): Recommendations {
    throw new Error('not used');
  }
  similarItems(): Recommendations {
    throw new Error('not used');
  }
  recommendForHistory(): Recommendations {
    throw new Error('not used');
  }
}
