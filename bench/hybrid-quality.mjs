// Quality figures of the hybrid on the Complete Journey sample (temporal split, last 20% of time as test):
// the learned blend against each single source, cold-start items against popularity within their
// category, and the diversity trade-off curve (MMR lambda and category caps: intra-list diversity vs NDCG@10).
// Run through bench/hybrid.mjs: node bench/hybrid.mjs quality
import { writeResult } from './harness.mjs';
import * as fastrec from '../dist/index.js';
import { completeJourneyDataset } from '../dist/demo/data.js';

const { HybridRecommender, defaultSources, FactorSource, RepurchaseSource, AlsModel, timeSplit, evaluate } = fastrec;
const ALS = { factors: 16, alpha: 10, regularization: 0.1, unobservedWeight: 0.1, regularizationScaling: 'frequency', iterations: 10 };

/** A fitted hybrid seen through fixed request options (one source alone, a diversity setting...). */
function view(h, name, extra) {
  return { name, fitted: true, recommendMany: (users, o) => h.recommendMany(users, { ...o, ...extra }) };
}

export async function quality() {
  const full = await completeJourneyDataset();
  const split = await timeSplit(full, { fraction: 0.2 });
  const results = { dataset: 'Complete Journey sample (CC0), lib/demo', split: split.info, tasks: {} };
  for (const filterSeen of [false, true]) {
    const task = filterSeen ? 'new items (filterSeen)' : 'next purchases (re-purchases included)';
    const h = new HybridRecommender({ labelColumn: 'product_type', categoryColumn: 'product_category', sources: [new RepurchaseSource(), new FactorSource(() => new AlsModel(ALS), { name: 'als' }), ...defaultSources(true, true)] });
    let t = performance.now();
    await h.fit(split.train, { seed: 1, learnWeights: { fraction: 0.2, filterSeen } });
    const fitSeconds = (performance.now() - t) / 1000;
    const emb = { vectors: h.fittedCatalog.content.vectors, dim: h.fittedCatalog.content.dim };
    const opts = { k: 10, metrics: ['ndcg', 'recall', 'diversity', 'coverage'], filterSeen, itemEmbeddings: emb };
    const row = async (model) => {
      const r = await evaluate(model, split, opts);
      return { ndcg: +r.metrics['ndcg@10'].toFixed(4), recall: +r.metrics['recall@10'].toFixed(4), ild: +r.metrics['diversity@10'].toFixed(4), coverage: +r.metrics['coverage@10'].toFixed(4) };
    };
    const singles = {};
    for (const s of h.candidateSources) {
      if (filterSeen && s.kind === 'repurchase') continue;
      singles[s.name] = await row(view(h, s.name, { sources: [s.name], weights: { [s.name]: 1, popularity: 0 } }));
    }
    const blend = await row(h);
    console.log(task, 'blend', blend, singles);
    const curve = [];
    for (const lambda of [1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]) {
      t = performance.now();
      const m = await row(view(h, `mmr ${lambda}`, { diversity: { lambda } }));
      curve.push({ lambda, ...m, usPerUser: +((performance.now() - t) * 1000 / split.users.length).toFixed(0) });
      console.log(task, 'lambda', lambda, m);
    }
    const caps = [];
    for (const cap of [1, 2, 3]) {
      const m = await row(view(h, `cap ${cap}`, { diversity: { cap } }));
      caps.push({ cap, column: 'product_category', ...m });
      console.log(task, 'cap', cap, m);
    }
    results.tasks[task] = { fitSeconds: +fitSeconds.toFixed(1), weights: h.blendWeights, learned: h.learnedWeights, blend, singles, mmrCurve: curve, categoryCaps: caps };
  }
  await writeResult('hybrid-quality', results);
}
