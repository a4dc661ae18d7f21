/**
 * Evidence: why a source proposed an item, in terms of real data the shopper
 * or the catalog can check ("bought X and Y", "popular in Z this week",
 * "new in category W", "often bought with X in 12 baskets").
 */
import type { Id } from '../data/idmap.js';

export type EvidenceKind =
  | 'history' // items of the user's history that drive a model's score
  | 'similar' // similar to an item the user bought or is viewing
  | 'content' // shares attributes with an item of the user's history or the page
  | 'complement' // bought together with an item in the basket or the page
  | 'trending' // popular recently
  | 'popular' // popular in a context (category, segment)
  | 'new' // new arrival
  | 'coldstart' // new item scored from its attributes
  | 'boost' // a business rule boosted it
  | 'pin' // a business rule pinned it
  | 'novelty' // a less-known item lifted by the novelty boost
  | 'freshness' // lifted by the freshness boost
  | 'exploration'; // shown to explore (seeded)

export interface Evidence {
  /** The candidate source (or rule) it comes from. */
  source: string;
  kind: EvidenceKind;
  /** A sentence for people. */
  text: string;
  /** Items the evidence refers to (ids). */
  items?: Id[];
  /** Category it refers to. */
  category?: string;
  /** A count it refers to (baskets, purchases this week...). */
  count?: number;
}

/** One reason behind a recommended item: a source's share of the blended score and its evidence. */
export interface Reason extends Evidence {
  /** Contribution to the blended score (weight × normalized source score), or the rule's effect. */
  contribution: number;
}

/** "X", "X and Y", "X, Y and Z". */
export function listText(names: readonly string[]): string {
  if (names.length <= 1) return names[0] ?? '';
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}
