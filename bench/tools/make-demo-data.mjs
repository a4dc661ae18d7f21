#!/usr/bin/env node
// Writes the compact copy of the CC0 Complete Journey sample that the demo
// ships (lib/demo/data/completejourney): the transaction columns the demo
// uses, and the attributes of the products that were bought.
// Usage: node bench/tools/make-demo-data.mjs [../shared/datasets/completejourney]
import { readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';

const src = process.argv[2] ?? join(import.meta.dirname ?? '.', '../../../shared/datasets/completejourney');
const out = join(import.meta.dirname ?? '.', '../../lib/demo/data/completejourney');

const lines = readFileSync(join(src, 'transactions_sample.csv'), 'utf8').replace(/\r/g, '').trim().split('\n');
const head = lines[0].split(',');
const keep = ['household_id', 'product_id', 'basket_id', 'quantity', 'sales_value', 'transaction_timestamp'].map((c) => head.indexOf(c));
const bought = new Set();
const tx = [keep.map((i) => head[i]).join(',')];
for (const line of lines.slice(1)) {
  const f = line.split(',');
  bought.add(f[head.indexOf('product_id')]);
  tx.push(keep.map((i) => f[i]).join(','));
}
writeFileSync(join(out, 'transactions.csv'), tx.join('\n') + '\n');

const prows = readFileSync(join(src, 'products.csv'), 'utf8').replace(/\r/g, '').trim().split('\n');
const products = [prows[0], ...prows.slice(1).filter((l) => bought.has(l.slice(0, l.indexOf(','))))];
writeFileSync(join(out, 'products.csv'), products.join('\n') + '\n');
copyFileSync(join(src, 'demographics.csv'), join(out, 'demographics.csv'));
writeFileSync(join(out, 'LICENSE.md'),
  'The Complete Journey 2.0 sample (84.51°), as shipped by the R package completejourney 1.1.1, license CC0 (public domain).\n' +
  'Compacted by bench/tools/make-demo-data.mjs: a 75,000-line random sample of the 2017 receipt lines, with the attributes of the products bought.\n');
console.log(`wrote ${tx.length - 1} transactions, ${products.length - 1} products to ${out}`);
