// Interleaved A/B of builds of the native addon on one saved index: the same
// queries searched by each build in turn (alternating order every round),
// timed inside C++ (hnswTimeSearch: thread CPU time, no JS call), median of
// the rounds. Checks first that every build returns the same neighbours.
//
//   node bench/ann-storage.mjs --model MODEL --save-dir DIR     (writes DIR/g32-<storage>.hnsw, DIR/queries.f32)
//   node bench/ann-builds.mjs --dir DIR [--storage float16] [--ef 64] [--k 40] [--rounds 12] A.node B.node ...
//
// A build of another commit: `git worktree add /tmp/base <commit>` there,
// `node native/build.mjs`, then pass /tmp/base/build/Release/fastrec.node.
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { writeResult } from './harness.mjs';

const argv = process.argv.slice(2);
const opts = {};
const addons = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i].startsWith('--')) opts[argv[i].slice(2)] = argv[++i];
  else addons.push(argv[i]);
}
if (!opts.dir || addons.length === 0) {
  console.error('usage: node bench/ann-builds.mjs --dir DIR [--storage float16] [--ef 64] [--k 40] [--rounds 12] [--out NAME] A.node B.node ...');
  process.exit(2);
}
const storage = opts.storage ?? 'float16';
const ef = Number(opts.ef ?? 64);
const k = Number(opts.k ?? 40);
const rounds = Number(opts.rounds ?? 12);
const file = `${opts.dir}/g32-${storage}.hnsw`;
const raw = readFileSync(`${opts.dir}/queries.f32`);
const queries = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
const loadStart = loadavg().map((x) => +x.toFixed(2));

const builds = [];
for (const path of addons) {
  const m = { exports: {} };
  process.dlopen(m, path.startsWith('/') || path.startsWith('.') ? path : `./${path}`);
  const { handle } = await m.exports.hnswLoad(file, false); // copied into memory (huge pages), as `serve --ann-copy`
  builds.push({ path, native: m.exports, handle, us: [] });
}
const dim = builds[0].native.hnswInfo(builds[0].handle).dim;
const nq = queries.length / dim;
// The same answers from every build.
let differ = 0;
for (let i = 0; i < Math.min(nq, 300); i++) {
  const q = queries.subarray(i * dim, (i + 1) * dim);
  const answers = builds.map((b) => {
    const l = new Int32Array(k);
    const d = new Float32Array(k);
    b.native.hnswSearchInto(b.handle, q, k, ef, l, d);
    return l.join(',');
  });
  if (answers.some((a) => a !== answers[0])) differ++;
}
for (const b of builds) b.native.hnswTimeSearch(b.handle, queries, k, ef); // warm
for (let r = 0; r < rounds; r++) {
  const order = r % 2 ? [...builds].reverse() : builds;
  for (const b of order) b.us.push((1e6 * b.native.hnswTimeSearch(b.handle, queries, k, ef)) / nq);
}
const median = (xs) => +[...xs].sort((a, b) => a - b)[xs.length >> 1].toFixed(2);
const rows = builds.map((b) => ({ addon: b.path, medianUs: median(b.us), minUs: +Math.min(...b.us).toFixed(2), us: b.us.map((x) => +x.toFixed(2)) }));
for (const r of rows) console.log(`${r.addon}: ${storage} k ${k} ef ${ef}: median ${r.medianUs} µs per search (min ${r.minUs}); rounds ${r.us.join(' ')}`);
console.log(differ ? `answers differ between builds on ${differ} of 300 queries` : 'every build gave the same answers on 300 queries');
if (opts.out) await writeResult(opts.out, { index: file, storage, ef, k, queries: nq, rounds, queriesWithDifferentAnswers: differ, loadAverageAtStart: loadStart, loadAverageAtEnd: loadavg().map((x) => +x.toFixed(2)), rows });
