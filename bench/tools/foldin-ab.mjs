// Fold-in latency, A/B between checkouts in one process (rounds alternated, so that both see the same load):
//   node bench/tools/foldin-ab.mjs /path/to/checkout-a /path/to/checkout-b [model file]
// Each checkout's dist/ is loaded and the model file (default /tmp/svc/model.fastrec, bench/server.mjs's taste
// model: 100,000 items x 64) read by each; foldIn of histories of 4, 20 and 100 items (each call its own items),
// 15 rounds of 2,000 calls per checkout: median and min µs per call.
const roots = process.argv.slice(2).filter((a) => !a.endsWith('.fastrec'));
const file = process.argv.slice(2).find((a) => a.endsWith('.fastrec')) ?? '/tmp/svc/model.fastrec';
const { performance } = await import('node:perf_hooks');
const ms = [];
for (const root of roots) { const f = await import(`${root}/dist/index.js`); ms.push(await f.loadModel(file)); }
const res = {};
for (const len of [4, 20, 100]) {
  const hs = Array.from({ length: 500 }, (_, i) => Array.from({ length: len }, (_, j) => ({ item: `i${(i * 7919 + j * 104729) % 100000}`, value: 1 })));
  for (const m of ms) m.foldIn(hs[0]);
  const t = roots.map(() => []);
  for (let r = 0; r < 15; r++) ms.forEach((m, x) => { const t0 = performance.now(); for (let i = 0; i < 2000; i++) m.foldIn(hs[i % 500]); t[x].push((performance.now() - t0) * 1000 / 2000); });
  console.log(`len ${len}: ` + t.map((a, x) => `${roots[x]} median ${a.sort((p, q) => p - q)[7].toFixed(1)} min ${a[0].toFixed(1)}`).join(' | '));
}
