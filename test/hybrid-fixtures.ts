/**
 * Planted test data for the hybrid layer: categories of items with brands and
 * titles, users who each shop one "home" category, baskets that pair items
 * with their complement category, and timestamps for temporal behaviour.
 */
import { Dataset, FeatureTable, Interactions } from '../lib/index.js';

export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

export const CATEGORIES = ['pasta', 'sauce', 'milk', 'cereal', 'soap', 'shampoo'];
/** Complement of each category (bought in the same basket). */
export const COMPLEMENT: Record<string, string> = { pasta: 'sauce', sauce: 'pasta', milk: 'cereal', cereal: 'milk', soap: 'shampoo', shampoo: 'soap' };
export const PER_CATEGORY = 12;
export const DAY = 86_400_000;
export const T0 = Date.UTC(2024, 0, 1);

export function itemId(cat: string, j: number): string {
  return `${cat}-${j}`;
}

export function plantedFeatures(): FeatureTable {
  const t = new FeatureTable({ category: 'categorical', brand: 'categorical', title: 'text', price: 'numeric' });
  for (const cat of CATEGORIES) {
    for (let j = 0; j < PER_CATEGORY; j++) {
      t.set(itemId(cat, j), { category: cat, brand: j % 3 === 0 ? 'Private' : `Brand${j % 4}`, title: `${cat} ${cat}s pack ${j % 2 ? 'large' : 'small'}`, price: 1 + j });
    }
  }
  return t;
}

export interface Planted {
  dataset: Dataset;
  /** Home category of each user id. */
  home: Map<string, string>;
}

/**
 * Users u0..u{n-1}; user u shops category CATEGORIES[u % 6] over 8 weeks:
 * each week one basket with a home item and (usually) a complement item.
 * Item popularity inside a category falls with j (j = 0 most popular).
 */
export async function planted(users = 60, seed = 7, newItems = false): Promise<Planted> {
  const rand = lcg(seed);
  const inter = new Interactions();
  const home = new Map<string, string>();
  const pick = () => Math.min(PER_CATEGORY - 1, Math.floor(-Math.log(1 - rand()) * 3));
  for (let u = 0; u < users; u++) {
    const cat = CATEGORIES[u % CATEGORIES.length]!;
    home.set(`u${u}`, cat);
    for (let w = 0; w < 8; w++) {
      const t = T0 + w * 7 * DAY + Math.floor(rand() * 5) * DAY + u * 60_000;
      inter.add(`u${u}`, itemId(cat, pick()), 1, undefined, t);
      if (rand() < 0.8) inter.add(`u${u}`, itemId(COMPLEMENT[cat]!, pick()), 1, undefined, t + 60_000);
    }
  }
  const features = plantedFeatures();
  // New arrivals: attributes known, never bought (cold items), one per category.
  if (newItems) for (const cat of CATEGORIES) features.set(`${cat}-new`, { category: cat, brand: 'Brand1', title: `${cat} ${cat}s pack new`, price: 5 });
  const dataset = await Dataset.build(inter, { itemFeatures: features });
  return { dataset, home };
}
