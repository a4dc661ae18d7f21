/**
 * What every part of the hybrid layer shares after fit: id maps, the training
 * matrix (seen items), derived signals, the content model, category codes and
 * item labels for explanations, and the feature table for business rules.
 */
import type { CsrArrays } from '../binding.js';
import type { FeatureTable } from '../data/features.js';
import type { IdMap } from '../data/idmap.js';
import type { ContentModel } from './content.js';
import type { CategoryCodes } from './features.js';
import type { Signals } from './signals.js';

export interface Catalog {
  users: IdMap;
  items: IdMap;
  /** users x items training matrix. */
  matrix: CsrArrays;
  signals: Signals;
  content: ContentModel | undefined;
  /** Category of each item (caps, popularity in a category, "new in W" evidence). */
  category: CategoryCodes | undefined;
  /** A human label per item for explanations (a feature column, else the id). */
  labels: string[] | undefined;
  /** Item attributes (for rules); absent after loading a saved model without them. */
  features: FeatureTable | undefined;
  /** User attributes (segments for cold-start popularity). */
  userFeatures: FeatureTable | undefined;
}

/** Where a recommendation is shown. */
export type Context = 'home' | 'item' | 'basket';
export const CONTEXTS: readonly Context[] = ['home', 'item', 'basket'];

/** One request in dense indices, built by the recommender from the caller's ids. */
export interface Request {
  context: Context;
  /** Dense user index, or −1 for an anonymous visitor / a user unknown at training time. */
  user: number;
  /** Recent items, oldest first, most recent last. */
  history: Int32Array;
  /** Weights aligned with `history` (1 when not given). */
  historyWeights: Float32Array | undefined;
  /** The cart (basket context). */
  basket: Int32Array;
  /** The item on screen (product page, "because you viewed X"); −1 if none. */
  anchor: number;
  /** Category code the request is about (anchor's category, or asked for); −1 if none. */
  category: number;
  /** User segment value for cold-start popularity (from user features), if any. */
  segment: string | undefined;
  /** Whether the user's own past items are blocked (set by the pipeline). */
  filterSeen: boolean;
}

export function itemLabel(c: Catalog, i: number): string {
  return c.labels?.[i] ?? String(c.items.id(i));
}

export function categoryName(c: Catalog, i: number): string | undefined {
  const code = c.category?.codes[i];
  return code === undefined || code < 0 ? undefined : c.category!.names[code];
}
