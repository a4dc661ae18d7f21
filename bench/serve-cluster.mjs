// What running `fastrec serve` as one service over several workers costs on
// the admin paths: a /metrics scrape (with --workers N it gathers every
// worker's series over IPC and adds them up) and POST /v1/admin/reload (with
// --workers N: every worker loads the file, then every worker swaps it in,
// and only then the answer). Against the 100,000-item ALS model with its
// serving indexes stored (as bench/server.mjs builds it), served with --ann.
//
//   node bench/serve-cluster.mjs [--items 100000] [--users 50000] [--factors 64]
//                                [--workers 1,2] [--scrapes 50] [--reloads 5] [--model PATH]
//
// With --model PATH an existing model with stored indexes is used (or written
// there for the next run). Medians over sequential requests on a quiet server.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import { rng, writeResult, benchDir } from './harness.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]?.startsWith('--') || all[i + 1] === undefined ? 'true' : all[i + 1]]] : acc), []),
);
const nItems = Number(args.items ?? 100_000);
const nUsers = Number(args.users ?? 50_000);
const factors = Number(args.factors ?? 64);
const workersList = String(args.workers ?? '1,2').split(',').map(Number);
const scrapes = Number(args.scrapes ?? 50);
const reloads = Number(args.reloads ?? 5);
const fastrec = await import('../dist/index.js');

const dir = mkdtempSync(join(tmpdir(), 'fastrec-bench-cluster-'));
const modelPath = args.model ?? join(dir, 'model.fastrec');
if (!existsSync(modelPath)) {
  // The model of bench/server.mjs: ALS, 2 iterations, seeded synthetic data with power-law item popularity.
  const rand = rng(7);
  const log = new fastrec.Interactions();
  for (let u = 0; u < nUsers; u++) for (let j = 0; j < 20; j++) log.add(`u${u}`, `i${j === 0 ? (u * 7919) % nItems : Math.floor(nItems * rand() ** 3)}`);
  for (let i = 0; i < nItems; i++) log.add('u0', `i${i}`);
  const model = new fastrec.AlsModel({ factors, iterations: 2 });
  await model.fit(await fastrec.Dataset.build(log), { seed: 1 });
  await fastrec.saveModel(model, modelPath, { indexes: await fastrec.buildServingIndexes(model) });
  console.log(`model written to ${modelPath}`);
}

const token = 'bench-token-0123456789abcdef';
/** One request on a fresh connection (so with several workers they take turns). */
function request(base, method, path, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { method, agent: false, headers: body ? { 'content-type': 'application/json', authorization: `Bearer ${token}` } : {} }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

async function timedMs(fn) {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const p = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

const rows = [];
for (const workers of workersList) {
  const port = 20000 + Math.floor(Math.random() * 2000);
  const proc = spawn(process.execPath, [join(benchDir, '..', 'dist', 'cli', 'main.js'), 'serve', modelPath, '--ann', '--port', String(port), '--log-level', 'warn', '--token', token, '--workers', String(workers)], { stdio: ['ignore', 'inherit', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (d) => (err += d));
  const base = `http://127.0.0.1:${port}`;
  const t0 = performance.now();
  // Ready when every worker answers: fresh connections go to the workers in turn.
  for (const pids = new Set(); pids.size < workers; ) {
    try {
      const r = await request(base, 'GET', '/healthz');
      if (r.status === 200) pids.add(JSON.parse(r.text).pid);
    } catch {}
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}: ${err}`);
    if (performance.now() - t0 > 240_000) throw new Error('server did not start');
    await new Promise((r) => setTimeout(r, 20));
  }
  const startSeconds = +((performance.now() - t0) / 1000).toFixed(2);
  for (let i = 0; i < 20; i++) await request(base, 'GET', '/v1/users/u1/recommendations?k=10');
  const scrapeMs = [];
  let text = '';
  for (let i = 0; i < scrapes + 5; i++) {
    const ms = await timedMs(async () => (text = (await request(base, 'GET', '/metrics')).text));
    if (i >= 5) scrapeMs.push(ms);
  }
  const counted = Number(/fastrec_http_requests_total\{method="GET",route="\/v1\/users\/:id\/recommendations",status="200"\} (\d+)/.exec(text)?.[1]);
  const reloadMs = [];
  for (let i = 0; i < reloads + 1; i++) {
    let status = 0;
    const ms = await timedMs(async () => (status = (await request(base, 'POST', '/v1/admin/reload', {})).status));
    if (status !== 200) throw new Error(`reload answered ${status}`);
    if (i >= 1) reloadMs.push(ms);
  }
  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
  const row = {
    workers,
    startSeconds,
    scrapeMsMedian: +median(scrapeMs).toFixed(2),
    scrapeMsP90: +p(scrapeMs, 0.9).toFixed(2),
    scrapeBytes: text.length,
    recommendationsCountedOnOneScrape: counted,
    reloadMsMedian: +median(reloadMs).toFixed(1),
    reloadMsMax: +Math.max(...reloadMs).toFixed(1),
  };
  console.log(JSON.stringify(row));
  rows.push(row);
}
rmSync(dir, { recursive: true, force: true });
await writeResult('serve-cluster', {
  items: nItems,
  users: nUsers,
  factors,
  scrapes,
  reloads,
  loadAverage1m: +loadavg()[0].toFixed(2),
  rows,
});
