/**
 * The built-in demo data: a compact copy of the CC0 Complete Journey sample
 * (grocery receipts of 2,377 households in 2017, with product attributes).
 */
import { join } from 'node:path';
import { packageRoot } from '../native.js';
import { readInteractions, readFeatures } from '../io/readers.js';
import { Dataset } from '../data/dataset.js';
import type { Interactions } from '../data/interactions.js';
import type { FeatureTable } from '../data/features.js';

export const demoDataDir = join(packageRoot, 'lib', 'demo', 'data', 'completejourney');

export interface CompleteJourney {
  interactions: Interactions;
  products: FeatureTable;
}

/** Load the Complete Journey sample: one interaction per receipt line (value 1; the quantity column is not read), and product attributes. */
export async function loadCompleteJourney(dir = demoDataDir): Promise<CompleteJourney> {
  const { value: interactions } = await readInteractions(join(dir, 'transactions.csv'), {
    columns: { user: 'household_id', item: 'product_id', timestamp: 'transaction_timestamp' },
  });
  const { value: products } = await readFeatures(join(dir, 'products.csv'), {
    id: 'product_id',
    schema: { department: 'categorical', brand: 'categorical', product_category: 'categorical', product_type: 'categorical', package_size: 'text' },
  });
  return { interactions, products };
}

/** The demo dataset: receipt lines counted per (household, product). */
export async function completeJourneyDataset(dir = demoDataDir): Promise<Dataset> {
  const { interactions, products } = await loadCompleteJourney(dir);
  return Dataset.build(interactions, { itemFeatures: products });
}
