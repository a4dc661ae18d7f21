// HNSW vector storage A/B on the serving workload: float16 against int8 (and
// float32), on the SAME graph and on graphs built from each storage, over the
// item factors of a served model (bench/server.mjs builds one: 100,000 items x
// 64 factors, implicit ALS on planted-taste data).
//
//   node bench/ann-storage.mjs --model /tmp/svc/model.fastrec [--efs 32,64,128] [--users 2000]
//                              [--rounds 6] [--ef-construction 100] [--M 16] [--out ann-storage] [--save-dir DIR]
//
// --save-dir DIR also writes the float32-built graph in each storage
// (DIR/g32-<storage>.hnsw) and the queries (DIR/queries.f32) for
// bench/ann-builds.mjs (A/B of addon builds on one index).
//
// Variants: `float16 built` (what `buildServingIndexes` stores today: the graph
// built from half floats), `int8 built` (from int8 rows), and a float32-built
// graph served as float32, as float16 and as int8 (`HnswIndex.withStorage`: same
// links, only the vectors differ), so the A/B of storage is not confounded by
// two different graphs.
//
// Per variant and ef:
//   search µs      hnswTimeSearch: k = 10 unfiltered searches one after another,
//                  thread CPU time inside C++ (no JS call), µs per query;
//   serving µs     the service's scoring call, AnnScorer.recommendInto (search for
//                  2k + |seen| candidates, seen dropped, exact re-scoring from
//                  the float32 factors), process CPU µs per call from JS;
//   search recall  recall@10 of the unfiltered k = 10 search against the exact
//                  inner-product top 10 (ExactIndex over the same vectors);
//   serving recall recall@10 of the served answer against exact top-10 with the
//                  user's seen items removed (model.recommend, exact).
// Timings are interleaved: every round visits the variants in alternating order
// (A B C D E, then E D C B A), and the median over rounds is reported.
import { loadavg } from 'node:os';
import { writeResult } from './harness.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]?.startsWith('--') || all[i + 1] === undefined ? 'true' : all[i + 1]]] : acc), []),
);
if (!args.model) {
  console.error('usage: node bench/ann-storage.mjs --model MODEL.fastrec (a factor model with its training data, e.g. the one `node bench/server.mjs` builds)');
  process.exit(2);
}
const efs = String(args.efs ?? '32,64,128').split(',').map(Number);
const nUsers = Number(args.users ?? 2000);
const rounds = Number(args.rounds ?? 6);
const efc = Number(args['ef-construction'] ?? 100);
const M = Number(args.M ?? 16);
const k = 10;
const loadStart = loadavg().map((x) => +x.toFixed(2));

const fastrec = await import('../dist/index.js');
const { native } = await import('../dist/native.js');
const { loadServedModel } = await import('../dist/server/model.js');
const served = await loadServedModel(args.model, false);
const model = served.model;
const nItems = served.items.size;
const dim = model.itemFactors.length / nItems;
const bias = model.itemBias ?? undefined;
console.log(`model ${args.model}: ${nItems} items x ${dim} factors${bias ? ' + bias' : ''}, ${served.users.size} users`);

