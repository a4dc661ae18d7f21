// recommendMany throughput of a factor model, for A/B between two checkouts:
//   node bench/tools/recommend-many.mjs /path/to/checkout [model file]   (the checkout's dist/ is loaded)
// 20,000 users of the taste model of bench/server.mjs (100,000 items x 64), k 10; the hash of the answers
// must agree between checkouts.
const root = process.argv[2] ?? new URL('../..', import.meta.url).pathname;
const f = await import(`${root}/dist/index.js`);
const m = await f.loadModel(process.argv[3] ?? '/tmp/svc/model.fastrec');
const users = Array.from({ length: 20000 }, (_, n) => `u${(n * 2654435761) % 50000}`);
await m.recommendMany(users.slice(0, 100), { k: 10 });
const c0 = process.cpuUsage(); const t0 = performance.now();
const r = await m.recommendMany(users, { k: 10 });
const wall = (performance.now() - t0) / 1000, cpu = (process.cpuUsage(c0).user + process.cpuUsage(c0).system) / 1e6;
let h = 0; for (let i = 0; i < r.indices.length; i++) h = (h * 31 + r.indices[i]) >>> 0;
console.log(`taste 100k items, recommendMany 20,000 users k10: ${wall.toFixed(2)} s wall, ${cpu.toFixed(2)} CPU s, ${(20000 / wall).toFixed(0)} users/s, hash ${h}`);
