// Load benchmark of `fastrec serve`: throughput and latency percentiles at 1,
// 16 and 64 concurrent connections against a 100,000-item ALS model, with
// autocannon on loopback, bounded duration per run.
//
//   node bench/server.mjs [--items 100000] [--users 50000] [--factors 64] [--duration 10]
//                         [--connections 1,16,64] [--ann]
//
// The model is ALS trained for 2 iterations on seeded synthetic data with a
// power-law item popularity (its quality is irrelevant here; its shape is what
// the service scores against). The server runs in its own process (like
// production); autocannon runs in this one. Both share this machine's cores.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
// A benchmark-only tool: installed in bench/node_modules by `npm run bench:setup`.
const autocannon = createRequire(new URL('./package.json', import.meta.url))('autocannon');
import { rng, writeResult, benchDir } from './harness.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]?.startsWith('--') || all[i + 1] === undefined ? 'true' : all[i + 1]]] : acc), []),
);
const nItems = Number(args.items ?? 100_000);
const nUsers = Number(args.users ?? 50_000);
const factors = Number(args.factors ?? 64);
const duration = Number(args.duration ?? 10);
const connectionsList = String(args.connections ?? '1,16,64').split(',').map(Number);
const ann = args.ann === 'true';
const fastrec = await import('../dist/index.js');

// ---- the model ----
const dir = mkdtempSync(join(tmpdir(), 'fastrec-bench-server-'));
const modelPath = join(dir, 'model.fastrec');
const rand = rng(7);
const perUser = 20;
const users = new Int32Array(nUsers * perUser);
const items = new Int32Array(nUsers * perUser);
for (let u = 0, e = 0; u < nUsers; u++) {
  for (let j = 0; j < perUser; j++, e++) {
    users[e] = u;
    // Zipf-like popularity: item = floor(n * r^3) puts most events on few items, yet touches the whole catalog.
    items[e] = j === 0 ? (u * 7919) % nItems : Math.floor(nItems * rand() ** 3);
  }
}
const log = new fastrec.Interactions();
const t0 = performance.now();
for (let e = 0; e < users.length; e++) log.add(`u${users[e]}`, `i${items[e]}`);
for (let i = 0; i < nItems; i++) log.add('u0', `i${i}`); // every item known
const ds = await fastrec.Dataset.build(log);
const model = new fastrec.AlsModel({ factors, iterations: 2 });
await model.fit(ds, { seed: 1 });
await fastrec.saveModel(model, modelPath);
const buildSeconds = (performance.now() - t0) / 1000;
console.log(`model: ${ds.numUsers} users x ${ds.numItems} items, ${factors} factors (${buildSeconds.toFixed(1)} s)`);

// ---- loading the model file (median of 5, after one warm-up that fills the page cache) ----
const { statSync } = await import('node:fs');
const { medianSeconds } = await import('./harness.mjs');
const load = {};
for (const [name, o] of [['mmap, no CRC', { mmap: true, verify: false }], ['mmap + CRC', { mmap: true, verify: true }], ['read + CRC', { mmap: false, verify: true }]]) {
  load[name] = +(1000 * (await medianSeconds(() => fastrec.readModelFile(modelPath, o), 5, 1))).toFixed(2);
}
load['loadModel (mmap + CRC + fromState)'] = +(1000 * (await medianSeconds(() => fastrec.loadModel(modelPath), 5, 1))).toFixed(2);
const fileMiB = +(statSync(modelPath).size / 2 ** 20).toFixed(1);
console.log(`model file ${fileMiB} MiB; load ms:`, load);

// ---- the server ----
const port = 18000 + Math.floor(Math.random() * 2000);
const token = 'bench-token-0123456789abcdef';
const serverArgs = [join(benchDir, '..', 'dist', 'cli', 'main.js'), 'serve', modelPath, '--port', String(port), '--log-level', 'warn', '--token', token, ...(ann ? ['--ann'] : [])];
const server = spawn(process.execPath, serverArgs, { stdio: ['ignore', 'inherit', 'inherit'] });
const base = `http://127.0.0.1:${port}`;
const startT = performance.now();
for (;;) {
  try {
    const r = await fetch(`${base}/healthz`);
    if (r.ok) break;
  } catch {}
  if (performance.now() - startT > 120_000) throw new Error('server did not start');
  await new Promise((r) => setTimeout(r, 50));
}
const startSeconds = (performance.now() - startT) / 1000;
console.log(`server ready in ${startSeconds.toFixed(2)} s`);

function run(title, connections, makePath, opts = {}) {
  let n = 0;
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: base,
        connections,
        duration,
        requests: [{ ...opts, setupRequest: (req) => ({ ...req, path: makePath(n++) }) }],
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
  }).then((res) => {
    const row = {
      endpoint: title,
      connections,
      seconds: duration,
      requestsPerSecond: Math.round(res.requests.average),
      totalRequests: res.requests.total,
      p50ms: res.latency.p50,
      p90ms: res.latency.p90,
      p99ms: res.latency.p99,
      maxMs: res.latency.max,
      errors: res.errors,
      timeouts: res.timeouts,
      non2xx: res.non2xx,
    };
    console.log(JSON.stringify(row));
    return row;
  });
}

const userPath = (n) => `/v1/users/u${(n * 2654435761) % nUsers}/recommendations?k=10`;
const results = [];
try {
  // Warm-up (JIT, page cache), not recorded.
  await new Promise((resolve) => autocannon({ url: `${base}${userPath(1)}`, connections: 4, duration: 2 }, resolve));
  for (const c of connectionsList) results.push(await run('GET /v1/users/:id/recommendations', c, userPath));
  // The framework's floor on this machine: the cheapest route, same connections.
  results.push(await run('GET /healthz (HTTP floor)', 16, () => '/healthz'));
  results.push(await run('GET /v1/items/:id/similar', 16, (n) => `/v1/items/i${(n * 40503) % nItems}/similar?k=10`));
  results.push(
    await run('POST /v1/recommendations', 16, () => '/v1/recommendations', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ items: ['i1', 'i20', 'i300', 'i4000'], k: 10 }),
    }),
  );
} finally {
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
await writeResult(ann ? 'server-ann' : 'server', { items: ds.numItems, users: ds.numUsers, factors, scoring: ann ? 'hnsw' : 'exact', duration, modelFileMiB: fileMiB, loadMs: load, serverStartSeconds: startSeconds, runs: results });