// ---- the indexes ----
const build = async (storage) => {
  const t0 = performance.now();
  const s = await fastrec.AnnScorer.build(model.itemFactors, dim, { M, efConstruction: efc, ef: 64, storage, seed: 42, ...(bias ? { itemBias: bias } : {}) });
  console.log(`built ${storage} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return s;
};
const f16Built = await build('float16');
const i8Built = await build('int8');
const f32Built = await build('float32');
const sameGraph = async (storage) => {
  const scorer = fastrec.AnnScorer.fromIndex(await f32Built.index.withStorage(storage), model.itemFactors, dim, bias ? { itemBias: bias } : {});
  await scorer.ready;
  return scorer;
};
const variants = [
  { name: 'float16 built', scorer: f16Built },
  { name: 'int8 built', scorer: i8Built },
  { name: 'float32 graph, float32', scorer: f32Built },
  { name: 'float32 graph, float16', scorer: await sameGraph('float16') },
  { name: 'float32 graph, int8', scorer: await sameGraph('int8') },
];
for (const v of variants) {
  const info = v.scorer.index.info();
  v.storage = info.storage;
  v.bytesPerVector = +(info.memoryBytes / info.size).toFixed(1);
}

// ---- queries: the users the service would score ----
const userIds = served.users.ids();
const users = Array.from({ length: nUsers }, (_, n) => (n * 2654435761) % userIds.length);
const d = bias ? dim + 1 : dim;
const queries = new Float32Array(nUsers * d);
const vectors = users.map((u, n) => {
  const vec = model.userVector(userIds[u]);
  queries.set(vec, n * d);
  if (bias) queries[n * d + dim] = 1;
  return vec;
});
const seen = users.map((u) => served.train.indices.subarray(Number(served.train.indptr[u]), Number(served.train.indptr[u + 1])));

if (args['save-dir']) {
  const { writeFileSync, mkdirSync } = await import('node:fs');
  mkdirSync(args['save-dir'], { recursive: true });
  for (const v of variants.slice(2)) await v.scorer.index.save(`${args['save-dir']}/g32-${v.storage}.hnsw`);
  writeFileSync(`${args['save-dir']}/queries.f32`, new Uint8Array(queries.buffer, queries.byteOffset, queries.byteLength));
}

// ---- ground truth (on a subset: exact scoring costs ~2 ms per user) ----
const nTruth = Math.min(500, nUsers);
const exactIndex = await fastrec.ExactIndex.build(bias ? (() => {
  const x = new Float32Array(nItems * d);
  for (let i = 0; i < nItems; i++) {
    x.set(model.itemFactors.subarray(i * dim, (i + 1) * dim), i * d);
    x[i * d + dim] = bias[i];
  }
  return x;
})() : model.itemFactors, { dim: d, metric: 'ip', prune: false });
const searchTruth = [];
for (let n = 0; n < nTruth; n++) searchTruth.push(new Set(exactIndex.search(queries.subarray(n * d, (n + 1) * d), k).labels));
const servingTruth = [];
for (let n = 0; n < nTruth; n++) servingTruth.push(new Set(model.recommend(userIds[users[n]], { k }).items.map((id) => served.items.index(id))));

function recalls(scorer, ef) {
  scorer.index.ef = ef;
  let searchHit = 0;
  let servingHit = 0;
  for (let n = 0; n < nTruth; n++) {
    const q = queries.subarray(n * d, (n + 1) * d);
    for (const l of scorer.index.search(q, k, { ef }).labels) if (searchTruth[n].has(l)) searchHit++;
    const c = scorer.recommendInto(vectors[n], k, { seen: seen[n] });
    for (let j = 0; j < c; j++) if (servingTruth[n].has(scorer.outItems[j])) servingHit++;
  }
  return { searchRecall: +(searchHit / (nTruth * k)).toFixed(4), servingRecall: +(servingHit / (nTruth * k)).toFixed(4) };
}

const searchUs = (scorer, ef) => (1e6 * native().hnswTimeSearch(scorer.index.handle, queries, k, ef)) / nUsers;
function servingUs(scorer, ef) {
  scorer.index.ef = ef;
  const c0 = process.cpuUsage();
  for (let n = 0; n < nUsers; n++) scorer.recommendInto(vectors[n], k, { seen: seen[n] });
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / nUsers;
}

const rows = [];
for (const ef of efs) {
  const samples = variants.map(() => ({ search: [], serving: [] }));
  for (const v of variants) {
    searchUs(v.scorer, ef); // warm: the index's pages and the scratch
    servingUs(v.scorer, ef);
  }
  for (let r = 0; r < rounds; r++) {
    const order = variants.map((_, i) => i);
    if (r % 2) order.reverse();
    for (const i of order) {
      samples[i].search.push(searchUs(variants[i].scorer, ef));
      samples[i].serving.push(servingUs(variants[i].scorer, ef));
    }
  }
  const median = (xs) => +[...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)].toFixed(2);
  variants.forEach((v, i) => {
    const row = { ef, variant: v.name, storage: v.storage, bytesPerVector: v.bytesPerVector, searchUs: median(samples[i].search), servingUs: median(samples[i].serving), searchUsAll: samples[i].search.map((x) => +x.toFixed(2)), servingUsAll: samples[i].serving.map((x) => +x.toFixed(2)), ...recalls(v.scorer, ef) };
    rows.push(row);
    console.log(`ef ${ef} ${v.name.padEnd(24)} search ${String(row.searchUs).padStart(6)} µs  serving ${String(row.servingUs).padStart(6)} µs  recall search ${row.searchRecall} serving ${row.servingRecall}  ${row.bytesPerVector} B/vector`);
  });
}
await writeResult(args.out ?? 'ann-storage', { model: args.model, items: nItems, dim, bias: !!bias, M, efConstruction: efc, users: nUsers, truthUsers: nTruth, rounds, loadAverageAtStart: loadStart, loadAverageAtEnd: loadavg().map((x) => +x.toFixed(2)), rows });
